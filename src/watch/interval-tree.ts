/**
 * An interval tree over byte-string intervals [start, end) (etcd pkg/adt, used by the
 * watcher group for range watches). A treap ordered by (start, end), each node
 * augmented with the largest `end` in its subtree, so a stabbing query ("which
 * intervals contain this key?") visits only subtrees that can hold a match.
 *
 * `end === null` means "no upper bound" (a watch with range_end "\0"). Intervals are
 * unique by (start, end): callers keep a value per interval (a set of watchers).
 *
 * Example: insert ["a","c"), ["b", null), ["x","y") -> stab("b") visits ["a","c") and
 * ["b", null); stab("z") visits ["b", null) only; stab("c") visits ["b", null).
 *
 * Invariants (checked by `check()` in tests): BST order by (start, end); heap order
 * by priority; maxEnd of every node = max(end, left.maxEnd, right.maxEnd).
 * Pure: no timers, no I/O; priorities come from a fixed-seed xorshift, so the shape
 * is deterministic for the same sequence of operations.
 */
import { assert } from '../shared/assert.js';

interface Node<V> {
  readonly start: Buffer;
  readonly end: Buffer | null;
  value: V;
  readonly prio: number;
  left: Node<V> | null;
  right: Node<V> | null;
  maxEnd: Buffer | null;
}

/** Order of interval ends, null (unbounded) last. */
export function compareEnd(a: Buffer | null, b: Buffer | null): number {
  if (a === null) return b === null ? 0 : 1;
  if (b === null) return -1;
  return Buffer.compare(a, b);
}

function compareInterval(
  aStart: Buffer,
  aEnd: Buffer | null,
  bStart: Buffer,
  bEnd: Buffer | null,
): number {
  const c = Buffer.compare(aStart, bStart);
  return c !== 0 ? c : compareEnd(aEnd, bEnd);
}

/** Whether `end` lies above `point` (an interval ending there can contain it). */
function endAbove(end: Buffer | null, point: Buffer): boolean {
  return end === null || Buffer.compare(end, point) > 0;
}

function update<V>(n: Node<V>): void {
  let m = n.end;
  if (n.left !== null && compareEnd(n.left.maxEnd, m) > 0) m = n.left.maxEnd;
  if (n.right !== null && compareEnd(n.right.maxEnd, m) > 0) m = n.right.maxEnd;
  n.maxEnd = m;
}

function rotateRight<V>(y: Node<V>): Node<V> {
  const x = y.left as Node<V>;
  y.left = x.right;
  x.right = y;
  update(y);
  update(x);
  return x;
}

function rotateLeft<V>(x: Node<V>): Node<V> {
  const y = x.right as Node<V>;
  x.right = y.left;
  y.left = x;
  update(x);
  update(y);
  return y;
}

function merge<V>(a: Node<V> | null, b: Node<V> | null): Node<V> | null {
  if (a === null) return b;
  if (b === null) return a;
  if (a.prio > b.prio) {
    a.right = merge(a.right, b);
    update(a);
    return a;
  }
  b.left = merge(a, b.left);
  update(b);
  return b;
}

export class IntervalTree<V> {
  private root: Node<V> | null = null;
  private count = 0;
  private seed = 0x2545f491;

  get size(): number {
    return this.count;
  }

  get(start: Buffer, end: Buffer | null): V | undefined {
    let n = this.root;
    while (n !== null) {
      const c = compareInterval(start, end, n.start, n.end);
      if (c === 0) return n.value;
      n = c < 0 ? n.left : n.right;
    }
    return undefined;
  }

  /** Inserts a new interval; it must not be present. */
  insert(start: Buffer, end: Buffer | null, value: V): void {
    assert(end === null || Buffer.compare(start, end) < 0, 'interval tree: empty interval');
    const prio = this.nextPrio();
    const node: Node<V> = { start, end, value, prio, left: null, right: null, maxEnd: end };
    this.root = this.insertAt(this.root, node);
    this.count++;
  }

  /** Removes an interval; returns whether it was present. */
  delete(start: Buffer, end: Buffer | null): boolean {
    const before = this.count;
    this.root = this.deleteAt(this.root, start, end);
    return this.count < before;
  }

  /** Calls fn with the value of every interval that contains `point`. */
  stab(point: Buffer, fn: (value: V) => void): void {
    this.stabAt(this.root, point, fn);
  }

  /** Whether any interval contains `point`. */
  intersects(point: Buffer): boolean {
    let found = false;
    this.stabAt(this.root, point, () => {
      found = true;
    });
    return found;
  }

  /** Every value, in interval order. */
  values(): V[] {
    const out: V[] = [];
    const walk = (n: Node<V> | null): void => {
      if (n === null) return;
      walk(n.left);
      out.push(n.value);
      walk(n.right);
    };
    walk(this.root);
    return out;
  }

  /** Asserts the tree's invariants; returns the number of nodes (tests). */
  check(): number {
    const n = this.checkAt(this.root, null, null);
    assert(n === this.count, `interval tree: count ${this.count} but ${n} nodes`);
    return n;
  }

  private nextPrio(): number {
    // xorshift32: deterministic, enough to keep the treap balanced in expectation.
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed;
  }

  private insertAt(n: Node<V> | null, node: Node<V>): Node<V> {
    if (n === null) return node;
    const c = compareInterval(node.start, node.end, n.start, n.end);
    assert(c !== 0, 'interval tree: duplicate interval');
    if (c < 0) {
      n.left = this.insertAt(n.left, node);
      if (n.left.prio > n.prio) return rotateRight(n);
    } else {
      n.right = this.insertAt(n.right, node);
      if (n.right.prio > n.prio) return rotateLeft(n);
    }
    update(n);
    return n;
  }

  private deleteAt(n: Node<V> | null, start: Buffer, end: Buffer | null): Node<V> | null {
    if (n === null) return null;
    const c = compareInterval(start, end, n.start, n.end);
    if (c === 0) {
      this.count--;
      return merge(n.left, n.right);
    }
    if (c < 0) n.left = this.deleteAt(n.left, start, end);
    else n.right = this.deleteAt(n.right, start, end);
    update(n);
    return n;
  }

  private stabAt(n: Node<V> | null, point: Buffer, fn: (value: V) => void): void {
    while (n !== null) {
      if (!endAbove(n.maxEnd, point)) return; // every interval below ends at or before point
      this.stabAt(n.left, point, fn);
      // This node and its right subtree start after point.
      if (Buffer.compare(n.start, point) > 0) return;
      if (endAbove(n.end, point)) fn(n.value);
      n = n.right;
    }
  }

  private checkAt(n: Node<V> | null, lo: Node<V> | null, hi: Node<V> | null): number {
    if (n === null) return 0;
    if (lo !== null) {
      assert(compareInterval(lo.start, lo.end, n.start, n.end) < 0, 'interval tree: order');
    }
    if (hi !== null) {
      assert(compareInterval(n.start, n.end, hi.start, hi.end) < 0, 'interval tree: order');
    }
    if (n.left !== null) assert(n.left.prio <= n.prio, 'interval tree: heap order');
    if (n.right !== null) assert(n.right.prio <= n.prio, 'interval tree: heap order');
    let m = n.end;
    if (n.left !== null && compareEnd(n.left.maxEnd, m) > 0) m = n.left.maxEnd;
    if (n.right !== null && compareEnd(n.right.maxEnd, m) > 0) m = n.right.maxEnd;
    assert(compareEnd(m, n.maxEnd) === 0, 'interval tree: maxEnd');
    return 1 + this.checkAt(n.left, lo, n) + this.checkAt(n.right, n, hi);
  }
}
