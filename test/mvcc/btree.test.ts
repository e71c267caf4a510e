// B+tree against a sorted-array model under random getOrInserts (entries whose keys live
// at an offset of a larger buffer, as the key index's do), replaces and deletes (enough
// entries for several levels), with the structural invariants checked.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BTree, compareKeyAt, compareKeys, type KeyedEntry } from '../../src/mvcc/btree.js';

/** An entry whose key is bytes [off, off + len) of a padded copy, like a key-slab key. */
class Entry implements KeyedEntry {
  private readonly buf: Buffer;
  private readonly off = 3;
  private readonly len: number;
  constructor(key: Buffer, public value: number) {
    this.buf = Buffer.concat([Buffer.from([9, 9, 9]), key, Buffer.from([255])]);
    this.len = key.length;
  }
  compareKeyTo(b: Buffer): number {
    return compareKeyAt(this.buf, this.off, this.len, b);
  }
  keyView(): Buffer {
    return this.buf.subarray(this.off, this.off + this.len);
  }
}

function modelKeys(m: Map<string, number>): string[] {
  return [...m.keys()].sort((a, b) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')));
}

describe('BTree', () => {
  it('compareKeys and compareKeyAt are unsigned byte order', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
        expect(Math.sign(compareKeys(Buffer.from(a), Buffer.from(b)))).toBe(Math.sign(Buffer.compare(a, b)));
        // In place at an offset of a larger buffer (short keys by a loop, long ones natively).
        const padded = Buffer.concat([Buffer.from([0xff, 0]), a, Buffer.from([0xff])]);
        expect(Math.sign(compareKeyAt(padded, 2, a.length, Buffer.from(b)))).toBe(Math.sign(Buffer.compare(a, b)));
      }),
    );
  });

  it('matches a sorted map under random operations', () => {
    const opArb = fc.record({
      del: fc.boolean(),
      getOrInsert: fc.boolean(),
      key: fc.oneof(fc.integer({ min: 0, max: 3000 }).map((n) => n.toString(16)), fc.uint8Array({ minLength: 0, maxLength: 3 }).map((u) => Buffer.from(u).toString('hex'))),
    });
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 100, maxLength: 4000 }), fc.boolean(), (ops, shuffleDeletes) => {
        const t = new BTree<Entry>();
        const m = new Map<string, number>();
        ops.forEach((op, i) => {
          const k = Buffer.from(op.key.length % 2 === 0 ? op.key : `0${op.key}`, 'hex');
          const hex = k.toString('hex');
          if (op.del && shuffleDeletes) {
            expect(t.delete(k)).toBe(m.delete(hex));
          } else if (op.getOrInsert) {
            // Inserted under the entry's own key (a copy), only when absent.
            const want = m.has(hex) ? m.get(hex) : i;
            expect(t.getOrInsert(k, () => new Entry(k, i)).value).toBe(want);
            m.set(hex, want as number);
          } else {
            // Replace: the entry found (or a new one) takes the new value.
            const size = t.size;
            t.getOrInsert(k, () => new Entry(k, i)).value = i;
            expect(t.size).toBe(m.has(hex) ? size : size + 1);
            m.set(hex, i);
          }
        });
        expect(t.check()).toBe(m.size);
        // Delete half, then everything, checking shape on the way.
        const keys = modelKeys(m);
        keys.forEach((hex, i) => {
          if (i % 2 === 0) {
            expect(t.delete(Buffer.from(hex, 'hex'))).toBe(true);
            m.delete(hex);
          }
        });
        expect(t.check()).toBe(m.size);
        for (const hex of modelKeys(m)) expect(t.get(Buffer.from(hex, 'hex'))?.value).toBe(m.get(hex));
        const scanned: string[] = [];
        t.scan(Buffer.alloc(0), undefined, (e) => {
          scanned.push(e.keyView().toString('hex'));
        });
        expect(scanned).toEqual(modelKeys(m));
        for (const hex of modelKeys(m)) t.delete(Buffer.from(hex, 'hex'));
        expect(t.check()).toBe(0);
      }),
      { numRuns: 40 },
    );
  });

  it('scans [start, end) and stops when asked', () => {
    const t = new BTree<Entry>();
    for (let i = 0; i < 1000; i++) t.getOrInsert(Buffer.from([i >> 8, i & 0xff]), () => new Entry(Buffer.from([i >> 8, i & 0xff]), i));
    const got: number[] = [];
    t.scan(Buffer.from([0, 250]), Buffer.from([1, 4]), (e) => {
      got.push(e.value);
    });
    expect(got).toEqual([250, 251, 252, 253, 254, 255, 256, 257, 258, 259]);
    let n = 0;
    t.scan(Buffer.from([3]), undefined, () => ++n < 5);
    expect(n).toBe(5);
    const tail: number[] = [];
    t.scan(Buffer.from([3, 0xe6]), undefined, (e) => {
      tail.push(e.value);
    });
    expect(tail).toEqual([998, 999]);
  });
});
