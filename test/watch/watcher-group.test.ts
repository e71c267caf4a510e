// The pure watch structures: the interval treap and the watcher group, each against a
// brute-force scan (fast-check, replayable seeds), plus etcd's range conventions
// (single key, [key, end), prefix, "\0" end, empty key) and the event window.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { prefixEnd } from '../../src/shared/bytes.js';
import { leaseId } from '../../src/shared/ids.js';
import type { MvccEvent } from '../../src/mvcc/types.js';
import { EventWindow, IntervalTree, WatcherGroup, batchByWatcher, Watcher } from '../../src/watch/index.js';
import type { WatchStream } from '../../src/watch/index.js';
import { b } from './harness.js';

const stream = {} as WatchStream;
const opts = { noPut: false, noDelete: false, prevKv: false, fragment: false, progressNotify: false };
let nextId = 0;
function watcher(key: string, end?: string | null, minRev = 1, o: Partial<typeof opts> = {}): Watcher {
  const e = end === undefined ? undefined : end === null ? null : b(end);
  return new Watcher(nextId++, b(key), e, minRev, { ...opts, ...o }, stream);
}

function put(key: string, rev: number): MvccEvent {
  return {
    type: 'put',
    kv: { key: b(key), createRevision: rev, modRevision: rev, version: 1, value: b('v'), lease: leaseId(0n) },
    prevKv: undefined,
  };
}

const keyArb = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '\0', '\xff'), maxLength: 3 });

describe('IntervalTree', () => {
  it('stabs the intervals that contain a point (worked example)', () => {
    const t = new IntervalTree<string>();
    t.insert(b('a'), b('c'), 'ac');
    t.insert(b('b'), null, 'b+');
    t.insert(b('x'), b('y'), 'xy');
    const stab = (p: string): string[] => {
      const out: string[] = [];
      t.stab(b(p), (v) => out.push(v));
      return out.sort();
    };
    expect(stab('b')).toEqual(['ac', 'b+']);
    expect(stab('c')).toEqual(['b+']);
    expect(stab('z')).toEqual(['b+']);
    expect(stab('0')).toEqual([]);
    expect(t.check()).toBe(3);
    expect(t.delete(b('b'), null)).toBe(true);
    expect(t.delete(b('b'), null)).toBe(false);
    expect(stab('z')).toEqual([]);
    expect(t.check()).toBe(2);
  });

  it('agrees with a linear scan under random inserts, deletes and stabs', () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('ins' as const), s: keyArb, e: fc.option(keyArb, { nil: null }) }),
      fc.record({ t: fc.constant('del' as const), i: fc.nat() }),
      fc.record({ t: fc.constant('stab' as const), p: keyArb }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const t = new IntervalTree<string>();
        const model = new Map<string, [Buffer, Buffer | null]>();
        for (const o of ops) {
          if (o.t === 'ins') {
            const s = b(o.s);
            const e = o.e === null ? null : b(o.e);
            if (e !== null && Buffer.compare(s, e) >= 0) continue;
            const id = `${o.s}|${o.e ?? '+'}`;
            if (model.has(id)) continue;
            model.set(id, [s, e]);
            t.insert(s, e, id);
          } else if (o.t === 'del') {
            const ids = [...model.keys()];
            if (ids.length === 0) continue;
            const id = ids[o.i % ids.length] as string;
            const [s, e] = model.get(id) as [Buffer, Buffer | null];
            expect(t.delete(s, e)).toBe(true);
            model.delete(id);
          } else {
            const p = b(o.p);
            const got: string[] = [];
            t.stab(p, (v) => got.push(v));
            const want = [...model]
              .filter(([, [s, e]]) => Buffer.compare(s, p) <= 0 && (e === null || Buffer.compare(p, e) < 0))
              .map(([id]) => id);
            expect(got.sort()).toEqual(want.sort());
            expect(t.intersects(p)).toBe(want.length > 0);
          }
        }
        expect(t.check()).toBe(model.size);
      }),
    );
  });
});

describe('WatcherGroup', () => {
  it('matches single keys, ranges, prefixes and open ends (etcd conventions)', () => {
    const g = new WatcherGroup();
    const single = watcher('foo');
    const range = watcher('a', 'c');
    const prefix = watcher('fo', prefixEnd(b('fo')).toString('latin1'));
    const open = watcher('m', null);
    const all = watcher('\0', null); // empty key with range_end "\0" watches everything
    for (const w of [single, range, prefix, open, all]) g.add(w);
    const match = (k: string): number[] => {
      const out: number[] = [];
      g.forEachMatch(b(k), (w) => out.push(w.id));
      return out.sort((x, y) => x - y);
    };
    expect(match('foo')).toEqual([single.id, prefix.id, all.id].sort((x, y) => x - y));
    expect(match('fooo')).toEqual([prefix.id, all.id].sort((x, y) => x - y));
    expect(match('b')).toEqual([range.id, all.id].sort((x, y) => x - y));
    expect(match('c')).toEqual([all.id]);
    expect(match('zzz')).toEqual([open.id, all.id].sort((x, y) => x - y));
    expect(match('\0')).toEqual([all.id]);
    expect(g.contains(b('c'))).toBe(true);
    expect(g.size).toBe(5);
    g.check();
    expect(g.delete(all)).toBe(true);
    expect(g.delete(all)).toBe(false);
    expect(g.contains(b('c'))).toBe(false);
    g.check();
  });

  it('shares one index entry between watchers of the same range', () => {
    const g = new WatcherGroup();
    const w1 = watcher('a', 'b');
    const w2 = watcher('a', 'b');
    g.add(w1);
    g.add(w2);
    g.delete(w1);
    const out: number[] = [];
    g.forEachMatch(b('a'), (w) => out.push(w.id));
    expect(out).toEqual([w2.id]);
    g.check();
  });

  it('agrees with Watcher.covers for random watchers and keys', () => {
    const wArb = fc.record({ k: keyArb.filter((s) => s.length > 0), e: fc.option(fc.option(keyArb, { nil: null }), { nil: undefined }) });
    fc.assert(
      fc.property(fc.array(wArb, { maxLength: 30 }), fc.array(keyArb, { maxLength: 20 }), (ws, keys) => {
        const g = new WatcherGroup();
        const list: Watcher[] = [];
        for (const x of ws) {
          if (typeof x.e === 'string' && Buffer.compare(b(x.k), b(x.e)) >= 0) continue;
          const w = watcher(x.k, x.e);
          list.push(w);
          g.add(w);
        }
        g.check();
        for (const k of keys) {
          const got: Watcher[] = [];
          g.forEachMatch(b(k), (w) => got.push(w));
          const want = list.filter((w) => w.covers(b(k)));
          expect(new Set(got)).toEqual(new Set(want));
          expect(got.length).toBe(want.length);
        }
        expect([...g.all()].length).toBe(list.length);
      }),
    );
  });

  it('batches events by watcher, honouring minRev and filters', () => {
    const g = new WatcherGroup();
    const early = watcher('k', undefined, 2);
    const late = watcher('k', undefined, 4);
    const noPut = watcher('k', undefined, 1, { noPut: true });
    for (const w of [early, late, noPut]) g.add(w);
    const revs = [2, 3, 4].map((r) => ({ revision: r, events: [put('k', r)] }));
    const out = batchByWatcher(g, revs);
    expect(out.get(early)?.map((e) => e.kv.modRevision)).toEqual([2, 3, 4]);
    expect(out.get(late)?.map((e) => e.kv.modRevision)).toEqual([4]);
    expect(out.has(noPut)).toBe(false);
  });
});

describe('EventWindow', () => {
  it('keeps contiguous recent revisions within its bounds', () => {
    const w = new EventWindow(3, 1_000_000);
    expect(w.covers(1)).toBe(false);
    for (let r = 2; r <= 6; r++) w.push(r, [put('k', r)]);
    expect([w.firstRevision, w.lastRevision, w.length]).toEqual([4, 6, 3]);
    expect(w.covers(3)).toBe(false);
    expect(w.covers(4)).toBe(true);
    expect(w.slice(5, 10, 1e9).map((r) => r.revision)).toEqual([5, 6]);
    expect(() => w.push(8, [put('k', 8)])).toThrow(/revision 8 after 6/);
  });

  it('drops by bytes but always keeps the newest revision, and slices by bytes', () => {
    const w = new EventWindow(100, 300);
    for (let r = 2; r <= 10; r++) w.push(r, [put('k', r)]);
    expect(w.byteSize).toBeLessThanOrEqual(300);
    expect(w.lastRevision).toBe(10);
    const first = w.firstRevision as number;
    expect(w.slice(first, 10, 1).length).toBe(1); // at least one revision
    const big = new EventWindow(100, 10);
    big.push(2, [put('k', 2)]);
    big.push(3, [put('k', 3)]);
    expect([big.firstRevision, big.length]).toEqual([3, 1]);
  });
});
