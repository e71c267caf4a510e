// etcd's backend layout over our bbolt writer and reader: a random cut of member state
// written as etcd's buckets reads back as the same cut; the small encoders give the
// bytes a real etcd 3.4.23 wrote (member JSON, leasepb.Lease, revision keys); the
// KeyValue decoder agrees with tsetcd's own mvcc codec; a bbolt file that is not
// etcd's is refused. Real etcd files go through the same code in
// test/integration/bbolt-etcd.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BboltFormatError } from '../../src/bbolt/errors.js';
import {
  BUCKETS,
  etcdBackendRecords,
  memberJson,
  parseRevisionKey,
  readEtcdBackend,
  revisionKey,
  type EtcdBackendCut,
  type KeyBucketEntry,
} from '../../src/bbolt/etcd-layout.js';
import { decodeKeyValue, encodeLease } from '../../src/bbolt/etcd-proto.js';
import { snapshotStatus } from '../../src/bbolt/etcd-status.js';
import { BboltDb, bytesSource } from '../../src/bbolt/reader.js';
import { bboltBytes } from '../../src/bbolt/stream.js';
import { setMeta } from './craft.js';
import { encodeKeyValue } from '../../src/mvcc/kv-codec.js';
import { leaseId } from '../../src/shared/ids.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const id64 = fc.bigInt({ min: 1n, max: (1n << 64n) - 1n });
const int64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
const url = fc.constantFrom('http://127.0.0.1:2380', 'https://10.0.0.1:2380', 'http://a<b>&c:1');

const keyEntries: fc.Arbitrary<KeyBucketEntry[]> = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), fc.uint8Array({ maxLength: 300 })), {
    maxLength: 200,
  })
  .map((steps) => {
    let main = 1;
    const out: KeyBucketEntry[] = [];
    for (const [gap, subs, tomb, value] of steps) {
      main += gap;
      for (let sub = 0; sub < subs; sub++) out.push({ key: revisionKey({ main, sub }, tomb && sub === 0), value });
    }
    return out;
  });

const named = fc.uniqueArray(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 12 }), fc.uint8Array({ maxLength: 40 })), {
  maxLength: 4,
  selector: ([n]) => hex(n),
});

const cutArb = fc.record({
  keys: keyEntries,
  consistentIndex: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  term: fc.option(fc.bigInt({ min: 1n, max: 1n << 40n }), { nil: undefined }),
  compact: fc.option(fc.tuple(fc.nat(1000), fc.nat(1000)), { nil: undefined }),
  confState: fc.option(
    fc.record({
      voters: fc.array(id64, { maxLength: 3 }),
      learners: fc.array(id64, { maxLength: 2 }),
      votersOutgoing: fc.array(id64, { maxLength: 2 }),
      learnersNext: fc.array(id64, { maxLength: 2 }),
      autoLeave: fc.boolean(),
    }),
    { nil: undefined },
  ),
  leases: fc.uniqueArray(fc.record({ id: int64, ttl: fc.bigInt({ min: 0n, max: 1n << 32n }), remainingTtl: fc.bigInt({ min: 0n, max: 1000n }) }), {
    maxLength: 5,
    selector: (l) => l.id,
  }),
  members: fc.uniqueArray(
    fc.record({
      id: id64,
      name: fc.constantFrom('', 'node1', 'n<&>'),
      peerUrls: fc.array(url, { minLength: 1, maxLength: 2 }),
      clientUrls: fc.array(url, { maxLength: 2 }),
      isLearner: fc.boolean(),
    }),
    { maxLength: 4, selector: (m) => m.id },
  ),
  removedMembers: fc.uniqueArray(id64, { maxLength: 3 }),
  clusterVersion: fc.option(fc.constantFrom('3.4.0', '3.5.0'), { nil: undefined }),
  downgrade: fc.option(fc.record({ targetVersion: fc.constantFrom('', '3.4.0'), enabled: fc.boolean() }), { nil: undefined }),
  alarms: fc.uniqueArray(fc.record({ memberId: id64, alarm: fc.integer({ min: 0, max: 2 }) }), {
    maxLength: 3,
    selector: (a) => `${a.memberId}/${a.alarm}`,
  }),
  auth: fc.record({
    enabled: fc.option(fc.boolean(), { nil: undefined }),
    revision: fc.option(fc.bigInt({ min: 1n, max: 1n << 50n }), { nil: undefined }),
    users: named,
    roles: named,
  }),
});

type CutInput = typeof cutArb extends fc.Arbitrary<infer T> ? T : never;

function toCut(c: CutInput): EtcdBackendCut {
  const { compact, keys, term, confState, clusterVersion, downgrade, auth, ...rest } = c;
  return {
    ...rest,
    keys: () => keys,
    ...(term === undefined ? {} : { term }),
    ...(compact === undefined ? {} : { scheduledCompactRev: compact[0], finishedCompactRev: compact[1] }),
    ...(confState === undefined ? {} : { confState }),
    ...(clusterVersion === undefined ? {} : { clusterVersion }),
    ...(downgrade === undefined ? {} : { downgrade }),
    auth: {
      users: auth.users.map(([name, value]) => ({ name, value })),
      roles: auth.roles.map(([name, value]) => ({ name, value })),
      ...(auth.enabled === undefined ? {} : { enabled: auth.enabled }),
      ...(auth.revision === undefined ? {} : { revision: auth.revision }),
    },
  };
}

/** Comparable form: byte arrays as hex, every list in the order the bucket stores it. */
function normal(c: Omit<EtcdBackendCut, 'keys'>, keys: Iterable<KeyBucketEntry>): unknown {
  const sortBy = <T>(xs: readonly T[], k: (x: T) => string): T[] => [...xs].sort((a, b) => (k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0));
  const u64hex = (n: bigint): string => BigInt.asUintN(64, n).toString(16).padStart(16, '0');
  return {
    keys: [...keys].map((e) => [hex(e.key), hex(e.value)]),
    consistentIndex: c.consistentIndex,
    term: c.term,
    scheduledCompactRev: c.scheduledCompactRev,
    finishedCompactRev: c.finishedCompactRev,
    confState: c.confState,
    leases: sortBy(c.leases, (l) => u64hex(l.id)),
    members: sortBy(c.members, (m) => BigInt.asUintN(64, m.id).toString(16)),
    removedMembers: sortBy(c.removedMembers, (id) => id.toString(16)),
    clusterVersion: c.clusterVersion,
    downgrade: c.downgrade,
    alarms: [...c.alarms].map((a) => `${a.memberId}/${a.alarm}`).sort(),
    auth: {
      enabled: c.auth.enabled,
      revision: c.auth.revision,
      users: c.auth.users.map((u) => [hex(u.name), hex(u.value)]).sort(),
      roles: c.auth.roles.map((u) => [hex(u.name), hex(u.value)]).sort(),
    },
  };
}

describe("etcd's backend layout", () => {
  it('a cut written as etcd buckets reads back as the same cut', async () => {
    await fc.assert(
      fc.asyncProperty(cutArb, async (input) => {
        const cut = toCut(input);
        const img = await bboltBytes(etcdBackendRecords(cut));
        const db = BboltDb.open(bytesSource(img));
        expect(db.check()).toEqual([]);
        // All ten buckets, in etcd's order.
        expect([...db.root().entries()].map((e) => new TextDecoder().decode(e.key))).toEqual([
          'alarm', 'auth', 'authRoles', 'authUsers', 'cluster', 'key', 'lease', 'members', 'members_removed', 'meta',
        ]);
        const back = readEtcdBackend(db);
        expect(normal(back, back.keys())).toEqual(normal(cut, input.keys));
        const last = input.keys[input.keys.length - 1];
        expect(back.lastRevision).toBe(last === undefined ? 0 : parseRevisionKey(last.key).main);
        expect(snapshotStatus(db).revision).toBe(back.lastRevision);
        // The same key bucket yielded in batches (as a save reads it) gives the same bytes.
        const batched = await bboltBytes(
          etcdBackendRecords({
            ...cut,
            keys: async function* () {
              for (let i = 0; i < input.keys.length; i += 3) yield input.keys.slice(i, i + 3);
            },
          }),
        );
        expect(Buffer.from(batched).equals(Buffer.from(img))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('encodes as a real etcd 3.4.23 did (member JSON, leasepb.Lease, revision keys)', () => {
    expect(
      memberJson({
        id: 0x7de024a39b9cb2f6n,
        name: 'snapref',
        peerUrls: ['http://127.0.0.1:36380'],
        clientUrls: ['http://127.0.0.1:36379'],
        isLearner: false,
      }),
    ).toBe('{"id":9070289934633186038,"peerURLs":["http://127.0.0.1:36380"],"name":"snapref","clientURLs":["http://127.0.0.1:36379"]}');
    expect(hex(encodeLease({ id: 0x32f6a24ddbaef209n, ttl: 600n, remainingTtl: 0n }))).toBe('0889e4bbddddc9a8fb3210d804');
    expect(hex(revisionKey({ main: 3, sub: 0 }))).toBe('00000000000000035f0000000000000000');
    expect(hex(revisionKey({ main: 11, sub: 1 }, true))).toBe('000000000000000b5f000000000000000174');
    expect(() => parseRevisionKey(enc('foo'))).toThrow(BboltFormatError);
  });

  it('decodes mvccpb.KeyValue as tsetcd encodes it', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 50 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.uint8Array({ maxLength: 50 }),
        int64,
        (key, c, m, v, value, lease) => {
          const kv = { key: Buffer.from(key), createRevision: c, modRevision: m, version: v, value: Buffer.from(value), lease: leaseId(lease) };
          const d = decodeKeyValue(encodeKeyValue(kv).bytes);
          expect([hex(d.key), d.createRevision, d.modRevision, d.version, hex(d.value), d.lease]).toEqual([
            hex(key), BigInt(c), BigInt(m), BigInt(v), hex(value), lease,
          ]);
        },
      ),
    );
  });

  it('refuses a bbolt file that is not etcd\'s, and a key bucket entry that is no revision', async () => {
    const other = await bboltBytes(() => [{ bucket: [enc('widgets')], key: enc('a'), value: enc('b') }]);
    expect(() => readEtcdBackend(BboltDb.open(bytesSource(other)))).toThrow(/not an etcd backend: no key or meta bucket/);
    const bad = await bboltBytes(() => [{ bucket: [BUCKETS.key], key: enc('foo'), value: enc('') }]);
    const contents = readEtcdBackend.bind(null, BboltDb.open(bytesSource(bad)));
    expect(contents).toThrow(/is not a revision key/);
  });
});

describe("etcd's backend layout on damaged files", () => {
  it('decoding damaged buckets fails with BboltFormatError only', async () => {
    const cut = toCut(fc.sample(cutArb, { numRuns: 1, seed: 7 })[0] as CutInput);
    const base = await bboltBytes(etcdBackendRecords({ ...cut, members: [{ id: 0xabcn, name: 'n', peerUrls: ['http://x:1'], clientUrls: [], isLearner: false }], removedMembers: [5n], downgrade: { targetVersion: '3.4.0', enabled: true } }));
    const meta = BboltDb.open(bytesSource(base)).meta;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }), (flips) => {
        let img: Uint8Array = base.slice();
        for (const [at, x] of flips) img[at] = (img[at] as number) ^ x;
        img = setMeta(img, meta);
        try {
          const back = readEtcdBackend(BboltDb.open(bytesSource(img)));
          for (const e of back.keys()) decodeKeyValue(e.value);
        } catch (e) {
          if (!(e instanceof BboltFormatError)) throw e;
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('revision keys', () => {
  it('round-trip every safe revision, big-endian as etcd writes them', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.maxSafeNat(), fc.boolean(), (main, sub, tomb) => {
        const k = revisionKey({ main, sub }, tomb);
        const dv = new DataView(k.buffer);
        expect([dv.getBigUint64(0, false), dv.getBigUint64(9, false)]).toEqual([BigInt(main), BigInt(sub)]);
        expect(parseRevisionKey(k)).toEqual({ main, sub, tombstone: tomb });
      }),
    );
    expect(() => revisionKey({ main: -1, sub: 0 })).toThrow(RangeError);
  });
});
