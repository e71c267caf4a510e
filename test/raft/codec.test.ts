// Round-trip property tests for the Raft binary codec (WAL and peer transport use it),
// plus rejection of damaged input. fast-check prints a replayable seed on failure.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ConfChangeType,
  EntryType,
  MessageType,
  decodeConfChange,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  encodeConfChange,
  encodeConfState,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
  messageOmitsSnapshotData,
  type Entry,
  type Message,
  type Snapshot,
} from '../../src/raft/index.js';

const u53 = fc.maxSafeNat();
const id64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const bytes = fc.uint8Array({ maxLength: 64 });
const entry: fc.Arbitrary<Entry> = fc.record({
  term: u53, index: u53, type: fc.constantFrom(EntryType.Normal, EntryType.ConfChange), data: bytes,
});
const confState = fc.record({ voters: fc.array(id64, { maxLength: 5 }), learners: fc.array(id64, { maxLength: 3 }) });
const snapshot: fc.Arbitrary<Snapshot> = fc.record({
  metadata: fc.record({ index: u53, term: u53, confState }),
  data: fc.uint8Array({ maxLength: 512 }),
});
const message: fc.Arbitrary<Message> = fc
  .record({
    type: fc.constantFrom(...Object.values(MessageType)),
    to: id64, from: id64, term: u53, logTerm: u53, index: u53, commit: u53,
    entries: fc.array(entry, { maxLength: 4 }),
    reject: fc.boolean(), rejectHint: u53, context: bytes,
    snapshot: fc.option(snapshot, { nil: undefined }),
  })
  .map(({ snapshot: s, ...rest }) => (s === undefined ? rest : { ...rest, snapshot: s }));

describe('raft codec', () => {
  it('round-trips entries, hard state, conf state, conf change and snapshots', () => {
    fc.assert(fc.property(entry, (e) => {
      expect(decodeEntry(encodeEntry(e))).toEqual(e);
    }));
    fc.assert(fc.property(u53, id64, u53, (term, vote, commit) => {
      const hs = { term, vote, commit };
      expect(decodeHardState(encodeHardState(hs))).toEqual(hs);
    }));
    fc.assert(fc.property(confState, (cs) => {
      expect(decodeConfState(encodeConfState(cs))).toEqual(cs);
    }));
    fc.assert(fc.property(fc.constantFrom(...Object.values(ConfChangeType)), id64, bytes, (type, nodeId, context) => {
      const cc = { type, nodeId, context };
      expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
    }));
    fc.assert(fc.property(snapshot, (s) => {
      expect(decodeSnapshot(encodeSnapshot(s))).toEqual(s);
    }));
  });

  it('round-trips messages, with or without the snapshot data', () => {
    fc.assert(fc.property(message, (m) => {
      expect(decodeMessage(encodeMessage(m))).toEqual(m);
      const lean = encodeMessage(m, { omitSnapshotData: true });
      expect(messageOmitsSnapshotData(lean)).toBe(m.snapshot !== undefined);
      const back = decodeMessage(lean);
      if (m.snapshot === undefined) expect(back).toEqual(m);
      else expect(back).toEqual({ ...m, snapshot: { metadata: m.snapshot.metadata, data: new Uint8Array(0) } });
    }));
  });

  it('rejects truncated, padded or mistyped input', () => {
    fc.assert(fc.property(message, fc.nat(), (m, cut) => {
      const b = encodeMessage(m);
      const n = cut % b.length;
      expect(() => decodeMessage(b.subarray(0, n))).toThrow(RangeError);
      const padded = new Uint8Array(b.length + 1);
      padded.set(b);
      expect(() => decodeMessage(padded)).toThrow(RangeError);
    }));
    const e = encodeEntry({ term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array(0) });
    expect(() => decodeHardState(e)).toThrow(/expected HardState/);
  });

  it('is compact: a heartbeat fits in about 30 bytes', () => {
    const hb = encodeMessage({ type: MessageType.Heartbeat, to: 2n, from: 1n, term: 5, logTerm: 0, index: 0, commit: 100, entries: [], reject: false, rejectHint: 0, context: new Uint8Array(0) });
    expect(hb.length).toBeLessThanOrEqual(30);
  });
});
