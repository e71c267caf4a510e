/**
 * LeaseQueue: a min-heap of (timeMs, lease id) holding at most one entry per lease, so
 * a renewal moves a lease instead of adding a second entry (etcd's
 * LeaseExpiredNotifier). The lessor keeps two: lease expiries and due checkpoints.
 * Both exist only on the primary lessor (the leader); followers never expire leases.
 *
 * Ties on time order by id, so walking equal times is the same on every run.
 *
 * Example:
 *   registerOrUpdate(a, 30); registerOrUpdate(b, 10); registerOrUpdate(a, 5)
 *   peek() = {a, 5}; pop(); peek() = {b, 10}; size = 1
 *
 * Invariants: heap[parent] <= heap[child] by (timeMs, id); index.get(heap[i].id) === i
 * for every i; no id appears twice. Every operation is O(log n) and synchronous.
 */
import { assert } from '../shared/assert.js';
import type { LeaseId } from '../shared/ids.js';

export interface QueueItem {
  readonly id: LeaseId;
  readonly timeMs: number;
}

export class LeaseQueue {
  private readonly heap: QueueItem[] = [];
  private readonly index = new Map<LeaseId, number>();

  get size(): number {
    return this.heap.length;
  }

  /** Time registered for `id`, or undefined. */
  timeOf(id: LeaseId): number | undefined {
    const i = this.index.get(id);
    return i === undefined ? undefined : this.at(i).timeMs;
  }

  registerOrUpdate(id: LeaseId, timeMs: number): void {
    assert(!Number.isNaN(timeMs), 'lease queue time is NaN');
    const item: QueueItem = { id, timeMs };
    const i = this.index.get(id);
    if (i === undefined) {
      this.heap.push(item);
      this.index.set(id, this.heap.length - 1);
      this.up(this.heap.length - 1);
      return;
    }
    const old = this.at(i);
    this.heap[i] = item;
    if (less(item, old)) this.up(i);
    else this.down(i);
  }

  peek(): QueueItem | undefined {
    return this.heap[0];
  }

  pop(): QueueItem | undefined {
    const top = this.heap[0];
    if (top === undefined) return undefined;
    this.removeAt(0);
    return top;
  }

  remove(id: LeaseId): boolean {
    const i = this.index.get(id);
    if (i === undefined) return false;
    this.removeAt(i);
    return true;
  }

  clear(): void {
    this.heap.length = 0;
    this.index.clear();
  }

  private removeAt(i: number): void {
    const last = this.heap.pop();
    assert(last !== undefined, 'lease queue: removeAt on an empty heap');
    const removed = i < this.heap.length ? this.at(i) : last;
    this.index.delete(removed.id);
    if (i === this.heap.length) return; // removed the last slot
    this.heap[i] = last;
    this.index.set(last.id, i);
    if (less(last, removed)) this.up(i);
    else this.down(i);
  }

  private up(i: number): void {
    let j = i;
    while (j > 0) {
      const parent = (j - 1) >> 1;
      if (!less(this.at(j), this.at(parent))) break;
      this.swap(j, parent);
      j = parent;
    }
  }

  private down(i: number): void {
    let j = i;
    const n = this.heap.length;
    for (;;) {
      const l = 2 * j + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && less(this.at(r), this.at(l)) ? r : l;
      if (!less(this.at(child), this.at(j))) break;
      this.swap(j, child);
      j = child;
    }
  }

  private swap(a: number, b: number): void {
    const x = this.at(a);
    const y = this.at(b);
    this.heap[a] = y;
    this.heap[b] = x;
    this.index.set(y.id, a);
    this.index.set(x.id, b);
  }

  private at(i: number): QueueItem {
    const item = this.heap[i];
    assert(item !== undefined, `lease queue: no item at ${i}`);
    return item;
  }
}

function less(a: QueueItem, b: QueueItem): boolean {
  return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.id < b.id);
}
