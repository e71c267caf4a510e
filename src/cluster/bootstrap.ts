/**
 * How a fresh member starts its log (etcd etcdserver/bootstrap.go):
 *
 *  - new cluster: the log begins with one ConfChange AddNode per initial member,
 *    sorted by member id, at term 1, committed (etcd's raft.StartNode peers). The
 *    entries depend only on initial-cluster and the token, so they are byte-identical
 *    on every member, and every member derives the same membership and cluster id.
 *  - joining an existing cluster: the log starts empty; the leader sends entries or
 *    a snapshot, and the membership arrives with them.
 */
import { ConfChangeType, EntryType, encodeConfChange, type Entry, type HardState } from '../raft/index.js';
import { encodeConfChangeContext, type Member } from './membership.js';

export function bootstrapEntries(members: readonly Member[]): { entries: Entry[]; hardState: HardState } {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const entries = sorted.map((m, i) => ({
    term: 1,
    index: i + 1,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.AddNode, nodeId: m.id, context: encodeConfChangeContext(0n, m) }),
  }));
  return { entries, hardState: { term: 1, vote: 0n, commit: entries.length } };
}
