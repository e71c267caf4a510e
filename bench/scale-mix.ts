/**
 * The scale profile's kube-apiserver-like mix step (bench/README.md, "Scale"): what the
 * Go load generator's `mix` workload (bench/go/loadgen/mix.go) is asked to do over the
 * keys the load step stored, the case that holds its figures, and how its output becomes
 * those figures. scale-phase.ts runs it between the memory sample and the sequential
 * puts, on etcd and tsetcd alike; this module only describes and reads it, so the
 * pieces are testable without servers (test/bench/scale-mix.test.ts).
 *
 * The mix: 2 listers, each listing 10k consecutive loaded objects (all of them below
 * 10k keys) in pages of 500 pinned to the first page's revision, back to back; 16
 * writers over 4 connections offering 500 writes/s in all, each an update of a random
 * loaded key by Txn{MOD(key)==rev ? Put : Get} (kube-apiserver's GuaranteedUpdate, the
 * revision from a cache the watcher keeps current); one watcher with prev_kv over the
 * loaded prefix; one loop of lease grant, put with it, revoke (TTL 30 s). 2 s of
 * unmeasured warm-up, then `seconds` measured.
 */
import { type MetricDef, phaseMetric } from './compare-plan.js';
import type { GoOutput } from './go-client.js';

export const MIX = {
  listers: 2,
  listObjects: 10_000,
  /** kube-apiserver's reflector page size. */
  pageSize: 500,
  writers: 16,
  writerConns: 4,
  /** Writes/s offered over all writers (the same on both sides, so p99s compare). */
  rate: 500,
  leaseTtlSec: 30,
  writeOp: 'txn',
  warmupSec: 2,
} as const;

/** The default measured seconds of `--scale-mix` (0 leaves the step out). */
export const MIX_SECONDS = 15;

/** `--scale-mix`: seconds >= 0, whole or not; anything else throws. */
export function parseMixSeconds(x: number): number {
  if (!(Number.isFinite(x) && x >= 0)) throw new Error(`--scale-mix: want seconds >= 0 (0: no mix step), got ${x}`);
  return x;
}

/** What the mix prints beside the writes' figures (main.go Result.mix). */
export interface GoMix {
  writeOp: string;
  lists: number;
  listObjects: number;
  list: GoOutput['latency'];
  page: GoOutput['latency'];
  conflicts: number;
  watchEvents: number;
  watchExpected: number;
  prevKvMissing: number;
  leaseCycles: number;
  lease: GoOutput['latency'];
}

/** The mix's share of the Go output, or undefined when it printed none. */
export function mixOf(out: GoOutput): GoMix | undefined {
  const m = out.mix;
  if (typeof m !== 'object' || m === null) return undefined;
  const r = m as Record<string, unknown>;
  const lat = (x: unknown): boolean => typeof x === 'object' && x !== null && typeof (x as Record<string, unknown>)['p99Ms'] === 'number';
  const nums = ['lists', 'listObjects', 'conflicts', 'watchEvents', 'watchExpected', 'prevKvMissing', 'leaseCycles'];
  if (!nums.every((k) => typeof r[k] === 'number') || !lat(r['list']) || !lat(r['page']) || !lat(r['lease'])) return undefined;
  return m as GoMix;
}

/** The loadgen flags of the mix over keys [0, keys) of the load step (its prefix and key size). */
export function mixArgs(keys: number, seconds: number, seed: number, common: readonly string[]): string[] {
  return [
    '--workload=mix',
    ...common,
    `--clients=${MIX.writers}`,
    `--conns=${MIX.writerConns}`,
    '--from=0',
    `--to=${keys}`,
    `--listers=${MIX.listers}`,
    `--list-objects=${Math.min(MIX.listObjects, keys)}`,
    `--page-size=${MIX.pageSize}`,
    `--rate=${MIX.rate}`,
    `--lease-ttl=${MIX.leaseTtlSec}`,
    `--write-op=${MIX.writeOp}`,
    `--warmup=${MIX.warmupSec}s`,
    `--duration=${seconds}s`,
    `--seed=${seed}`,
  ];
}

/** The figures of the mix case, the two targets on the list and write p99. */
export function mixMetricDefs(): MetricDef[] {
  return [
    phaseMetric('list_p99', `p99 of a whole list (up to 10k objects, pages of ${MIX.pageSize})`, 'ms', 'lower', { op: '<=', value: 1.5 }),
    phaseMetric('list_p50', 'p50 of a whole list', 'ms', 'lower'),
    phaseMetric('page_p99', `p99 of one page (Range limit ${MIX.pageSize}, pinned revision)`, 'ms', 'lower'),
    phaseMetric('lists', `whole lists completed (${MIX.listers} listers)`, 'lists', 'higher'),
    phaseMetric('write_p99', 'p99 write latency (Txn MOD==rev ? Put : Get)', 'ms', 'lower', { op: '<=', value: 1.5 }),
    phaseMetric('write_p50', 'p50 write latency', 'ms', 'lower'),
    phaseMetric('writes', `writes done (${MIX.rate}/s offered by ${MIX.writers} clients over ${MIX.writerConns} conns)`, 'writes/s', 'higher'),
    phaseMetric('watch_events', 'watch events received (prev_kv watcher, warm-up included)', 'events', 'higher'),
    phaseMetric('prevkv_missing', 'non-create watch events without prev_kv (must be 0)', 'events', 'lower'),
    phaseMetric('lease_cycles', 'lease cycles (grant, put with it, revoke)', 'cycles', 'higher'),
    phaseMetric('gc_max', 'longest GC pause during the mix', 'ms', 'lower'),
    phaseMetric('gc_total', 'total GC pause during the mix (largest member)', 'ms', 'lower'),
  ];
}

/** The mix case's figures from one Go run (GC pauses are the caller's); throws on output without a mix. */
export function mixMetrics(out: GoOutput): Record<string, number> {
  const mix = mixOf(out);
  if (mix === undefined) throw new Error('go loadgen printed no mix figures');
  return {
    list_p99: mix.list.p99Ms,
    list_p50: mix.list.p50Ms,
    page_p99: mix.page.p99Ms,
    lists: mix.lists,
    write_p99: out.latency.p99Ms,
    write_p50: out.latency.p50Ms,
    writes: out.throughputOpsPerSec,
    watch_events: mix.watchEvents,
    prevkv_missing: mix.prevKvMissing,
    lease_cycles: mix.leaseCycles,
  };
}
