/**
 * One worker's share of a run and what it reports back: the message protocol between
 * the runner (main thread) and each worker (worker thread, or inline for tests).
 *
 *   main → worker  {type:'init', spec}     worker connects and prepares (not measured)
 *   worker → main  {type:'ready'} | {type:'failed', error}
 *   main → worker  {type:'go'}             every worker starts the measured load at once
 *   worker → main  {type:'result', result}
 *
 * Connections and clients are numbered globally: client c uses connection c % conns,
 * connection j goes to endpoint j % endpoints (as etcd's benchmark), and worker w owns
 * the connections j with j % workers == w and the clients on them. Totals and rates
 * are split in proportion to clients, so every worker offers the same load per client.
 */
import type { HistogramData } from './histogram.js';
import type { BenchOptions } from './options.js';

export interface WorkerSpec {
  options: BenchOptions;
  workerIndex: number;
  workerCount: number;
  /** Global connection ids owned by this worker. */
  connIds: number[];
  /** Global client ids owned by this worker. */
  clientIds: number[];
  /** This worker's share of --total (0 in duration mode). */
  total: number;
  /** This worker's share of --rate / --put-rate (0 = unlimited). */
  rate: number;
}

export interface WorkerResult {
  workerIndex: number;
  /** Latency per operation kind (put, range, list-page, watch-event, ...). */
  latency: Record<string, HistogramData>;
  /** Failed operations by "<gRPC code name>: <message>". */
  errors: Record<string, number>;
  okOps: number;
  errorOps: number;
  /** Measured span of this worker: from the end of warmup to its last completed op. */
  elapsedMs: number;
  /** Fraction of wall time this worker's event loop was busy (1.0 = saturated). */
  eventLoopUtilization: number;
  /**
   * CPU this worker thread used per wall second (NaN off Linux). Low CPU with high
   * utilization means the thread was runnable but starved by other processes.
   */
  threadCpuCores: number;
  /** Workload-specific counters (events delivered, expected, conflicts, ...). */
  counters: Record<string, number>;
}

export type ToWorker = { type: 'init'; spec: WorkerSpec } | { type: 'go' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; error: string }
  | { type: 'result'; result: WorkerResult };

/** Splits n items into `parts` counts as evenly as possible, larger first. */
export function splitEven(n: number, parts: number): number[] {
  const base = Math.floor(n / parts);
  const extra = n - base * parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}

/** Builds the per-worker specs for a run. */
export function planShares(options: BenchOptions, workerCount: number): WorkerSpec[] {
  const specs: WorkerSpec[] = [];
  for (let w = 0; w < workerCount; w++) {
    const connIds: number[] = [];
    for (let j = w; j < options.conns; j += workerCount) connIds.push(j);
    const clientIds: number[] = [];
    for (let c = 0; c < options.clients; c++) if (connIds.includes(c % options.conns)) clientIds.push(c);
    specs.push({ options, workerIndex: w, workerCount, connIds, clientIds, total: 0, rate: 0 });
  }
  const weights = specs.map((s) => s.clientIds.length / options.clients);
  const rate = options.workload === 'watch' || options.workload === 'watch-latency' ? options.putRate : options.rate;
  let assigned = 0;
  specs.forEach((s, i) => {
    const w = weights[i] ?? 0;
    s.rate = rate * w;
    if (options.total > 0) {
      s.total = i === specs.length - 1 ? options.total - assigned : Math.round(options.total * w);
      assigned += s.total;
    }
  });
  return specs;
}
