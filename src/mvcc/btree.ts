/**
 * An in-memory B+tree of entries ordered by their byte keys (unsigned byte order): the
 * ordered structure under the key index (etcd uses google/btree for its treeIndex).
 * An entry holds its own key and compares it in place (KeyedEntry), so the tree keeps
 * no key object per entry: leaves hold only the entries; inner nodes hold separators,
 * key views made when a node splits or borrows (docs/architecture.md §4, "Memory per key").
 *
 * get/getOrInsert/delete and positioning a scan are O(log n); a scan then walks the leaf chain.
 * Plain synchronous data structure: no I/O, no timers.
 *
 * Shape and invariants (checked by `check()` in tests):
 * - Every leaf holds MIN..MAX entries (the root leaf 0..MAX); keys strictly ascending
 *   within a leaf and across the leaf chain (`next`).
 * - An inner node holds MIN..MAX children (the root 2..MAX). `keys[i]` (i >= 1) is the
 *   separator of `children[i]`: every key in children[i-1] < keys[i] <= every key in
 *   children[i]. `keys[0]` is unused.
 * - All leaves are at the same depth.
 *
 * Example with MAX = 4: inserting a..f gives
 *            [_, c, e]
 *          /     |     \
 *     [a, b] -> [c, d] -> [e, f]
 */
import { assert } from '../shared/assert.js';

const MAX = 64;
const MIN = MAX / 2;

/** What the tree holds: an entry that knows its key. */
export interface KeyedEntry {
  /** Negative, 0 or positive as the entry's key is below, equal to or above `b`. */
  compareKeyTo(b: Buffer): number;
  /** The entry's key as a Buffer (may be a new view each call). */
  keyView(): Buffer;
}

class Leaf<V> {
  readonly leaf = true;
  vals: V[] = [];
  next: Leaf<V> | null = null;
}

class Inner<V> {
  readonly leaf = false;
  keys: Buffer[] = [];
  children: Array<Node<V>> = [];
}

type Node<V> = Leaf<V> | Inner<V>;

/** Byte comparison; a JS loop beats the native call for the short keys we mostly see. */
export function compareKeys(a: Buffer, b: Buffer): number {
  return compareKeyAt(a, 0, a.length, b);
}

/** compareKeys of a[off, off + len) against b, without a view of a. */
export function compareKeyAt(a: Buffer, off: number, len: number, b: Buffer): number {
  const n = len < b.length ? len : b.length;
  if (n > 32) return a.compare(b, 0, b.length, off, off + len);
  for (let i = 0; i < n; i++) {
    const d = (a[off + i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return len - b.length;
}

/** Index of the entry with key in sorted vals, or -(insertion point) - 1. */
function search<V extends KeyedEntry>(vals: V[], key: Buffer): number {
  let lo = 0;
  let hi = vals.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = (vals[mid] as V).compareKeyTo(key);
    if (c < 0) lo = mid + 1;
    else if (c > 0) hi = mid - 1;
    else return mid;
  }
  return -lo - 1;
}

/** The child of an inner node whose subtree may hold key. */
function childIndex<V>(node: Inner<V>, key: Buffer): number {
  // Largest i >= 1 with keys[i] <= key, else 0.
  let lo = 1;
  let hi = node.keys.length - 1;
  let found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(node.keys[mid] as Buffer, key) <= 0) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

export class BTree<V extends KeyedEntry> {
  private root: Node<V> = new Leaf<V>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: Buffer): V | undefined {
    const leaf = this.findLeaf(key);
    const i = search(leaf.vals, key);
    return i >= 0 ? leaf.vals[i] : undefined;
  }

  /**
   * The entry with `key`; if there is none, inserts the one `make` returns (its key
   * equal to `key`) in the same descent. Returns the entry found or inserted.
   */
  getOrInsert(key: Buffer, make: () => V): V {
    const split = this.insert(this.root, key, make);
    if (split !== undefined) {
      const root = new Inner<V>();
      root.keys = [split.sep, split.sep]; // keys[0] is the unused slot
      root.children = [this.root, split.right];
      this.root = root;
    }
    return this.lastValue as V;
  }

  /** Removes the entry with key. Returns true if it was present. */
  delete(key: Buffer): boolean {
    const found = this.remove(this.root, key);
    if (found) {
      this.count--;
      if (!this.root.leaf && this.root.children.length === 1) {
        this.root = this.root.children[0] as Node<V>;
      }
    }
    return found;
  }

  /**
   * Visits the entries with start <= key < end in ascending order (end undefined: to
   * the last key). `fn` returning false stops the scan. The tree must not be modified
   * during the scan.
   */
  scan(start: Buffer, end: Buffer | undefined, fn: (value: V) => boolean | void): void {
    let leaf: Leaf<V> | null = this.findLeaf(start);
    let i = search(leaf.vals, start);
    if (i < 0) i = -i - 1;
    while (leaf !== null) {
      const vals = leaf.vals;
      for (; i < vals.length; i++) {
        const v = vals[i] as V;
        if (end !== undefined && v.compareKeyTo(end) >= 0) return;
        if (fn(v) === false) return;
      }
      leaf = leaf.next;
      i = 0;
    }
  }

  /** Checks every structural invariant; for tests. Returns the entry count. */
  check(): number {
    let leafDepth = -1;
    let prev: V | undefined;
    let total = 0;
    const walk = (node: Node<V>, depth: number, lo: Buffer | undefined, hi: Buffer | undefined): void => {
      const isRoot = node === this.root;
      if (node.leaf) {
        if (leafDepth === -1) leafDepth = depth;
        assert(leafDepth === depth, 'btree: leaves at different depths');
        assert(node.vals.length <= MAX && (isRoot || node.vals.length >= MIN), 'btree: leaf size');
        for (const v of node.vals) {
          assert(prev === undefined || prev.compareKeyTo(v.keyView()) < 0, 'btree: keys not ascending');
          assert(lo === undefined || v.compareKeyTo(lo) >= 0, 'btree: key below separator');
          assert(hi === undefined || v.compareKeyTo(hi) < 0, 'btree: key above separator');
          prev = v;
          total++;
        }
        return;
      }
      const n = node.children.length;
      assert(node.keys.length === n, 'btree: inner keys/children mismatch');
      assert(n <= MAX && n >= (isRoot ? 2 : MIN), 'btree: inner size');
      for (let i = 0; i < n; i++) {
        const clo = i === 0 ? lo : node.keys[i];
        const chi = i === n - 1 ? hi : node.keys[i + 1];
        walk(node.children[i] as Node<V>, depth + 1, clo, chi);
      }
    };
    walk(this.root, 0, undefined, undefined);
    assert(total === this.count, 'btree: size mismatch');
    // The leaf chain visits the same entries in order.
    let chained = 0;
    let leaf: Leaf<V> | null = this.firstLeaf();
    while (leaf !== null) {
      chained += leaf.vals.length;
      leaf = leaf.next;
    }
    assert(chained === total, 'btree: leaf chain mismatch');
    return total;
  }

  /** The entry getOrInsert found or inserted. */
  private lastValue: V | undefined = undefined;

  private firstLeaf(): Leaf<V> {
    let node = this.root;
    while (!node.leaf) node = node.children[0] as Node<V>;
    return node;
  }

  private findLeaf(key: Buffer): Leaf<V> {
    let node = this.root;
    while (!node.leaf) node = node.children[childIndex(node, key)] as Node<V>;
    return node;
  }

  /** getOrInsert below `node`: make is called only if key is absent. */
  private insert(node: Node<V>, key: Buffer, make: () => V): { sep: Buffer; right: Node<V> } | undefined {
    if (node.leaf) {
      const i = search(node.vals, key);
      if (i >= 0) {
        this.lastValue = node.vals[i];
        return undefined;
      }
      const at = -i - 1;
      const v = make();
      assert(v.compareKeyTo(key) === 0, 'btree: getOrInsert made a different key');
      this.lastValue = v;
      node.vals.splice(at, 0, v);
      this.count++;
      if (node.vals.length <= MAX) return undefined;
      const right = new Leaf<V>();
      right.vals = node.vals.splice(MIN);
      right.next = node.next;
      node.next = right;
      return { sep: (right.vals[0] as V).keyView(), right };
    }
    const ci = childIndex(node, key);
    const split = this.insert(node.children[ci] as Node<V>, key, make);
    if (split === undefined) return undefined;
    node.keys.splice(ci + 1, 0, split.sep);
    node.children.splice(ci + 1, 0, split.right);
    if (node.children.length <= MAX) return undefined;
    const right = new Inner<V>();
    right.keys = node.keys.splice(MIN);
    right.children = node.children.splice(MIN);
    return { sep: right.keys[0] as Buffer, right };
  }

  private remove(node: Node<V>, key: Buffer): boolean {
    if (node.leaf) {
      const i = search(node.vals, key);
      if (i < 0) return false;
      node.vals.splice(i, 1);
      return true;
    }
    const ci = childIndex(node, key);
    const child = node.children[ci] as Node<V>;
    if (!this.remove(child, key)) return false;
    const size = child.leaf ? child.vals.length : child.children.length;
    if (size < MIN) this.rebalance(node, ci);
    return true;
  }

  /** children[ci] of parent has MIN-1 entries: borrow from a sibling or merge. */
  private rebalance(parent: Inner<V>, ci: number): void {
    const useLeft = ci > 0;
    const li = useLeft ? ci - 1 : ci; // left node of the pair
    const left = parent.children[li] as Node<V>;
    const right = parent.children[li + 1] as Node<V>;
    const donor = useLeft ? left : right;
    const donorSize = donor.leaf ? donor.vals.length : donor.children.length;
    if (donorSize > MIN) {
      if (useLeft) this.borrowFromLeft(parent, li + 1);
      else this.borrowFromRight(parent, li);
      return;
    }
    // Merge right into left; the pair fits: (MIN - 1) + MIN <= MAX.
    if (left.leaf && right.leaf) {
      left.vals.push(...right.vals);
      left.next = right.next;
    } else if (!left.leaf && !right.leaf) {
      left.keys.push(parent.keys[li + 1] as Buffer, ...right.keys.slice(1));
      left.children.push(...right.children);
    } else {
      assert(false, 'btree: siblings of different kinds');
    }
    parent.keys.splice(li + 1, 1);
    parent.children.splice(li + 1, 1);
  }

  private borrowFromLeft(parent: Inner<V>, ci: number): void {
    const left = parent.children[ci - 1] as Node<V>;
    const child = parent.children[ci] as Node<V>;
    if (left.leaf && child.leaf) {
      child.vals.unshift(left.vals.pop() as V);
      parent.keys[ci] = (child.vals[0] as V).keyView();
    } else if (!left.leaf && !child.leaf) {
      const movedSep = left.keys.pop() as Buffer;
      child.children.unshift(left.children.pop() as Node<V>);
      child.keys[0] = parent.keys[ci] as Buffer;
      child.keys.unshift(movedSep);
      parent.keys[ci] = movedSep;
    }
  }

  private borrowFromRight(parent: Inner<V>, ci: number): void {
    const child = parent.children[ci] as Node<V>;
    const right = parent.children[ci + 1] as Node<V>;
    if (child.leaf && right.leaf) {
      child.vals.push(right.vals.shift() as V);
      parent.keys[ci + 1] = (right.vals[0] as V).keyView();
    } else if (!child.leaf && !right.leaf) {
      child.keys.push(parent.keys[ci + 1] as Buffer);
      child.children.push(right.children.shift() as Node<V>);
      right.keys.shift();
      parent.keys[ci + 1] = right.keys[0] as Buffer;
    }
  }
}
