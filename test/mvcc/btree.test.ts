// B+tree against a sorted-array model under random inserts, replaces, getOrInserts and deletes
// (enough entries for several levels), with the structural invariants checked.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BTree, compareKeys } from '../../src/mvcc/btree.js';

function modelKeys(m: Map<string, number>): string[] {
  return [...m.keys()].sort((a, b) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')));
}

describe('BTree', () => {
  it('compareKeys is unsigned byte order', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (a, b) => {
        expect(Math.sign(compareKeys(Buffer.from(a), Buffer.from(b)))).toBe(Math.sign(Buffer.compare(a, b)));
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
        const t = new BTree<number>();
        const m = new Map<string, number>();
        ops.forEach((op, i) => {
          const k = Buffer.from(op.key.length % 2 === 0 ? op.key : `0${op.key}`, 'hex');
          const hex = k.toString('hex');
          if (op.del && shuffleDeletes) {
            expect(t.delete(k)).toBe(m.delete(hex));
          } else if (op.getOrInsert) {
            // Inserted under the entry's own key (a copy), only when absent.
            const want = m.has(hex) ? m.get(hex) : i;
            expect(t.getOrInsert(k, () => ({ key: Buffer.from(k), value: i }))).toBe(want);
            m.set(hex, want as number);
          } else {
            expect(t.set(k, i)).toBe(!m.has(hex));
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
        for (const hex of modelKeys(m)) expect(t.get(Buffer.from(hex, 'hex'))).toBe(m.get(hex));
        const scanned: string[] = [];
        t.scan(Buffer.alloc(0), undefined, (k) => {
          scanned.push(k.toString('hex'));
        });
        expect(scanned).toEqual(modelKeys(m));
        for (const hex of modelKeys(m)) t.delete(Buffer.from(hex, 'hex'));
        expect(t.check()).toBe(0);
      }),
      { numRuns: 40 },
    );
  });

  it('scans [start, end) and stops when asked', () => {
    const t = new BTree<number>();
    for (let i = 0; i < 1000; i++) t.set(Buffer.from([i >> 8, i & 0xff]), i);
    const got: number[] = [];
    t.scan(Buffer.from([0, 250]), Buffer.from([1, 4]), (_k, v) => {
      got.push(v);
    });
    expect(got).toEqual([250, 251, 252, 253, 254, 255, 256, 257, 258, 259]);
    let n = 0;
    t.scan(Buffer.from([3]), undefined, () => ++n < 5);
    expect(n).toBe(5);
    const tail: number[] = [];
    t.scan(Buffer.from([3, 0xe6]), undefined, (_k, v) => {
      tail.push(v);
    });
    expect(tail).toEqual([998, 999]);
  });
});
