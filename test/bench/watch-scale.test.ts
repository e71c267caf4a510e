/**
 * The watch-scale cases, without servers: the RSS settle rule, the per-watcher
 * arithmetic, which cases a run selects (opt-in), and the summary rows they produce.
 */
import { describe, expect, it } from 'vitest';
import { profile, selectCases } from '../../bench/compare-plan.js';
import { LABEL_A, LABEL_AA, LABEL_B, summarize } from '../../bench/compare-report.js';
import type { SessionResult } from '../../bench/compare-session.js';
import { resolveOptions } from '../../bench/options.js';
import type { BenchResult } from '../../bench/runner.js';
import {
  bytesPerWatcher,
  type MemoryProbe,
  readSettled,
  type SettleRule,
  settledAt,
  WATCH_SCALE_ID,
  watchScaleCases,
} from '../../bench/watch-scale.js';

const MiB = 2 ** 20;
const rule: SettleRule = { intervalMs: 10, window: 3, toleranceFraction: 0.01, toleranceMinBytes: 1000, maxMs: 100 };

const reading = (bytes: number): MemoryProbe['before'] => ({ bytes, settled: true, waitedMs: 0, samplesBytes: [bytes] });

describe('settledAt', () => {
  it('needs a full window of readings within the tolerance', () => {
    expect(settledAt([100 * MiB, 100 * MiB], rule)).toBeUndefined();
    expect(settledAt([50 * MiB, 100 * MiB, 100 * MiB, 100 * MiB], rule)).toBe(3);
  });

  it('takes the larger of the relative and the absolute tolerance', () => {
    // 1 % of 100 MiB is ~1 MiB: a 0.5 MiB wobble is settled, a 2 MiB climb is not
    expect(settledAt([100 * MiB, 100.5 * MiB, 100 * MiB], rule)).toBe(2);
    expect(settledAt([100 * MiB, 101 * MiB, 102 * MiB], rule)).toBeUndefined();
    // small values: the absolute floor (1000 bytes) applies
    expect(settledAt([10_000, 10_900, 10_500], rule)).toBe(2);
    expect(settledAt([10_000, 11_100, 10_500], rule)).toBeUndefined();
  });
});

describe('readSettled', () => {
  const noWait = (): Promise<void> => Promise.resolve();

  it('returns the first settled reading and how long it waited', async () => {
    const values = [10 * MiB, 20 * MiB, 30 * MiB, 30 * MiB, 30 * MiB, 99 * MiB];
    let i = 0;
    const r = await readSettled(() => values[i++] ?? 0, rule, noWait);
    expect(r).toMatchObject({ bytes: 30 * MiB, settled: true, waitedMs: 40 });
    expect(r.samplesBytes).toHaveLength(5);
  });

  it('gives up after maxMs with the last reading, marked unsettled', async () => {
    let n = 0;
    const r = await readSettled(() => (n++) * 10 * MiB, rule, noWait);
    expect(r.settled).toBe(false);
    expect(r.samplesBytes).toHaveLength(11); // readings at 0, 10, ..., 100 ms
    expect(r.bytes).toBe(100 * MiB);
    expect(r.waitedMs).toBe(100);
  });
});

describe('bytesPerWatcher', () => {
  it('is the RSS delta over the watchers, NaN without a probe', () => {
    const probe: MemoryProbe = { before: reading(50 * MiB), after: reading(60 * MiB) };
    expect(bytesPerWatcher(probe, 10_000)).toBeCloseTo((10 * MiB) / 10_000);
    expect(bytesPerWatcher({ before: reading(60), after: reading(50) }, 10)).toBe(-1);
    expect(bytesPerWatcher(undefined, 10_000)).toBeNaN();
    expect(bytesPerWatcher(probe, 0)).toBeNaN();
  });
});

describe('case selection', () => {
  it('leaves the opt-in watch-scale cases out unless --only names them', () => {
    for (const name of ['quick', 'full'] as const) {
      expect(profile(name, 3).cases.some((c) => c.id.startsWith(WATCH_SCALE_ID))).toBe(false);
      const scale = profile(name, 3, WATCH_SCALE_ID).cases;
      expect(scale.map((c) => c.id)).toEqual(watchScaleCases().map((c) => c.id));
      expect(scale.every((c) => c.isolated === true && c.optIn === true)).toBe(true);
    }
    // a plain filter still works on the ordinary cases, and picks opt-in ones it names
    expect(selectCases(profile('quick', 3).cases, 'put').length).toBe(2);
    expect(profile('quick', 3, 'watch').cases.length).toBe(3);
  });

  it('builds valid generator options for both shapes: 10,000 watchers, 1 and 1,000 streams', () => {
    const shapes = watchScaleCases().map((c) => resolveOptions(c.workload, ['https://127.0.0.1:1'], { ...c.options, cacert: 'ca.pem' }));
    expect(shapes.map((o) => [o.watchers, o.watchStreams])).toEqual([
      [10_000, 1],
      [10_000, 1_000],
    ]);
    expect(shapes[0]?.conns).toBe(1);
  });
});

describe('watch-scale rows', () => {
  const cases = watchScaleCases();
  const fakeResult = (watchers: number, eventsPerSec: number): BenchResult =>
    ({
      options: { watchers },
      counters: { watchCreateMs: 1234 },
      eventsPerSec,
      byKind: { 'watch-delivery': { p99Ms: 20 } },
    }) as unknown as BenchResult;

  function session(label: string, round: number, rssDeltaBytes: number, eventsPerSec: number): SessionResult {
    const memory: MemoryProbe = { before: reading(100 * MiB), after: reading(100 * MiB + rssDeltaBytes) };
    return {
      label,
      kind: label === LABEL_B ? 'tsetcd' : 'etcd',
      round,
      startToServingMs: 500,
      cases: cases.map((c) => ({
        caseId: c.id,
        memory,
        metrics: Object.fromEntries(c.metrics.map((m) => [m.id, m.extract(fakeResult(10_000, eventsPerSec), memory)])),
      })),
    };
  }

  it('reports bytes per watcher, creation time and delivery against etcd', () => {
    const p = { ...profile('quick', 3, WATCH_SCALE_ID), footprintSession: 'none' as const };
    const sessions: SessionResult[] = [];
    for (let r = 1; r <= 3; r++) {
      sessions.push(
        session(LABEL_A, r, 10_000_000, 40_000),
        session(LABEL_B, r, 30_000_000, 60_000),
        session(LABEL_AA, r, r === 1 ? 11_000_000 : 10_000_000, 40_000),
      );
    }
    const { rows } = summarize(p, sessions, undefined);
    const mem = rows.find((r) => r.section === cases[0]?.id && r.unit === 'B');
    expect(mem?.etcd).toBe(1000);
    expect(mem?.tsetcd).toBe(3000);
    expect(mem?.ratio).toBe(3);
    expect(mem?.noiseBand).toBeCloseTo(0.1);
    expect(mem?.verdict).toBe('not met'); // 3x > 1.5 by more than the band
    const ev = rows.find((r) => r.section === cases[1]?.id && r.unit === 'ev/s');
    expect(ev?.ratio).toBe(1.5);
    expect(ev?.verdict).toBe('met');
    const create = rows.find((r) => r.section === cases[0]?.id && r.metric.startsWith('time to create'));
    expect(create?.tsetcd).toBe(1234);
    const rss = rows.find((r) => r.section === cases[1]?.id && r.unit === 'MiB');
    expect(rss?.tsetcd).toBeCloseTo(100 + 30_000_000 / MiB);
    expect(rows.some((r) => r.section === 'footprint')).toBe(false);
  });
});
