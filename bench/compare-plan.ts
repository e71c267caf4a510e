/**
 * What the comparison measures: the workload cases (generator options + the metrics
 * read from each run) and the footprint measurements, for the quick and full profiles.
 * The cases follow the issue's target table; nothing here is tuned per server: both
 * servers get exactly the same options, in the same order, on fresh data.
 */
import { AUTH_BENCH_PASSWORD, AUTH_BENCH_USER } from './auth-setup.js';
import type { BenchOptions, WorkloadName } from './options.js';
import type { BenchResult } from './runner.js';
import type { Target } from './stats.js';
import { type MemoryProbe, watchScaleCases } from './watch-scale.js';

export interface MetricDef {
  id: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  target?: Target;
  /** `probe` is set for isolated cases: the server's RSS before and after setup. */
  extract(r: BenchResult, probe?: MemoryProbe): number;
}

export interface CaseDef {
  id: string;
  workload: WorkloadName;
  options: Partial<BenchOptions>;
  metrics: MetricDef[];
  /** Run only when `--only` selects it by name (long or special-purpose cases). */
  optIn?: boolean;
  /**
   * Run on a fresh cluster of its own, load on the first member only, with that member's
   * RSS read (settled) before the generator connects and after its setup (MemoryProbe).
   */
  isolated?: boolean;
  /**
   * Before the generator connects, set up auth on the case's cluster (auth-setup.ts:
   * root, user `bench` with read-write on every key, auth enabled); the case's options
   * then log in as `bench` (`user`). Only with `isolated`.
   */
  auth?: boolean;
}

export interface Profile {
  name: 'quick' | 'full';
  rounds: number;
  cases: CaseDef[];
  /** Keys of 1 KiB stored before reading peak RSS and disk size. */
  footprintKeys: number;
  /**
   * Keys of 1 KiB for the big-restart phase (0 = none): one cluster per side is loaded
   * once, then restarted in A B A' order once per round (restart-phase.ts).
   */
  bigRestartKeys: number;
  /** Keys of 1 KiB in the snapshot file of the restore phase (0 = none; restore-phase.ts). */
  restoreKeys: number;
  /** Keys of 1 KiB on the clusters of the snapshot-save phase (0 = none; save-phase.ts). */
  saveKeys: number;
  /**
   * quick: footprint (RSS, disk, restart with footprintKeys) at the end of each workload
   * session; full: none there, the big-restart phase measures it on fresh clusters.
   */
  footprintSession: 'shared' | 'none';
  /**
   * Seconds of an unmeasured warm-up run before each duration-mode case, on both sides
   * alike (compare-session.ts warmupOptions): a case is ~2 s on a fresh cluster and
   * tsetcd's JIT is still warming during it (CPU per put fell ~45 % over four
   * back-to-back 2.5 s runs). 0 = none.
   */
  warmupSec: number;
  startTimeoutMs: number;
  restartTimeoutMs: number;
}

/**
 * A metric whose outcome its phase records itself (the scale profile's load, mix,
 * sequential puts and restart): nothing to extract from a BenchResult.
 */
export const phaseMetric = (id: string, label: string, unit: string, better: 'higher' | 'lower', target?: Target): MetricDef => ({
  id,
  label,
  unit,
  better,
  ...(target === undefined ? {} : { target }),
  extract: () => Number.NaN,
});

const throughput = (target?: Target): MetricDef => ({
  id: 'ops_per_sec',
  label: 'throughput',
  unit: 'ops/s',
  better: 'higher',
  ...(target === undefined ? {} : { target }),
  extract: (r) => r.throughputOpsPerSec,
});

const latency = (q: 'p50Ms' | 'p99Ms', kind?: string, target?: Target): MetricDef => ({
  id: `${kind ?? 'all'}_${q}`,
  label: `${q.replace('Ms', '')} latency${kind === undefined ? '' : ` (${kind})`}`,
  unit: 'ms',
  better: 'lower',
  ...(target === undefined ? {} : { target }),
  extract: (r) => (kind === undefined ? r.latency[q] : (r.byKind[kind]?.[q] ?? Number.NaN)),
});

function cases(quick: boolean): CaseDef[] {
  const d = quick ? { durationSec: 1, warmupSec: 0.3 } : { durationSec: 2, warmupSec: 0.5 };
  const rangeKeys = quick ? 100 : 1000;
  const list: CaseDef[] = [
    {
      id: 'put 64c/8conn 256B',
      workload: 'put',
      options: { ...d, clients: 64, conns: 8, valSize: 256, keySize: 16, keySpaceSize: 100_000 },
      metrics: [throughput({ op: '>=', value: 1.0 }), latency('p99Ms')],
    },
    {
      id: 'put 1c sequential',
      workload: 'put',
      options: { ...d, clients: 1, conns: 1, valSize: 256, keySize: 16, keySpaceSize: 100_000, sequentialKeys: true },
      metrics: [latency('p50Ms', undefined, { op: '<=', value: 1.2 }), throughput()],
    },
    {
      id: 'range linearizable 64c',
      workload: 'range',
      options: { ...d, clients: 64, conns: 8, consistency: 'l', keySize: 16, valSize: 256, keySpaceSize: rangeKeys },
      metrics: [throughput({ op: '>=', value: 1.0 }), latency('p99Ms')],
    },
    {
      id: 'range serializable 64c',
      workload: 'range',
      options: { ...d, clients: 64, conns: 8, consistency: 's', keySize: 16, valSize: 256, keySpaceSize: rangeKeys },
      metrics: [throughput({ op: '>=', value: 1.0 }), latency('p99Ms')],
    },
    {
      id: quick ? 'watch 1,000 watchers' : 'watch 10,000 watchers',
      workload: 'watch',
      options: quick
        ? { total: 150, watchers: 1000, watchStreams: 10, watchedKeys: 10, putRate: 200, clients: 2, conns: 2 }
        : { total: 2000, watchers: 10_000, watchStreams: 100, watchedKeys: 20, putRate: 200, clients: 2, conns: 2 },
      metrics: [
        {
          id: 'events_per_sec',
          label: 'events delivered/s',
          unit: 'ev/s',
          better: 'higher',
          target: { op: '>=', value: 1.0 },
          extract: (r) => r.eventsPerSec ?? Number.NaN,
        },
        latency('p99Ms', 'watch-delivery', { op: '<=', value: 1.2 }),
      ],
    },
    {
      id: 'mixed (kube-apiserver)',
      workload: 'mixed',
      options: { ...d, clients: 16, conns: 4, keySpaceSize: quick ? 500 : 5000, valSize: 1024 },
      metrics: [throughput(), latency('p99Ms'), latency('p99Ms', 'list')],
    },
  ];
  if (!quick) {
    list.push(
      { id: 'txn-put 16c', workload: 'txn-put', options: { ...d, clients: 16, conns: 4, valSize: 256, keySpaceSize: 100_000 }, metrics: [throughput()] },
      { id: 'txn-mixed 16c', workload: 'txn-mixed', options: { ...d, clients: 16, conns: 4, valSize: 256, keySpaceSize: 1000 }, metrics: [throughput()] },
      { id: 'lease-keepalive 16c', workload: 'lease-keepalive', options: { ...d, clients: 16, conns: 4 }, metrics: [throughput()] },
      {
        id: 'watch-latency 100 watchers',
        workload: 'watch-latency',
        options: { total: 500 },
        metrics: [latency('p50Ms', 'watch-delivery'), latency('p99Ms', 'watch-delivery')],
      },
    );
  }
  list.push(...watchScaleCases(), ...authCases(d));
  return list;
}

/**
 * Opt-in (`--only auth:`): the Authenticate rate, and Put and linearizable Range at 64
 * clients with and without a permission check, each on a fresh cluster, so the cost of
 * the check is the ratio of a pair on each side. The user holds read-write on every key
 * through a role (not root, so every request walks the permission intervals).
 */
function authCases(d: Partial<BenchOptions>): CaseDef[] {
  const common = { ...d, clients: 64, conns: 8, keySize: 16, valSize: 256 };
  const user = { user: `${AUTH_BENCH_USER}:${AUTH_BENCH_PASSWORD}` };
  const both = (id: string, workload: WorkloadName, options: Partial<BenchOptions>): CaseDef[] => [
    { id: `auth: ${id}, auth off`, workload, options, metrics: [throughput(), latency('p99Ms')], optIn: true, isolated: true },
    { id: `auth: ${id}, as a user`, workload, options: { ...options, ...user }, metrics: [throughput(), latency('p99Ms')], optIn: true, isolated: true, auth: true },
  ];
  return [
    { id: 'auth: authenticate 64c', workload: 'authenticate', options: { ...common, ...user }, metrics: [throughput(), latency('p99Ms')], optIn: true, isolated: true, auth: true },
    ...both('put 64c/8conn 256B', 'put', { ...common, keySpaceSize: 100_000 }),
    ...both('range linearizable 64c', 'range', { ...common, consistency: 'l', keySpaceSize: 1000 }),
  ];
}

/**
 * The cases a run executes: every case whose id contains `only` (all when undefined),
 * except opt-in cases, which run only when `only` is given and selects them.
 */
export function selectCases(all: readonly CaseDef[], only: string | undefined): CaseDef[] {
  if (only === undefined) return all.filter((c) => c.optIn !== true);
  return all.filter((c) => c.id.includes(only));
}

/** The profile with its cases selected by `only` (see selectCases). */
export function profile(name: 'quick' | 'full', rounds: number | undefined, only?: string): Profile {
  const quick = name === 'quick';
  return {
    name,
    rounds: rounds ?? 5,
    cases: selectCases(cases(quick), only),
    footprintKeys: quick ? 10_000 : 100_000,
    bigRestartKeys: quick ? 0 : 1_000_000,
    restoreKeys: quick ? 10_000 : 100_000,
    saveKeys: quick ? 10_000 : 100_000,
    footprintSession: quick ? 'shared' : 'none',
    warmupSec: quick ? 1 : 2,
    startTimeoutMs: 30_000,
    restartTimeoutMs: quick ? 60_000 : 240_000,
  };
}
