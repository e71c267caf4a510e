/**
 * Watch scale on ONE member, next to etcd, as two opt-in cases of
 * bench:compare (`--only watch-scale`):
 *   (a) 10,000 watchers on one watch stream (one HTTP/2 connection);
 *   (b) 1,000 concurrent watch streams of 10 watchers each (10,000 watchers again, so
 *       the two shapes differ only in how the watchers are spread: (b) − (a) is what
 *       999 more streams cost), over 2 connections (500 streams each).
 * Both shapes watch 10 keys (1,000 watchers per key); 150 puts offered at 200/s by 2
 * put clients then fan out to 150,000 events, offered at 200,000 events/s: about twice
 * what either server delivered on the 2-core machine (both delivered 20,000/s and
 * 60,000/s offers in full as fast as the puts came, which measured the puts; at
 * 100,000/s tsetcd came within 5 % of the offer), so delivery sets the pace. events/s = 150,000 / (first put sent → last event received); the puts may
 * slow down while the server fans out, which is part of what is measured. Every
 * expected event must arrive (missing ones are errors: watch-workload.ts).
 *
 * Each case runs on a fresh single-member cluster of its own (`isolated`): a heap that
 * earlier cases grew would absorb the watchers and hide their cost. The session reads
 * the member's RSS (its process tree, from /proc) once it has settled after start, and
 * again once it has settled after every watcher was created (runner hook `beforeGo`,
 * before any put). Memory per watcher = (after − before) / watchers. It includes what a
 * watcher costs in the server's gRPC/HTTP/2 layer, not only in the watch store, and any
 * fixed cost the first watch pays (code loaded or compiled on first use) spread over
 * the 10,000 watchers; garbage not yet collected at the second reading counts too.
 *
 * "Settled" (settledAt): the last SETTLE.window readings, SETTLE.intervalMs apart, lie
 * within max(SETTLE.toleranceFraction × RSS, SETTLE.toleranceMinBytes); after
 * SETTLE.maxMs the last reading is taken anyway and the probe says `settled: false`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CaseDef, MetricDef } from './compare-plan.js';
import type { BenchOptions } from './options.js';
import type { BenchResult } from './runner.js';

export interface SettleRule {
  intervalMs: number;
  /** Consecutive readings that must agree. */
  window: number;
  toleranceFraction: number;
  toleranceMinBytes: number;
  maxMs: number;
}

export const SETTLE: SettleRule = {
  intervalMs: 250,
  window: 4,
  toleranceFraction: 0.005,
  toleranceMinBytes: 256 * 1024,
  maxMs: 8_000,
};

/** One settled RSS reading and how it was reached. */
export interface RssReading {
  bytes: number;
  settled: boolean;
  waitedMs: number;
  samplesBytes: number[];
}

/** The server's memory around a case's setup (cases with `isolated`). */
export interface MemoryProbe {
  before: RssReading;
  after: RssReading;
}

/**
 * Index of the first reading at which the last `rule.window` readings span no more than
 * the tolerance (relative to that reading), or undefined if none does yet.
 */
export function settledAt(samples: readonly number[], rule: SettleRule): number | undefined {
  for (let i = rule.window - 1; i < samples.length; i++) {
    const win = samples.slice(i - rule.window + 1, i + 1);
    const spread = Math.max(...win) - Math.min(...win);
    const last = samples[i] ?? 0;
    if (spread <= Math.max(rule.toleranceMinBytes, rule.toleranceFraction * last)) return i;
  }
  return undefined;
}

/** Reads `read()` every rule.intervalMs until settledAt says so, or rule.maxMs passed. */
export async function readSettled(
  read: () => number,
  rule: SettleRule = SETTLE,
  wait: (ms: number) => Promise<unknown> = sleep,
): Promise<RssReading> {
  const samplesBytes: number[] = [];
  const limit = Math.ceil(rule.maxMs / rule.intervalMs) + 1;
  for (let n = 0; n < limit; n++) {
    if (n > 0) await wait(rule.intervalMs);
    samplesBytes.push(read());
    const at = settledAt(samplesBytes, rule);
    if (at !== undefined) {
      return { bytes: samplesBytes[at] ?? 0, settled: true, waitedMs: n * rule.intervalMs, samplesBytes };
    }
  }
  return {
    bytes: samplesBytes[samplesBytes.length - 1] ?? 0,
    settled: false,
    waitedMs: (limit - 1) * rule.intervalMs,
    samplesBytes,
  };
}

/** Server bytes per watcher; NaN without a probe or watchers. May be negative (a GC ran). */
export function bytesPerWatcher(probe: MemoryProbe | undefined, watchers: number): number {
  if (probe === undefined || watchers <= 0) return Number.NaN;
  return (probe.after.bytes - probe.before.bytes) / watchers;
}

export const WATCH_SCALE_ID = 'watch-scale';

/** The generator options of both shapes (everything else is the watch workload's default). */
export const SCALE_SHAPES: ReadonlyArray<{ id: string; options: Partial<BenchOptions> }> = [
  {
    id: `${WATCH_SCALE_ID} 10k watchers on 1 stream`,
    options: { watchers: 10_000, watchStreams: 1, conns: 1, clients: 2 },
  },
  {
    id: `${WATCH_SCALE_ID} 1k streams x 10 watchers`,
    options: { watchers: 10_000, watchStreams: 1_000, conns: 2, clients: 2 },
  },
];

const COMMON: Partial<BenchOptions> = { watchedKeys: 10, putRate: 200, total: 150 };

const MiB = 2 ** 20;

function metrics(): MetricDef[] {
  return [
    {
      id: 'rss_per_watcher',
      label: 'server memory per watcher (RSS delta / watchers)',
      unit: 'B',
      better: 'lower',
      // The RSS target (footprint rows), applied per watcher.
      target: { op: '<=', value: 1.5 },
      extract: (r, probe) => bytesPerWatcher(probe, r.options.watchers),
    },
    {
      id: 'rss_after_setup',
      label: 'server RSS with every watcher created',
      unit: 'MiB',
      better: 'lower',
      extract: (_r, probe) => (probe === undefined ? Number.NaN : probe.after.bytes / MiB),
    },
    {
      id: 'watch_create_ms',
      label: 'time to create every watcher',
      unit: 'ms',
      better: 'lower',
      extract: (r) => r.counters['watchCreateMs'] ?? Number.NaN,
    },
    {
      id: 'events_per_sec',
      label: 'events delivered/s',
      unit: 'ev/s',
      better: 'higher',
      target: { op: '>=', value: 1.0 },
      extract: (r: BenchResult) => r.eventsPerSec ?? Number.NaN,
    },
    {
      id: 'watch-delivery_p99Ms',
      label: 'p99 latency (watch-delivery)',
      unit: 'ms',
      better: 'lower',
      target: { op: '<=', value: 1.2 },
      extract: (r) => r.byKind['watch-delivery']?.p99Ms ?? Number.NaN,
    },
  ];
}

/** The two cases: opt-in (only with --only), each on its own fresh cluster, one member. */
export function watchScaleCases(): CaseDef[] {
  return SCALE_SHAPES.map((s) => ({
    id: s.id,
    workload: 'watch',
    options: { ...COMMON, ...s.options },
    metrics: metrics(),
    optIn: true,
    isolated: true,
  }));
}
