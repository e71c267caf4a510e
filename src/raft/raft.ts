/**
 * The Raft state machine (Ongaro & Ousterhout; Raft thesis; etcd-io/raft raft.go):
 * roles, elections with PreVote and CheckQuorum, log replication with flow control,
 * commit, ReadIndex, leadership transfer, snapshots and single-member changes.
 *
 * It is pure: input arrives through step(m) and tick(), output accumulates in `msgs`,
 * `readStates` and the log's unstable tail, and RawNode packs it into Ready batches.
 * Behaviour per role is selected by `state` (stepLeader/stepCandidate/stepFollower).
 *
 * Durability (docs/architecture.md §3) is enforced here: the leader's own Progress.match moves only
 * when the server reports entries persisted (ackPersisted); candidates and followers
 * answer only through Ready.messages, which the server sends after persisting the
 * Ready that carries the state they acknowledge (see index.ts).
 */
import { AssertionError, assert } from '../shared/assert.js';
import type { Logger } from '../shared/logger.js';
import { applyConfChangeToTracker, restoreTracker, type ProgressParams } from './confchange.js';
import type { ResolvedConfig, RaftBugs } from './config.js';
import { RaftError, isRaftError } from './errors.js';
import { RaftLog } from './log.js';
import { ReadOnly, type ReadRequest } from './read-only.js';
import { ProgressState, type Progress } from './tracker/progress.js';
import { ProgressTracker, VoteResult } from './tracker/tracker.js';
import {
  EMPTY_BYTES,
  EntryType,
  MESSAGE_TYPE_NAMES,
  MessageType,
  NONE,
  STATE_NAMES,
  StateType,
  entrySize,
  isEmptyHardState,
  isEmptySnapshot,
  makeMessage,
  payloadSize,
  voteRespType,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Snapshot,
  type SoftState,
} from './types.js';

const CONF_CHANGE_NAMES: readonly string[] = [
  'AddNode', 'RemoveNode', 'UpdateNode', 'AddLearnerNode',
];
const CAMPAIGN_TRANSFER = new TextEncoder().encode('CampaignTransfer');
const CampaignType = { PreElection: 0, Election: 1, Transfer: 2 } as const;
type CampaignType = (typeof CampaignType)[keyof typeof CampaignType];

export const hex = (id: NodeId): string => id.toString(16);
const mname = (t: MessageType): string => MESSAGE_TYPE_NAMES[t] ?? `Msg${t}`;

function isTransferContext(ctx: Uint8Array): boolean {
  if (ctx.length !== CAMPAIGN_TRANSFER.length) return false;
  for (let i = 0; i < ctx.length; i++) if (ctx[i] !== CAMPAIGN_TRANSFER[i]) return false;
  return true;
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  state: StateType = StateType.Follower;
  readonly log: RaftLog;
  readonly trk = new ProgressTracker();
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  leadTransferee: NodeId = NONE;
  /** Index of the newest ConfChange the leader appended; a new one waits until applied >= it. */
  pendingConfIndex = 0;
  uncommittedSize = 0;
  readonly readOnly = new ReadOnly();
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  /** Set when proposals were appended; RawNode flushes them as one round of MsgApp. */
  pendingBcast = false;
  private readonly cfg: ResolvedConfig;
  private readonly logger: Logger;
  private readonly bugs: RaftBugs;

  constructor(cfg: ResolvedConfig) {
    this.cfg = cfg;
    this.id = cfg.id;
    this.logger = cfg.logger;
    this.bugs = cfg.bugs;
    this.log = new RaftLog(cfg.storage, cfg.maxCommittedSizePerReady);
    const { hardState, confState } = cfg.storage.initialState();
    restoreTracker(this.trk, confState, this.progressParams());
    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    if (cfg.applied > 0) this.log.appliedTo(cfg.applied);
    this.becomeFollower(this.term, NONE);
    this.logger.info(
      { id: hex(this.id) },
      `${hex(this.id)} newRaft [${this.describeConfig()}] term: ${this.term}, commit: ` +
        `${this.log.committed}, applied: ${this.log.applied}, lastindex: ` +
        `${this.log.lastIndex()}, lastterm: ${this.log.lastTerm()}`,
    );
  }

  private loadState(hs: HardState): void {
    if (
      !(hs.commit >= this.log.committed &&
      hs.commit <= this.log.lastIndex())
    ) {
      throw new AssertionError(
        `hardState commit ${hs.commit} out of range [${this.log.committed}, ` +
          `${this.log.lastIndex()}]`,
      );
    }
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  softState(): SoftState {
    return { lead: this.lead, raftState: this.state };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private progressParams(): ProgressParams {
    return { next: this.log.lastIndex() +
      1, maxInflightMsgs: this.cfg.maxInflightMsgs, maxInflightBytes: this.cfg.maxInflightBytes };
  }

  describeConfig(): string {
    const cs = this.trk.confState();
    return `voters=(${cs.voters.map(hex).join(' ')})` + (cs.learners.length > 0
      ? ` learners=(${cs.learners.map(hex).join(' ')})`
      : '');
  }

  // ---- sending ----------------------------------------------------------------

  private send(m: Message): void {
    if (m.from === NONE) m.from = this.id;
    const t = m.type;
    const isVote = t === MessageType.Vote || t === MessageType.VoteResp;
    if (isVote || t === MessageType.PreVote || t === MessageType.PreVoteResp) {
      // Vote messages carry the term they are for, not necessarily ours (pre-vote).
      if (!(m.term !== 0)) throw new AssertionError(`term should be set when sending ${mname(t)}`);
    } else {
      if (!(m.term === 0)) {
        throw new AssertionError(`term should not be set when sending ${mname(t)} (was ${m.term})`);
      }
      // Proposals, forwarded reads and transfers are local-ish and carry no term.
      if (
        t !== MessageType.Prop &&
        t !== MessageType.ReadIndex &&
        t !== MessageType.TransferLeader
      ) {
        m.term = this.term;
      }
    }
    this.msgs.push(m);
  }

  /** Send an append (or a snapshot) to `to` if its Progress allows. */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    let prevTerm: number;
    let ents: Entry[];
    try {
      prevTerm = this.log.term(prevIndex);
      ents = this.log.entries(pr.next, this.cfg.maxSizePerMsg);
    } catch (err) {
      if (isRaftError(err, 'raft/compacted') || isRaftError(err, 'raft/unavailable')) {
        return this.maybeSendSnapshot(to, pr);
      }
      throw err;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    let bytes = 0;
    for (const e of ents) bytes += entrySize(e);
    this.send(makeMessage({
      type: MessageType.App, to, index: prevIndex, logTerm: prevTerm, entries: ents,
      commit: this.log.committed,
    }));
    pr.sentEntries(ents.length, prevIndex + ents.length, bytes);
    return true;
  }

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) {
      this.logger.debug(
        {},
        `ignore sending snapshot to ${hex(to)} since it is not recently active`,
      );
      return false;
    }
    let snap: Snapshot;
    try {
      snap = this.log.snapshot();
    } catch (err) {
      if (isRaftError(err, 'raft/snapshot-temporarily-unavailable')) return false;
      throw err;
    }
    assert(!isEmptySnapshot(snap), 'need a non-empty snapshot to catch up a follower');
    this.logger.info(
      {},
      `${hex(this.id)} [firstindex: ${this.log.firstIndex()}, commit: ${this.log.committed}] ` +
        `sent snapshot[index: ${snap.metadata.index}, term: ${snap.metadata.term}] to ${hex(to)} ` +
        `[${pr.describe()}]`,
    );
    pr.becomeSnapshot(snap.metadata.index);
    this.send(makeMessage({ type: MessageType.Snap, to, snapshot: snap }));
    return true;
  }

  private sendHeartbeat(to: NodeId, roundId: number): void {
    const pr = this.trk.mustGet(to);
    const commit = Math.min(pr.match, this.log.committed);
    this.send(makeMessage({ type: MessageType.Heartbeat, to, commit, index: roundId }));
  }

  bcastAppend(): void {
    for (const id of this.trk.ids()) if (id !== this.id) this.maybeSendAppend(id, true);
  }

  private bcastHeartbeat(roundId: number): void {
    for (const id of this.trk.ids()) if (id !== this.id) this.sendHeartbeat(id, roundId);
  }

  // ---- ticks ------------------------------------------------------------------

  tick(): void {
    if (this.state === StateType.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(makeMessage({ type: MessageType.Hup, from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        this.step(makeMessage({ type: MessageType.CheckQuorum, from: this.id }));
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === StateType.Leader && this.leadTransferee !== NONE) {
        this.abortLeaderTransfer();
      }
    }
    if (this.state !== StateType.Leader) return;
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.step(makeMessage({ type: MessageType.Beat, from: this.id }));
    }
  }

  // ---- role transitions ---------------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTick +
      this.cfg.rng.int(this.cfg.electionTick);
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.trk.progress) {
      pr.becomeProbe();
      pr.match = 0;
      pr.next = last + 1;
      pr.recentActive = false;
      if (id === this.id) {
        pr.match = this.bugs.countUnpersistedLeaderEntries ? last : this.log.lastStableIndex();
      }
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.pendingBcast = false;
    this.readOnly.reset();
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.state = StateType.Follower;
    this.logger.info({}, `${hex(this.id)} became follower at term ${this.term}`);
  }

  private becomeCandidate(): void {
    assert(this.state !== StateType.Leader, 'invalid transition [leader -> candidate]');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = StateType.Candidate;
    this.logger.info({}, `${hex(this.id)} became candidate at term ${this.term}`);
  }

  private becomePreCandidate(): void {
    assert(this.state !== StateType.Leader, 'invalid transition [leader -> pre-candidate]');
    // Term and vote stay: a pre-election changes no durable state. The known leader is
    // forgotten, so this member no longer treats itself as in a leader's lease.
    this.trk.resetVotes();
    this.lead = NONE;
    this.state = StateType.PreCandidate;
    this.logger.info({}, `${hex(this.id)} became pre-candidate at term ${this.term}`);
  }

  private becomeLeader(): void {
    assert(this.state !== StateType.Follower, 'invalid transition [follower -> leader]');
    this.reset(this.term);
    this.lead = this.id;
    this.state = StateType.Leader;
    const self = this.trk.mustGet(this.id);
    self.becomeReplicate();
    self.recentActive = true;
    // Entries of earlier terms may hold an unapplied ConfChange: no new change until
    // they are applied (etcd; closes the single-server-change bug).
    this.pendingConfIndex = this.bugs.confChangeAtOnce ? 0 : this.log.lastIndex();
    const ok = this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES }]);
    assert(ok, 'empty entry was dropped');
    this.logger.info({}, `${hex(this.id)} became leader at term ${this.term}`);
  }

  private promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && this.log.unstable.snapshot === undefined;
  }

  // ---- elections ----------------------------------------------------------------

  private hup(t: CampaignType): void {
    if (this.state === StateType.Leader) {
      this.logger.debug({}, `${hex(this.id)} ignoring MsgHup because already leader`);
      return;
    }
    if (!this.promotable()) {
      this.logger.warn({}, `${hex(this.id)} is unpromotable and can not campaign`);
      return;
    }
    if (this.hasUnappliedConfChanges()) {
      this.logger.warn(
        {},
        `${hex(this.id)} cannot campaign at term ${this.term} since there are still pending ` +
          `configuration changes to apply`,
      );
      return;
    }
    this.logger.info({}, `${hex(this.id)} is starting a new election at term ${this.term}`);
    this.campaign(t);
  }

  private hasUnappliedConfChanges(): boolean {
    let lo = this.log.applied + 1;
    const hi = this.log.committed + 1;
    for (let n = 0; lo < hi; n++) {
      assert(n < 1_000_000, 'hasUnappliedConfChanges: unbounded');
      const page = this.log.slice(lo, hi, 8 * 1024 * 1024);
      for (const e of page) if (e.type === EntryType.ConfChange) return true;
      lo += page.length;
    }
    return false;
  }

  private campaign(t: CampaignType): void {
    let term: number;
    let voteMsg: MessageType;
    if (t === CampaignType.PreElection) {
      this.becomePreCandidate();
      voteMsg = MessageType.PreVote;
      term = this.term + 1; // the term we would campaign in; not adopted yet
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.Vote;
      term = this.term;
    }
    for (const id of this.trk.voterIds()) {
      if (id === this.id) {
        // Our own vote counts at once: Ready.messages carrying the MsgVote leave only
        // after the Ready with our (term, vote) is persisted, so no peer grants a vote
        // before ours is durable.
        this.poll(this.id, voteRespType(voteMsg), true);
        continue;
      }
      this.logger.info(
        {},
        `${hex(this.id)} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}] ` +
          `sent ${mname(voteMsg)} request to ${hex(id)} at term ${this.term}`,
      );
      const context = t === CampaignType.Transfer ? CAMPAIGN_TRANSFER : EMPTY_BYTES;
      this.send(makeMessage({
        type: voteMsg, to: id, term, index: this.log.lastIndex(), logTerm: this.log.lastTerm(),
        context,
      }));
    }
    this.checkElectionResult(voteMsg === MessageType.PreVote);
  }

  private poll(id: NodeId, t: MessageType, granted: boolean): void {
    if (id !== this.id) {
      this.logger.info(
        {},
        `${hex(this.id)} received ${mname(t)} ${granted ? '' : 'rejection '}from ${hex(id)} at ` +
          `term ${this.term}`,
      );
    }
    this.trk.recordVote(id, granted);
  }

  private checkElectionResult(pre: boolean): void {
    const { granted, rejected, result } = this.trk.tallyVotes();
    if (result === VoteResult.Won) {
      if (pre) this.campaign(CampaignType.Election);
      else {
        this.becomeLeader();
        this.bcastAppend();
      }
    } else if (result === VoteResult.Lost) {
      this.logger.info(
        {},
        `${hex(this.id)} has received ${granted} votes and ${rejected} vote rejections: lost`,
      );
      this.becomeFollower(this.term, NONE);
    }
  }

  // ---- step -----------------------------------------------------------------------

  step(m: Message): void {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = isTransferContext(m.context);
        const inLease = this.cfg.checkQuorum &&
          this.lead !== NONE && this.electionElapsed < this.cfg.electionTick;
        if (!force && inLease) {
          // We heard from a leader within the minimum election timeout: ignore a
          // disruptive (pre-)vote from a member that may be partitioned (thesis §4.2.3).
          this.logger.info(
            {},
            `${hex(this.id)} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, ` +
              `vote: ${hex(this.vote)}] ignored ${mname(m.type)} from ${hex(m.from)} [logterm: ` +
              `${m.logTerm}, index: ${m.index}] at term ${this.term}: lease is not expired ` +
              `(remaining ticks: ${this.cfg.electionTick - this.electionElapsed})`,
          );
          return;
        }
      }
      if (m.type === MessageType.PreVote) {
        // Never change our term in response to a pre-vote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // A granted pre-vote carries the term we will campaign in; we adopt it only
        // by winning the pre-election.
      } else {
        this.logger.info(
          {},
          `${hex(this.id)} [term: ${this.term}] received a ${mname(m.type)} message with ` +
            `higher term from ${hex(m.from)} [term: ${m.term}]`,
        );
        const isLeaderMsg = m.type === MessageType.App ||
          m.type === MessageType.Heartbeat || m.type === MessageType.Snap;
        this.becomeFollower(m.term, isLeaderMsg ? m.from : NONE);
      }
    } else if (m.term < this.term) {
      if (m.type === MessageType.Heartbeat || m.type === MessageType.App) {
        // Answer with our higher term, so a leader whose term fell behind (e.g. after
        // a partition, with PreVote/CheckQuorum keeping our term from being adopted
        // by others) learns it and steps down instead of stranding us.
        this.send(makeMessage({ type: MessageType.AppResp, to: m.from }));
      } else if (m.type === MessageType.PreVote) {
        this.logger.info(
          {},
          `${hex(this.id)} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, ` +
            `vote: ${hex(this.vote)}] rejected ${mname(m.type)} from ${hex(m.from)} [logterm: ` +
            `${m.logTerm}, index: ${m.index}] at term ${this.term}`,
        );
        this.send(makeMessage({
          type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true,
        }));
      } else if (
        m.type === MessageType.VoteResp && this.bugs.acceptStaleVote &&
        this.state === StateType.Candidate
      ) {
        this.stepCandidate(m);
        return;
      } else {
        this.logger.info(
          {},
          `${hex(this.id)} [term: ${this.term}] ignored a ${mname(m.type)} message with lower ` +
            `term from ${hex(m.from)} [term: ${m.term}]`,
        );
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.cfg.preVote ? CampaignType.PreElection : CampaignType.Election);
        return;
      case MessageType.Vote:
      case MessageType.PreVote:
        this.stepVoteRequest(m);
        return;
      default:
        break;
    }
    if (this.state === StateType.Leader) this.stepLeader(m);
    else if (this.state === StateType.Follower) this.stepFollower(m);
    else this.stepCandidate(m);
  }

  private stepVoteRequest(m: Message): void {
    // We can vote if this is a repeat of a vote we cast, or we have not voted and know
    // no leader in this term, or it is a pre-vote for a future term.
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      this.logger.info(
        {},
        `${hex(this.id)} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, ` +
          `vote: ${hex(this.vote)}] cast ${mname(m.type)} for ${hex(m.from)} [logterm: ` +
          `${m.logTerm}, index: ${m.index}] at term ${this.term}`,
      );
      // A granted reply carries the term of the request: for a pre-vote that is the
      // future term, so the pre-candidate can tell it apart from stale replies.
      this.send(makeMessage({ type: voteRespType(m.type), to: m.from, term: m.term }));
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.logger.info(
        {},
        `${hex(this.id)} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, ` +
          `vote: ${hex(this.vote)}] rejected ${mname(m.type)} from ${hex(m.from)} [logterm: ` +
          `${m.logTerm}, index: ${m.index}] at term ${this.term}`,
      );
      this.send(makeMessage({
        type: voteRespType(m.type), to: m.from, term: this.term, reject: true,
      }));
    }
  }

  /** Refuse a proposal or read: local callers get an error, remote ones are dropped. */
  private drop(m: Message, reason: string): void {
    this.logger.debug({}, `${hex(this.id)} dropped ${mname(m.type)}: ${reason}`);
    if (m.from === NONE || m.from === this.id) throw new RaftError('raft/proposal-dropped', reason);
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        if (!this.startReadRound()) this.bcastHeartbeat(this.readOnly.lastRoundId());
        return;
      case MessageType.CheckQuorum:
        if (!this.trk.quorumActive(this.id)) {
          this.logger.warn(
            {},
            `${hex(this.id)} stepped down to follower since quorum is not active`,
          );
          this.becomeFollower(this.term, NONE);
        }
        for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
        return;
      case MessageType.Prop:
        this.stepLeaderProp(m);
        return;
      case MessageType.ReadIndex:
        this.stepLeaderReadIndex(m);
        return;
      default:
        break;
    }
    const pr = this.trk.progress.get(m.from);
    if (pr === undefined) {
      this.logger.debug({}, `${hex(this.id)} no progress available for ${hex(m.from)}`);
      return;
    }
    switch (m.type) {
      case MessageType.AppResp:
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResp:
        this.handleHeartbeatResponse(m, pr);
        return;
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for a heartbeat response before probing again.
        pr.msgAppFlowPaused = true;
        this.logger.debug(
          {},
          `${hex(this.id)} snapshot to ${hex(m.from)} ${m.reject ? 'failed' : 'succeeded'}, ` +
            `resumed sending replication messages [${pr.describe()}]`,
        );
        return;
      case MessageType.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
      case MessageType.TransferLeader:
        this.stepLeaderTransfer(m, pr);
        return;
      default:
        return;
    }
  }

  private stepLeaderProp(m: Message): void {
    if (!(m.entries.length > 0)) throw new AssertionError(`${hex(this.id)} stepped empty MsgProp`);
    if (!this.trk.progress.has(this.id)) {
      return this.drop(m, 'leader was removed from the configuration');
    }
    if (this.leadTransferee !== NONE) {
      return this.drop(m, `leadership is being transferred to ${hex(this.leadTransferee)}`);
    }
    const ents = m.entries;
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i];
      if (e === undefined || e.type !== EntryType.ConfChange) continue;
      if (this.pendingConfIndex > this.log.applied) {
        const reason =
          `possible unapplied conf change at index ${this.pendingConfIndex} ` +
          `(applied to ${this.log.applied})`;
        this.drop(m, reason); // throws for a local proposal
        // A forwarded change becomes an empty entry, as in etcd.
        ents[i] = { term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES };
      } else {
        this.pendingConfIndex = this.log.lastIndex() + i + 1;
      }
    }
    if (!this.appendEntry(ents)) return this.drop(m, 'too many uncommitted entries');
    this.pendingBcast = true;
  }

  private stepLeaderReadIndex(m: Message): void {
    const req: ReadRequest = { from: m.from === this.id ? NONE : m.from, requestCtx: m.context };
    if (!this.committedEntryInCurrentTerm()) {
      // Thesis §6.4: the leader's commit index is only known to be current once an
      // entry of its own term committed. Serve the request after that.
      this.readOnly.waitingForCommit.push(req);
      return;
    }
    this.handleReadRequest(req);
  }

  private handleReadRequest(req: ReadRequest): void {
    if (this.trk.isSingleton() || this.bugs.readIndexWithoutQuorum) {
      this.respondRead(req, this.log.committed);
      return;
    }
    if (this.bugs.readJoinsInflightRound && this.readOnly.joinInflight(req)) return;
    this.readOnly.add(req);
    if (!this.readOnly.inFlight()) this.startReadRound();
  }

  /** Start a ReadIndex round for waiting requests and broadcast its heartbeat. */
  private startReadRound(): boolean {
    const id = this.readOnly.startRound(this.log.committed);
    if (id === 0) return false;
    this.bcastHeartbeat(id);
    return true;
  }

  private respondRead(req: ReadRequest, index: number): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, requestCtx: req.requestCtx });
    } else {
      this.send(makeMessage({
        type: MessageType.ReadIndexResp, to: req.from, index, context: req.requestCtx,
      }));
    }
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.zeroTermOnOutOfBounds(this.log.committed) === this.term;
  }

  private releasePendingReadIndexMessages(): void {
    if (this.readOnly.waitingForCommit.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const reqs = this.readOnly.waitingForCommit;
    this.readOnly.waitingForCommit = [];
    for (const req of reqs) this.handleReadRequest(req);
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let nextProbeIdx = m.rejectHint;
      if (m.logTerm > 0) nextProbeIdx = this.log.findConflictByTerm(m.rejectHint, m.logTerm)[0];
      if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
        this.logger.debug(
          {},
          `${hex(this.id)} decreased progress of ${hex(m.from)} to [${pr.describe()}]`,
        );
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.maybeSendAppend(m.from, true);
      }
      return;
    }
    const oldPaused = pr.isPaused();
    if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === ProgressState.Probe))) {
      return;
    }
    if (pr.state === ProgressState.Probe) {
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= this.log.firstIndex()) {
      this.logger.debug(
        {},
        `${hex(this.id)} recovered from needing snapshot, resumed sending replication messages ` +
          `to ${hex(m.from)} [${pr.describe()}]`,
      );
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) {
      // The snapshot was installed but the log has since been compacted past it:
      // probe again, which sends a newer snapshot.
      pr.becomeProbe();
    } else if (pr.state === ProgressState.Replicate) {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    } else if (oldPaused) {
      this.maybeSendAppend(m.from, true);
    }
    // Fill the pipeline; bounded by maxInflightMsgs per call.
    for (let n = 0; n <= this.cfg.maxInflightMsgs && this.maybeSendAppend(m.from, false); n++);
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.logger.info(
        {},
        `${hex(this.id)} sent MsgTimeoutNow to ${hex(m.from)} after received MsgAppResp`,
      );
      this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    // A full pipeline whose acks were lost would stall for ever: free one slot so the
    // next append goes out, and its answer (ack or reject) resynchronizes us (etcd 3.5).
    if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex() || pr.state === ProgressState.Probe) {
      this.maybeSendAppend(m.from, true);
    }
    if (m.index === 0) return;
    const self = this.id;
    const isQuorum = (acked: (id: NodeId) => boolean): boolean =>
      this.trk.isQuorum((id) => id === self || acked(id));
    const rounds = this.readOnly.recvAck(m.from, m.index, isQuorum);
    for (const round of rounds) {
      for (const req of round.requests) this.respondRead(req, round.index);
    }
    if (rounds.length > 0 && this.readOnly.hasWaiting() && !this.readOnly.inFlight()) {
      this.startReadRound();
    }
  }

  private stepLeaderTransfer(m: Message, pr: Progress): void {
    const transferee = m.from;
    if (pr.isLearner) {
      this.logger.info(
        {},
        `${hex(this.id)} ignored transferring leadership to learner ${hex(transferee)}`,
      );
      return;
    }
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) return;
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) return;
    this.logger.info(
      {},
      `${hex(this.id)} [term ${this.term}] starts to transfer leadership to ${hex(transferee)}`,
    );
    // The transfer must finish within an election timeout (tickHeartbeat aborts it).
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.log.lastIndex()) {
      this.sendTimeoutNow(transferee);
    } else {
      this.maybeSendAppend(transferee, true);
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(makeMessage({ type: MessageType.TimeoutNow, to }));
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  private stepCandidate(m: Message): void {
    const myVoteResp = this.state === StateType.PreCandidate
      ? MessageType.PreVoteResp
      : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        return this.drop(m, `no leader at term ${this.term}`);
      case MessageType.ReadIndex:
        return this.drop(m, `no leader at term ${this.term}`);
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case MessageType.TimeoutNow:
        this.logger.debug(
          {},
          `${hex(this.id)} ignored MsgTimeoutNow from ${hex(m.from)}: not a follower`,
        );
        return;
      default:
        break;
    }
    if (m.type !== myVoteResp) return;
    this.poll(m.from, m.type, !m.reject);
    const { granted, rejected } = this.trk.tallyVotes();
    this.logger.info(
      {},
      `${hex(this.id)} has received ${granted} ${mname(m.type)} votes and ${rejected} vote ` +
        `rejections`,
    );
    this.checkElectionResult(this.state === StateType.PreCandidate);
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
      case MessageType.ReadIndex:
        if (this.lead === NONE) return this.drop(m, `no leader at term ${this.term}`);
        m.to = this.lead;
        if (m.from === this.id) m.from = NONE;
        this.send(m);
        return;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead === NONE) return;
        m.to = this.lead;
        this.send(m);
        return;
      case MessageType.TimeoutNow:
        this.logger.info(
          {},
          `${hex(this.id)} [term ${this.term}] received MsgTimeoutNow from ${hex(m.from)} and ` +
            `starts an election to get leadership`,
        );
        // A transfer campaign skips the pre-vote: the leader asked for it.
        this.hup(CampaignType.Transfer);
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, requestCtx: m.context });
        return;
      default:
        return;
    }
  }

  // ---- follower handlers -----------------------------------------------------------

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(makeMessage({ type: MessageType.AppResp, to: m.from, index: this.log.committed }));
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(makeMessage({ type: MessageType.AppResp, to: m.from, index: lastNew }));
      return;
    }
    // Reject with a hint: the largest index <= min(m.index, lastIndex) whose term is
    // <= m.logTerm, so the leader can skip a whole term per round trip.
    const probe = Math.min(m.index, this.log.lastIndex());
    const [hintIndex, hintTerm] = this.log.findConflictByTerm(probe, m.logTerm);
    this.logger.debug(
      {},
      `${hex(this.id)} [logterm: ${this.log.zeroTermOnOutOfBounds(m.index)}, index: ` +
        `${m.index}] rejected MsgApp [logterm: ${m.logTerm}, index: ${m.index}] from ` +
        `${hex(m.from)}`,
    );
    this.send(makeMessage({
      type: MessageType.AppResp, to: m.from, index: m.index, reject: true, rejectHint: hintIndex,
      logTerm: hintTerm,
    }));
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send(makeMessage({ type: MessageType.HeartbeatResp, to: m.from, index: m.index }));
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    assert(s !== undefined, 'MsgSnap without snapshot');
    const { index, term } = s.metadata;
    if (this.restore(s)) {
      this.logger.info(
        {},
        `${hex(this.id)} [commit: ${this.log.committed}] restored snapshot [index: ${index}, ` +
          `term: ${term}]`,
      );
      this.send(makeMessage({
        type: MessageType.AppResp, to: m.from, index: this.log.lastIndex(),
      }));
    } else {
      this.logger.info(
        {},
        `${hex(this.id)} [commit: ${this.log.committed}] ignored snapshot [index: ${index}, ` +
          `term: ${term}]`,
      );
      this.send(makeMessage({ type: MessageType.AppResp, to: m.from, index: this.log.committed }));
    }
  }

  /** Install a snapshot unless our log already covers it. */
  private restore(s: Snapshot): boolean {
    const { index, term, confState } = s.metadata;
    if (index <= this.log.committed) return false;
    assert(this.state === StateType.Follower, 'restore snapshot while not a follower');
    if (this.log.matchTerm(index, term)) {
      // Our log has the snapshot's last entry: just fast-forward the commit index.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(s);
    restoreTracker(this.trk, confState, this.progressParams());
    this.logger.info({}, `${hex(this.id)} switched to configuration ${this.describeConfig()}`);
    return true;
  }

  // ---- log and commit ------------------------------------------------------------

  private appendEntry(es: Entry[]): boolean {
    const li = this.log.lastIndex();
    for (let i = 0; i < es.length; i++) {
      const e = es[i];
      assert(e !== undefined, 'appendEntry: hole');
      es[i] = { term: this.term, index: li + 1 + i, type: e.type, data: e.data };
    }
    if (!this.increaseUncommittedSize(es)) {
      this.logger.warn(
        {},
        `${hex(this.id)} appending new entries to log would exceed uncommitted entry size ` +
          `limit; dropping proposal`,
      );
      return false;
    }
    const last = this.log.append(es);
    if (this.bugs.countUnpersistedLeaderEntries) {
      this.trk.mustGet(this.id).maybeUpdate(last);
      this.maybeCommit();
    }
    return true;
  }

  /** Advance commit to the quorum's match, only for an entry of the current term (§5.4.2). */
  maybeCommit(): boolean {
    const anyTerm = this.bugs.commitPreviousTermByCount === true;
    return this.log.maybeCommit(this.trk.committed(this.bugs.learnerCountsToCommit === true), this.term, anyTerm);
  }

  private increaseUncommittedSize(es: readonly Entry[]): boolean {
    let s = 0;
    for (const e of es) s += payloadSize(e);
    const limit = this.cfg.maxUncommittedEntriesSize;
    if (limit > 0 && this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > limit) {
      return false;
    }
    this.uncommittedSize += s;
    return true;
  }

  reduceUncommittedSize(s: number): void {
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }

  /**
   * The server persisted entries up to (index, term) (and a snapshot at index, if one
   * was pending). From here the leader counts its own log toward the commit quorum.
   */
  ackPersisted(index: number, term: number): void {
    const snap = this.log.unstable.snapshot;
    const u = this.log.unstable;
    if (snap !== undefined && u.snapshotInProgress && index >= snap.metadata.index) {
      this.log.unstable.stableSnapTo(snap.metadata.index);
    }
    this.log.stableTo(index, term);
    if (this.state !== StateType.Leader) return;
    const self = this.trk.progress.get(this.id);
    if (self === undefined) return;
    if (self.maybeUpdate(this.log.lastStableIndex()) && this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    }
  }

  // ---- membership -------------------------------------------------------------------

  applyConfChange(cc: ConfChange): ConfState {
    const refused = applyConfChangeToTracker(this.trk, cc, this.progressParams());
    if (refused !== undefined) {
      this.logger.warn(
        {},
        `${hex(this.id)} refused conf change ${CONF_CHANGE_NAMES[cc.type] ?? cc.type} ` +
          `${hex(cc.nodeId)}: ${refused}`,
      );
      return this.trk.confState();
    }
    this.logger.info({}, `${hex(this.id)} switched to configuration ${this.describeConfig()}`);
    const self = this.trk.progress.get(this.id);
    if (this.state === StateType.Leader && (self === undefined || self.isLearner)) {
      // The leader was removed: step down so the remaining voters elect a new one.
      this.becomeFollower(this.term, NONE);
      return this.trk.confState();
    }
    if (this.state !== StateType.Leader || this.trk.voters.size === 0) return this.trk.confState();
    if (this.maybeCommit()) this.bcastAppend();
    else {
      // Probe members that are new (or still probing) at once, even with nothing new to send.
      for (const [id, pr] of this.trk.progress) {
        if (id !== this.id) this.maybeSendAppend(id, pr.state === ProgressState.Probe);
      }
    }
    if (this.leadTransferee !== NONE && !this.trk.voters.has(this.leadTransferee)) {
      this.abortLeaderTransfer();
    }
    return this.trk.confState();
  }

  stateName(): string {
    return STATE_NAMES[this.state] ?? `State${this.state}`;
  }
}
