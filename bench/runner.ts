/**
 * Runs one workload: splits it into shares (share.ts), runs each share in its own
 * worker thread (or inline, for tests), starts them together after every share's setup
 * is done, merges their histograms, errors and counters, and measures the generator's
 * own cost: process CPU time over the measured window (all threads) and each worker's
 * event-loop utilization. A worker near 1.0 utilization means the generator, not the
 * server, may have set the pace; the result says so in `generator.saturated`.
 *
 * Bounded: a run that has not finished `timeoutMs` after the start is abandoned
 * (workers terminated) and reported as failed, never left hanging.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { MessageChannel, Worker } from 'node:worker_threads';
import { Histogram, type LatencySummary } from './histogram.js';
import type { BenchOptions } from './options.js';
import { type FromWorker, planShares, type ToWorker, type WorkerResult } from './share.js';
import { serveShare } from './worker.js';

/** Latency kinds that are samples of delivery, not operations the generator sent. */
const SAMPLE_KINDS = new Set(['watch-delivery']);
/** Event-loop utilization above which a worker is taken as the bottleneck. */
export const SATURATION_ELU = 0.9;

export interface BenchResult {
  workload: string;
  startedAt: string;
  options: BenchOptions;
  okOps: number;
  errorOps: number;
  elapsedMs: number;
  throughputOpsPerSec: number;
  latency: LatencySummary;
  byKind: Record<string, LatencySummary>;
  errors: Record<string, number>;
  counters: Record<string, number>;
  /** watch workloads: events delivered per second, and delivered/expected. */
  eventsPerSec?: number;
  generator: {
    workers: number;
    cores: number;
    /** CPU seconds used by the generator process per wall second (1.0 = one core). */
    cpuCores: number;
    workerEventLoopUtilization: number[];
    /** Each worker thread's own CPU use (cores); see WorkerResult.threadCpuCores. */
    workerCpuCores: number[];
    saturated: boolean;
  };
}

/** Optional steps the caller runs inside one run (the comparison's memory probe). */
export interface RunHooks {
  /**
   * Called once every worker has finished setup (connections open, watchers created),
   * before the synchronized start; the run's timeout covers it, a rejection fails the run.
   */
  beforeGo?: () => Promise<void>;
}

interface Endpoint {
  post(msg: ToWorker): void;
  /** One handler at a time: each run installs its own. */
  setHandlers(onMessage: (msg: FromWorker) => void, onExit: (why: string) => void): void;
  dispose(): Promise<void>;
}

function threadEndpoint(): Endpoint {
  const w = new Worker(new URL('./worker-entry.js', import.meta.url));
  let onMessage: (msg: FromWorker) => void = () => undefined;
  let onExit: (why: string) => void = () => undefined;
  let exited = false;
  w.on('message', (m: FromWorker) => onMessage(m));
  w.on('error', (e) => onExit(`worker error: ${e.message}`));
  w.on('exit', (code) => {
    exited = true;
    onExit(`worker exited with code ${code}`);
  });
  // A worker idle in the pool must not keep the process alive.
  w.unref();
  return {
    post: (m) => {
      if (exited) onExit('worker is gone');
      else w.postMessage(m);
    },
    setHandlers: (m, e) => {
      onMessage = m;
      onExit = e;
    },
    dispose: async () => {
      onExit = () => undefined;
      await w.terminate();
    },
  };
}

function inlineEndpoint(): Endpoint {
  const { port1, port2 } = new MessageChannel();
  serveShare({
    postMessage: (m) => port2.postMessage(m),
    on: (_e, l) => port2.on('message', (m: ToWorker) => l(m)),
  });
  let onMessage: (msg: FromWorker) => void = () => undefined;
  port1.on('message', (m: FromWorker) => onMessage(m));
  return {
    post: (m) => port1.postMessage(m),
    setHandlers: (m) => {
      onMessage = m;
    },
    dispose: async () => {
      port1.close();
      port2.close();
    },
  };
}

export function defaultWorkerCount(opts: BenchOptions): number {
  if (opts.inline) return 1;
  const want = opts.workers > 0 ? opts.workers : availableParallelism();
  return Math.max(1, Math.min(want, opts.conns));
}

/**
 * Worker threads kept across runs (the comparison runs dozens of cases: spawning
 * threads and loading the protos each time would cost more than some runs). A run
 * uses the first N workers; a worker that failed or timed out is replaced.
 */
export class WorkerPool {
  private readonly threads: Endpoint[] = [];

  async run(opts: BenchOptions, timeoutMs?: number, hooks: RunHooks = {}): Promise<BenchResult> {
    const workerCount = defaultWorkerCount(opts);
    if (opts.inline) {
      const ep = inlineEndpoint();
      try {
        return await runOn([ep], opts, workerCount, timeoutMs, hooks);
      } finally {
        await ep.dispose();
      }
    }
    while (this.threads.length < workerCount) this.threads.push(threadEndpoint());
    const eps = this.threads.slice(0, workerCount);
    try {
      return await runOn(eps, opts, workerCount, timeoutMs, hooks);
    } catch (err) {
      // Workers of a failed run may still hold connections or pending work: replace them.
      this.threads.splice(0, workerCount);
      await Promise.all(eps.map((e) => e.dispose()));
      throw err;
    }
  }

  async close(): Promise<void> {
    const all = this.threads.splice(0);
    await Promise.all(all.map((e) => e.dispose()));
  }
}

/** One run in fresh worker threads. */
export async function runBench(opts: BenchOptions, timeoutMs?: number): Promise<BenchResult> {
  const pool = new WorkerPool();
  try {
    return await pool.run(opts, timeoutMs);
  } finally {
    await pool.close();
  }
}

async function runOn(
  endpoints: Endpoint[],
  opts: BenchOptions,
  workerCount: number,
  timeoutMs: number | undefined,
  hooks: RunHooks,
): Promise<BenchResult> {
  const startedAt = new Date().toISOString();
  const specs = planShares(opts, workerCount);
  const limitMs =
    timeoutMs ?? (opts.total > 0 ? 600_000 : (opts.warmupSec + opts.durationSec) * 1000 + 60_000);

  const results: WorkerResult[] = [];
  let cpu0 = process.cpuUsage();
  let wall0 = performance.now();
  let wallMs = 0;
  let cpuMs = 0;
  await new Promise<void>((resolve, reject) => {
    let ready = 0;
    let settled = false;
    const fail = (why: string): void => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(new Error(why));
      }
    };
    const timer = setTimeout(() => fail(`bench run did not finish within ${Math.round(limitMs / 1000)} s`), limitMs);
    endpoints.forEach((ep, i) => {
      ep.setHandlers(
        (msg) => {
          if (msg.type === 'failed') fail(msg.error);
          else if (msg.type === 'ready') {
            ready++;
            if (ready === endpoints.length) {
              const go = (): void => {
                if (settled) return;
                cpu0 = process.cpuUsage();
                wall0 = performance.now();
                for (const e of endpoints) e.post({ type: 'go' });
              };
              if (hooks.beforeGo === undefined) go();
              else {
                hooks.beforeGo().then(go, (err: unknown) =>
                  fail(`before the start: ${err instanceof Error ? err.message : String(err)}`),
                );
              }
            }
          } else {
            results.push(msg.result);
            if (results.length === endpoints.length && !settled) {
              settled = true;
              wallMs = performance.now() - wall0;
              const c = process.cpuUsage(cpu0);
              cpuMs = (c.user + c.system) / 1000;
              clearTimeout(timer);
              resolve();
            }
          }
        },
        (why) => fail(why),
      );
      const spec = specs[i];
      if (spec !== undefined) ep.post({ type: 'init', spec });
    });
  });
  return aggregate(opts, startedAt, results, wallMs, cpuMs, workerCount);
}

function aggregate(
  opts: BenchOptions,
  startedAt: string,
  results: WorkerResult[],
  wallMs: number,
  cpuMs: number,
  workerCount: number,
): BenchResult {
  const kinds = new Map<string, Histogram>();
  const errors: Record<string, number> = {};
  const counters: Record<string, number> = {};
  let okOps = 0;
  let errorOps = 0;
  let elapsedMs = 0;
  for (const r of results) {
    okOps += r.okOps;
    errorOps += r.errorOps;
    elapsedMs = Math.max(elapsedMs, r.elapsedMs);
    for (const [k, data] of Object.entries(r.latency)) {
      const h = kinds.get(k) ?? new Histogram();
      h.merge(data);
      kinds.set(k, h);
    }
    for (const [k, n] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + n;
    for (const [k, n] of Object.entries(r.counters)) {
      counters[k] = k.endsWith('Ms') ? Math.max(counters[k] ?? 0, n) : (counters[k] ?? 0) + n;
    }
  }
  const overall = new Histogram();
  const byKind: Record<string, LatencySummary> = {};
  for (const [k, h] of kinds) {
    byKind[k] = h.summary();
    if (!SAMPLE_KINDS.has(k)) overall.merge(h.toData());
  }
  const result: BenchResult = {
    workload: opts.workload,
    startedAt,
    options: opts,
    okOps,
    errorOps,
    elapsedMs,
    throughputOpsPerSec: elapsedMs > 0 ? okOps / (elapsedMs / 1000) : 0,
    latency: overall.summary(),
    byKind,
    errors,
    counters,
    generator: {
      workers: workerCount,
      cores: availableParallelism(),
      cpuCores: wallMs > 0 ? cpuMs / wallMs : 0,
      workerEventLoopUtilization: results
        .slice()
        .sort((a, b) => a.workerIndex - b.workerIndex)
        .map((r) => Math.round(r.eventLoopUtilization * 1000) / 1000),
      workerCpuCores: results
        .slice()
        .sort((a, b) => a.workerIndex - b.workerIndex)
        .map((r) => Math.round(r.threadCpuCores * 1000) / 1000),
      saturated: results.some((r) => r.eventLoopUtilization >= SATURATION_ELU),
    },
  };
  const delivered = counters['eventsDelivered'];
  if (delivered !== undefined) {
    const spanMs = counters['eventSpanMs'] ?? 0;
    result.eventsPerSec = spanMs > 0 ? delivered / (spanMs / 1000) : 0;
    const missing = (counters['eventsExpected'] ?? 0) - delivered;
    if (missing > 0) {
      errors['watch: events not delivered'] = missing;
      result.errorOps += missing;
    }
  }
  return result;
}
