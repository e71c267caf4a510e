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
    saturated: boolean;
  };
}

interface Endpoint {
  post(msg: ToWorker): void;
  onMessage(listener: (msg: FromWorker) => void): void;
  onExit(listener: (why: string) => void): void;
  dispose(): Promise<void>;
}

function threadEndpoint(): Endpoint {
  const w = new Worker(new URL('./worker-entry.js', import.meta.url));
  return {
    post: (m) => w.postMessage(m),
    onMessage: (l) => w.on('message', l),
    onExit: (l) => {
      w.on('error', (e) => l(`worker error: ${e.message}`));
      w.on('exit', (code) => l(`worker exited with code ${code}`));
    },
    dispose: async () => {
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
  return {
    post: (m) => port1.postMessage(m),
    onMessage: (l) => port1.on('message', l),
    onExit: () => undefined,
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

export async function runBench(opts: BenchOptions, timeoutMs?: number): Promise<BenchResult> {
  const startedAt = new Date().toISOString();
  const workerCount = defaultWorkerCount(opts);
  const specs = planShares(opts, workerCount);
  const endpoints = specs.map(() => (opts.inline ? inlineEndpoint() : threadEndpoint()));
  const limitMs =
    timeoutMs ?? (opts.total > 0 ? 600_000 : (opts.warmupSec + opts.durationSec) * 1000 + 60_000);

  const results: WorkerResult[] = [];
  let cpu0 = process.cpuUsage();
  let wall0 = performance.now();
  let wallMs = 0;
  let cpuMs = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      let ready = 0;
      let settled = false;
      const fail = (why: string): void => {
        if (!settled) {
          settled = true;
          reject(new Error(why));
        }
      };
      const timer = setTimeout(() => fail(`bench run did not finish within ${Math.round(limitMs / 1000)} s`), limitMs);
      endpoints.forEach((ep, i) => {
        ep.onExit((why) => fail(why));
        ep.onMessage((msg) => {
          if (msg.type === 'failed') fail(msg.error);
          else if (msg.type === 'ready') {
            ready++;
            if (ready === endpoints.length) {
              cpu0 = process.cpuUsage();
              wall0 = performance.now();
              for (const e of endpoints) e.post({ type: 'go' });
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
        });
        const spec = specs[i];
        if (spec !== undefined) ep.post({ type: 'init', spec });
      });
    });
  } finally {
    await Promise.all(endpoints.map((e) => e.dispose()));
  }
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
