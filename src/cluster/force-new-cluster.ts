/**
 * `--force-new-cluster` (etcd etcdserver/raft.go restartAsStandaloneNode): recovery from
 * lost quorum. On a restart, the member keeps all its data and makes itself the only
 * voter of its cluster, through the log, so every later start and every member added
 * back sees the same membership history:
 *   1. entries after the WAL's commit index are discarded (they were never committed,
 *      so no client was told they happened);
 *   2. the voters and learners known at the commit index (the snapshot's ConfState plus
 *      the committed ConfChange entries after it) are collected;
 *   3. ConfChange entries are appended at the current term: AddNode for this member
 *      first if it is not known (raft refuses an empty voter set), then RemoveNode for
 *      every other member, and the commit index moves to the last of them.
 * Applying those entries goes through the normal apply path: the membership record and
 * raft's configuration change as for an operator's `member remove` (docs/operations.md).
 * Cluster id and member id stay; the operator adds the other members back with
 * `member add` and fresh data dirs. Pure: the caller saves the result to the WAL.
 */
import { memberId, type MemberId } from '../shared/ids.js';
import { encodeConfChangeContext, type Member } from './membership.js';
import {
  ConfChangeType,
  EntryType,
  decodeConfChange,
  encodeConfChange,
  type Entry,
  type HardState,
  type Snapshot,
} from '../raft/index.js';

export interface ForcedLog {
  /** The committed entries kept (everything after the commit index is dropped). */
  readonly kept: readonly Entry[];
  /** The ConfChange entries to append and save. */
  readonly appended: readonly Entry[];
  /** The hard state to save: commit at the last appended entry. */
  readonly hardState: HardState;
  /** Members removed by the appended entries. */
  readonly removed: readonly bigint[];
  /** How many uncommitted entries were discarded. */
  readonly discarded: number;
}

export function forceNewClusterLog(args: {
  readonly selfId: MemberId;
  /** This member's record, if the membership has it (etcd writes a placeholder otherwise). */
  readonly self: Member | undefined;
  readonly snapshot: Snapshot | undefined;
  readonly entries: readonly Entry[];
  readonly hardState: HardState;
}): ForcedLog {
  const { selfId, hardState } = args;
  const cut = args.entries.findIndex((e) => e.index > hardState.commit);
  const kept = cut === -1 ? [...args.entries] : args.entries.slice(0, cut);
  const ids = knownIds(args.snapshot, kept);

  const appended: Entry[] = [];
  let next = hardState.commit + 1;
  const push = (data: Uint8Array): void => {
    appended.push({ term: hardState.term, index: next++, type: EntryType.ConfChange, data });
  };
  if (!ids.has(selfId)) {
    const self: Member = args.self ?? {
      id: memberId(selfId),
      name: '',
      peerUrls: ['http://localhost:2380'],
      clientUrls: [],
      isLearner: false,
    };
    push(encodeConfChange({ type: ConfChangeType.AddNode, nodeId: selfId, context: encodeConfChangeContext(0n, self) }));
  }
  const removed = [...ids].filter((id) => id !== selfId).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const id of removed) {
    push(encodeConfChange({ type: ConfChangeType.RemoveNode, nodeId: id, context: new Uint8Array(0) }));
  }
  const last = appended.at(-1)?.index ?? kept.at(-1)?.index ?? hardState.commit;
  return {
    kept,
    appended,
    hardState: { ...hardState, commit: Math.max(hardState.commit, last) },
    removed,
    discarded: args.entries.length - kept.length,
  };
}

/** Voters and learners after the snapshot and the given (committed) entries. */
function knownIds(snapshot: Snapshot | undefined, entries: readonly Entry[]): Set<bigint> {
  const ids = new Set<bigint>();
  if (snapshot !== undefined) {
    for (const id of snapshot.metadata.confState.voters) ids.add(id);
    for (const id of snapshot.metadata.confState.learners) ids.add(id);
  }
  for (const e of entries) {
    if (e.type !== EntryType.ConfChange) continue;
    const cc = decodeConfChange(e.data);
    if (cc.type === ConfChangeType.RemoveNode) ids.delete(cc.nodeId);
    else if (cc.type !== ConfChangeType.UpdateNode) ids.add(cc.nodeId);
  }
  return ids;
}
