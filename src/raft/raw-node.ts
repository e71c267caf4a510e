/**
 * RawNode: the synchronous driver around Raft. It turns the caller's intents into
 * messages (propose, readIndex, transferLeader, ...), packs Raft's output into Ready
 * batches, and takes back the two acknowledgements of the Ready contract: persisted()
 * and advance(). The contract itself is written out in index.ts.
 *
 * Invariant: at most one Ready is outstanding (handed out by ready(), not yet
 * advanced); ready() asserts it.
 */
import { assert, assertSafeInteger } from '../shared/assert.js';
import { decodeConfChange, encodeConfChange } from './codec.js';
import { resolveConfig, type Config } from './config.js';
import { RaftError } from './errors.js';
import { Raft } from './raft.js';
import type { Progress } from './tracker/progress.js';
import {
  EntryType,
  MessageType,
  NONE,
  hardStateEqual,
  isLocalMessage,
  isResponseMessage,
  makeMessage,
  payloadSize,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Ready,
  type SoftState,
  StateType,
} from './types.js';

/**
 * etcd's BasicStatus: the status without the progress map and the configuration's
 * sorted id lists, cheap enough to read on every request (Status() built both each
 * time, and the server read it per proposal and per applied entry).
 */
export interface BasicStatus {
  readonly id: NodeId;
  readonly hardState: HardState;
  readonly softState: SoftState;
  readonly applied: number;
  readonly leadTransferee: NodeId;
  /** Whether this node is a learner in its current configuration. */
  readonly isLearner: boolean;
}

/** etcd's Status: BasicStatus with the log's end, the progress map and the configuration. */
export interface Status extends BasicStatus {
  readonly lastIndex: number;
  /** The leader's view of each member (leader only). */
  readonly progress: ReadonlyMap<NodeId, Progress>;
  readonly confState: ConfState;
}

interface Outstanding {
  /** Last entry (or snapshot point) handed out in the Ready, to acknowledge at advance. */
  readonly persistIndex: number;
  readonly persistTerm: number;
  readonly hasSnapshot: boolean;
  readonly snapshotIndex: number;
  readonly appliedTo: number;
}

export class RawNode {
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private outstanding: Outstanding | undefined = undefined;

  constructor(config: Config) {
    this.raft = new Raft(resolveConfig(config));
    this.prevSoft = this.raft.softState();
    this.prevHard = this.raft.hardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  tick(): void {
    this.raft.tick();
  }

  /** Start an election now (etcd Campaign). */
  campaign(): void {
    this.raft.step(makeMessage({ type: MessageType.Hup, from: this.raft.id }));
  }

  /** Propose data; throws RaftError 'raft/proposal-dropped' if it cannot be accepted here. */
  propose(data: Uint8Array): void {
    this.raft.step(makeMessage({
      type: MessageType.Prop, from: this.raft.id,
      entries: [{ term: 0, index: 0, type: EntryType.Normal, data }],
    }));
  }

  /** Propose several entries in one message (they are appended together or dropped together). */
  proposeBatch(datas: readonly Uint8Array[]): void {
    if (datas.length === 0) return;
    const entries: Entry[] = datas.map((data) => ({
      term: 0, index: 0, type: EntryType.Normal, data,
    }));
    this.raft.step(makeMessage({ type: MessageType.Prop, from: this.raft.id, entries }));
  }

  proposeConfChange(cc: ConfChange): void {
    const data = encodeConfChange(cc);
    this.raft.step(makeMessage({
      type: MessageType.Prop, from: this.raft.id,
      entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data }],
    }));
  }

  /** Apply a committed ConfChange entry's change; returns the new configuration. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /** Convenience: decode a ConfChange entry's data (codec.ts). */
  static confChangeOf(e: Entry): ConfChange {
    assert(e.type === EntryType.ConfChange, 'not a ConfChange entry');
    return decodeConfChange(e.data);
  }

  /** Request a linearizable read index; the answer arrives as a ReadState with this context. */
  readIndex(requestCtx: Uint8Array): void {
    this.raft.step(makeMessage({
      type: MessageType.ReadIndex, from: this.raft.id, context: requestCtx,
    }));
  }

  transferLeader(transferee: NodeId): void {
    this.raft.step(makeMessage({ type: MessageType.TransferLeader, from: transferee }));
  }

  /** Step a message received from a peer. */
  step(m: Message): void {
    if (isLocalMessage(m.type)) throw new RaftError('raft/step-local-msg', `${m.type}`);
    if (isResponseMessage(m.type) && !this.raft.trk.progress.has(m.from)) {
      throw new RaftError('raft/step-peer-not-found', m.from.toString(16));
    }
    assertSafeInteger(m.term, 'message term');
    assertSafeInteger(m.index, 'message index');
    assertSafeInteger(m.commit, 'message commit');
    this.raft.step(m);
  }

  reportUnreachable(id: NodeId): void {
    this.raft.step(makeMessage({ type: MessageType.Unreachable, from: id }));
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(makeMessage({ type: MessageType.SnapStatus, from: id, reject: !ok }));
  }

  /** Send the appends for proposals stepped since the last Ready, as one round. */
  private flush(): void {
    if (this.raft.pendingBcast) {
      this.raft.pendingBcast = false;
      this.raft.bcastAppend();
    }
  }

  hasReady(): boolean {
    if (this.outstanding !== undefined) return false;
    const r = this.raft;
    if (r.pendingBcast || r.msgs.length > 0 || r.readStates.length > 0) return true;
    // Field by field: hasReady runs on every loop turn and must not allocate.
    if (r.lead !== this.prevSoft.lead || r.state !== this.prevSoft.raftState) return true;
    const hs = this.prevHard;
    if (r.term !== hs.term || r.vote !== hs.vote || r.log.committed !== hs.commit) return true;
    const u = r.log.unstable;
    if (u.nextSnapshot() !== undefined) return true;
    if (u.offsetInProgress < u.offset + u.entries.length) return true;
    return r.log.hasNextCommittedEnts();
  }

  ready(): Ready {
    assert(this.outstanding === undefined, 'ready() called again before advance()');
    this.flush();
    const r = this.raft;
    const log = r.log;
    const entries = log.unstable.nextEntries();
    const snapshot = log.unstable.nextSnapshot();
    const committedEntries = log.nextCommittedEnts();
    const ss = r.softState();
    const hs = r.hardState();
    const softChanged = ss.lead !== this.prevSoft.lead || ss.raftState !== this.prevSoft.raftState;
    const hardChanged = !hardStateEqual(hs, this.prevHard);
    const mustSync = entries.length > 0 ||
      snapshot !== undefined || hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote;
    const rd: {
      -readonly [K in keyof Ready]: Ready[K];
    } = { readStates: r.readStates, entries, committedEntries, messages: r.msgs, mustSync };
    if (softChanged) rd.softState = ss;
    if (hardChanged) rd.hardState = hs;
    if (snapshot !== undefined) rd.snapshot = snapshot;

    // Accept: everything in rd is now the caller's.
    r.msgs = [];
    r.readStates = [];
    this.prevSoft = ss;
    this.prevHard = hs;
    log.unstable.acceptInProgress();
    const lastEntry = entries[entries.length - 1];
    let persistIndex = 0;
    let persistTerm = 0;
    if (lastEntry !== undefined) {
      persistIndex = lastEntry.index;
      persistTerm = lastEntry.term;
    } else if (snapshot !== undefined) {
      persistIndex = snapshot.metadata.index;
      persistTerm = snapshot.metadata.term;
    }
    let appliedTo = log.applying;
    const lastCommitted = committedEntries[committedEntries.length - 1];
    if (lastCommitted !== undefined) {
      appliedTo = lastCommitted.index;
      log.acceptApplying(appliedTo);
      let size = 0;
      for (const e of committedEntries) size += payloadSize(e);
      r.reduceUncommittedSize(size);
    }
    this.outstanding = {
      persistIndex,
      persistTerm,
      hasSnapshot: snapshot !== undefined,
      snapshotIndex: snapshot?.metadata.index ?? 0,
      appliedTo,
    };
    return rd;
  }

  /**
   * The server made entries up to (index, term) durable, and with them the rest of the
   * outstanding Ready (hard state, snapshot). Optional: advance() implies it; calling it
   * as soon as the fsync returns lets the leader count itself toward commit earlier.
   */
  persisted(index: number, term: number): void {
    assertSafeInteger(index, 'persisted index');
    assertSafeInteger(term, 'persisted term');
    this.raft.ackPersisted(index, term);
  }

  /** The outstanding Ready is persisted, its messages sent and its committed entries applied. */
  advance(): void {
    const o = this.outstanding;
    assert(o !== undefined, 'advance() without an outstanding Ready');
    if (o.persistIndex > 0) this.raft.ackPersisted(o.persistIndex, o.persistTerm);
    const log = this.raft.log;
    if (o.hasSnapshot) {
      log.unstable.stableSnapTo(o.snapshotIndex);
      if (o.snapshotIndex > log.applied) log.appliedTo(o.snapshotIndex);
    }
    if (o.appliedTo > log.applied) log.appliedTo(o.appliedTo);
    this.outstanding = undefined;
  }

  status(): Status {
    const r = this.raft;
    return {
      ...this.basicStatus(),
      lastIndex: r.log.lastIndex(),
      progress: r.state === StateType.Leader ? r.trk.progress : new Map(),
      confState: r.trk.confState(),
    };
  }

  basicStatus(): BasicStatus {
    const r = this.raft;
    return {
      id: r.id,
      hardState: r.hardState(),
      softState: r.softState(),
      applied: r.log.applied,
      leadTransferee: r.leadTransferee,
      isLearner: r.trk.learners.has(r.id),
    };
  }

  /** Whether this member knows a leader (itself included). */
  hasLeader(): boolean {
    return this.raft.lead !== NONE;
  }
}
