/**
 * A user's key permissions as etcd's range permission cache holds and checks them
 * (auth/range_perm_cache.go): one interval tree of read grants and one of write grants,
 * built from the user's roles in their stored order, each role's permissions in stored
 * order (the insertion order fixes the tree's shape, and etcd's answers depend on it;
 * see interval-tree.ts).
 *
 * Each permission becomes an interval over affine byte strings (empty = +inf):
 *   - range_end empty:   the point [key, key + "\0")
 *   - range_end "\0":    [key, +inf)
 *   - otherwise:         [key, range_end)
 * READWRITE goes into both trees; unknown types into neither. Malformed grants that
 * etcd 3.4.23 stored (an empty key, an inverted range) are inserted as etcd inserts
 * them, so data carried over from etcd is judged as etcd judges it.
 *
 * A request on one key (range_end empty) is allowed when an interval of the tree
 * intersects the key's point. A range request [key, range_end) (range_end "\0" meaning
 * +inf) is allowed when the intervals the tree visits for it are contiguous, start at
 * or before key and reach range_end. For well-formed requests that is "every key of
 * the request is granted" (test/auth/permissions.test.ts checks it against a
 * brute-force model); for a request whose end is at or before its key the answer is
 * etcd's tree-shaped one.
 */
import { IntervalTree, type AffineInterval } from './interval-tree.js';
import { PermType, type PermissionRecord } from './records.js';

const NUL = Buffer.from([0]);
const INF = Buffer.alloc(0);

function point(key: Buffer): AffineInterval {
  return { begin: key, end: Buffer.concat([key, NUL]) };
}

function isNul(b: Buffer): boolean {
  return b.length === 1 && b[0] === 0;
}

function toInterval(p: PermissionRecord): AffineInterval {
  if (p.rangeEnd.length === 0) return point(p.key);
  return { begin: p.key, end: isNul(p.rangeEnd) ? INF : p.rangeEnd };
}

/** One permission type's tree. */
export class IntervalSet {
  constructor(private readonly tree: IntervalTree) {}

  get size(): number {
    return this.tree.size;
  }

  /** etcd checkKeyPoint / checkKeyInterval for one request. */
  permits(key: Buffer, rangeEnd: Buffer): boolean {
    if (rangeEnd.length === 0) return this.tree.intersectsPoint(key);
    return this.tree.contains({ begin: key, end: isNul(rangeEnd) ? INF : rangeEnd });
  }
}

/** The read and write sets of one user (etcd unifiedRangePermissions). */
export class UserPermissions {
  constructor(
    readonly read: IntervalSet,
    readonly write: IntervalSet,
  ) {}

  /** etcd getMergedPerms: `perms` in the user's role order, each role's stored order. */
  static fromPermissions(perms: Iterable<PermissionRecord>): UserPermissions {
    const read = new IntervalTree();
    const write = new IntervalTree();
    for (const p of perms) {
      if (p.permType !== PermType.READ && p.permType !== PermType.WRITE && p.permType !== PermType.READWRITE) continue;
      const iv = toInterval(p);
      if (p.permType === PermType.READ || p.permType === PermType.READWRITE) read.insert(iv);
      if (p.permType === PermType.WRITE || p.permType === PermType.READWRITE) write.insert(iv);
    }
    return new UserPermissions(new IntervalSet(read), new IntervalSet(write));
  }
}

export const NO_PERMISSIONS = UserPermissions.fromPermissions([]);
