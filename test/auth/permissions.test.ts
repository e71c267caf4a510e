// The permission interval logic (etcd auth/range_perm_cache.go): fixed cases from the
// auth reference, and a property test against a brute-force model that enumerates
// every key of a small alphabet.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { UserPermissions } from '../../src/auth/permissions.js';
import { IntervalTree } from '../../src/auth/interval-tree.js';
import { PermType, type PermissionRecord } from '../../src/auth/records.js';
import { prefixEnd } from '../../src/shared/bytes.js';
import { grantArb, keyArb, shaped, SHAPES } from './arbitraries.js';
import { b } from './harness.js';

const perm = (permType: number, key: string, end = ''): PermissionRecord => ({ permType, key: b(key), rangeEnd: b(end) });
const readOf = (...perms: PermissionRecord[]) => UserPermissions.fromPermissions(perms).read;

describe('permission intervals: fixed cases', () => {
  it('a single-key grant admits only that key', () => {
    const r = readOf(perm(PermType.READ, 'foo'));
    expect(r.permits(b('foo'), b(''))).toBe(true);
    expect(r.permits(b('foo\0'), b(''))).toBe(false);
    expect(r.permits(b('fo'), b(''))).toBe(false);
    // the range [foo, foo\0) is the same single key
    expect(r.permits(b('foo'), b('foo\0'))).toBe(true);
    expect(r.permits(b('foo'), b('foo\0\0'))).toBe(false);
  });

  it('READ [a,c) allows get a c and denies get a d; adjacent grants combine', () => {
    const r = readOf(perm(PermType.READ, 'a', 'c'));
    expect(r.permits(b('a'), b('c'))).toBe(true);
    expect(r.permits(b('a'), b('d'))).toBe(false);
    expect(r.permits(b('b'), b('bz'))).toBe(true);
    expect(r.permits(b('c'), b(''))).toBe(false);
    const two = readOf(perm(PermType.READ, 'a', 'c'), perm(PermType.READ, 'c', 'e'));
    expect(two.permits(b('a'), b('e'))).toBe(true);
    const gap = readOf(perm(PermType.READ, 'a', 'c'), perm(PermType.READ, 'c\0', 'e'));
    expect(gap.permits(b('a'), b('e'))).toBe(false);
    // a point fills exactly the one-key gap
    const filled = readOf(perm(PermType.READ, 'a', 'c'), perm(PermType.READ, 'c'), perm(PermType.READ, 'c\0', 'e'));
    expect(filled.permits(b('a'), b('e'))).toBe(true);
  });

  it('a prefix grant allows get --prefix but not get --from-key', () => {
    const r = readOf(perm(PermType.READWRITE, 'pre/', prefixEnd(b('pre/')).toString('latin1')));
    expect(r.permits(b('pre/'), prefixEnd(b('pre/')))).toBe(true);
    expect(r.permits(b('pre/x'), b(''))).toBe(true);
    expect(r.permits(b('pre/'), b('\0'))).toBe(false);
  });

  it('a from-key grant ("\\0" end) covers every later key and from-key requests', () => {
    const r = readOf(perm(PermType.READ, 'm', '\0'));
    expect(r.permits(b('m'), b('\0'))).toBe(true);
    expect(r.permits(b('zzzz'), b(''))).toBe(true);
    expect(r.permits(b('n'), b('\0'))).toBe(true);
    expect(r.permits(b('l'), b('\0'))).toBe(false);
    expect(r.permits(b('l'), b(''))).toBe(false);
    const all = readOf(perm(PermType.READ, '\0', '\0'));
    expect(all.permits(b('\0'), b('\0'))).toBe(true);
  });

  it('READWRITE feeds both sets, unknown types neither; empty or inverted ranges admit nothing', () => {
    const p = UserPermissions.fromPermissions([perm(PermType.READWRITE, 'a'), perm(PermType.WRITE, 'w'), perm(5, 'x'), perm(0, '', 'b'), perm(0, 'z', 'a')]);
    expect(p.read.permits(b('a'), b(''))).toBe(true);
    expect(p.write.permits(b('a'), b(''))).toBe(true);
    expect(p.read.permits(b('w'), b(''))).toBe(false);
    expect(p.write.permits(b('w'), b(''))).toBe(true);
    expect(p.read.permits(b('x'), b(''))).toBe(false);
    expect(p.write.permits(b('x'), b(''))).toBe(false);
    expect(p.read.permits(b('\0'), b(''))).toBe(false);
    expect(p.read.permits(b('zz'), b(''))).toBe(false);
    // etcd keeps them in its trees (they shape it) though they admit no key
    expect(p.read.size).toBe(3);
    expect(p.write.size).toBe(2);
  });

  it('an empty request key is +inf in etcd order and never covered', () => {
    const r = readOf(perm(PermType.READ, '\0', '\0'));
    expect(r.permits(b(''), b(''))).toBe(false);
    expect(r.permits(b(''), b('\0'))).toBe(false);
  });

  it("a request whose end is at or before its key gets etcd's tree-shaped answer", () => {
    const r = readOf(perm(PermType.READ, 'a', 'c'));
    expect(r.permits(b('b'), b('a'))).toBe(true);
    expect(r.permits(b('d'), b('a'))).toBe(false);
    // found by the differential test against etcd 3.4.23: key b is writable (from-key
    // a), yet etcd denies the delete of [b, aa) because its tree prunes the nodes
    // holding b (the grants as etcd stores them: sorted by key, stable)
    const grants = [perm(2, 'b'), perm(0, 'c', 'ca'), perm(1, 'a', '\0'), perm(1, 'ac'), perm(2, 'aa', 'ab'), perm(1, 'b', 'ca')];
    const sorted = [...grants].sort((x, y) => Buffer.compare(x.key, y.key));
    const w = UserPermissions.fromPermissions(sorted).write;
    expect(w.permits(b('b'), b(''))).toBe(true);
    expect(w.permits(b('b'), b('aa'))).toBe(false);
    expect(w.permits(b('b'), b('b'))).toBe(true);
  });
});

// ---- property: against a brute-force model ----

const ALPHABET = [0x00, 0x61, 0x62, 0x63, 0x64]; // \0 a b c d

/** Every string over the alphabet of length 1..3: holds every interval end the generators can make. */
const UNIVERSE: Buffer[] = (() => {
  const out: Buffer[] = [];
  const grow = (prefix: number[]): void => {
    if (prefix.length > 0) out.push(Buffer.from(prefix));
    if (prefix.length === 3) return;
    for (const c of ALPHABET) grow([...prefix, c]);
  };
  grow([]);
  return out.sort(Buffer.compare);
})();

/** Requests of the same shapes as the grants (a range's end after its key: for those
 * etcd's tree answers exactly "every key is granted"; see the fixed cases above). */
const requestArb = fc
  .record({ key: keyArb, end: keyArb, shape: fc.constantFrom(...SHAPES) })
  .map(({ key, end, shape }) => shaped(shape, key, end));

function grantAdmits(p: PermissionRecord, k: Buffer): boolean {
  if (p.rangeEnd.length === 0) return k.equals(p.key);
  if (Buffer.compare(k, p.key) < 0) return false;
  return (p.rangeEnd.length === 1 && p.rangeEnd[0] === 0) || Buffer.compare(k, p.rangeEnd) < 0;
}

/** Is key k readable (or writable) given these grants: some grant of the type admits it. */
function modelAllows(grants: PermissionRecord[], write: boolean, key: Buffer, rangeEnd: Buffer): boolean {
  const types = write ? [1, 2] : [0, 2];
  const ok = (k: Buffer) => grants.some((g) => types.includes(g.permType) && grantAdmits(g, k));
  if (rangeEnd.length === 0) return ok(key);
  const open = rangeEnd.length === 1 && rangeEnd[0] === 0;
  // every key of the request: the universe holds every boundary (a gap starts at an
  // interval end or at the request key, both in the universe), so checking its keys
  // within [key, end) decides coverage of the infinite key space (an open end: the
  // universe's largest key "ddd" lies beyond every finite grant end, so covering it
  // takes a from-key grant, which then covers everything after it too)
  const inside = UNIVERSE.filter((k) => Buffer.compare(k, key) >= 0 && (open || Buffer.compare(k, rangeEnd) < 0));
  return inside.every(ok);
}

describe('permission intervals: property against a brute-force model', () => {
  it('agrees with "every key of the request is admitted by some grant"', () => {
    fc.assert(
      fc.property(fc.array(grantArb, { maxLength: 6 }), requestArb, fc.boolean(), (grants, req, write) => {
        const perms = UserPermissions.fromPermissions(grants);
        const set = write ? perms.write : perms.read;
        expect(set.permits(req.key, req.rangeEnd)).toBe(modelAllows(grants, write, req.key, req.rangeEnd));
      }),
      { numRuns: 3000, seed: 15 },
    );
  });
});

describe('the interval tree', () => {
  it("a point lookup without building the point agrees with adt's Intersects, malformed grants included", () => {
    const anyKey = fc.array(fc.constantFrom(0x00, 0x61, 0x62, 0x63), { maxLength: 3 }).map((xs) => Buffer.from(xs));
    fc.assert(
      fc.property(fc.array(fc.tuple(anyKey, anyKey), { maxLength: 12 }), anyKey, (ivs, key) => {
        const tree = new IntervalTree();
        for (const [begin, end] of ivs) tree.insert({ begin, end });
        expect(tree.intersectsPoint(key)).toBe(tree.intersects({ begin: key, end: Buffer.concat([key, Buffer.from([0])]) }));
      }),
      { numRuns: 3000, seed: 42 },
    );
  });
});
