// LeaseQueue: order by (time, id), one entry per lease, update and remove, against a
// sorted-array model under random operation sequences.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LeaseQueue } from '../../src/lease/index.js';
import { leaseId, type LeaseId } from '../../src/shared/ids.js';

const id = (n: number): LeaseId => leaseId(BigInt(n));

describe('LeaseQueue', () => {
  it('pops the earliest time first, ties by id, and moves a lease on update', () => {
    const q = new LeaseQueue();
    q.registerOrUpdate(id(1), 30);
    q.registerOrUpdate(id(2), 10);
    q.registerOrUpdate(id(3), 10);
    q.registerOrUpdate(id(1), 5);
    expect(q.size).toBe(3);
    expect(q.pop()).toEqual({ id: 1n, timeMs: 5 });
    expect(q.pop()).toEqual({ id: 2n, timeMs: 10 });
    q.registerOrUpdate(id(3), 50);
    q.registerOrUpdate(id(4), 40);
    expect(q.timeOf(id(3))).toBe(50);
    expect(q.remove(id(4))).toBe(true);
    expect(q.remove(id(4))).toBe(false);
    expect(q.pop()).toEqual({ id: 3n, timeMs: 50 });
    expect(q.pop()).toBeUndefined();
    expect(q.size).toBe(0);
  });

  it('agrees with a sorted model for random operations', () => {
    const op = fc.oneof(
      fc.record({
        t: fc.constant('set' as const),
        id: fc.integer({ min: 1, max: 20 }),
        time: fc.integer({ min: 0, max: 50 }),
      }),
      fc.record({ t: fc.constant('remove' as const), id: fc.integer({ min: 1, max: 20 }) }),
      fc.record({ t: fc.constant('pop' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const q = new LeaseQueue();
        const model = new Map<number, number>();
        const modelMin = (): [number, number] | undefined =>
          [...model.entries()].sort((a, b) => a[1] - b[1] || a[0] - b[0])[0];
        for (const o of ops) {
          if (o.t === 'set') {
            q.registerOrUpdate(id(o.id), o.time);
            model.set(o.id, o.time);
          } else if (o.t === 'remove') {
            expect(q.remove(id(o.id))).toBe(model.delete(o.id));
          } else {
            const want = modelMin();
            const got = q.pop();
            if (want === undefined) expect(got).toBeUndefined();
            else {
              expect(got).toEqual({ id: BigInt(want[0]), timeMs: want[1] });
              model.delete(want[0]);
            }
          }
          expect(q.size).toBe(model.size);
        }
        const drained: number[] = [];
        for (let item = q.pop(); item !== undefined; item = q.pop()) drained.push(Number(item.id));
        const want = [...model.entries()]
          .sort((a, b) => a[1] - b[1] || a[0] - b[0])
          .map(([k]) => k);
        expect(drained).toEqual(want);
      }),
    );
  });
});
