/**
 * etcd's interval tree (pkg/adt/interval_tree.go), re-implemented step for step because
 * etcd's permission answers depend on its exact shape: a red-black tree keyed by the
 * interval's begin (CLRS ch. 13) where every node keeps the largest end below it
 * (CLRS ch. 14.3), including adt's quirks:
 * - `updateMax` stops climbing at the first ancestor whose max did not change, and the
 *   rotations update maxima in adt's order, so a subtree max can be stale exactly
 *   where etcd's is;
 * - `visit` prunes a subtree with `[node.begin, node.max) Compare request`, which for a
 *   request whose end is at or before its begin (a "range" [b, aa)) skips nodes that
 *   do hold the begin. etcd then denies such a request or allows it depending on the
 *   tree's shape; this tree makes the same decision.
 *
 * Points of the order are byte strings in etcd's "affine" order: the empty string is
 * +infinity (adt BytesAffineComparable). Nodes are only ever inserted (etcd rebuilds
 * the cache instead of deleting).
 */

/** Affine byte order: empty is +inf. */
export function affineCompare(a: Buffer, b: Buffer): number {
  if (a.length === 0) return b.length === 0 ? 0 : 1;
  if (b.length === 0) return -1;
  return Buffer.compare(a, b);
}

export interface AffineInterval {
  readonly begin: Buffer;
  readonly end: Buffer;
}

/** adt Interval.Compare: -1 left of, 1 right of, 0 overlapping (as adt defines it). */
export function intervalCompare(a: AffineInterval, b: AffineInterval): number {
  if (affineCompare(a.begin, b.begin) < 0 && affineCompare(a.end, b.begin) <= 0) return -1;
  if (affineCompare(a.begin, b.end) >= 0) return 1;
  return 0;
}

const BLACK = 0;
const RED = 1;

interface TreeNode {
  iv: AffineInterval;
  max: Buffer;
  left: TreeNode;
  right: TreeNode;
  parent: TreeNode;
  c: number;
}

export class IntervalTree {
  private readonly sentinel: TreeNode;
  private root: TreeNode;
  private count = 0;

  constructor() {
    const s = { c: BLACK } as TreeNode;
    s.left = s;
    s.right = s;
    s.parent = s;
    s.max = Buffer.alloc(0);
    s.iv = { begin: Buffer.alloc(0), end: Buffer.alloc(0) };
    this.sentinel = s;
    this.root = s;
  }

  get size(): number {
    return this.count;
  }

  private color(x: TreeNode): number {
    return x === this.sentinel ? BLACK : x.c;
  }

  private updateMax(start: TreeNode): void {
    const s = this.sentinel;
    let x = start;
    while (x !== s) {
      const oldmax = x.max;
      let max = x.iv.end;
      if (x.left !== s && affineCompare(x.left.max, max) > 0) max = x.left.max;
      if (x.right !== s && affineCompare(x.right.max, max) > 0) max = x.right.max;
      if (affineCompare(oldmax, max) === 0) break;
      x.max = max;
      x = x.parent;
    }
  }

  insert(iv: AffineInterval): void {
    const s = this.sentinel;
    const z: TreeNode = { iv, max: iv.end, left: s, right: s, parent: s, c: RED };
    let y = s;
    let x = this.root;
    while (x !== s) {
      y = x;
      x = affineCompare(z.iv.begin, x.iv.begin) < 0 ? x.left : x.right;
    }
    z.parent = y;
    if (y === s) {
      this.root = z;
    } else {
      if (affineCompare(z.iv.begin, y.iv.begin) < 0) y.left = z;
      else y.right = z;
      this.updateMax(y);
    }
    z.c = RED;
    this.insertFixup(z);
    this.count++;
  }

  private insertFixup(start: TreeNode): void {
    let z = start;
    while (this.color(z.parent) === RED) {
      const gp = z.parent.parent;
      if (z.parent === gp.left) {
        const y = gp.right;
        if (this.color(y) === RED) {
          y.c = BLACK;
          z.parent.c = BLACK;
          gp.c = RED;
          z = gp;
        } else {
          if (z === z.parent.right) {
            z = z.parent;
            this.rotateLeft(z);
          }
          z.parent.c = BLACK;
          z.parent.parent.c = RED;
          this.rotateRight(z.parent.parent);
        }
      } else {
        const y = gp.left;
        if (this.color(y) === RED) {
          y.c = BLACK;
          z.parent.c = BLACK;
          gp.c = RED;
          z = gp;
        } else {
          if (z === z.parent.left) {
            z = z.parent;
            this.rotateRight(z);
          }
          z.parent.c = BLACK;
          z.parent.parent.c = RED;
          this.rotateLeft(z.parent.parent);
        }
      }
    }
    this.root.c = BLACK;
  }

  private rotateLeft(x: TreeNode): void {
    const s = this.sentinel;
    if (x.right === s) return;
    const y = x.right;
    x.right = y.left;
    if (y.left !== s) y.left.parent = x;
    this.updateMax(x);
    this.replaceParent(x, y);
    y.left = x;
    this.updateMax(y);
  }

  private rotateRight(x: TreeNode): void {
    const s = this.sentinel;
    if (x.left === s) return;
    const y = x.left;
    x.left = y.right;
    if (y.right !== s) y.right.parent = x;
    this.updateMax(x);
    this.replaceParent(x, y);
    y.right = x;
    this.updateMax(y);
  }

  private replaceParent(x: TreeNode, y: TreeNode): void {
    y.parent = x.parent;
    if (x.parent === this.sentinel) {
      this.root = y;
    } else {
      if (x === x.parent.left) x.parent.left = y;
      else x.parent.right = y;
      this.updateMax(x.parent);
    }
    x.parent = y;
  }

  /** adt visit: calls fn on the nodes it finds overlapping iv, in begin order; fn false stops. */
  private visit(x: TreeNode, iv: AffineInterval, fn: (n: AffineInterval) => boolean): boolean {
    if (x === this.sentinel) return true;
    const v = intervalCompare(iv, x.iv);
    if (v < 0) {
      if (!this.visit(x.left, iv, fn)) return false;
    } else if (v > 0) {
      if (intervalCompare({ begin: x.iv.begin, end: x.max }, iv) === 0) {
        if (!this.visit(x.left, iv, fn) || !this.visit(x.right, iv, fn)) return false;
      }
    } else if (!this.visit(x.left, iv, fn) || !fn(x.iv) || !this.visit(x.right, iv, fn)) {
      return false;
    }
    return true;
  }

  /** adt Intersects: some node overlaps iv (found by descending on subtree maxima). */
  intersects(iv: AffineInterval): boolean {
    const s = this.sentinel;
    let x = this.root;
    while (x !== s && intervalCompare(iv, x.iv) !== 0) {
      x = x.left !== s && affineCompare(x.left.max, iv.begin) > 0 ? x.left : x.right;
    }
    return x !== s;
  }

  /**
   * intersects(point(key)) without building the point [key, key + "\0"): a non-empty
   * key is left of a node iff key < begin (its successor key + "\0" is then <= begin),
   * right of it iff key >= end. An empty key is +inf and is right of every node.
   */
  intersectsPoint(key: Buffer): boolean {
    if (key.length === 0) return false;
    const s = this.sentinel;
    let x = this.root;
    while (x !== s && (affineCompare(key, x.iv.begin) < 0 || affineCompare(key, x.iv.end) >= 0)) {
      x = x.left !== s && affineCompare(x.left.max, key) > 0 ? x.left : x.right;
    }
    return x !== s;
  }

  /** adt Contains: the visited nodes are contiguous and cover iv. */
  contains(iv: AffineInterval): boolean {
    let minBegin: Buffer | undefined;
    let maxEnd: Buffer = Buffer.alloc(0);
    let contiguous = true;
    this.visit(this.root, iv, (n) => {
      if (minBegin === undefined) {
        minBegin = n.begin;
        maxEnd = n.end;
        return true;
      }
      if (affineCompare(maxEnd, n.begin) < 0) {
        contiguous = false;
        return false;
      }
      if (affineCompare(n.end, maxEnd) > 0) maxEnd = n.end;
      return true;
    });
    return contiguous && minBegin !== undefined && affineCompare(maxEnd, iv.end) >= 0 && affineCompare(minBegin, iv.begin) <= 0;
  }
}
