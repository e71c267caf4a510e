// keyIndex generations, get at a revision, compaction (tombstone AT the compaction
// revision kept, etcd #18089) and keep() for HashKV, on the worked example of
// key-index.ts; restore from records with compacted prefixes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyIndex, type RevisionList } from '../../src/mvcc/key-index.js';
import { leaseId } from '../../src/shared/ids.js';
import type { KeyValue } from '../../src/mvcc/types.js';
import { encodeKeyValue } from '../../src/mvcc/kv-codec.js';
import { RecordArena } from '../../src/mvcc/record-arena.js';

const key = Buffer.from('foo');
const kvAt = (mod: number, created: number, version: number): KeyValue => ({
  key,
  createRevision: created,
  modRevision: mod,
  version,
  value: Buffer.from(`v${mod}`),
  lease: leaseId(0n),
});
/** The record bytes the index keeps for a put. */
const rec = (kv: KeyValue): Buffer => encodeKeyValue(kv).bytes;
const arena = new RecordArena();
/** KeyIndex.put of the record `r` (written into the place the arena gives). */
const put = (ki: KeyIndex, main: number, sub: number, r: Buffer): void => {
  r.copy(ki.put(main, sub, arena, r.length));
};

/** put(2) put(3) tombstone(4) put(5) tombstone(6), as in the comment of key-index.ts. */
function example(): KeyIndex {
  const ki = new KeyIndex(key);
  put(ki, 2, 0, rec(kvAt(2, 2, 1)));
  put(ki, 3, 0, rec(kvAt(3, 2, 2)));
  ki.tombstone(4, 0, arena);
  put(ki, 5, 0, rec(kvAt(5, 5, 1)));
  ki.tombstone(6, 0, arena);
  return ki;
}

function compacted(atRev: number): { ki: KeyIndex; kept: RevisionList; empty: boolean } {
  const ki = example();
  const kept: RevisionList = { mains: [], subs: [] };
  const empty = ki.compact(atRev, kept);
  return { ki, kept, empty };
}

describe('KeyIndex', () => {
  it('answers get() per generation', () => {
    const ki = example();
    expect(ki.describe()).toBe('{2.0 3.0 4.0} {5.0 6.0} {}');
    expect(ki.get(1)).toBeUndefined();
    expect(ki.get(2)).toEqual({ main: 2, sub: 0, created: 2, version: 1 });
    expect(ki.get(3)).toEqual({ main: 3, sub: 0, created: 2, version: 2 });
    expect(ki.get(4)).toBeUndefined();
    expect(ki.get(5)).toEqual({ main: 5, sub: 0, created: 5, version: 1 });
    expect(ki.get(6)).toBeUndefined();
    expect(ki.get(100)).toBeUndefined();
    expect(ki.isLive).toBe(false);
  });

  it('compacts like etcd, keeping a tombstone exactly at the compaction revision', () => {
    expect(compacted(1).ki.describe()).toBe('{2.0 3.0 4.0} {5.0 6.0} {}');
    const c3 = compacted(3);
    expect(c3.ki.describe()).toBe('{3.0 4.0} {5.0 6.0} {}');
    expect(c3.kept).toEqual({ mains: [3], subs: [0] });
    expect(c3.ki.get(3)).toEqual({ main: 3, sub: 0, created: 2, version: 2 });
    const c4 = compacted(4);
    expect(c4.ki.describe()).toBe('{4.0} {5.0 6.0} {}');
    expect(c4.kept).toEqual({ mains: [4], subs: [0] });
    expect(compacted(5).ki.describe()).toBe('{5.0 6.0} {}');
    expect(compacted(6).ki.describe()).toBe('{6.0} {}');
    const c7 = compacted(7);
    expect(c7.empty).toBe(true);
    expect(c7.kept.mains).toEqual([]);
  });

  it('keep() leaves out a tombstone at the hash revision', () => {
    const keepAt = (rev: number): number[] => {
      const out: RevisionList = { mains: [], subs: [] };
      example().keep(rev, out);
      return out.mains;
    };
    expect(keepAt(3)).toEqual([3]);
    expect(keepAt(4)).toEqual([]); // compaction would keep 4(t); the hash does not
    expect(keepAt(5)).toEqual([5]);
    expect(keepAt(6)).toEqual([]);
    expect(keepAt(9)).toEqual([]);
  });

  it('handles a delete and a re-create in one revision', () => {
    const ki = new KeyIndex(key);
    put(ki, 2, 0, rec(kvAt(2, 2, 1)));
    ki.tombstone(3, 0, arena);
    put(ki, 3, 1, rec({ ...kvAt(3, 3, 1) }));
    expect(ki.get(3)).toEqual({ main: 3, sub: 1, created: 3, version: 1 });
    expect(ki.get(2)).toEqual({ main: 2, sub: 0, created: 2, version: 1 });
    const kept: RevisionList = { mains: [], subs: [] };
    ki.compact(3, kept);
    // The live put at 3.1 survives (etcd #22376 loses it).
    expect(kept).toEqual({ mains: [3, 3], subs: [0, 1] });
    expect(ki.get(3)?.sub).toBe(1);
  });

  it('restores from records whose prefix was compacted away', () => {
    const ki = new KeyIndex(key);
    expect(ki.restoreRecord(3, 0, false, kvAt(3, 2, 2), rec(kvAt(3, 2, 2)), arena)).toBe(true);
    const tomb = { ...kvAt(0, 0, 0), value: Buffer.alloc(0) };
    expect(ki.restoreRecord(4, 0, true, tomb, rec(tomb), arena)).toBe(true);
    expect(ki.restoreRecord(5, 0, false, kvAt(5, 5, 1), rec(kvAt(5, 5, 1)), arena)).toBe(true);
    expect(ki.get(3)).toEqual({ main: 3, sub: 0, created: 2, version: 2 });
    expect(ki.liveKV()?.modRevision).toBe(5);
    // A tombstone alone (its puts compacted) restores as a one-revision generation.
    const t = new KeyIndex(key);
    expect(t.restoreRecord(4, 0, true, kvAt(0, 0, 0), rec(kvAt(0, 0, 0)), arena)).toBe(true);
    expect(t.describe()).toBe('{4.0} {}');
    expect(t.restoreRecord(6, 0, true, kvAt(0, 0, 0), rec(kvAt(0, 0, 0)), arena)).toBe(false);
    expect(() => t.restoreRecord(7, 0, false, kvAt(7, 7, 2), rec(kvAt(7, 7, 2)), arena)).toThrow(/re-created/);
  });

  it('keeps a live key through compactions down to one revision and back up', () => {
    const ki = new KeyIndex(key);
    put(ki, 2, 0, rec(kvAt(2, 2, 1)));
    expect(ki.describe()).toBe('{2.0}');
    put(ki, 3, 5, rec(kvAt(3, 2, 2)));
    put(ki, 4, 0, rec(kvAt(4, 2, 3)));
    const kept: RevisionList = { mains: [], subs: [] };
    ki.compact(3, kept);
    expect(ki.describe()).toBe('{3.5 4.0}');
    ki.compact(4, kept);
    expect(ki.describe()).toBe('{4.0}');
    expect(ki.revisionCount()).toBe(1);
    expect(ki.get(3)).toBeUndefined();
    expect(ki.get(4)).toEqual({ main: 4, sub: 0, created: 2, version: 3 });
    put(ki, 5, 2, rec(kvAt(5, 2, 4)));
    expect(ki.describe()).toBe('{4.0 5.2}');
    expect(ki.get(4)).toEqual({ main: 4, sub: 0, created: 2, version: 3 });
    expect(ki.get(9)).toEqual({ main: 5, sub: 2, created: 2, version: 4 });
    expect([ki.liveMain, ki.liveSub, ki.liveVersion, ki.liveCreated]).toEqual([5, 2, 4, 2]);
    expect(ki.isLiveRevision(5, 2)).toBe(true);
    expect(ki.isLiveRevision(4, 0)).toBe(false);
    ki.tombstone(6, 0, arena);
    expect(ki.describe()).toBe('{4.0 5.2 6.0} {}');
    expect(ki.get(6)).toBeUndefined();
  });

  it('compares keys held in key slabs in unsigned byte order, in place', () => {
    const slabs = new RecordArena();
    const held = (bytes: Uint8Array): KeyIndex => {
      const ki = new KeyIndex();
      slabs.ownKey(ki, Buffer.concat([Buffer.from([0xff]), bytes, Buffer.from([0])]), 1, bytes.length + 1);
      return ki;
    };
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.uint8Array({ minLength: 1, maxLength: 40 }), (a, b) => {
        const want = Math.sign(Buffer.compare(a, b));
        const ka = held(a);
        expect(Math.sign(ka.compareKeyWith(held(b)))).toBe(want);
        expect(Math.sign(ka.compareKeyTo(Buffer.from(b)))).toBe(want);
        expect(ka.key.equals(a)).toBe(true);
        expect(ka.keyEquals(Buffer.from(a), 0, a.length)).toBe(true);
      }),
    );
  });

  it('asserts revisions only grow', () => {
    const ki = example();
    expect(() => put(ki, 6, 0, rec(kvAt(6, 6, 1)))).toThrow(/not after/);
  });
});
