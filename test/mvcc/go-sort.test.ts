// Go sort.Sort reproduction: it sorts; up to 12 elements it is insertion sort (stable,
// and Reverse keeps equal elements in their original order); beyond, the same input
// always gives the same order of equal elements.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { goSort, goSortReverse } from '../../src/mvcc/go-sort.js';

interface Item {
  k: number;
  id: number;
}
const less = (a: Item, b: Item): boolean => a.k < b.k;

describe('goSort', () => {
  it('sorts any input (pdqsort, heapsort and pattern-breaking paths)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 600 }), fc.boolean(), (ks, rev) => {
        const items = ks.map((k, id) => ({ k, id }));
        if (rev) goSortReverse(items, less);
        else goSort(items, less);
        for (let i = 1; i < items.length; i++) {
          const a = items[i - 1] as Item;
          const b = items[i] as Item;
          expect(rev ? a.k >= b.k : a.k <= b.k).toBe(true);
        }
        expect(items.map((x) => x.id).sort((a, b) => a - b)).toEqual(ks.map((_k, i) => i));
      }),
      { numRuns: 300 },
    );
  });

  it('is a stable insertion sort up to 12 elements', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 12 }), (ks) => {
        const items = ks.map((k, id) => ({ k, id }));
        const asc = [...items];
        goSort(asc, less);
        expect(asc).toEqual([...items].sort((a, b) => a.k - b.k));
        const desc = [...items];
        goSortReverse(desc, less);
        // sort.Reverse + insertion sort: descending keys, ties in original order.
        expect(desc).toEqual([...items].sort((a, b) => b.k - a.k));
      }),
    );
  });

  it('sorts sorted, reversed and all-equal inputs of many sizes', () => {
    for (const n of [13, 50, 51, 100, 1000]) {
      const sorted = Array.from({ length: n }, (_v, i) => ({ k: i, id: i }));
      const a = [...sorted].reverse();
      goSort(a, less);
      expect(a.map((x) => x.k)).toEqual(sorted.map((x) => x.k));
      const eq = Array.from({ length: n }, (_v, i) => ({ k: 1, id: i }));
      goSort(eq, less);
      expect(eq.map((x) => x.id).sort((x, y) => x - y)).toEqual(sorted.map((x) => x.id));
    }
  });
});
