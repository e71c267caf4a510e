/**
 * tsetcd's Raft core: a pure, synchronous state machine (etcd-io/raft's RawNode model).
 * No I/O, no timers, no async, no clock, no Math.random: time arrives as tick(),
 * randomness from the injected Rng, and output leaves in Ready batches.
 *
 * Usage
 *
 * Create a member with a Storage that holds what is already durable:
 *
 *   const storage = new MemoryStorage();            // restart: applySnapshot, setHardState, append
 *   const node = new RawNode({ id, electionTick: 10, heartbeatTick: 1, storage, rng, logger,
 *                              applied, preVote: true, checkQuorum: true });
 *
 * A new cluster starts from a bootstrap snapshot holding the initial voters:
 *   storage.applySnapshot({
   metadata: { index: 1, term: 1, confState: { voters, learners: [] } }, data,
 })
 *
 * Drive it: call tick() every heartbeat interval; step(msg) for every message from a
 * peer (a response from a member not in the configuration throws RaftError
 * 'raft/step-peer-not-found': drop it); propose(data), proposeBatch(datas),
 * proposeConfChange(cc), readIndex(ctx), transferLeader(id) for the server's own
 * intents. They throw RaftError 'raft/proposal-dropped' when they cannot be taken here
 * (no leader known, leadership transfer in progress, uncommitted size limit, a
 * membership change while an earlier one is unapplied). A proposal that was accepted
 * can still be lost (leader change): the server waits for its entry to be applied,
 * with a timeout. Proposals made on a follower are forwarded to the leader.
 *
 * The Ready contract. When hasReady() is true, take rd = ready() and:
 *
 *  1. Send now, if you like, the messages for which canSendBeforePersist(m) is true:
 *     the leader's appends, snapshots and heartbeats (Raft thesis §10.2.1: the leader
 *     writes its log in parallel with replicating it), forwarded proposals and reads.
 *  2. Persist, in one durable write: rd.snapshot (if any), rd.entries (an entry at an
 *     index already present replaces it and everything after it), rd.hardState (if
 *     any). Fsync it when rd.mustSync. Then put the same into the MemoryStorage
 *     (applySnapshot, append, setHardState): raft reads durable state only from Storage.
 *  3. Call persisted(index, term) with the last entry of rd.entries (or, with no entries,
 *     rd.snapshot's index and term). This is when the leader starts counting its own new
 *     entries toward the commit quorum. Optional: advance() implies it.
 *  4. Send every remaining message of rd.messages. They include votes, vote and
 *     append acknowledgements: they vouch for the state persisted in step 2 and must
 *     never leave before it is durable. Sending all of rd.messages here (skipping step
 *     1) is always correct, only slower.
 *  5. Apply rd.committedEntries in order. For an EntryConfChange entry, decode its
 *     data (codec.decodeConfChange) and call applyConfChange(cc) before applying the
 *     next entry. rd.snapshot, if any, is the application state to install first.
 *     Committed entries never go past what is durable locally, so without a
 *     rd.snapshot they may be applied before step 2 (etcd applies in parallel with
 *     its WAL save).
 *     rd.readStates: a linearizable read with that requestCtx may be served once the
 *     applied index reaches readState.index. A request can be lost (leader change,
 *     dropped message): the server retries after a timeout with a fresh requestCtx.
 *  6. Call advance(). It states that 2-5 are done. Only then may ready() be called
 *     again (one Ready outstanding at a time); step/tick/propose may be called at any
 *     time in between, for instance while the fsync of step 2 runs.
 *
 * After a crash, restart with the Storage rebuilt from what was durable and
 * `applied` = the index the application state already covers; committed entries
 * after it are handed out again.
 *
 * Log compaction: after the application saved a snapshot at applied index i,
 * storage.createSnapshot(i, confState, data) then storage.compact(i'), i' <= i.
 * The leader sends storage.snapshot() to followers that need entries compacted
 * away; the transport reports delivery with reportSnapshot(id, ok) and lost peers with
 * reportUnreachable(id).
 *
 * Membership (etcd ConfChange v1, one member at a time): AddNode adds a voter or
 * promotes a learner, AddLearnerNode adds a learner, RemoveNode removes either;
 * voters are never demoted; a change is accepted only after earlier ones are applied,
 * and a new leader accepts none until everything before its term is applied. A leader
 * that applies its own removal steps down.
 */
export { RawNode, type BasicStatus, type Status } from './raw-node.js';
export type { Config, RaftBugs } from './config.js';
export { MemoryStorage, type Storage, type InitialState } from './storage.js';
export { RaftError, isRaftError, type RaftErrorCode } from './errors.js';
export * from './types.js';
export * from './codec.js';
export {
  describeEntry,
  describeEntries,
  describeHardState,
  describeMessage,
  describeReady,
  describeSnapshot,
} from './describe.js';
export { canSendBeforePersist } from './send-rules.js';
