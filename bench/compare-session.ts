/**
 * One session of the comparison: start a fresh cluster of one server kind, run every
 * shared case of the profile against it in order, measure the footprint, stop it,
 * delete its data; then each isolated case (CaseDef.isolated) on a fresh cluster of its
 * own, with the first member's RSS read before the generator connects and after its
 * setup (watch-scale.ts). The shared cluster is skipped when there is neither a shared
 * case nor a footprint to measure. A session never throws for a failed case (the
 * failure is recorded in its result); it throws ClusterStartError only when a cluster
 * does not come up, after that cluster is stopped. Every cluster is stopped before the
 * session returns.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { enableAuth } from './auth-setup.js';
import { Cluster, type ServerKind } from './cluster.js';
import type { CaseDef, Profile } from './compare-plan.js';
import { runGoLoadgen } from './go-client.js';
import { loadKeys } from './loader.js';
import { type BenchOptions, resolveOptions } from './options.js';
import type { Pki } from './pki.js';
import type { BenchResult, RunHooks, WorkerPool } from './runner.js';
import { type MemoryProbe, readSettled, type RssReading } from './watch-scale.js';

export interface CaseOutcome {
  caseId: string;
  /** Metric id → value, absent when the run failed. */
  metrics: Record<string, number>;
  /** The generator's result (without options), for the JSON file. */
  result?: Omit<BenchResult, 'options'>;
  /** CPU cores the server members used during the run (setup included). */
  serverCpuCores?: number;
  /** Isolated cases: the first member's RSS before and after the generator's setup. */
  memory?: MemoryProbe;
  error?: string;
}

export interface Footprint {
  keys: number;
  peakRssBytes: number;
  diskBytes: number;
  restartToServingMs: number;
}

export interface SessionResult {
  label: string;
  kind: ServerKind;
  round: number;
  startToServingMs: number;
  cases: CaseOutcome[];
  footprint?: Footprint;
  footprintError?: string;
}

export interface SessionEnv {
  workDir: string;
  pki: Pki;
  members: number;
  profile: Profile;
  command: (kind: ServerKind) => { file: string; args: string[] };
  log: (line: string) => void;
  /** Generator threads shared by every case of the comparison. */
  pool: WorkerPool;
  /** Keep each session's configs, data and logs (for debugging). */
  keep: boolean;
  /** `--client go`: the Go loadgen binary that runs every case instead of `pool`. */
  goLoadgen?: string;
  /** Records a line for the result file's notes (e.g. a cluster start retried on fresh ports). */
  note: (line: string) => void;
}

/**
 * The unmeasured warm-up run of a case (Profile.warmupSec): the same workload, clients,
 * connections and sizes for `warmupSec` seconds, so both servers' first requests (V8's
 * JIT on tsetcd's side, caches and pools on both) are not what the case measures.
 * Undefined for cases that run a fixed number of operations (watch cases) or when the
 * profile has no warm-up. The mixed workload's setup creates its objects with
 * create-only transactions, so its warm-up writes under a prefix of its own.
 */
export function warmupOptions(opts: BenchOptions, warmupSec: number): BenchOptions | undefined {
  if (warmupSec <= 0 || opts.total > 0 || opts.durationSec <= 0) return undefined;
  return {
    ...opts,
    durationSec: warmupSec,
    warmupSec: 0,
    seed: opts.seed + 1_000_000,
    ...(opts.workload === 'mixed' ? { prefix: `/warmup${opts.prefix}` } : {}),
  };
}

async function runCase(env: SessionEnv, cluster: Cluster, c: CaseDef, round: number): Promise<CaseOutcome> {
  const isolated = c.isolated === true;
  const opts = resolveOptions(c.workload, isolated ? cluster.clientUrls.slice(0, 1) : cluster.clientUrls, {
    ...c.options,
    cacert: env.pki.caFile,
    cert: env.pki.certFile,
    key: env.pki.keyFile,
    seed: round,
  });
  let before: RssReading | undefined;
  let after: RssReading | undefined;
  const hooks: RunHooks = {};
  if (c.auth === true) await enableAuth(cluster.clientUrls[0] ?? '', env.pki);
  const warm = warmupOptions(opts, env.profile.warmupSec);
  if (warm !== undefined) {
    const timeoutMs = (warm.durationSec + 60) * 1000;
    try {
      await (env.goLoadgen === undefined ? env.pool.run(warm, timeoutMs) : runGoLoadgen(env.goLoadgen, warm, timeoutMs));
    } catch (err) {
      return { caseId: c.id, metrics: {}, error: `warm-up: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  if (isolated) {
    before = await readSettled(() => cluster.memberRssBytes(0));
    hooks.beforeGo = async () => {
      after = await readSettled(() => cluster.memberRssBytes(0));
    };
  }
  const cpu0 = cluster.cpuSeconds();
  const t0 = performance.now();
  try {
    const result =
      env.goLoadgen === undefined ? await env.pool.run(opts, 180_000, hooks) : await runGoLoadgen(env.goLoadgen, opts, 180_000);
    const wallSec = (performance.now() - t0) / 1000;
    const memory = before !== undefined && after !== undefined ? { before, after } : undefined;
    const metrics: Record<string, number> = {};
    for (const m of c.metrics) metrics[m.id] = m.extract(result, memory);
    const { options: _omit, ...rest } = result;
    // A member that exited took its CPU time with it: no server CPU figure then.
    const cores = (cluster.cpuSeconds() - cpu0) / wallSec;
    return {
      caseId: c.id,
      metrics,
      result: rest,
      ...(cores >= 0 && cluster.deadMembers() === undefined ? { serverCpuCores: cores } : {}),
      ...(memory === undefined ? {} : { memory }),
    };
  } catch (err) {
    return { caseId: c.id, metrics: {}, error: err instanceof Error ? err.message : String(err) };
  }
}

function logOutcome(env: SessionEnv, c: CaseDef, outcome: CaseOutcome, startedMs: number): void {
  const shown = Object.entries(outcome.metrics)
    .map(([k, v]) => `${k}=${Number.isFinite(v) ? v.toFixed(2) : v}`)
    .join(' ');
  const errors = outcome.result?.errorOps ?? 0;
  env.log(
    `    ${c.id} [${((performance.now() - startedMs) / 1000).toFixed(1)} s]: ${outcome.error ?? shown}` +
      (errors > 0 ? ` (${errors} errors)` : ''),
  );
}

/** Marks an outcome failed when a member died during it; returns the reason. */
function checkDied(env: SessionEnv, cluster: Cluster, c: CaseDef, outcome: CaseOutcome): string | undefined {
  const dead = cluster.deadMembers();
  if (dead === undefined) return undefined;
  const died = `server died during "${c.id}": ${dead}`;
  outcome.error = died;
  outcome.metrics = {};
  delete outcome.serverCpuCores;
  env.log(`    ${died}`);
  return died;
}

const slug = (s: string): string => s.replace(/[^a-z0-9]+/gi, '_');

/** One isolated case on a fresh cluster of its own; resolves with its start time too. */
async function runIsolated(
  env: SessionEnv,
  kind: ServerKind,
  label: string,
  round: number,
  c: CaseDef,
): Promise<{ outcome: CaseOutcome; startToServingMs: number }> {
  const dir = join(env.workDir, `round${round}-${slug(label)}-${slug(c.id)}`);
  const cluster = await makeCluster(env, kind, dir, false);
  try {
    const startToServingMs = await cluster.start();
    env.log(`  ${label}: own cluster for "${c.id}", serving after ${Math.round(startToServingMs)} ms`);
    const caseStart = performance.now();
    const outcome = await runCase(env, cluster, c, round);
    checkDied(env, cluster, c, outcome);
    logOutcome(env, c, outcome, caseStart);
    return { outcome, startToServingMs };
  } finally {
    await cluster.stop();
    if (!env.keep) rmSync(dir, { recursive: true, force: true });
  }
}

export function makeCluster(env: SessionEnv, kind: ServerKind, dir: string, bigData: boolean): Promise<Cluster> {
  return Cluster.create({
    kind,
    members: env.members,
    dir,
    pki: env.pki,
    command: env.command(kind),
    startTimeoutMs: env.profile.startTimeoutMs,
    // The 1M-key restart stores ~1 GiB: raise etcd's 2 GiB default quota for both.
    extraConfig: bigData ? { 'quota-backend-bytes': 8 * 1024 ** 3 } : {},
    onNote: env.note,
  });
}

async function measureFootprint(env: SessionEnv, cluster: Cluster): Promise<Footprint> {
  const p = env.profile;
  await loadKeys(cluster.clientUrls, cluster.tlsFiles, 0, p.footprintKeys, 1024);
  const peakRssBytes = cluster.peakRssBytes();
  const diskBytes = cluster.diskBytes();
  const restartToServingMs = await cluster.restart(p.restartTimeoutMs);
  return { keys: p.footprintKeys, peakRssBytes, diskBytes, restartToServingMs };
}

export async function runSession(env: SessionEnv, kind: ServerKind, label: string, round: number): Promise<SessionResult> {
  const out: SessionResult = { label, kind, round, startToServingMs: Number.NaN, cases: [] };
  const sharedCases = env.profile.cases.filter((c) => c.isolated !== true);
  const footprint = env.profile.footprintSession === 'shared';
  if (sharedCases.length > 0 || footprint) await runShared(env, kind, label, round, sharedCases, out);
  for (const c of env.profile.cases) {
    if (c.isolated !== true) continue;
    const { outcome, startToServingMs } = await runIsolated(env, kind, label, round, c);
    out.cases.push(outcome);
    if (!Number.isFinite(out.startToServingMs)) out.startToServingMs = startToServingMs;
  }
  return out;
}

async function runShared(
  env: SessionEnv,
  kind: ServerKind,
  label: string,
  round: number,
  cases: CaseDef[],
  out: SessionResult,
): Promise<void> {
  const dir = join(env.workDir, `round${round}-${slug(label)}`);
  const shared = env.profile.footprintSession === 'shared';
  const cluster = await makeCluster(env, kind, dir, false);
  let died: string | undefined;
  try {
    out.startToServingMs = await cluster.start();
    env.log(`  ${label}: serving after ${Math.round(out.startToServingMs)} ms`);
    for (const c of cases) {
      if (died !== undefined) {
        out.cases.push({ caseId: c.id, metrics: {}, error: `not run: ${died.split('\n')[0] ?? ''}` });
        continue;
      }
      const caseStart = performance.now();
      const outcome = await runCase(env, cluster, c, round);
      out.cases.push(outcome);
      died = checkDied(env, cluster, c, outcome);
      logOutcome(env, c, outcome, caseStart);
    }
    if (shared && died === undefined) {
      try {
        out.footprint = await measureFootprint(env, cluster);
      } catch (err) {
        out.footprintError = err instanceof Error ? err.message : String(err);
      }
    } else if (shared && died !== undefined) {
      out.footprintError = `not measured: ${died.split('\n')[0] ?? ''}`;
    }
  } finally {
    await cluster.stop();
    if (!env.keep) rmSync(dir, { recursive: true, force: true });
  }
  if (out.footprint !== undefined) {
    const f = out.footprint;
    env.log(
      `    footprint: peak RSS ${(f.peakRssBytes / 2 ** 20).toFixed(1)} MiB with ${f.keys} keys, disk ` +
        `${(f.diskBytes / 2 ** 20).toFixed(1)} MiB, restart ${Math.round(f.restartToServingMs)} ms`,
    );
  } else if (out.footprintError !== undefined) {
    env.log(`    footprint failed: ${out.footprintError}`);
  }
}
