// Our bbolt writer's files read back exactly by our reader (property tests over random
// nested buckets, key and value sizes up to several pages, empty buckets, page sizes,
// fill factors and both freelist forms), bbolt's tx.Check finds nothing in them, the
// writer really streams, and garbage input ends in BboltFormatError, never a crash or
// a hang. Real bbolt and real etcd read the same files in
// test/integration/bbolt-etcd.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BboltFormatError, BboltWriteError } from '../../src/bbolt/errors.js';
import { ELEMENT_SIZE, FLAG_BRANCH, PAGE_HEADER_SIZE, decodePageHeader, encodeMetaPage } from '../../src/bbolt/layout.js';
import { BboltDb, bytesSource } from '../../src/bbolt/reader.js';
import { bboltBytes, planBbolt, writeBbolt, type BboltRecord } from '../../src/bbolt/stream.js';
import { dbModel, hex, plain, readModel, records } from './model.js';
import { craftFreelist, setMeta } from './craft.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function bigBucket(n: number, valueSize: number): BboltRecord[] {
  const out: BboltRecord[] = [{ bucket: [enc('key')] }];
  for (let i = 0; i < n; i++) {
    const k = new Uint8Array(17);
    new DataView(k.buffer).setBigUint64(0, BigInt(i + 1), false);
    k[8] = 0x5f;
    out.push({ bucket: [enc('key')], key: k, value: new Uint8Array(valueSize).fill(i & 0xff) });
  }
  return out;
}

/** Depth of a bucket's tree: branch levels + 1. */
function height(db: BboltDb, root: number): number {
  let h = 1;
  let id = root;
  for (;;) {
    const p = db.pageBytes(id);
    if ((p.flags & FLAG_BRANCH) === 0) return h;
    id = Number(new DataView(p.bytes.buffer, p.bytes.byteOffset).getBigUint64(PAGE_HEADER_SIZE + 8, true));
    h++;
  }
}

describe('bbolt writer -> reader', () => {
  it('reads back exactly what was written (random nested buckets, sizes, options)', async () => {
    await fc.assert(
      fc.asyncProperty(
        dbModel,
        fc.constantFrom(4096, 4096, 8192, 16384, 65536),
        fc.constantFrom(0.5, 0.9, 1.0),
        fc.constantFrom<'page' | 'none'>('page', 'none'),
        async (model, pageSize, fillPercent, freelist) => {
          const img = await bboltBytes(() => records(model), { pageSize, fillPercent, freelist });
          expect(img.length % pageSize).toBe(0);
          const db = BboltDb.open(bytesSource(img));
          expect(db.pageSize).toBe(pageSize);
          expect(db.imageSize).toBe(img.length);
          expect(db.check()).toEqual([]);
          expect(db.freelist()).toEqual(freelist === 'page' ? [] : null);
          expect(plain(readModel(db))).toEqual(plain(model));
          // Point lookups agree with the walk.
          for (const [name, b] of model.buckets) {
            const bucket = db.bucket(Buffer.from(name, 'hex'));
            expect(bucket).toBeDefined();
            for (const [k, v] of b.values) expect(hex(bucket?.get(Buffer.from(k, 'hex')) ?? new Uint8Array([1, 2, 3]))).toBe(hex(v));
            expect(bucket?.get(Buffer.from(`${[...b.values.keys()][0] ?? ''}ff`, 'hex'))).toBeUndefined();
          }
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);

  it('builds a multi-level tree for a large bucket, with overflow pages for large values', async () => {
    const recs = [{ bucket: [enc('big')], key: enc('v'), value: new Uint8Array(50_000).fill(7) }, ...bigBucket(20_000, 100)];
    const img = await bboltBytes(() => recs);
    const db = BboltDb.open(bytesSource(img));
    expect(db.check()).toEqual([]);
    const key = db.bucket(enc('key'));
    expect(key?.isInline).toBe(false);
    const root = new DataView(db.root().getEntry(enc('key'))?.value.buffer ?? new ArrayBuffer(8), db.root().getEntry(enc('key'))?.value.byteOffset).getBigUint64(0, true);
    expect(height(db, Number(root))).toBe(3);
    expect([...(key?.entries() ?? [])].length).toBe(20_000);
    const big = db.bucket(enc('big'))?.get(enc('v'));
    expect(big?.length).toBe(50_000);
    expect(big?.every((b) => b === 7)).toBe(true);
  });

  it('inlines small buckets without sub-buckets as bbolt does (<= pageSize/4), and an empty bucket is 32 bytes', async () => {
    const img = await bboltBytes(() => [
      { bucket: [enc('empty')] },
      { bucket: [enc('small')], key: enc('a'), value: new Uint8Array(900) },
      { bucket: [enc('tree')], key: enc('a'), value: new Uint8Array(1000) },
      { bucket: [enc('withsub')], key: enc('a'), value: enc('b') },
      { bucket: [enc('withsub'), enc('s')] },
    ]);
    const db = BboltDb.open(bytesSource(img));
    const root = db.root();
    expect(root.getEntry(enc('empty'))?.value.length).toBe(32);
    expect(db.bucket(enc('small'))?.isInline).toBe(true);
    expect(db.bucket(enc('tree'))?.isInline).toBe(false);
    expect(db.bucket(enc('withsub'))?.isInline).toBe(false);
    expect(db.bucket(enc('withsub'), enc('s'))?.isInline).toBe(true);
  });

  it('streams: pages reach the sink while the source is still yielding, a tree height at a time', async () => {
    const recs = bigBucket(5000, 200);
    let written = 0;
    let writes = 0;
    let writtenAtHalf = -1;
    let maxWritesPerRecord = 0;
    const source = function* (): Generator<BboltRecord> {
      for (let i = 0; i < recs.length; i++) {
        if (i === Math.floor(recs.length / 2)) writtenAtHalf = written;
        const before = writes;
        yield recs[i] as BboltRecord;
        maxWritesPerRecord = Math.max(maxWritesPerRecord, writes - before);
      }
    };
    const plan = await planBbolt(source);
    writtenAtHalf = -1;
    maxWritesPerRecord = 0;
    await writeBbolt(source, { write: async (c) => void ((written += c.length), writes++) }, { plan });
    expect(written).toBe(plan.size);
    expect(writtenAtHalf).toBeGreaterThan(plan.size / 3);
    // One record completes at most a leaf and one page per branch level above it (height 3 here).
    expect(maxWritesPerRecord).toBeGreaterThan(0);
    expect(maxWritesPerRecord).toBeLessThanOrEqual(3);
  });

  it('rejects unsorted input and a source that changes between the two passes', async () => {
    await expect(bboltBytes(() => [{ bucket: [enc('b')] }, { bucket: [enc('a')] }])).rejects.toThrow(BboltWriteError);
    await expect(
      bboltBytes(() => [
        { bucket: [enc('a')], key: enc('y'), value: enc('') },
        { bucket: [enc('a')], key: enc('x'), value: enc('') },
      ]),
    ).rejects.toThrow(/does not sort after/);
    await expect(bboltBytes(() => [{ bucket: [enc('a')], key: new Uint8Array(0) }])).rejects.toThrow(BboltWriteError);
    await expect(bboltBytes(() => [{ bucket: [enc('a')] }], { pageSize: 1024 })).rejects.toThrow(/unsupported page size/);
    let pass = 0;
    const changing = (): BboltRecord[] => (pass++ === 0 ? bigBucket(10, 10) : bigBucket(500, 10));
    await expect(bboltBytes(changing)).rejects.toThrow(/more than it did when planned|changed between/);
  });
});

describe('bbolt reader on damaged and hand-made files', () => {
  async function sample(freelist: 'page' | 'none' = 'page'): Promise<Uint8Array> {
    return bboltBytes(() => [...bigBucket(3000, 40), { bucket: [enc('meta')], key: enc('consistent_index'), value: new Uint8Array(8) }], { freelist });
  }

  it('falls back to meta1 when meta0 is corrupt, and names the problem when both are', async () => {
    const img = await sample();
    const one = img.slice();
    one[20] = 9; // meta0 version
    const db = BboltDb.open(bytesSource(one));
    expect(db.meta.txid).toBe(1n);
    expect(db.metaProblems[0]).toMatch(/version mismatch/);
    const both = one.slice();
    both[4096 + 70] = (both[4096 + 70] as number) ^ 0xff; // meta1 txid byte: checksum no longer matches
    expect(() => BboltDb.open(bytesSource(both))).toThrow(/no valid meta page.*version mismatch.*checksum error/);
  });

  it('reports a truncated file, a short file and a wrong page size', async () => {
    const img = await sample();
    expect(() => BboltDb.open(bytesSource(img.subarray(0, img.length - 4096)))).toThrow(/truncated/);
    expect(() => BboltDb.open(bytesSource(img.subarray(0, 100)))).toThrow(BboltFormatError);
    expect(() => BboltDb.open(bytesSource(new Uint8Array(8192)))).toThrow(/invalid magic/);
  });

  it('ignores a trailer past pgid x pageSize (the SHA-256 of an etcd snapshot)', async () => {
    const img = await sample();
    const withTrailer = new Uint8Array(img.length + 32).fill(0xab);
    withTrailer.set(img);
    expect(plain(readModel(BboltDb.open(bytesSource(withTrailer))))).toEqual(plain(readModel(BboltDb.open(bytesSource(img)))));
  });

  it('detects a cycle in the tree instead of hanging', async () => {
    const img = (await sample()).slice();
    const db = BboltDb.open(bytesSource(img));
    const entry = db.root().getEntry(enc('key'));
    const root = Number(new DataView(entry?.value.buffer ?? new ArrayBuffer(8), entry?.value.byteOffset).getBigUint64(0, true));
    const off = root * 4096;
    expect(decodePageHeader(img.subarray(off, off + 16)).flags).toBe(FLAG_BRANCH);
    // Point the root branch's second child back at the root itself.
    new DataView(img.buffer).setBigUint64(off + PAGE_HEADER_SIZE + ELEMENT_SIZE + 8, BigInt(root), true);
    const bad = BboltDb.open(bytesSource(img));
    expect(() => [...(bad.bucket(enc('key'))?.entries() ?? [])]).toThrow(/reached twice/);
    expect(bad.check().join('\n')).toMatch(/multiple references/);
  });

  it('reads both freelist forms and the not-synced sentinel; check() flags unreachable unfreed pages', async () => {
    const none = await sample('none');
    expect(BboltDb.open(bytesSource(none)).freelist()).toBeNull();
    const img = await sample('page');
    for (const form of ['array', 'overflow-count'] as const) {
      const crafted = craftFreelist(img, 3, form);
      const db = BboltDb.open(bytesSource(crafted.bytes));
      expect(db.freelist()).toEqual(crafted.freeIds);
      expect(db.check()).toEqual([]);
      expect(plain(readModel(db))).toEqual(plain(readModel(BboltDb.open(bytesSource(img)))));
    }
    // The same extra pages without listing them: bbolt's "unreachable unfreed".
    const unlisted = craftFreelist(img, 2, 'array', false);
    expect(BboltDb.open(bytesSource(unlisted.bytes)).check()).toEqual(unlisted.freeIds.map((id) => `page ${id}: unreachable unfreed`));
  });

  it('a meta pointing past the file or at a meta page is a format error', async () => {
    const img = await sample();
    const db = BboltDb.open(bytesSource(img));
    expect(() => BboltDb.open(bytesSource(setMeta(img, { ...db.meta, root: 1 })))).toThrow(/root page 1 is out of bounds/);
    expect(() => BboltDb.open(bytesSource(setMeta(img, { ...db.meta, pgid: db.meta.pgid + 10 })))).toThrow(/truncated/);
    void encodeMetaPage;
  });

  it('garbage never crashes or hangs: every failure is a BboltFormatError', async () => {
    const base = await bboltBytes(() => [
      ...bigBucket(600, 30),
      { bucket: [enc('n')], key: enc('big'), value: new Uint8Array(9000).fill(3) },
      { bucket: [enc('n'), enc('sub')], key: enc('k'), value: enc('v') },
    ]);
    const pages = base.length / 4096;
    await fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 12 }),
        fc.option(fc.integer({ min: 0, max: pages * 4096 }), { freq: 4 }),
        fc.boolean(),
        (flips, cut, fixMetas) => {
          let img: Uint8Array = base.slice();
          for (const [at, x] of flips) img[at] = (img[at] as number) ^ x;
          if (fixMetas) {
            // Keep the metas valid so the damage reaches the trees, not just the checksums.
            img = setMeta(img, BboltDb.open(bytesSource(base)).meta);
          }
          if (cut !== null) img = img.subarray(0, cut);
          try {
            const db = BboltDb.open(bytesSource(img));
            readModel(db);
            db.check();
            for (const name of ['key', 'n']) db.bucket(enc(name))?.get(enc('big'));
          } catch (e) {
            if (!(e instanceof BboltFormatError)) throw e;
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
