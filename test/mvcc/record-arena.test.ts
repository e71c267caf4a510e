// The record arena (src/mvcc/record-arena.ts) against a model: random places and
// releases over a few owners, records from a few bytes to past a quarter slab. After
// every step each owner's view holds exactly its last record, views taken earlier still
// hold what they held (slab bytes are never rewritten, even when records move), live
// bytes are exact and the slabs held stay within a bound of them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordArena, type KeyHolder, type RecordOwner } from '../../src/mvcc/record-arena.js';

const SLAB = 1 << 20;

type Op = { owner: number; size: number } | { owner: number; release: true };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ owner: fc.nat(39), size: fc.integer({ min: 1, max: 40_000 }) }) },
  { weight: 1, arbitrary: fc.record({ owner: fc.nat(39), size: fc.integer({ min: SLAB / 4, max: SLAB / 2 }) }) },
  { weight: 3, arbitrary: fc.record({ owner: fc.nat(39), release: fc.constant(true as const) }) },
);

function fill(b: Buffer, seed: number): void {
  for (let i = 0; i < b.length; i += 97) b[i] = (seed + i) & 0xff;
  b[b.length - 1] = seed & 0xff;
}

describe('record arena', () => {
  it('keeps every owner\'s record and every view taken, whatever moves', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 300 }), (ops) => {
        const arena = new RecordArena();
        const owners: RecordOwner[] = Array.from({ length: 40 }, () => ({ slab: undefined, off: 0, len: 0 }));
        const model: Array<Buffer | undefined> = owners.map(() => undefined);
        const taken: Array<[Buffer, Buffer]> = [];
        ops.forEach((o, step) => {
          const owner = owners[o.owner] as RecordOwner;
          if ('release' in o) {
            arena.release(owner);
            model[o.owner] = undefined;
          } else {
            const view = arena.place(owner, o.size);
            fill(view, step);
            model[o.owner] = Buffer.from(view);
            taken.push([view, Buffer.from(view)]);
            if (taken.length > 20) taken.shift();
          }
          let live = 0;
          owners.forEach((w, i) => {
            const want = model[i];
            const got = RecordArena.view(w);
            expect(got === undefined, `owner ${i} after step ${step}`).toBe(want === undefined);
            if (want !== undefined) {
              expect(got?.equals(want), `owner ${i} after step ${step}`).toBe(true);
              live += want.length;
            }
          });
          for (const [view, copy] of taken) expect(view.equals(copy)).toBe(true);
          expect(arena.liveBytes).toBe(live);
          // Each slab not being filled is at most a third dead; the one being filled and
          // records of their own slab may add one slab each.
          expect(arena.slabBytes).toBeLessThanOrEqual(live * 1.5 + 2 * SLAB);
        });
      }),
      { numRuns: 60 },
    );
  });

  it('empties a mostly-dead slab into the current one and drops it', () => {
    const arena = new RecordArena();
    const owners: RecordOwner[] = Array.from({ length: 300 }, () => ({ slab: undefined, off: 0, len: 0 }));
    // 300 records of 10 KB: the first slab fills (104 records), the rest go on.
    for (const [i, o] of owners.entries()) arena.place(o, 10_000).fill(i & 0xff);
    const first = owners[0]?.slab;
    expect(owners[103]?.slab).toBe(first);
    expect(owners[104]?.slab).not.toBe(first);
    // Release a third and a bit of the first slab: the rest move out of it.
    for (let i = 0; i < 36; i++) arena.release(owners[i] as RecordOwner);
    for (let i = 36; i < 104; i++) {
      const o = owners[i] as RecordOwner;
      expect(o.slab).not.toBe(first);
      expect(RecordArena.view(o)?.every((b) => b === (i & 0xff))).toBe(true);
    }
    expect(arena.liveBytes).toBe(264 * 10_000);
  });

  it('ownKey copies keys into shared 4 KiB slabs, long keys into their own Buffer', () => {
    const arena = new RecordArena();
    const src = Buffer.from('xx/registry/pods/default/web-0yy');
    const keys: KeyHolder[] = [];
    const view = (h: KeyHolder): Buffer => h.kbuf.subarray(h.koff, h.koff + h.klen);
    for (let i = 0; i < 200; i++) {
      const h: KeyHolder = { kbuf: Buffer.alloc(0), koff: 0, klen: 0 };
      arena.ownKey(h, src, 2, src.length - 2);
      expect(view(h).equals(src.subarray(2, src.length - 2))).toBe(true);
      keys.push(h);
    }
    // A copy, not a view of the source; 28-byte keys: 146 to a slab.
    src.fill(0);
    expect(keys.every((h) => view(h).toString() === '/registry/pods/default/web-0')).toBe(true);
    expect(keys[0]?.kbuf).toBe(keys[145]?.kbuf);
    expect(keys[145]?.koff).toBe(145 * 28);
    expect(keys[146]?.kbuf).not.toBe(keys[145]?.kbuf);
    expect(keys[146]?.koff).toBe(0);
    expect(keys[0]?.kbuf.buffer.byteLength).toBe(4096);
    const long = Buffer.alloc(513, 7);
    const own: KeyHolder = { kbuf: Buffer.alloc(0), koff: 0, klen: 0 };
    arena.ownKey(own, long, 0, long.length);
    expect(view(own).equals(long)).toBe(true);
    expect(own.kbuf.buffer.byteLength).toBe(513);
  });
});
