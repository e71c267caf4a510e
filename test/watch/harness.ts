// Test harness for the watch hub: an in-memory MvccStore over a MemoryBackend, writes
// applied the way apply does (mvcc write into a batch, hub.notify synchronously, the
// batch written to the backend afterwards, possibly much later), and a step scheduler
// that runs the hub's catch-up and mvcc's compaction deterministically.
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import type { BackendBatch } from '../../src/storage/backend.js';
import { MvccStore } from '../../src/mvcc/index.js';
import type { KeyValue, MvccEvent, WriteContext, WriteResult } from '../../src/mvcc/types.js';
import type { Cancelable, Scheduler } from '../../src/shared/scheduler.js';
import { WatchHub, type WatchCreate, type WatchLimits, type WatchOut, type WatchStream } from '../../src/watch/index.js';

interface Task {
  at: number;
  seq: number;
  fn: () => void;
  periodMs: number;
  canceled: boolean;
}

/** A scheduler that runs only when told to; microtasks are flushed between tasks. */
export class StepScheduler implements Scheduler {
  nowMs = 0;
  private tasks: Task[] = [];
  private seq = 0;

  after(delayMs: number, fn: () => void): Cancelable {
    return this.add(delayMs, fn, 0);
  }

  every(periodMs: number, fn: () => void): Cancelable {
    return this.add(periodMs, fn, periodMs);
  }

  soon(fn: () => void): void {
    this.add(0, fn, 0);
  }

  /**
   * Runs one-shot tasks (moving time to each) until none is left within `horizonMs` of
   * simulated time; periodic tasks run only through advance().
   */
  async settle(horizonMs = 1000): Promise<void> {
    const limit = this.nowMs + horizonMs;
    await flushMicrotasks();
    for (let steps = 0; ; steps++) {
      if (steps > 100_000) throw new Error('StepScheduler: did not settle');
      const next = this.nextTask(true);
      if (next === undefined || next.at > limit) return;
      await this.run(next);
    }
  }

  /** Moves time forward, running every task (periodic included) due by then. */
  async advance(ms: number): Promise<void> {
    const target = this.nowMs + ms;
    await flushMicrotasks();
    for (;;) {
      const next = this.nextTask(false);
      if (next === undefined || next.at > target) break;
      await this.run(next);
    }
    this.nowMs = target;
    await this.settle();
  }

  private add(delayMs: number, fn: () => void, periodMs: number): Cancelable {
    const t: Task = { at: this.nowMs + delayMs, seq: this.seq++, fn, periodMs, canceled: false };
    this.tasks.push(t);
    return {
      cancel: () => {
        t.canceled = true;
      },
    };
  }

  private nextTask(oneShotOnly: boolean): Task | undefined {
    this.tasks = this.tasks.filter((t) => !t.canceled);
    let best: Task | undefined;
    for (const t of this.tasks) {
      if (oneShotOnly && t.periodMs > 0) continue;
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }

  private async run(t: Task): Promise<void> {
    if (t.at > this.nowMs) this.nowMs = t.at;
    if (t.periodMs > 0) {
      t.at += t.periodMs;
    } else {
      t.canceled = true;
    }
    t.fn();
    await flushMicrotasks();
  }
}

export async function flushMicrotasks(): Promise<void> {
  // MemoryBackend and the store resolve through promise chains only: a few macrotask
  // turns let every pending continuation run.
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
}

const ctx: WriteContext = { leaseExists: () => true };

export const b = (s: string): Buffer => Buffer.from(s, 'latin1');

export interface PendingWrite {
  readonly revision: number;
  readonly events: readonly MvccEvent[];
  /** Writes the batch to the backend (in order) and reports it durable. */
  write(): Promise<void>;
}

export class Harness {
  private pending: Array<{ batch: BackendBatch }> = [];

  private constructor(
    readonly backend: MemoryBackend,
    readonly store: MvccStore,
    readonly hub: WatchHub,
    private readonly steps: StepScheduler | undefined,
  ) {}

  /** With `scheduler` (e.g. systemScheduler) the harness runs on real time and settle()
   *  only flushes microtasks. */
  static async create(limits: Partial<WatchLimits> = {}, realScheduler?: Scheduler): Promise<Harness> {
    const backend = new MemoryBackend();
    const steps = realScheduler === undefined ? new StepScheduler() : undefined;
    const scheduler: Scheduler = realScheduler ?? (steps as StepScheduler);
    const store = await MvccStore.open(backend, { scheduler, compactionBatchLimit: 3 });
    const hub = new WatchHub({ store, scheduler, limits });
    return new Harness(backend, store, hub, steps);
  }

  /** Applies a write; the batch stays unwritten until flush() (like apply before the
   *  Ready's batch is written). Returns the revision after it. */
  apply(fn: (batch: BackendBatch) => WriteResult<unknown>): number {
    const batch = this.backend.batch();
    const r = fn(batch);
    if (r.events.length > 0) this.hub.notify(r.events, r.revision);
    this.pending.push({ batch });
    return r.revision;
  }

  put(key: string, value: string): number {
    return this.apply((batch) => this.store.applyPut({ key: b(key), value: b(value) }, batch, ctx));
  }

  del(key: string, end?: string): number {
    return this.apply((batch) =>
      this.store.applyDelete({ key: b(key), ...(end !== undefined ? { rangeEnd: b(end) } : {}) }, batch),
    );
  }

  /** Puts several keys in one revision. */
  txnPut(pairs: ReadonlyArray<[string, string]>): number {
    return this.apply((batch) =>
      this.store.applyTxn(
        { compare: [], success: pairs.map(([k, v]) => ({ requestPut: { key: b(k), value: b(v) } })), failure: [] },
        batch,
        ctx,
      ),
    );
  }

  /** Writes every pending batch, in order, and reports it durable. */
  async flush(count = Number.POSITIVE_INFINITY): Promise<void> {
    while (this.pending.length > 0 && count-- > 0) {
      const p = this.pending.shift() as { batch: BackendBatch };
      await this.backend.write(p.batch, { sync: false });
      this.store.batchDurable(p.batch);
    }
  }

  get pendingBatches(): number {
    return this.pending.length;
  }

  /** Compacts at rev (batch written at once); waits for the physical deletion. */
  async compact(rev: number): Promise<void> {
    await this.flush();
    const batch = this.backend.batch();
    const r = this.store.applyCompact(rev, batch);
    await this.backend.write(batch, { sync: false });
    this.store.batchDurable(batch);
    let done = false;
    void r.physicalDone.then(() => {
      done = true;
    });
    for (let i = 0; !done; i++) {
      if (i > 1000) throw new Error('compaction did not finish');
      await this.settle();
    }
  }

  /** Compacts at rev without waiting for the physical deletion to start. */
  compactLogical(rev: number): void {
    const batch = this.backend.batch();
    this.store.applyCompact(rev, batch);
    this.pending.push({ batch });
  }

  /** Settles the scheduler (catch-up passes run to completion, or `horizonMs` pass). */
  settle(horizonMs?: number): Promise<void> {
    return this.steps !== undefined ? this.steps.settle(horizonMs) : flushMicrotasks();
  }
}

export function create(over: Omit<Partial<WatchCreate>, 'key'> & { key: string }): WatchCreate {
  return {
    rangeEnd: Buffer.alloc(0),
    startRevision: 0,
    watchId: 0,
    noPut: false,
    noDelete: false,
    prevKv: false,
    fragment: false,
    progressNotify: false,
    ...over,
    key: b(over.key),
  };
}

/** Takes every queued response. */
export function drain(s: WatchStream): WatchOut[] {
  const out: WatchOut[] = [];
  for (let o = s.take(); o !== undefined; o = s.take()) out.push(o);
  return out;
}

/** Drains `s` and settles, repeatedly, until nothing more arrives. */
export async function drainAll(h: Harness, s: WatchStream): Promise<WatchOut[]> {
  const out: WatchOut[] = [];
  for (let i = 0; i < 10_000; i++) {
    await h.settle();
    const got = drain(s);
    if (got.length === 0 && s.victims.size === 0) {
      await h.settle();
      const more = drain(s);
      if (more.length === 0) return out;
      out.push(...more);
      continue;
    }
    out.push(...got);
  }
  throw new Error('drainAll: the stream never went quiet');
}

/** A compact text form of an event: "PUT k=v@rev" / "DELETE k@rev" (+ " prev=v@rev"). */
export function ev(e: MvccEvent, withPrev = false): string {
  const k = e.kv.key.toString('latin1');
  let s = e.type === 'put' ? `PUT ${k}=${e.kv.value.toString('latin1')}@${e.kv.modRevision}` : `DELETE ${k}@${e.kv.modRevision}`;
  if (withPrev) s += e.prevKv === undefined ? ' prev=-' : ` prev=${kvText(e.prevKv)}`;
  return s;
}

function kvText(kv: KeyValue): string {
  return `${kv.value.toString('latin1')}@${kv.modRevision}`;
}

/** Events of every 'events' response for one watch id, flattened. */
export function eventsOf(out: readonly WatchOut[], watchId: number, withPrev = false): string[] {
  const r: string[] = [];
  for (const o of out) if (o.kind === 'events' && o.watchId === watchId) r.push(...o.events.map((e) => ev(e, withPrev)));
  return r;
}
