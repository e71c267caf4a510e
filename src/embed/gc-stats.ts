/**
 * GC pause reporting for measurements (bench/README.md, "scale"): with TSETCD_GC_STATS=1
 * in the environment, a perf_hooks observer of V8's garbage collections sums each
 * second's pauses and logs one info line "gc pauses" for every second that had any:
 * `count`, `total-pause-ms`, `max-pause-ms` and the count per kind (`scavenges`,
 * `mark-sweeps`, `incrementals`, `weak-callbacks`). The bench sums the lines of a time
 * window to report the longest and the total pause next to the latencies (etcd's
 * equivalent is its go_gc_duration_seconds summary). Off by default: nothing is
 * observed then. One observer per process, however many members it runs.
 *
 * A V8 "gc" entry's duration is the time the collection held the main thread (the
 * pause the event loop saw; concurrent marking on helper threads is not in it).
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import type { Logger } from '../shared/logger.js';

export const GC_STATS_ENV = 'TSETCD_GC_STATS';
export const GC_STATS_MSG = 'gc pauses';
const INTERVAL_MS = 1000;

export interface GcWindow {
  count: number;
  totalPauseMs: number;
  maxPauseMs: number;
  scavenges: number;
  markSweeps: number;
  incrementals: number;
  weakCallbacks: number;
}

const empty = (): GcWindow => ({ count: 0, totalPauseMs: 0, maxPauseMs: 0, scavenges: 0, markSweeps: 0, incrementals: 0, weakCallbacks: 0 });

/** Adds one collection of V8 kind `kind` (perf_hooks constants.NODE_PERFORMANCE_GC_*) to `w`. */
export function addPause(w: GcWindow, kind: number, durationMs: number): void {
  w.count++;
  w.totalPauseMs += durationMs;
  w.maxPauseMs = Math.max(w.maxPauseMs, durationMs);
  if (kind === constants.NODE_PERFORMANCE_GC_MINOR) w.scavenges++;
  else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) w.markSweeps++;
  else if (kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL) w.incrementals++;
  else if (kind === constants.NODE_PERFORMANCE_GC_WEAKCB) w.weakCallbacks++;
}

let started = false;

/** Starts the observer when env[GC_STATS_ENV] is "1"; returns whether it runs. */
export function startGcStats(env: NodeJS.ProcessEnv, log: Logger): boolean {
  if (env[GC_STATS_ENV] !== '1') return false;
  if (started) return true;
  started = true;
  let w = empty();
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const detail: unknown = 'detail' in e ? e.detail : undefined;
      const kind = typeof detail === 'object' && detail !== null && 'kind' in detail && typeof detail.kind === 'number' ? detail.kind : 0;
      addPause(w, kind, e.duration);
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  const timer = setInterval(() => {
    if (w.count === 0) return;
    const round = (x: number): number => Math.round(x * 1000) / 1000;
    log.info(
      { ...w, totalPauseMs: round(w.totalPauseMs), maxPauseMs: round(w.maxPauseMs) },
      GC_STATS_MSG,
    );
    w = empty();
  }, INTERVAL_MS);
  timer.unref();
  log.info({ intervalMs: INTERVAL_MS }, `${GC_STATS_ENV}=1: logging GC pauses every second`);
  return true;
}
