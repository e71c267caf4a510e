/**
 * The GC pause log behind TSETCD_GC_STATS=1 (src/embed/gc-stats.ts): off without the
 * variable; with it, real V8 collections caused here show up within a couple of
 * seconds as a "gc pauses" line whose figures agree with each other.
 */
import { constants } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { addPause, GC_STATS_MSG, type GcWindow, startGcStats } from '../../src/embed/gc-stats.js';
import type { Logger } from '../../src/shared/logger.js';

interface Line {
  obj: Record<string, unknown>;
  msg: string;
}

function capture(into: Line[]): Logger {
  const l: Logger = {
    debug: () => undefined,
    info: (obj, msg) => into.push({ obj: { ...obj }, msg }),
    warn: () => undefined,
    error: () => undefined,
    child: () => l,
  };
  return l;
}

describe('GC pause log', () => {
  it('adds pauses: count, total, max and the count per kind', () => {
    const w: GcWindow = { count: 0, totalPauseMs: 0, maxPauseMs: 0, scavenges: 0, markSweeps: 0, incrementals: 0, weakCallbacks: 0 };
    addPause(w, constants.NODE_PERFORMANCE_GC_MINOR, 1.5);
    addPause(w, constants.NODE_PERFORMANCE_GC_MAJOR, 7);
    addPause(w, constants.NODE_PERFORMANCE_GC_MINOR, 0.5);
    expect(w).toEqual({ count: 3, totalPauseMs: 9, maxPauseMs: 7, scavenges: 2, markSweeps: 1, incrementals: 0, weakCallbacks: 0 });
  });

  it('logs nothing without TSETCD_GC_STATS=1; with it, a line per second that had collections', async () => {
    const lines: Line[] = [];
    expect(startGcStats({}, capture(lines))).toBe(false);
    expect(startGcStats({ TSETCD_GC_STATS: '1' }, capture(lines))).toBe(true);
    // Garbage for a couple of seconds: young-generation collections at least.
    const until = Date.now() + 2500;
    let keep: number[][] = [];
    while (Date.now() < until) {
      keep.push(Array.from({ length: 1000 }, (_, i) => i));
      if (keep.length > 2000) keep = [];
      await new Promise((r) => setImmediate(r));
    }
    const gc = lines.filter((l) => l.msg === GC_STATS_MSG);
    expect(gc.length).toBeGreaterThan(0);
    for (const { obj } of gc) {
      const count = Number(obj['count']);
      const total = Number(obj['totalPauseMs']);
      const max = Number(obj['maxPauseMs']);
      expect(count).toBeGreaterThan(0);
      expect(max).toBeGreaterThan(0);
      expect(max).toBeLessThanOrEqual(total + 1e-9);
      expect(Number(obj['scavenges']) + Number(obj['markSweeps']) + Number(obj['incrementals']) + Number(obj['weakCallbacks'])).toBe(count);
    }
  }, 20_000);
});
