/**
 * The Go load generator (bench/go/loadgen, on etcd 3.4's clientv3) as a second
 * client for the comparison (`--client go`), so that no figure depends on our own
 * TypeScript client alone (bench/README.md, "Go client").
 *
 * Contract: buildGoLoadgen(dir) builds it offline from Debian's golang-etcd-server-dev
 * sources (GOPATH=/usr/share/gocode, GO111MODULE=off, GOPROXY=off) with a GOCACHE inside
 * `dir`, nothing written elsewhere, and returns the binary. runGoLoadgen() runs one
 * workload and returns a BenchResult like the TypeScript generator's (per-kind latency,
 * counters and worker ELU are empty: the Go client reports only its own CPU). The run
 * is bounded by `timeoutMs` (then killed and rejected). goArgs() maps BenchOptions to its
 * flags; GO_WORKLOADS are the workloads it has.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { BenchOptions, WorkloadName } from './options.js';
import { repoRoot } from './result-file.js';
import type { BenchResult } from './runner.js';
import type { LatencySummary } from './histogram.js';

export const GOPATH = '/usr/share/gocode';
export const GO_WORKLOADS: readonly WorkloadName[] = ['put', 'range', 'txn-put'];

export interface Spawned {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd` to its end (SIGKILL after timeoutMs) and collects its output. */
export function runProcess(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The loadgen's source files (main.go, the mix workload's mix.go), by absolute path: in
 * GOPATH mode `go build` takes files anywhere but not a directory outside GOPATH.
 */
export function goLoadgenSources(): string[] {
  const dir = join(repoRoot(), 'bench', 'go', 'loadgen');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.go') && !f.endsWith('_test.go'))
    .sort()
    .map((f) => join(dir, f));
}

/** Why the Go client cannot be built here, or undefined when it can. */
export function goClientMissing(): string | undefined {
  if (!existsSync(join(GOPATH, 'src/go.etcd.io/etcd/clientv3/client.go'))) {
    return `etcd's Go client source is missing under ${GOPATH} (apt-get install -y golang-etcd-server-dev)`;
  }
  return undefined;
}

export async function buildGoLoadgen(dir: string): Promise<string> {
  const missing = goClientMissing();
  if (missing !== undefined) throw new Error(missing);
  const out = join(dir, 'loadgen');
  const env = { ...process.env, GOPATH, GO111MODULE: 'off', GOFLAGS: '', GOCACHE: join(dir, 'gocache'), GOPROXY: 'off', CGO_ENABLED: '0' };
  const r = await runProcess('go', ['build', '-o', out, ...goLoadgenSources()], env, 300_000);
  if (r.code !== 0) throw new Error(`go build bench/go/loadgen failed (${r.code}): ${r.stderr}`);
  return out;
}

/** The loadgen flags for one workload (the Go client supports GO_WORKLOADS only). */
export function goArgs(o: BenchOptions): string[] {
  if (!GO_WORKLOADS.includes(o.workload)) throw new Error(`the Go client has no "${o.workload}" workload`);
  const a = [
    `--workload=${o.workload}`,
    `--endpoints=${o.endpoints.join(',')}`,
    `--clients=${o.clients}`,
    `--conns=${o.conns}`,
    `--key-size=${o.keySize}`,
    `--val-size=${o.valSize}`,
    `--key-space-size=${o.keySpaceSize}`,
    `--txn-ops=${o.txnOps}`,
    `--consistency=${o.consistency}`,
    `--seed=${o.seed}`,
  ];
  if (o.prefix !== '') a.push(`--prefix=${o.prefix}`);
  if (o.cacert !== '') a.push(`--cacert=${o.cacert}`);
  if (o.cert !== '') a.push(`--cert=${o.cert}`, `--key=${o.key}`);
  if (o.total > 0) a.push(`--total=${o.total}`);
  else a.push(`--duration=${o.durationSec}s`, `--warmup=${o.warmupSec}s`);
  if (o.sequentialKeys) a.push('--sequential-keys');
  return a;
}

/** What main.go prints (its Result struct). */
export interface GoOutput {
  workload: string;
  okOps: number;
  errorOps: number;
  elapsedMs: number;
  throughputOpsPerSec: number;
  latency: LatencySummary;
  errors: Record<string, number>;
  perSecond?: number[];
  cpuSeconds: number;
  wallSeconds: number;
  /** The `mix` workload's lists, watch and lease figures (scale-mix.ts reads them). */
  mix?: unknown;
}

function isGoOutput(x: unknown): x is GoOutput {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return typeof o['okOps'] === 'number' && typeof o['throughputOpsPerSec'] === 'number' && typeof o['latency'] === 'object';
}

/** Runs the loadgen binary with `args`; rejects on a non-zero exit or bad output. */
export async function runGoRaw(bin: string, args: readonly string[], timeoutMs: number): Promise<GoOutput> {
  const r = await runProcess(bin, args, process.env, timeoutMs);
  if (r.code !== 0) throw new Error(`go loadgen exited ${r.code ?? 'by a signal (timeout?)'}: ${r.stderr.trim().slice(-500)}`);
  const parsed: unknown = JSON.parse(r.stdout);
  if (!isGoOutput(parsed)) throw new Error(`go loadgen printed no result: ${r.stdout.slice(0, 200)}`);
  return parsed;
}

/** The comparison's view of one Go run (as our generator reports it, without options). */
export function goResult(workload: string, g: GoOutput): Omit<BenchResult, 'options'> {
  return {
    workload,
    startedAt: new Date(Date.now() - g.wallSeconds * 1000).toISOString(),
    okOps: g.okOps,
    errorOps: g.errorOps,
    elapsedMs: g.elapsedMs,
    throughputOpsPerSec: g.throughputOpsPerSec,
    latency: g.latency,
    byKind: { [workload]: g.latency },
    errors: g.errors,
    counters: {},
    generator: {
      workers: 1,
      cores: availableParallelism(),
      cpuCores: g.wallSeconds > 0 ? g.cpuSeconds / g.wallSeconds : Number.NaN,
      workerEventLoopUtilization: [],
      workerCpuCores: [],
      saturated: false,
    },
  };
}

export async function runGoLoadgen(bin: string, o: BenchOptions, timeoutMs: number): Promise<BenchResult> {
  return { ...goResult(o.workload, await runGoRaw(bin, goArgs(o), timeoutMs)), options: o };
}
