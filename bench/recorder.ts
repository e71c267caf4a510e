/**
 * Per-worker measurement state and load control.
 *
 * Recorder: latency histograms per operation kind, error counts by gRPC code+message,
 * and named counters. Nothing is recorded during warmup.
 * LoadControl: decides whether a client may send another request (the worker's share
 * of --total, or the --duration window) and paces requests to the worker's share of
 * --rate. Slots are handed out in order, so N clients sharing a rate never burst.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { GRPC_CODE_NAMES, GrpcError } from './grpc-h2.js';
import { Histogram } from './histogram.js';

export function nowMs(): number {
  return performance.now();
}

/** Wall-clock time with sub-millisecond precision, comparable across worker threads. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

export function errorKey(err: unknown): string {
  if (err instanceof GrpcError) return `${GRPC_CODE_NAMES[err.code] ?? err.code}: ${err.grpcMessage}`.slice(0, 200);
  if (err instanceof Error) return `client: ${err.message}`.slice(0, 200);
  return `client: ${String(err)}`.slice(0, 200);
}

export class Recorder {
  readonly latency = new Map<string, Histogram>();
  readonly errors = new Map<string, number>();
  readonly counters: Record<string, number> = {};
  okOps = 0;
  errorOps = 0;
  recording = false;
  measureStartMs = 0;
  lastOpMs = 0;

  startMeasuring(): void {
    this.recording = true;
    this.measureStartMs = nowMs();
    this.lastOpMs = this.measureStartMs;
  }

  /** Records a completed operation that started at `startMs` (nowMs clock). */
  ok(kind: string, startMs: number): void {
    if (!this.recording) return;
    const now = nowMs();
    this.hist(kind).recordMs(now - startMs);
    this.okOps++;
    this.lastOpMs = now;
  }

  /** Records a latency sample that is not itself an operation (e.g. watch delivery). */
  sample(kind: string, ms: number): void {
    if (!this.recording) return;
    this.hist(kind).recordMs(ms);
  }

  fail(err: unknown): void {
    if (!this.recording) return;
    this.errorOps++;
    const key = errorKey(err);
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
    this.lastOpMs = nowMs();
  }

  /** A failure counted even outside the measured window (setup, stream loss). */
  failAlways(key: string): void {
    this.errorOps++;
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }

  count(name: string, n = 1): void {
    if (!this.recording) return;
    this.counters[name] = (this.counters[name] ?? 0) + n;
  }

  hist(kind: string): Histogram {
    let h = this.latency.get(kind);
    if (h === undefined) {
      h = new Histogram();
      this.latency.set(kind, h);
    }
    return h;
  }
}

export class LoadControl {
  private remaining: number;
  private endAtMs = Number.POSITIVE_INFINITY;
  private nextSlotMs = 0;
  private readonly intervalMs: number;
  stopped = false;

  constructor(
    total: number,
    ratePerSec: number,
    private readonly durationSec: number,
    private readonly warmupSec: number,
    private readonly recorder: Recorder,
  ) {
    this.remaining = total > 0 ? total : Number.POSITIVE_INFINITY;
    this.intervalMs = ratePerSec > 0 ? 1000 / ratePerSec : 0;
  }

  /** Starts the clock: warmup (if any, duration mode only), then the measured window. */
  start(): void {
    const t0 = nowMs();
    this.nextSlotMs = t0;
    if (this.remaining !== Number.POSITIVE_INFINITY) {
      this.recorder.startMeasuring();
      return;
    }
    this.endAtMs = t0 + (this.warmupSec + this.durationSec) * 1000;
    if (this.warmupSec > 0) {
      setTimeout(() => this.recorder.startMeasuring(), this.warmupSec * 1000).unref();
    } else {
      this.recorder.startMeasuring();
    }
  }

  /** Whether one more request may be sent; waits for its rate slot first. */
  async acquire(): Promise<boolean> {
    if (this.stopped || this.remaining <= 0) return false;
    if (nowMs() >= this.endAtMs) return false;
    this.remaining--;
    if (this.intervalMs > 0) {
      const now = nowMs();
      const slot = Math.max(now, this.nextSlotMs);
      this.nextSlotMs = slot + this.intervalMs;
      if (slot - now >= 1) await sleep(slot - now);
      if (this.stopped || nowMs() >= this.endAtMs) return false;
    }
    return true;
  }

  /** Time left in the run (Infinity in total mode), for workloads that wait on events. */
  msLeft(): number {
    return this.endAtMs - nowMs();
  }
}

/** After a failure, wait a moment so a dead connection does not turn into a busy loop. */
export function backoffAfterError(): Promise<void> {
  return sleep(5).then(() => undefined);
}
