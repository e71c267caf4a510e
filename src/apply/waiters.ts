/**
 * Callers waiting for something the Ready loop produces: the apply result of a
 * proposed request (by request id), or "applied index reached N" (linearizable reads).
 *
 * Invariant: each waiter is settled exactly once — by the result, by its own abort
 * signal, or by `failAll` when the server stops or loses leadership.
 */
import { onCancel, type Cancelation } from '../shared/cancel.js';
import { TsetcdError, type ErrorCode } from '../shared/errors.js';

interface Pending<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

export class RequestWaiters<T> {
  private readonly pending = new Map<bigint, Pending<T>>();

  get size(): number {
    return this.pending.size;
  }

  wait(id: bigint, signal?: Cancelation): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(new TsetcdError('canceled'));
        return;
      }
      if (signal === undefined) {
        this.pending.set(id, { resolve, reject });
        return;
      }
      const off = onCancel(signal, () => {
        if (this.pending.delete(id)) reject(new TsetcdError('canceled'));
      });
      this.pending.set(id, {
        resolve: (v) => {
          off();
          resolve(v);
        },
        reject: (e) => {
          off();
          reject(e);
        },
      });
    });
  }

  has(id: bigint): boolean {
    return this.pending.has(id);
  }

  resolve(id: bigint, value: T): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    p.resolve(value);
  }

  reject(id: bigint, err: unknown): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    p.reject(err);
  }

  failAll(code: ErrorCode): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(new TsetcdError(code));
  }
}

/** Waiters for "applied index >= n", released in index order. */
export class AppliedWaiters {
  private readonly waiting: Array<{ index: number; resolve: () => void; reject: (e: unknown) => void }> = [];

  constructor(private applied: number) {}

  get appliedIndex(): number {
    return this.applied;
  }

  wait(index: number): Promise<void> {
    if (index <= this.applied) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiting.push({ index, resolve, reject });
      // Kept sorted by index; inserts are almost always at the end.
      for (let i = this.waiting.length - 1; i > 0; i--) {
        const a = this.waiting[i - 1];
        const b = this.waiting[i];
        if (a === undefined || b === undefined || a.index <= b.index) break;
        this.waiting[i - 1] = b;
        this.waiting[i] = a;
      }
    });
  }

  advance(applied: number): void {
    if (applied <= this.applied) return;
    this.applied = applied;
    let n = 0;
    while (n < this.waiting.length && (this.waiting[n]?.index ?? Infinity) <= applied) n++;
    for (const w of this.waiting.splice(0, n)) w.resolve();
  }

  failAll(code: ErrorCode): void {
    for (const w of this.waiting.splice(0)) w.reject(new TsetcdError(code));
  }
}
