/**
 * The `scale` profile (bench/README.md, "Scale"): how each server holds up as the data
 * grows, with the Go load generator (bench/go-client.ts) so no figure depends on our
 * own client. For each key count K (10k, 300k, 1M by default; the 8 GiB case is its own
 * opt-in) and each round, each side (etcd A, tsetcd B, etcd A') gets a fresh cluster
 * (quota 8 GiB) and:
 * 1. load: K keys of 1 KiB random values, each written once by a Put from 64 clients
 *    over 8 connections: throughput, p99 and worst put latency during the load, the
 *    members' CPU, leader changes (etcd_server_leader_changes_seen_total summed over the
 *    members, before and after) and GC pauses during the load (tsetcd: the "gc pauses"
 *    lines of TSETCD_GC_STATS=1, src/embed/gc-stats.ts, within the load window; etcd:
 *    go_gc_duration_seconds, its sum's growth and its quantile="1", the longest of Go's
 *    last 256 pauses);
 * 2. memory after the load (largest member): RSS and RssAnon (/proc status; etcd's RSS
 *    includes its mmap'd bbolt file, RssAnon does not), and on-disk size;
 * 2b. unless `--scale-mix 0`, the kube-apiserver-like mix over the loaded keys (the Go
 *    `mix` workload, scale-mix.ts): list and write latency, watch and lease figures, the
 *    members' CPU and GC pauses during it, as a case of its own (mixCaseId);
 * 3. sequential puts: 1 client, 1 connection, 1 KiB, sequential keys, 3 s after 0.5 s
 *    of warm-up: p50 and p99 latency;
 * 4. restart: stop (SIGTERM), start, time from spawn to every member serving a
 *    linearizable read.
 * Each (K, round, side) is one SessionResult whose case (two with the mix) holds the figures, so the
 * comparison's summary (ratios, A/A band, verdicts) reads them like any other case.
 * A failed step ends that side's sample with an error (recorded, not retried); clusters
 * are always stopped and their data removed (unless --keep).
 */
import { readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Cluster, ServerKind } from './cluster.js';
import { type CaseDef, phaseMetric } from './compare-plan.js';
import { type CaseOutcome, makeCluster, type SessionEnv, type SessionResult } from './compare-session.js';
import { type GoOutput, goResult, runGoRaw } from './go-client.js';
import type { TlsFiles } from './grpc-h2.js';
import { mixArgs, mixMetricDefs, mixMetrics } from './scale-mix.js';

/**
 * Key counts of the default scale run, and the 8 GiB case: 6M records of ~1.1 KiB fill
 * etcd's bbolt file to ~7 GiB at its 0.9 fill of sequential pages, under the 8 GiB
 * quota (etcd's largest supported) both sides get; more keys would raise NOSPACE.
 */
export const SCALE_KEYS = [10_000, 300_000, 1_000_000] as const;
export const SCALE_8GIB_KEYS = 6_000_000;
const LOAD_CLIENTS = 64;
const LOAD_CONNS = 8;

const k = (n: number): string => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n));
export const scaleCaseId = (keys: number): string => `scale ${k(keys)} keys of 1 KiB`;
/** The mix step's case; it starts as scaleCaseId does, so tables.ts caseKeys reads its key count. */
export const mixCaseId = (keys: number): string => `${scaleCaseId(keys)}, kube mix`;

/**
 * `--scale-keys`: comma-separated key counts, each a whole number optionally ending in
 * k (thousands) or M (millions): "10000,100000" or "10k,100k,1M". Returns them smallest
 * first; a count that is not a positive whole number, or is given twice, throws (two
 * equal counts would make two cases with one id).
 */
export function parseScaleKeys(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const m = /^(\d+(?:\.\d+)?)([kM]?)$/.exec(part.trim().replace(/_/g, ''));
    const n = m === null ? Number.NaN : Number(m[1]) * (m[2] === 'M' ? 1_000_000 : m[2] === 'k' ? 1000 : 1);
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`--scale-keys: "${part.trim()}" is not a positive whole number of keys (e.g. 10000, 10k, 1M)`);
    if (out.includes(n)) throw new Error(`--scale-keys: ${n} keys given twice`);
    out.push(n);
  }
  return out.sort((a, b) => a - b);
}

/** The CaseDefs the summary reads the scale figures by (one per key count, and its mix case when `mix`). */
export function scaleCases(keys: readonly number[], mix = false): CaseDef[] {
  return keys.flatMap((n) => [loadCase(n), ...(mix ? [{ id: mixCaseId(n), workload: 'put' as const, options: {}, metrics: mixMetricDefs() }] : [])]);
}

function loadCase(n: number): CaseDef {
  return {
    id: scaleCaseId(n),
    workload: 'put',
    options: {},
    metrics: [
      phaseMetric('load_ops', `load throughput (${LOAD_CLIENTS} clients, ${LOAD_CONNS} conns)`, 'put/s', 'higher', { op: '>=', value: 1.0 }),
      phaseMetric('load_p99', 'p99 put latency during the load', 'ms', 'lower'),
      phaseMetric('load_max', 'worst put latency during the load', 'ms', 'lower', { op: '<=', value: 2 }),
      phaseMetric('leader_changes', 'leader changes during the load (all members)', 'count', 'lower'),
      phaseMetric('gc_max', 'longest GC pause during the load', 'ms', 'lower'),
      phaseMetric('gc_total', 'total GC pause during the load (largest member)', 'ms', 'lower'),
      phaseMetric('rss', 'RSS after the load (largest member)', 'MiB', 'lower', { op: '<=', value: 1.5 }),
      phaseMetric('anon', 'anonymous memory (RssAnon) after the load', 'MiB', 'lower', { op: '<=', value: 1.5 }),
      phaseMetric('disk', 'on-disk size after the load', 'MiB', 'lower'),
      phaseMetric('seq_p50', 'sequential put p50 (1 client)', 'ms', 'lower', { op: '<=', value: 1.2 }),
      phaseMetric('seq_p99', 'sequential put p99 (1 client)', 'ms', 'lower', { op: '<=', value: 1.5 }),
      phaseMetric('restart', 'restart to serving', 'ms', 'lower', { op: '<=', value: 1.5 }),
    ],
  };
}

function getMetrics(url: string, tls: TlsFiles): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/metrics`,
      { ca: tls.ca, ...(tls.cert === undefined ? {} : { cert: tls.cert }), ...(tls.key === undefined ? {} : { key: tls.key }), timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url}/metrics timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** The value of the first sample of `name` whose line contains `labels` (NaN when none). */
export function sampleValue(text: string, name: string, labels = ''): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (labels !== '' && !rest.includes(labels)) continue;
    return Number(rest.slice(rest.lastIndexOf(' ') + 1));
  }
  return Number.NaN;
}

interface MetricsSnapshot {
  leaderChanges: number;
  /** Per member: go_gc_duration_seconds sum (s) and quantile 1 (s); NaN for tsetcd. */
  gcSumSec: number[];
  gcMaxSec: number[];
}

async function snapshotMetrics(cluster: Cluster): Promise<MetricsSnapshot> {
  const texts = await Promise.all(cluster.clientUrls.map((u) => getMetrics(u, cluster.tlsFiles)));
  return {
    leaderChanges: texts.reduce((s, t) => s + (sampleValue(t, 'etcd_server_leader_changes_seen_total') || 0), 0),
    gcSumSec: texts.map((t) => sampleValue(t, 'go_gc_duration_seconds_sum')),
    gcMaxSec: texts.map((t) => sampleValue(t, 'go_gc_duration_seconds', 'quantile="1"')),
  };
}

/** GC pauses in [fromMs, toMs] (epoch ms) from one member log's "gc pauses" lines. */
export function gcFromLog(text: string, fromMs: number, toMs: number): { maxMs: number; totalMs: number; lines: number } {
  let maxMs = 0;
  let totalMs = 0;
  let lines = 0;
  for (const line of text.split('\n')) {
    if (!line.includes('"gc pauses"')) continue;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof o !== 'object' || o === null) continue;
    const r = o as Record<string, unknown>;
    const ts = Date.parse(String(r['ts']));
    // A line covers the second before its time stamp.
    if (!(ts >= fromMs && ts <= toMs + 1500)) continue;
    lines++;
    maxMs = Math.max(maxMs, Number(r['max-pause-ms']) || 0);
    totalMs += Number(r['total-pause-ms']) || 0;
  }
  return { maxMs, totalMs, lines };
}

/**
 * GC pauses between two metrics snapshots: etcd's go_gc_duration_seconds (the growth of
 * its sum on the largest member, and its quantile="1"), tsetcd's "gc pauses" log lines
 * within [fromMs, toMs]. Empty when tsetcd logged none.
 */
function gcDuring(kind: ServerKind, cluster: Cluster, before: MetricsSnapshot, after: MetricsSnapshot, fromMs: number, toMs: number): Record<string, number> {
  if (kind === 'etcd') {
    return {
      gc_max: Math.max(...after.gcMaxSec) * 1000,
      gc_total: Math.max(...after.gcSumSec.map((s, i) => s - (before.gcSumSec[i] ?? 0))) * 1000,
    };
  }
  const gcs = cluster.logFiles.map((f) => gcFromLog(readFileSync(f, 'utf8'), fromMs, toMs));
  if (!gcs.some((g) => g.lines > 0)) return {};
  return { gc_max: Math.max(...gcs.map((g) => g.maxMs)), gc_total: Math.max(...gcs.map((g) => g.totalMs)) };
}

/**
 * The mix step on a loaded cluster (scale-mix.ts): one Go `mix` run, its figures, the
 * members' CPU and GC pauses over it. Never throws: a failure is the outcome's error.
 */
async function mixStep(goBin: string, cluster: Cluster, kind: ServerKind, keys: number, seconds: number, round: number, common: string[]): Promise<CaseOutcome> {
  const caseId = mixCaseId(keys);
  try {
    const before = await snapshotMetrics(cluster);
    const cpu0 = cluster.cpuSeconds();
    const fromMs = Date.now();
    const t0 = performance.now();
    // Setup reads every loaded key's revision (keys only, ranges of 10k keys) before measuring.
    const out = await runGoRaw(goBin, mixArgs(keys, seconds, round, common), 120_000 + seconds * 1000 + keys / 20);
    const serverCpuCores = (cluster.cpuSeconds() - cpu0) / ((performance.now() - t0) / 1000);
    const dead = cluster.deadMembers();
    if (dead !== undefined) throw new Error(`a member died during the mix: ${dead}`);
    const after = await snapshotMetrics(cluster);
    return { caseId, metrics: { ...mixMetrics(out), ...gcDuring(kind, cluster, before, after, fromMs, Date.now()) }, result: goResult('mix', out), serverCpuCores };
  } catch (err) {
    return { caseId, metrics: {}, error: err instanceof Error ? err.message : String(err) };
  }
}

const MiB = 2 ** 20;

async function oneSample(
  env: SessionEnv,
  goBin: string,
  kind: ServerKind,
  label: string,
  round: number,
  keys: number,
  mixSeconds: number,
): Promise<SessionResult> {
  const caseId = scaleCaseId(keys);
  const out: SessionResult = { label, kind, round, startToServingMs: Number.NaN, cases: [] };
  const dir = join(env.workDir, `scale-${keys}-round${round}-${label}`);
  const cluster = await makeCluster(env, kind, dir, true);
  const m: Record<string, number> = {};
  let load: GoOutput | undefined;
  let serverCpuCores: number | undefined;
  const tlsArgs = [`--cacert=${env.pki.caFile}`, `--cert=${env.pki.certFile}`, `--key=${env.pki.keyFile}`];
  const endpoints = `--endpoints=${cluster.clientUrls.join(',')}`;
  const loaded = ['--prefix=/scale/', '--key-size=24', '--val-size=1024'];
  try {
    out.startToServingMs = await cluster.start();
    const before = await snapshotMetrics(cluster);
    const cpu0 = cluster.cpuSeconds();
    const fromMs = Date.now();
    const t0 = performance.now();
    env.log(`  ${label}: loading ${keys} keys of 1 KiB (Go client, ${LOAD_CLIENTS} clients / ${LOAD_CONNS} conns)`);
    load = await runGoRaw(
      goBin,
      ['--workload=load', endpoints, `--clients=${LOAD_CLIENTS}`, `--conns=${LOAD_CONNS}`, '--from=0', `--to=${keys}`, ...loaded, `--seed=${round}`, ...tlsArgs],
      Math.max(600_000, keys * 2),
    );
    const toMs = Date.now();
    serverCpuCores = (cluster.cpuSeconds() - cpu0) / ((performance.now() - t0) / 1000);
    const dead = cluster.deadMembers();
    if (dead !== undefined) throw new Error(`a member died during the load: ${dead}`);
    const after = await snapshotMetrics(cluster);
    m['load_ops'] = load.throughputOpsPerSec;
    m['load_p99'] = load.latency.p99Ms;
    m['load_max'] = load.latency.maxMs;
    m['leader_changes'] = after.leaderChanges - before.leaderChanges;
    Object.assign(m, gcDuring(kind, cluster, before, after, fromMs, toMs));
    const mem = cluster.memoryNow();
    m['rss'] = Math.max(...mem.map((x) => x.rssBytes)) / MiB;
    m['anon'] = Math.max(...mem.map((x) => x.anonBytes)) / MiB;
    m['disk'] = cluster.diskBytes() / MiB;
    env.log(
      `    load ${Math.round(load.throughputOpsPerSec)} put/s, p99 ${load.latency.p99Ms.toFixed(1)} ms, max ${load.latency.maxMs.toFixed(1)} ms, ` +
        `${m['leader_changes']} leader changes, GC max ${m['gc_max']?.toFixed(1) ?? 'n/a'} ms total ${m['gc_total']?.toFixed(0) ?? 'n/a'} ms; ` +
        `RSS ${m['rss'].toFixed(0)} MiB, anon ${m['anon'].toFixed(0)} MiB, disk ${m['disk'].toFixed(0)} MiB`,
    );
    if (mixSeconds > 0) {
      env.log(`    kube mix for ${mixSeconds} s over the loaded keys (Go client)`);
      const mix = await mixStep(goBin, cluster, kind, keys, mixSeconds, round, [endpoints, ...loaded, ...tlsArgs]);
      out.cases.push(mix);
      const x = mix.metrics;
      env.log(
        mix.error !== undefined
          ? `    mix failed: ${mix.error.split('\n')[0] ?? mix.error}`
          : `    mix: list p99 ${x['list_p99']?.toFixed(1)} ms (${x['lists']} lists), write p99 ${x['write_p99']?.toFixed(1)} ms ` +
              `(${x['writes']?.toFixed(0)}/s), ${x['watch_events']} watch events, ${x['prevkv_missing']} without prev_kv, ` +
              `${x['lease_cycles']} lease cycles, errors ${mix.result?.errorOps ?? 0}, GC max ${x['gc_max']?.toFixed(1) ?? 'n/a'} ms`,
      );
      if (cluster.deadMembers() !== undefined) throw new Error(`a member died during the mix: ${cluster.deadMembers() ?? ''}`);
    }
    const seq = await runGoRaw(
      goBin,
      ['--workload=put', endpoints, '--clients=1', '--conns=1', '--sequential-keys', '--prefix=/scale-seq/', '--key-size=24', '--val-size=1024', '--key-space-size=100000', '--duration=3s', '--warmup=0.5s', `--seed=${round}`, ...tlsArgs],
      60_000,
    );
    m['seq_p50'] = seq.latency.p50Ms;
    m['seq_p99'] = seq.latency.p99Ms;
    await cluster.stop();
    m['restart'] = await cluster.start(Math.max(env.profile.restartTimeoutMs, keys / 10));
    env.log(`    sequential put p50 ${seq.latency.p50Ms.toFixed(2)} ms p99 ${seq.latency.p99Ms.toFixed(2)} ms; restart to serving ${Math.round(m['restart'])} ms`);
    out.cases.push({ caseId, metrics: m, result: goResult('load', load), serverCpuCores });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    env.log(`  ${label}: scale ${k(keys)} failed: ${msg.split('\n')[0] ?? msg}`);
    out.cases.push({ caseId, metrics: {}, error: msg, ...(load === undefined ? {} : { result: goResult('load', load) }), ...(serverCpuCores === undefined ? {} : { serverCpuCores }) });
  } finally {
    await cluster.stop();
    if (!env.keep) rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/**
 * Every key count, smallest first; per key count `rounds` rounds of the sides in order.
 * One SessionResult per (side, round) holding a case per key count, as the summary
 * matches outcomes by side, round and case id.
 */
export async function runScalePhase(
  env: SessionEnv,
  goBin: string,
  keyCounts: readonly number[],
  sides: ReadonlyArray<readonly [string, ServerKind]>,
  mixSeconds = 0,
): Promise<SessionResult[]> {
  const out: SessionResult[] = [];
  for (const keys of keyCounts) {
    for (let round = 1; round <= env.profile.rounds; round++) {
      env.log(`scale ${k(keys)}: round ${round}/${env.profile.rounds}`);
      for (const [label, kind] of sides) {
        const s = await oneSample(env, goBin, kind, label, round, keys, mixSeconds);
        const same = out.find((o) => o.label === label && o.round === round);
        if (same === undefined) out.push(s);
        else same.cases.push(...s.cases);
      }
    }
  }
  return out;
}
