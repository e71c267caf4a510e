/**
 * A user's key permissions, merged, as etcd's range permission cache decides them
 * (auth/range_perm_cache.go over pkg/adt's interval tree).
 *
 * etcd turns each granted permission into an interval over "affine" byte strings, where
 * the empty string stands for +infinity:
 *   - range_end empty:   the point [key, key + "\0")
 *   - range_end "\0":    [key, +inf)
 *   - otherwise:         [key, range_end)
 * READWRITE goes into both the read and the write set; unknown types into neither.
 * A request on a single key is allowed when an interval of the needed type contains
 * the key (Intersects with the point). A request on a range [key, range_end) (range_end
 * "\0" meaning +inf) is allowed when the intervals overlapping it are contiguous, start
 * at or before key and end at or after range_end (Contains).
 *
 * Here each set is kept as its union: disjoint, sorted intervals, with intervals that
 * touch merged. For well-formed intervals (begin < end) that is exactly etcd's answer:
 * a gap among the intervals overlapping a request lies inside the request, so
 * "contiguous and covering" is "the one merged interval holding key reaches range_end".
 * For a request whose range_end is at or before its key etcd's Contains reduces to "an
 * interval contains key", which the same test gives (that interval ends after key, so
 * at or after range_end). Intervals that hold no key (an empty begin, which is +inf; an
 * end at or before the begin) are dropped: etcd 3.4.23 stores such grants, 3.5.8+ and
 * this module refuse new ones, and none of them can admit a key.
 */
import { PermType, type PermissionRecord } from './records.js';

/** An interval [begin, end); end undefined = +infinity. begin is never empty. */
interface Interval {
  readonly begin: Buffer;
  readonly end: Buffer | undefined;
}

const POINT_SUFFIX = Buffer.from([0]);

function toInterval(p: PermissionRecord): Interval | undefined {
  if (p.key.length === 0) return undefined; // begin +inf: admits nothing
  if (p.rangeEnd.length === 0) return { begin: p.key, end: Buffer.concat([p.key, POINT_SUFFIX]) };
  if (p.rangeEnd.length === 1 && p.rangeEnd[0] === 0) return { begin: p.key, end: undefined };
  if (Buffer.compare(p.rangeEnd, p.key) <= 0) return undefined; // empty or inverted
  return { begin: p.key, end: p.rangeEnd };
}

/** end a >= end b, with undefined as +inf. */
function endAtLeast(a: Buffer | undefined, b: Buffer | undefined): boolean {
  if (a === undefined) return true;
  if (b === undefined) return false;
  return Buffer.compare(a, b) >= 0;
}

/** Sorted, disjoint, non-touching intervals covering the same keys as the input. */
function merge(intervals: Interval[]): Interval[] {
  intervals.sort((x, y) => Buffer.compare(x.begin, y.begin));
  const out: Interval[] = [];
  let cur: { begin: Buffer; end: Buffer | undefined } | undefined;
  for (const iv of intervals) {
    if (cur !== undefined && (cur.end === undefined || Buffer.compare(iv.begin, cur.end) <= 0)) {
      if (!endAtLeast(cur.end, iv.end)) cur.end = iv.end;
      continue;
    }
    if (cur !== undefined) out.push(cur);
    cur = { begin: iv.begin, end: iv.end };
  }
  if (cur !== undefined) out.push(cur);
  return out;
}

/** One permission type's merged intervals. */
export class IntervalSet {
  private constructor(private readonly ivs: readonly Interval[]) {}

  static of(intervals: Interval[]): IntervalSet {
    return new IntervalSet(merge(intervals));
  }

  get size(): number {
    return this.ivs.length;
  }

  /** The merged interval whose begin is the last one <= key, if it holds key. */
  private holding(key: Buffer): Interval | undefined {
    let lo = 0;
    let hi = this.ivs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const iv = this.ivs[mid];
      if (iv !== undefined && Buffer.compare(iv.begin, key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    const iv = this.ivs[lo - 1];
    if (iv === undefined) return undefined;
    if (iv.end !== undefined && Buffer.compare(key, iv.end) >= 0) return undefined;
    return iv;
  }

  /**
   * etcd's check of one request: rangeEnd empty = the single key; "\0" = every key >=
   * key; otherwise [key, rangeEnd). An empty key is +inf in etcd's order and is never
   * covered.
   */
  permits(key: Buffer, rangeEnd: Buffer): boolean {
    if (key.length === 0) return false;
    const iv = this.holding(key);
    if (iv === undefined) return false;
    if (rangeEnd.length === 0) return true;
    if (rangeEnd.length === 1 && rangeEnd[0] === 0) return iv.end === undefined;
    return endAtLeast(iv.end, rangeEnd);
  }
}

/** The read and write sets of one user, from all of its roles' permissions. */
export class UserPermissions {
  constructor(
    readonly read: IntervalSet,
    readonly write: IntervalSet,
  ) {}

  static fromPermissions(perms: Iterable<PermissionRecord>): UserPermissions {
    const read: Interval[] = [];
    const write: Interval[] = [];
    for (const p of perms) {
      const iv = toInterval(p);
      if (iv === undefined) continue;
      if (p.permType === PermType.READ || p.permType === PermType.READWRITE) read.push(iv);
      if (p.permType === PermType.WRITE || p.permType === PermType.READWRITE) write.push(iv);
    }
    return new UserPermissions(IntervalSet.of(read), IntervalSet.of(write));
  }
}

export const NO_PERMISSIONS = UserPermissions.fromPermissions([]);
