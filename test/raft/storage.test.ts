// MemoryStorage and RaftLog against a plain-array model, plus the quorum commit
// index against a sort-and-pick reference (etcd quorum/quick_test.go in spirit).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EntryType, MemoryStorage, isRaftError, type Entry } from '../../src/raft/index.js';
import { majorityIndex } from '../../src/raft/tracker/tracker.js';

const ent = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array([index & 0xff]) });

describe('MemoryStorage', () => {
  it('matches a simple model under append (with truncation) and compaction', () => {
    fc.assert(fc.property(
      fc.array(fc.oneof(
        fc.record({ op: fc.constant('append' as const), back: fc.nat(5), n: fc.integer({ min: 1, max: 5 }), term: fc.integer({ min: 1, max: 9 }) }),
        fc.record({ op: fc.constant('compact' as const), back: fc.nat(10) }),
      ), { maxLength: 40 }),
      (ops) => {
        const s = new MemoryStorage();
        const model: Entry[] = [];
        let compacted = 0;
        for (const o of ops) {
          if (o.op === 'append') {
            const from = Math.max(compacted + 1, model.length + 1 - o.back);
            const ents = Array.from({ length: o.n }, (_, k) => ent(from + k, o.term));
            s.append(ents);
            model.length = from - 1;
            model.push(...ents);
          } else {
            const at = model.length - o.back;
            if (at > compacted) {
              s.compact(at);
              compacted = at;
            }
          }
          expect(s.lastIndex()).toBe(Math.max(model.length, compacted));
          expect(s.firstIndex()).toBe(compacted + 1);
          if (s.lastIndex() >= s.firstIndex()) {
            expect(s.entries(s.firstIndex(), s.lastIndex() + 1, Number.MAX_SAFE_INTEGER)).toEqual(model.slice(compacted));
          }
        }
      },
    ));
  });

  it('reports compacted and unavailable ranges as typed errors, and bounds entries by size', () => {
    const s = new MemoryStorage();
    s.append([ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2)]);
    s.createSnapshot(2, { voters: [1n], learners: [] }, new Uint8Array([7]));
    s.compact(2);
    expect(s.term(2)).toBe(1);
    expect(() => s.term(1)).toThrow(expect.objectContaining({ code: 'raft/compacted' }));
    expect(() => s.entries(3, 6, 100)).toThrow(expect.objectContaining({ code: 'raft/unavailable' }));
    try {
      s.entries(2, 3, 100);
      expect.unreachable();
    } catch (err) {
      expect(isRaftError(err, 'raft/compacted')).toBe(true);
    }
    expect(s.entries(3, 5, 0)).toHaveLength(1); // at least one entry, even over budget
    expect(s.entries(3, 5, 1000)).toHaveLength(2);
    expect(s.initialState().confState.voters).toEqual([1n]);
  });
});

describe('quorum', () => {
  it('majorityIndex is the largest index a majority has reached', () => {
    fc.assert(fc.property(fc.array(fc.nat(1000), { minLength: 1, maxLength: 7 }), (matches) => {
      const got = majorityIndex([...matches]);
      const q = Math.floor(matches.length / 2) + 1;
      // Reference: the largest candidate with at least q members at or above it.
      const best = Math.max(...[0, ...matches].filter((c) => matches.filter((m) => m >= c).length >= q));
      expect(got).toBe(best);
    }), { numRuns: 20_000 });
  });
});
