// --force-new-cluster's log rewrite (etcd's restartAsStandaloneNode): uncommitted
// entries dropped, this member the only voter through appended ConfChange entries.
import { describe, expect, it } from 'vitest';
import { forceNewClusterLog } from '../../src/cluster/force-new-cluster.js';
import { bootstrapEntries } from '../../src/cluster/bootstrap.js';
import { ConfChangeType, EntryType, decodeConfChange, encodeConfChange, type Entry } from '../../src/raft/index.js';
import { decodeConfChangeContext, type Member } from '../../src/cluster/membership.js';
import { memberId } from '../../src/shared/ids.js';

const member = (id: bigint, name: string): Member => ({
  id: memberId(id),
  name,
  peerUrls: [`https://127.0.0.1:${Number(id)}2380`],
  clientUrls: [],
  isLearner: false,
});
const A = member(1n, 'a');
const B = member(2n, 'b');
const C = member(3n, 'c');

function normal(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: Buffer.from(`put ${index}`) };
}

function changes(entries: readonly Entry[]): Array<[number, bigint]> {
  return entries.map((e) => {
    const cc = decodeConfChange(e.data);
    return [cc.type, cc.nodeId];
  });
}

describe('forceNewClusterLog', () => {
  it('drops uncommitted entries and removes every other voter at the current term', () => {
    const boot = bootstrapEntries([A, B, C]).entries;
    const entries = [...boot, normal(4, 2), normal(5, 2), normal(6, 3), normal(7, 3)];
    const out = forceNewClusterLog({
      selfId: A.id,
      self: A,
      snapshot: undefined,
      entries,
      hardState: { term: 3, vote: 1n, commit: 5 },
    });
    expect(out.kept.map((e) => e.index)).toEqual([1, 2, 3, 4, 5]);
    expect(out.discarded).toBe(2);
    expect(changes(out.appended)).toEqual([
      [ConfChangeType.RemoveNode, 2n],
      [ConfChangeType.RemoveNode, 3n],
    ]);
    expect(out.appended.map((e) => [e.index, e.term])).toEqual([
      [6, 3],
      [7, 3],
    ]);
    expect(out.hardState).toEqual({ term: 3, vote: 1n, commit: 7 });
    expect(out.removed).toEqual([2n, 3n]);
  });

  it('starts from the snapshot ConfState and follows committed member changes after it', () => {
    const addD = encodeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 4n, context: new Uint8Array(0) });
    const removeB = encodeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 2n, context: new Uint8Array(0) });
    const out = forceNewClusterLog({
      selfId: A.id,
      self: A,
      snapshot: { metadata: { index: 10, term: 4, confState: { voters: [1n, 2n, 3n], learners: [] } }, data: new Uint8Array(0) },
      entries: [
        { index: 11, term: 4, type: EntryType.ConfChange, data: addD },
        { index: 12, term: 4, type: EntryType.ConfChange, data: removeB },
      ],
      hardState: { term: 5, vote: 0n, commit: 12 },
    });
    expect(out.removed).toEqual([3n, 4n]);
    expect(out.appended.map((e) => e.index)).toEqual([13, 14]);
    expect(out.appended.every((e) => e.term === 5)).toBe(true);
  });

  it('adds itself first when the log does not know it (raft refuses an empty voter set)', () => {
    const out = forceNewClusterLog({
      selfId: memberId(9n),
      self: undefined,
      snapshot: undefined,
      entries: bootstrapEntries([A, B]).entries,
      hardState: { term: 1, vote: 0n, commit: 2 },
    });
    expect(changes(out.appended)).toEqual([
      [ConfChangeType.AddNode, 9n],
      [ConfChangeType.RemoveNode, 1n],
      [ConfChangeType.RemoveNode, 2n],
    ]);
    const ctx = decodeConfChangeContext(out.appended[0]?.data === undefined ? new Uint8Array(0) : decodeConfChange(out.appended[0].data).context);
    expect(ctx.member?.peerUrls).toEqual(['http://localhost:2380']);
  });

  it('a lone member that already is the only voter appends nothing', () => {
    const out = forceNewClusterLog({
      selfId: A.id,
      self: A,
      snapshot: undefined,
      entries: bootstrapEntries([A]).entries,
      hardState: { term: 2, vote: 1n, commit: 1 },
    });
    expect(out.appended).toEqual([]);
    expect(out.hardState.commit).toBe(1);
  });
});
