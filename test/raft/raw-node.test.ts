// RawNode's API contract: errors the server handles, the one-outstanding-Ready rule,
// the limits, and that committed entries never outrun local durability.
import { describe, expect, it } from 'vitest';
import {
  ConfChangeType,
  EntryType,
  MemoryStorage,
  decodeConfChange,
  encodeConfChange,
  MessageType,
  RawNode,
  StateType,
  canSendBeforePersist,
  isRaftError,
  makeMessage,
  type Config,
  type Ready,
} from '../../src/raft/index.js';
import { SeededRng } from '../../src/shared/rng.js';

function node(id: bigint, voters: bigint[], extra: Partial<Config> = {}): { rn: RawNode; storage: MemoryStorage } {
  const storage = new MemoryStorage();
  storage.applySnapshot({ metadata: { index: 1, term: 1, confState: { voters, learners: [] } }, data: new Uint8Array(0) });
  const rn = new RawNode({ id, electionTick: 10, heartbeatTick: 1, storage, applied: 1, rng: new SeededRng(1), ...extra });
  return { rn, storage };
}

function persist(n: { rn: RawNode; storage: MemoryStorage }, rd: Ready): void {
  n.storage.append(rd.entries);
  if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
  const last = rd.entries[rd.entries.length - 1];
  if (last !== undefined) n.rn.persisted(last.index, last.term);
}

describe('RawNode', () => {
  it('refuses proposals and reads without a leader, and local message types from peers', () => {
    const { rn } = node(1n, [1n, 2n, 3n]);
    expect(() => rn.propose(new Uint8Array([1]))).toThrow(expect.objectContaining({ code: 'raft/proposal-dropped' }));
    expect(() => rn.readIndex(new Uint8Array([1]))).toThrow(expect.objectContaining({ code: 'raft/proposal-dropped' }));
    expect(() => rn.step(makeMessage({ type: MessageType.Hup, from: 2n, to: 1n }))).toThrow(expect.objectContaining({ code: 'raft/step-local-msg' }));
    expect(() => rn.step(makeMessage({ type: MessageType.AppResp, from: 9n, to: 1n, term: 1 }))).toThrow(expect.objectContaining({ code: 'raft/step-peer-not-found' }));
  });

  it('hands out one Ready at a time', () => {
    const n = node(1n, [1n]);
    n.rn.campaign();
    expect(n.rn.hasReady()).toBe(true);
    const rd = n.rn.ready();
    expect(rd.softState?.raftState).toBe(StateType.Leader);
    expect(n.rn.hasReady()).toBe(false);
    expect(() => n.rn.ready()).toThrow(/before advance/);
    persist(n, rd);
    n.rn.advance();
    expect(n.rn.hasReady()).toBe(true); // the empty entry is now committed
  });

  it('drops proposals beyond the uncommitted size limit', () => {
    const n = node(1n, [1n, 2n, 3n], { maxUncommittedEntriesSize: 1000, preVote: false });
    n.rn.campaign();
    // Win the election by hand.
    const rd = n.rn.ready();
    persist(n, rd);
    n.rn.advance();
    for (const from of [2n, 3n]) n.rn.step(makeMessage({ type: MessageType.VoteResp, from, to: 1n, term: 1 }));
    expect(n.rn.status().softState.raftState).toBe(StateType.Leader);
    n.rn.propose(new Uint8Array(600));
    n.rn.propose(new Uint8Array(300));
    let dropped = false;
    try {
      n.rn.propose(new Uint8Array(300));
    } catch (err) {
      dropped = isRaftError(err, 'raft/proposal-dropped');
    }
    expect(dropped).toBe(true);
  });

  it('never hands out committed entries that are not persisted locally', () => {
    const f = node(2n, [1n, 2n, 3n]);
    // The leader sends entries 2..3 with commit 3 in one append.
    const ents = [2, 3].map((index) => ({ index, term: 1, type: 0 as const, data: new Uint8Array([index]) }));
    f.rn.step(makeMessage({ type: MessageType.App, from: 1n, to: 2n, term: 1, index: 1, logTerm: 1, commit: 3, entries: ents }));
    const rd = f.rn.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([2, 3]);
    expect(rd.hardState?.commit).toBe(3);
    expect(rd.committedEntries).toEqual([]);
    // The ack waits for persistence: it is not sendable early.
    const ack = rd.messages.find((m) => m.type === MessageType.AppResp);
    expect(ack !== undefined && !canSendBeforePersist(ack)).toBe(true);
    persist(f, rd);
    f.rn.advance();
    expect(f.rn.ready().committedEntries.map((e) => e.index)).toEqual([2, 3]);
  });

  it('bootstraps from committed ConfChange entries, as etcd StartNode does', () => {
    const ids = [1n, 2n, 3n];
    const entries = ids.map((nodeId, i) => ({
      term: 1, index: i + 1, type: EntryType.ConfChange,
      data: encodeConfChange({ type: ConfChangeType.AddNode, nodeId, context: new Uint8Array(0) }),
    }));
    const storage = new MemoryStorage();
    storage.append(entries);
    storage.setHardState({ term: 1, vote: 0n, commit: 3 });
    const rn = new RawNode({ id: 1n, electionTick: 10, heartbeatTick: 1, storage, rng: new SeededRng(3), preVote: false });
    // No configuration until the entries are applied: it cannot campaign yet.
    rn.campaign();
    const rd = rn.ready();
    expect(rd.committedEntries).toHaveLength(3);
    for (const e of rd.committedEntries) rn.applyConfChange(decodeConfChange(e.data));
    rn.advance();
    expect(rn.status().confState.voters).toEqual(ids);
    expect(rn.status().softState.raftState).toBe(StateType.Follower);
    rn.campaign();
    expect(rn.status().softState.raftState).toBe(StateType.Candidate);
    const votes = rn.ready().messages.filter((m) => m.type === MessageType.Vote);
    expect(votes.map((m) => [m.to, m.term, m.index, m.logTerm])).toEqual([[2n, 2, 3, 1], [3n, 2, 3, 1]]);
  });
});
