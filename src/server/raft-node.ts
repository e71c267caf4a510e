/**
 * The consensus node the server drives: the pure Raft core (RawNode) plus the
 * MemoryStorage that mirrors what is durable in the WAL. This adapter owns the one
 * rule that ties them: MemoryStorage only ever receives state after the WAL fsync
 * that made it durable (`onPersisted`), because raft reads durable state only from
 * Storage (src/raft/index.ts, contract step 2).
 *
 * Start: a restart rebuilds Storage from the WAL (snapshot marker, entries, hard
 * state) with `applied` = the state db's applied index, so committed entries after it
 * are handed out again. A new cluster starts from the bootstrap entries (one
 * ConfChange per initial member, identical on every member) written to the WAL first.
 */
import { TsetcdError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Rng } from '../shared/rng.js';
import type { RaftFaults } from '../shared/test-faults.js';
import {
  RawNode,
  MemoryStorage,
  isRaftError,
  StateType,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type Ready,
  type Snapshot,
} from '../raft/index.js';
import type { ConsensusStatus } from './etcd-server.js';

export interface RaftNodeInit {
  readonly id: bigint;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly rng: Rng;
  readonly logger: Logger;
  readonly snapshot: Snapshot | undefined;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | undefined;
  readonly maxSizePerMsg: number;
  readonly maxInflightMsgs: number;
  readonly maxUncommittedEntriesSize: number;
  /** Raft's test faults reachable from a real process (shared/test-faults.ts). */
  readonly bugs?: Pick<RaftFaults, 'learnerCountsToCommit'>;
}

export class RaftNode {
  readonly raw: RawNode;
  readonly storage = new MemoryStorage();

  constructor(init: RaftNodeInit) {
    if (init.snapshot !== undefined) this.storage.applySnapshot(init.snapshot);
    const after = init.entries.filter((e) => e.index > (init.snapshot?.metadata.index ?? 0));
    if (after.length > 0) this.storage.append(after);
    if (init.hardState !== undefined) this.storage.setHardState(init.hardState);
    this.raw = new RawNode({
      id: init.id,
      electionTick: init.electionTick,
      heartbeatTick: init.heartbeatTick,
      storage: this.storage,
      // Raft's configuration lives only in the log (and snapshot markers): hand every
      // committed entry after the snapshot out again, so ConfChanges reach raft; the
      // server skips the data entries the state db already holds.
      applied: init.snapshot?.metadata.index ?? 0,
      preVote: init.preVote,
      checkQuorum: init.checkQuorum,
      rng: init.rng,
      logger: init.logger.child({ component: 'raft' }),
      maxSizePerMsg: init.maxSizePerMsg,
      maxInflightMsgs: init.maxInflightMsgs,
      maxUncommittedEntriesSize: init.maxUncommittedEntriesSize,
      ...(init.bugs === undefined ? {} : { bugs: init.bugs }),
    });
  }

  propose(data: Uint8Array): void {
    dropped(() => this.raw.propose(data));
  }

  proposeConfChange(cc: ConfChange): void {
    dropped(() => this.raw.proposeConfChange(cc));
  }

  readIndex(context: Uint8Array): void {
    dropped(() => this.raw.readIndex(context));
  }

  transferLeader(to: bigint): void {
    this.raw.transferLeader(to);
  }

  campaign(): void {
    this.raw.campaign();
  }

  tick(): void {
    this.raw.tick();
  }

  step(m: Message): void {
    try {
      this.raw.step(m);
    } catch (err) {
      // A message from a member this node does not know (removed, or not yet added)
      // is dropped, as etcd's raft does.
      if (isRaftError(err) && err.code === 'raft/step-peer-not-found') return;
      throw err;
    }
  }

  applyConfChange(cc: ConfChange): ConfState {
    return this.raw.applyConfChange(cc);
  }

  reportUnreachable(id: bigint): void {
    this.raw.reportUnreachable(id);
  }

  reportSnapshot(id: bigint, ok: boolean): void {
    this.raw.reportSnapshot(id, ok);
  }

  hasReady(): boolean {
    return this.raw.hasReady();
  }

  ready(): Ready {
    return this.raw.ready();
  }

  /** After the WAL fsync of `rd`: mirror it into Storage, then tell raft. */
  onPersisted(rd: Ready): void {
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) this.storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) this.storage.append(rd.entries);
    if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) this.raw.persisted(last.index, last.term);
    else if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) {
      this.raw.persisted(rd.snapshot.metadata.index, rd.snapshot.metadata.term);
    }
  }

  advance(): void {
    this.raw.advance();
  }

  /** Read per proposal and per applied entry: raft's BasicStatus, no progress or sorted ids. */
  status(): ConsensusStatus {
    const st = this.raw.basicStatus();
    const lead = st.softState.lead;
    return {
      id: st.id,
      lead,
      term: st.hardState.term,
      commit: st.hardState.commit,
      isLeader: st.softState.raftState === StateType.Leader,
      isLearner: st.isLearner,
    };
  }

  confState(): ConfState {
    return this.raw.status().confState;
  }

  /** The leader's match index per member (for promote readiness); empty on followers. */
  progress(): ReadonlyMap<bigint, { match: number }> {
    return this.raw.status().progress;
  }
}

function dropped(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (isRaftError(err) && err.code === 'raft/proposal-dropped') throw new TsetcdError('proposal-dropped');
    throw err;
  }
}
