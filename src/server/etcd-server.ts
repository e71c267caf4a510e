/**
 * EtcdServer: one member. It owns the Raft node, the WAL, the state db and the Ready
 * loop, and offers the v3rpc layer: propose a request and get its apply result, take a
 * linearizable read point, change membership, move leadership, fill headers.
 *
 * The Ready loop follows the Raft core's contract (src/raft/index.ts), one named step
 * each:
 *   1. send the messages raft allows before persisting (the leader's appends,
 *      heartbeats: Raft thesis §10.2.1 — the leader writes its log in parallel);
 *   2. persist: WAL append of entries + hard state, fdatasync; mirror into raft's
 *      Storage; report persisted — nothing is acked, voted or applied before this;
 *   3. send the remaining messages (votes and acks vouch for the persisted state);
 *   4. apply committed entries in log order, synchronously, into one state-db batch
 *      that carries the applied index (docs/architecture.md §3); ConfChange entries change the
 *      membership and raft's configuration before the next entry; answer waiters;
 *   5. advance.
 * Every proposal that arrives during one event-loop turn (or while a WAL write is in
 * flight) lands in the same Ready: one WAL write, one fsync (group commit, docs/architecture.md §4).
 * Linearizable reads that arrive together share one ReadIndex round.
 *
 * State-db batches are written in order, one at a time, each synced, without holding
 * up the answer: the WAL already made the entries durable, and a restart replays the
 * WAL from the db's applied index. Reads of the latest state are served from memory.
 *
 * A full disk (ENOSPC anywhere on the write path: WAL write or fsync, state-db write,
 * snapshot marker or install) freezes the member instead of stopping it
 * (docs/architecture.md §3): the Ready loop ends where it failed, so raft is never told
 * the failed entries persisted and nothing is acked, voted or applied after them; the
 * member steps and ticks no more (its peers carry on without it), refuses writes with
 * NOSPACE and keeps serving reads from memory. Any other storage failure (EIO, a failed
 * fsync) stops the member through onFatal.
 */
import { goDuration, type Logger } from '../shared/logger.js';
import type { Clock } from '../shared/clock.js';
import type { TestFaults } from '../shared/test-faults.js';
import type { Scheduler, Cancelable } from '../shared/scheduler.js';
import { TsetcdError } from '../shared/errors.js';
import type { Cancelation } from '../shared/cancel.js';
import { isNoSpace } from '../storage/file-layer.js';
import { noObserve, type Observe } from '../shared/observe.js';
import type { ClusterId, MemberId } from '../shared/ids.js';
import {
  EntryType,
  MessageType,
  RawNode,
  ConfChangeType,
  type Entry,
  type Message,
  type Ready,
  type ConfChange,
  type HardState,
} from '../raft/index.js';
import { canSendBeforePersist } from '../raft/index.js';
import type { AuthInfo } from '../auth/index.js';
import { RequestIdGenerator, RequestKind, decodeRequest, encodeRequest, etcdRequestSize, type DecodedRequest } from '../apply/request.js';
import { loggableEntry, loggableResponse } from '../apply/loggable.js';
import type { ApplyOutcome, Applier } from '../apply/applier.js';
import type { BackendBatch } from '../storage/backend.js';
import { decodeConfChangeContext, encodeConfChangeContext, type Member } from '../cluster/membership.js';
import { RequestWaiters, AppliedWaiters } from '../apply/waiters.js';
import type { RaftNode } from './raft-node.js';
import type { MemberStorage } from './member-storage.js';

export interface ServerLimits {
  readonly maxRequestBytes: number;
  /** Proposal and linearizable-read timeout: etcd uses 5 s + 2 x election timeout. */
  readonly requestTimeoutMs: number;
  /** etcd refuses new proposals when committed - applied exceeds this (5000). */
  readonly maxCommittedMinusApplied: number;
  readonly electionTimeoutMs: number;
  /** Applied entries between snapshots (etcd --snapshot-count). */
  readonly snapshotCount: number;
  /** Entries kept in memory after a snapshot for slow followers (etcd 5000). */
  readonly snapshotCatchupEntries: number;
  /**
   * Apply batches wait at most this long to be merged into one state-db write (etcd's
   * backend batch interval, 100 ms there): fewer db fsyncs competing with the WAL's.
   */
  readonly backendBatchIntervalMs: number;
  /** An apply slower than this logs etcd's warning and counts as slow (--warning-apply-duration). */
  readonly warningApplyDurationMs: number;
}

export interface ServerIdentity {
  readonly name: string;
  readonly memberId: MemberId;
  readonly clusterId: ClusterId;
}

/** Where raft messages go (the peer transport; nothing for a single member). */
export interface MessageSink {
  send(messages: readonly Message[]): void;
  /** A MsgSnap whose data is the state db stream. */
  sendSnapshot?(msg: Message, data: () => AsyncIterable<Uint8Array>): void;
}

export interface ServerHooks {
  /** A ConfChange was applied: update peers. `member` is absent for removals. */
  onMembershipApplied?(cc: ConfChange, member: Member | undefined): void;
  /** This member saw a new leader (or lost it: lead 0n). */
  onLeaderChange?(lead: bigint, term: number, isLeader: boolean): void;
  /** This leader applied the first entry of its own term (it may now serve leases). */
  onLeaderReady?(): void;
  /** This member was removed from the cluster. */
  onRemoved?(): void;
  /** The state db was replaced by a snapshot from the leader: reload derived state. */
  onSnapshotInstalled?(): Promise<void>;
}

export interface EtcdServerDeps {
  /** ackBeforeCommit, readWithoutReadIndex (shared/test-faults.ts); never in production. */
  readonly bugs?: Pick<TestFaults, 'ackBeforeCommit' | 'readWithoutReadIndex'>;
  readonly identity: ServerIdentity;
  readonly node: RaftNode;
  readonly storage: MemberStorage;
  readonly applier: Applier;
  readonly limits: ServerLimits;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  readonly sink: MessageSink;
  readonly hooks?: ServerHooks;
  /** Applied index of the state db at open. */
  readonly appliedIndex: number;
  /** Failed proposals and reads, slow applies (shared/observe.ts). */
  readonly observe?: Observe;
}

export type { ConsensusStatus } from '../v3rpc/maintenance.js';
import type { ConsensusStatus } from '../v3rpc/maintenance.js';

/** etcd's backend batch limit (defaultBatchLimit): pending db ops that force a write now. */
const BACKEND_BATCH_LIMIT = 10_000;
const NO_MESSAGES: readonly Message[] = [];

/** Requests that grow the data: refused while the disk is full (etcd's quota refuses these). */
const GROWS_DATA: ReadonlySet<RequestKind> = new Set<RequestKind>([
  RequestKind.Put,
  RequestKind.Txn,
  RequestKind.LeaseGrant,
  RequestKind.MemberAttributes,
]);

/** A read point shared by every linearizable read that arrived in one turn. */
interface ReadBatch {
  readonly id: bigint;
  readonly waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
}

export class EtcdServer {
  readonly identity: ServerIdentity;
  private readonly node: RaftNode;
  private readonly storage: MemberStorage;
  private readonly applier: Applier;
  private readonly limits: ServerLimits;
  private readonly scheduler: Scheduler;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly sink: MessageSink;
  private readonly hooks: ServerHooks;
  private readonly ids: RequestIdGenerator;
  private readonly results = new RequestWaiters<ApplyOutcome>();
  private readonly applied: AppliedWaiters;
  /** Reads waiting to join the next ReadIndex round. */
  private nextReads: ReadBatch['waiters'] = [];
  /** Rounds issued, by request context id. */
  private readonly readRounds = new Map<bigint, ReadBatch>();
  private loopWake: (() => void) | undefined;
  private wakeScheduled = false;
  private stopped = false;
  private loopDone: Promise<void> | undefined;
  private dbWrites: Promise<void> = Promise.resolve();
  /** Apply batches not handed to the db yet, and the timer that will (writeDb). */
  private dbPending: BackendBatch[] = [];
  private dbTimer: Cancelable | undefined;
  private dbPendingOps = 0;
  /** A storage write failed: no more writes (and with a full disk, the member froze). */
  private storageError: unknown;
  private tickTimer: Cancelable | undefined;
  private lead = 0n;
  private leadElectedAtMs: number | undefined; // etcd's leadElectedTime
  /** Whether this leader applied an entry of its own term (safe to serve leases). */
  private appliedOwnTerm = false;
  private leaderWaiters: Array<() => void> = [];
  private readonly bugs: Pick<TestFaults, 'ackBeforeCommit' | 'readWithoutReadIndex'>;
  private readonly observe: Observe;
  /** The latest hard state raft handed out that is not in the WAL yet (commit-only). */
  private pendingHardState: HardState | undefined;
  /** Index of the last snapshot marker (start of the in-memory log window). */
  private snapshotIndex = 0;
  private snapshotting = false;
  /** While set, the Ready loop waits (a snapshot install swaps the state db). */
  private loopPause: Promise<void> | undefined;
  /**
   * Whether a Ready loop iteration is in progress, and who waits for its end: a flag,
   * not a promise per iteration, since two iterations run for every write.
   */
  private inIteration = false;
  private iterationWaiters: Array<() => void> = [];
  /** Why this member refuses writes for want of disk space (its local NOSPACE alarm). */
  private noSpace: unknown;
  /** A write found the disk full: raft is frozen where it stood (see the module comment). */
  private frozen = false;

  constructor(deps: EtcdServerDeps) {
    this.identity = deps.identity;
    this.node = deps.node;
    this.storage = deps.storage;
    this.applier = deps.applier;
    this.limits = deps.limits;
    this.scheduler = deps.scheduler;
    this.clock = deps.clock;
    this.logger = deps.logger.child({ component: 'etcdserver' });
    this.sink = deps.sink;
    this.hooks = deps.hooks ?? {};
    this.ids = new RequestIdGenerator(deps.identity.memberId, deps.clock.wallMs());
    this.applied = new AppliedWaiters(deps.appliedIndex);
    this.snapshotIndex = deps.node.storage.firstIndex() - 1;
    this.bugs = deps.bugs ?? {};
    this.noSpace = deps.storage.noSpaceAtStart;
    this.observe = deps.observe ?? noObserve;
    if (this.bugs.ackBeforeCommit === true || this.bugs.readWithoutReadIndex === true) {
      this.logger.warn({ bugs: this.bugs }, 'UNSAFE TEST SWITCHES ARE ON: this member breaks safety on purpose');
    }
  }

  start(tickIntervalMs: number): void {
    this.loopDone = this.runReadyLoop().catch((err: unknown) => this.storageFailed(err, 'ready loop failed; stopping the member'));
    this.tickTimer = this.scheduler.every(tickIntervalMs, () => {
      this.node.tick();
      this.wake();
    });
    this.wake();
  }

  /** Set by the process shell: what to do when an invariant breaks (log and exit). */
  onFatal: (err: unknown) => void = () => {};

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.tickTimer?.cancel();
    this.wake();
    await this.loopDone;
    if (this.pendingHardState !== undefined && this.storageError === undefined && !this.frozen) {
      await this.storage.save(this.pendingHardState, [], true);
      this.pendingHardState = undefined;
    }
    this.results.failAll('stopped');
    this.failReads('stopped');
    this.applied.failAll('stopped');
    await this.flushDb();
    await this.storage.close();
  }

  /** Proposals waiting for their apply result on this member (etcd_server_proposals_pending). */
  get pendingProposals(): number {
    return this.results.size;
  }

  /** How long a request may wait on consensus (etcd: 5 s + 2 x election timeout). */
  get requestTimeoutMs(): number {
    return this.limits.requestTimeoutMs;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  get appliedIndex(): number {
    return this.applied.appliedIndex;
  }

  /**
   * Resolves true once this member has applied `index`, false when `signal` aborts or
   * the server stops first (a simple token names the index it was issued at).
   */
  waitApplied(index: number, signal?: AbortSignal): Promise<boolean> {
    if (index <= this.applied.appliedIndex) return Promise.resolve(true);
    if (signal?.aborted === true) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => resolve(false);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.applied.wait(index).then(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(true);
        },
        () => resolve(false),
      );
    });
  }

  raftStatus(): ConsensusStatus {
    return this.node.status();
  }

  /** A leader that applied an entry of its own term (etcd serves lease renewals only then). */
  isReadyLeader(): boolean {
    return this.node.status().isLeader && this.appliedOwnTerm;
  }

  /** NOSPACE while this member lacks disk space for writes (docs/architecture.md §3). */
  localAlarms(): readonly string[] {
    return this.noSpace === undefined ? [] : ['NOSPACE'];
  }

  /** Whether a full disk froze raft on this member (it serves reads only). */
  get isFrozen(): boolean {
    return this.frozen;
  }

  /** Hand a message from a peer to raft. */
  step(m: Message): void {
    if (this.stopped || this.frozen) return;
    this.node.step(m);
    this.wake();
  }

  reportUnreachable(id: bigint): void {
    this.node.reportUnreachable(id);
    this.wake();
  }

  reportSnapshot(id: bigint, ok: boolean): void {
    this.node.reportSnapshot(id, ok);
    this.wake();
  }

  /**
   * etcd's initial-election-tick-advance: fast-forward `n` ticks at start so a
   * restarted or new member does not sit out a whole election timeout before its first
   * (pre-)vote. PreVote and CheckQuorum keep it from disrupting a healthy leader.
   */
  advanceTicks(n: number): void {
    if (this.frozen) return;
    for (let i = 0; i < n; i++) this.node.tick();
    this.wake();
  }

  /** Start an election now (a single-member cluster does this at start). */
  campaign(): void {
    if (this.frozen) return;
    this.node.campaign();
    this.wake();
  }

  /**
   * Propose one request and wait for its apply result on this member. The payload is
   * the request's protobuf encoding (etcd's own message for that kind); `caller`, when
   * given, travels in the entry's header for apply to check (apply/request.ts).
   */
  async propose(kind: RequestKind, payload: Uint8Array, signal?: Cancelation, caller?: AuthInfo): Promise<ApplyOutcome> {
    this.checkAcceptingWrites(kind);
    const id = this.ids.nextId();
    if (etcdRequestSize(kind, id, payload.length, caller) > this.limits.maxRequestBytes) {
      throw new TsetcdError('request-too-large');
    }
    const result = this.answer(this.results.wait(id, signal), id);
    try {
      this.node.propose(encodeRequest(kind, id, payload, caller));
    } catch (err) {
      this.results.reject(id, err);
    }
    this.wake();
    return result;
  }

  /** Propose a membership change; resolves when it is applied on this member. */
  async proposeConfChange(type: ConfChange['type'], member: Member, signal?: AbortSignal): Promise<ApplyOutcome> {
    this.checkAcceptingWrites(undefined);
    const id = this.ids.nextId();
    const result = this.answer(this.results.wait(id, signal), id);
    try {
      this.node.proposeConfChange({ type, nodeId: member.id, context: encodeConfChangeContext(id, member) });
    } catch (err) {
      this.results.reject(id, err);
    }
    this.wake();
    return result;
  }

  /**
   * Wait until this member has applied everything committed before the call: the
   * linearizable read point (ReadIndex confirmed by a quorum, then applied >= index).
   * Reads arriving in the same turn share one round (etcd's linearizableReadLoop).
   */
  linearizableReadPoint(signal?: AbortSignal): Promise<void> {
    if (this.stopped) return Promise.reject(new TsetcdError('stopped'));
    if (this.frozen) return this.frozenReadPoint();
    if (this.bugs.readWithoutReadIndex === true) return Promise.resolve();
    if (signal?.aborted === true) return Promise.reject(new TsetcdError('canceled'));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => done.reject(new TsetcdError('canceled'));
      const settle = (): void => {
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
      };
      const timer = this.scheduler.after(this.limits.requestTimeoutMs, () => {
        // etcd: "timed out waiting for read index response" (slow_read_indexes_total).
        this.observe('server.slowReadIndex', 1);
        done.reject(new TsetcdError('timeout'));
      });
      const done = {
        resolve: () => (settle(), resolve()),
        reject: (e: unknown) => {
          settle();
          if (!(e instanceof TsetcdError && e.code === 'canceled')) this.observe('server.readIndexFailed', 1);
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.nextReads.push(done);
      this.wake();
    });
  }

  /** Ask raft to hand leadership to `target`; resolves when it is the leader. */
  async transferLeadership(target: bigint, timeoutMs: number): Promise<void> {
    if (!this.node.status().isLeader) throw new TsetcdError('not-leader');
    this.node.transferLeader(target);
    this.wake();
    // The injected clock: the simulation owns time, so a transfer's deadline is virtual there.
    const deadline = this.clock.nowMs() + timeoutMs;
    while (this.node.status().lead !== target) {
      if (this.clock.nowMs() > deadline) throw new TsetcdError('timeout');
      await new Promise<void>((r) => {
        this.leaderWaiters.push(r);
        this.scheduler.after(50, r);
      });
    }
  }

  /** A snapshot from the leader is being installed (etcd_server_snapshot_apply_in_progress_total). */
  get installingSnapshot(): boolean {
    return this.loopPause !== undefined;
  }

  /** The leader's view of each member's match index (empty on followers). */
  progress(): ReadonlyMap<bigint, { match: number }> {
    return this.node.progress();
  }

  /**
   * A proposal's answer under the request timeout, with etcd's parseProposeCtxErr
   * (etcdserver/server.go: never "no leader" for a timeout), counting a proposal that
   * timed out, was canceled or dropped (proposals_failed_total). One reaction per
   * proposal: this runs on every write (docs/architecture.md §4).
   */
  private answer<T>(p: Promise<T>, id: bigint): Promise<T> {
    const start = this.clock.nowMs();
    const timer = this.scheduler.after(this.limits.requestTimeoutMs, () => {
      const e = this.leadElectedAtMs; // started within 2 election timeouts before it
      const fail = e !== undefined && start > e - 2 * this.limits.electionTimeoutMs && start < e;
      this.results.reject(id, new TsetcdError(fail ? 'timeout-due-to-leader-fail' : 'timeout'));
    });
    return p.then(
      (v) => {
        timer.cancel();
        return v;
      },
      (err: unknown) => {
        timer.cancel();
        this.observe('server.proposalFailed', 1);
        throw err;
      },
    );
  }

  /**
   * A frozen member can still answer a linearizable read when no one else can commit
   * without it (it is the only voter) and it applied all it knows committed: its state
   * is then the cluster's latest. Otherwise the client must ask another member.
   */
  private frozenReadPoint(): Promise<void> {
    const { voters } = this.node.confState();
    const sole = voters.length === 1 && voters[0] === this.identity.memberId;
    if (sole && this.applied.appliedIndex >= this.node.status().commit) return Promise.resolve();
    return Promise.reject(new TsetcdError('stopped', 'no space left on device: this member serves serializable reads only'));
  }

  /**
   * While the disk is full (or was at start), writes that grow the data are refused
   * with etcd's NOSPACE error; deletes, compaction, lease revokes and alarms still go
   * (etcd's quota refuses the same kinds, etcdserver/quota.go; a Txn is refused whole).
   * A frozen member refuses everything: it can persist nothing.
   */
  private checkAcceptingWrites(kind: RequestKind | undefined): void {
    if (this.stopped || (this.storageError !== undefined && !this.frozen)) throw new TsetcdError('stopped');
    if (this.frozen || (this.noSpace !== undefined && (kind === undefined || GROWS_DATA.has(kind)))) {
      throw new TsetcdError('no-space');
    }
    const st = this.node.status();
    if (st.commit - this.applied.appliedIndex > this.limits.maxCommittedMinusApplied) {
      throw new TsetcdError('too-many-requests');
    }
  }

  private wake(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    // setImmediate, not a microtask: every request that arrives in this I/O phase
    // joins the same Ready (group commit).
    this.scheduler.soon(() => {
      this.wakeScheduled = false;
      const w = this.loopWake;
      this.loopWake = undefined;
      w?.();
    });
  }

  private issueReadRound(): void {
    if (this.nextReads.length === 0) return;
    const batch: ReadBatch = { id: this.ids.nextId(), waiters: this.nextReads };
    this.nextReads = [];
    const ctx = Buffer.allocUnsafe(8);
    ctx.writeBigUInt64BE(batch.id);
    try {
      this.node.readIndex(ctx);
      this.readRounds.set(batch.id, batch);
    } catch (err) {
      for (const w of batch.waiters) w.reject(err);
    }
  }

  private failReads(code: 'stopped' | 'leader-changed'): void {
    const err = new TsetcdError(code);
    for (const w of this.nextReads) w.reject(err);
    this.nextReads = [];
    for (const b of this.readRounds.values()) for (const w of b.waiters) w.reject(err);
    this.readRounds.clear();
  }

  private async runReadyLoop(): Promise<void> {
    while (!this.stopped && !this.frozen) {
      if (this.loopPause !== undefined) {
        await this.loopPause;
        continue;
      }
      this.issueReadRound();
      if (!this.node.hasReady()) {
        await new Promise<void>((resolve) => {
          this.loopWake = resolve;
        });
        continue;
      }
      this.inIteration = true;
      try {
        const rd = this.node.ready();
        this.noteSoftState(rd);
        const early = rd.messages.length === 0 ? rd.messages : rd.messages.filter(canSendBeforePersist);
        if (early.length > 0) this.send(early);
        // Committed entries are applied (and their clients answered) before this
        // Ready's new entries are fsynced, as etcd hands them to its apply loop before
        // it saves the Ready: raft hands out for apply only entries already durable here
        // (the Ready contract, src/raft/index.ts), and under load a Ready carries both,
        // so waiting would cost every write a second fsync (docs/architecture.md §4).
        // A Ready with a snapshot keeps the order: the snapshot is installed first.
        const applyFirst = rd.snapshot === undefined;
        this.applyReads(rd);
        if (applyFirst) this.apply(rd.committedEntries);
        await this.persist(rd);
        const late = early.length === rd.messages.length ? NO_MESSAGES : rd.messages.filter((m) => !canSendBeforePersist(m));
        if (late.length > 0) this.send(late);
        if (!applyFirst) this.apply(rd.committedEntries);
        this.node.advance();
        // After advance: raft refuses to campaign while a ConfChange is unapplied.
        if (rd.committedEntries.length > 0) this.campaignIfSoleVoter();
      } finally {
        this.inIteration = false;
        if (this.iterationWaiters.length > 0) {
          const waiters = this.iterationWaiters;
          this.iterationWaiters = [];
          for (const w of waiters) w();
        }
      }
    }
  }

  /** Resolves when the Ready loop iteration in progress (if any) ends. */
  private iterationEnd(): Promise<void> {
    if (!this.inIteration) return Promise.resolve();
    return new Promise<void>((resolve) => this.iterationWaiters.push(resolve));
  }

  /** MsgSnap carries the state db as a stream; everything else goes as it is. */
  private send(all: readonly Message[]): void {
    const msgs = mergeProposals(all);
    const sendSnapshot = this.sink.sendSnapshot;
    if (sendSnapshot === undefined || !msgs.some((m) => m.type === MessageType.Snap)) {
      this.sink.send(msgs);
      return;
    }
    const rest: Message[] = [];
    for (const m of msgs) {
      if (m.type === MessageType.Snap) {
        this.logger.info({ to: m.to.toString(16), index: m.snapshot?.metadata.index }, 'sending a snapshot to a follower');
        sendSnapshot.call(this.sink, m, () => this.storage.snapshotStream());
      } else rest.push(m);
    }
    if (rest.length > 0) this.sink.send(rest);
  }

  /**
   * A snapshot from the leader (this member fell behind its compacted log): pause the
   * Ready loop, let pending db writes finish, install the received db, reload what is
   * derived from it, resume. The transport then steps the MsgSnap into raft.
   */
  async installSnapshot(m: Message, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const snap = m.snapshot;
    if (snap === undefined) throw new TsetcdError('corrupt', 'MsgSnap without a snapshot');
    let resume!: () => void;
    this.loopPause = new Promise<void>((r) => (resume = r));
    this.wake();
    try {
      await this.iterationEnd();
      await this.flushDb();
      const applied = await this.storage.installSnapshot(snap, chunks).catch((err: unknown) => {
        if (isNoSpace(err)) this.freezeNoSpace(err);
        throw err;
      });
      await this.hooks.onSnapshotInstalled?.();
      this.applied.advance(applied);
      this.snapshotIndex = Math.max(this.snapshotIndex, snap.metadata.index);
    } finally {
      this.loopPause = undefined;
      resume();
      this.wake();
    }
  }

  private noteSoftState(rd: Ready): void {
    const ss = rd.softState;
    if (ss === undefined || ss.lead === this.lead) return;
    const previous = this.lead;
    this.lead = ss.lead;
    if (ss.lead !== 0n) this.leadElectedAtMs = this.clock.nowMs();
    this.appliedOwnTerm = false;
    const st = this.node.status();
    const [self, lead, prev] = [this.identity.memberId, ss.lead, previous].map((id) => id.toString(16)); // raft/node.go's words
    const text = ss.lead === 0n ? `lost leader ${prev}` : previous === 0n ? `elected leader ${lead}` : `changed leader from ${prev} to ${lead}`;
    this.logger.info({}, `raft.node: ${self} ${text} at term ${st.term}`);
    // Reads in flight may have been confirmed by the old leader's round: etcd fails
    // them with "leader changed" and the client retries.
    if (previous !== 0n) this.failReads('leader-changed');
    for (const w of this.leaderWaiters.splice(0)) w();
    this.hooks.onLeaderChange?.(ss.lead, st.term, ss.lead === this.identity.memberId);
  }

  /** Step 2: WAL append + fsync, then Storage and raft learn what is durable. */
  private async persist(rd: Ready): Promise<void> {
    const snap = rd.snapshot;
    if (snap !== undefined && snap.metadata.index > 0) {
      // installSnapshot recorded the marker already unless this is a newer one.
      if (snap.metadata.index > this.snapshotIndex) await this.storage.saveSnapshotMarker(snap);
      this.snapshotIndex = Math.max(this.snapshotIndex, snap.metadata.index);
    }
    // A hard state whose only change is the commit index needs no fsync (raft's
    // MustSync is false): etcd writes it without syncing. Our WAL syncs every write,
    // so such a hard state is kept pending and rides along with the next write (every
    // write carries entries), or is written at stop. Raft hands a hard state out only
    // once, so the pending one must not be dropped: a stale commit index on restart
    // would rebuild an old membership until a leader confirms the newer one.
    if (rd.hardState !== undefined) this.pendingHardState = rd.hardState;
    if (rd.entries.length > 0 || (rd.hardState !== undefined && rd.mustSync)) {
      await this.storage.save(this.pendingHardState, rd.entries, rd.mustSync);
      this.pendingHardState = undefined;
    }
    this.node.onPersisted(rd);
    if (this.bugs.ackBeforeCommit === true) this.ackUncommitted(rd.entries);
  }

  /** The ack-before-commit test switch: answer writes that are only in our WAL. */
  private ackUncommitted(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.type !== EntryType.Normal || e.data.length === 0) continue;
      const req = decodeRequest(e.data);
      if (this.results.has(req.id)) {
        this.results.resolve(req.id, { ok: true, response: {}, revision: this.applier.currentRevision() + 1 });
      }
    }
  }

  /** Releases the read points of a Ready's read states once their index is applied. */
  private applyReads(rd: Ready): void {
    for (const rs of rd.readStates) {
      const id = Buffer.from(rs.requestCtx).readBigUInt64BE(0);
      const batch = this.readRounds.get(id);
      if (batch === undefined) continue;
      this.readRounds.delete(id);
      void this.applied.wait(rs.index).then(
        () => batch.waiters.forEach((w) => w.resolve()),
        (err: unknown) => batch.waiters.forEach((w) => w.reject(err)),
      );
    }
  }

  /** Step 4: apply committed entries into one db batch and answer their clients. */
  private apply(entries: readonly Entry[]): void {
    const last = entries[entries.length - 1];
    if (last === undefined) return;
    const batch = this.storage.newApplyBatch();
    const settled: Array<[bigint, ApplyOutcome]> = [];
    let removedSelf = false;
    for (const entry of entries) {
      const started = this.clock.nowMs();
      if (entry.type === EntryType.ConfChange) removedSelf = this.applyConfChange(entry, batch, settled) || removedSelf;
      else {
        const applied = this.applyEntry(entry, batch, settled);
        // etcd's warnOfExpensiveRequest (applierV3backend.Apply): requests only, not
        // conf changes or a new leader's empty entry.
        const took = this.clock.nowMs() - started;
        if (applied !== undefined && took > this.limits.warningApplyDurationMs) this.slowApply(took, entry, applied);
      }
      if (!this.appliedOwnTerm && entry.term === this.node.status().term && this.node.status().isLeader) {
        this.appliedOwnTerm = true;
        // etcd promotes its lessor while applying this entry (applyEntryNormal), so a lease
        // granted after it starts its TTL at its own apply, not at a later promotion.
        this.hooks.onLeaderReady?.();
      }
    }
    // After a restart raft hands out again committed entries the db already holds
    // (the WAL's durable commit may even lag the db's applied index, since a
    // commit-only hard state is not fsynced). Those were skipped above; the db's
    // applied index must never move back, or a later restart would apply them twice
    // (found by the whole-server simulation).
    if (last.index <= this.applied.appliedIndex) return;
    this.storage.setAppliedIndex(batch, last.index, last.term);
    this.applied.advance(last.index);
    for (const [id, outcome] of settled) this.results.resolve(id, outcome);
    this.writeDb(batch);
    if (removedSelf) this.hooks.onRemoved?.();
    this.maybeSnapshot(last.index, last.term);
  }

  /**
   * Every snapshot-count applied entries: once the db batch holding `index` is
   * durable, record a snapshot marker in the WAL, compact the in-memory log (keeping
   * snapshot-catchup-entries for slow followers) and release older WAL segments.
   */
  private maybeSnapshot(index: number, term: number): void {
    if (this.snapshotting || index - this.snapshotIndex < this.limits.snapshotCount) return;
    this.snapshotting = true;
    const confState = this.node.confState();
    // The marker may only follow the db write that holds `index`.
    void this.flushDb();
    this.dbWrites = this.dbWrites.then(async () => {
      try {
        if (this.storageError !== undefined || this.stopped) return;
        await this.storage.saveSnapshotMarker({ metadata: { index, term, confState }, data: new Uint8Array(0) });
        const ms = this.node.storage;
        if (index > ms.firstIndex() - 1 && index <= ms.lastIndex()) {
          ms.createSnapshot(index, confState, new Uint8Array(0));
          const keepFrom = index - this.limits.snapshotCatchupEntries;
          if (keepFrom > ms.firstIndex()) ms.compact(keepFrom);
        }
        this.snapshotIndex = index;
        await this.storage.releaseWalTo(index);
        this.logger.info({ index, term }, 'saved a snapshot marker and compacted the log');
      } catch (err) {
        this.storageFailed(err, 'snapshot failed; stopping the member');
      } finally {
        this.snapshotting = false;
      }
    });
  }

  /** A one-voter cluster need not wait an election timeout to elect itself. */
  private campaignIfSoleVoter(): void {
    const st = this.node.status();
    if (st.isLeader || st.lead !== 0n) return;
    const { voters } = this.node.confState();
    if (voters.length === 1 && voters[0] === this.identity.memberId) this.node.campaign();
  }

  private slowApply(took: number, entry: Entry, applied: { req: DecodedRequest; outcome: ApplyOutcome }): void {
    this.observe('server.slowApply', 1);
    const { req, outcome } = applied;
    const request = loggableEntry(req) ?? `index:${entry.index} term:${entry.term} size:${entry.data.length}`;
    const response = outcome.ok ? loggableResponse(req.kind, outcome.response, outcome.revision) : '';
    const fields = { took: goDuration(took), 'expected-duration': goDuration(this.limits.warningApplyDurationMs), prefix: '', request, response };
    this.logger.warn(outcome.ok ? fields : { ...fields, error: outcome.error.message }, 'apply request took too long');
  }

  private applyEntry(
    entry: Entry,
    batch: BackendBatch,
    settled: Array<[bigint, ApplyOutcome]>,
  ): { req: DecodedRequest; outcome: ApplyOutcome } | undefined {
    if (entry.index <= this.applied.appliedIndex) return undefined; // already in the db (restart replay)
    if (entry.data.length === 0) return undefined; // a new leader's empty entry
    const req = decodeRequest(entry.data);
    const outcome = this.applier.apply(req, { index: entry.index, term: entry.term }, batch);
    if (req.id !== 0n && this.results.has(req.id)) settled.push([req.id, outcome]);
    return { req, outcome };
  }

  /** Returns true when the change removed this member. */
  private applyConfChange(entry: Entry, batch: BackendBatch, settled: Array<[bigint, ApplyOutcome]>): boolean {
    const cc = RawNode.confChangeOf(entry);
    // Raft's configuration is not in the db: it is rebuilt from the log on every start,
    // so ConfChanges are handed to raft even when the db already holds their effect.
    this.node.applyConfChange(cc);
    if (entry.index <= this.applied.appliedIndex) return false;
    const { requestId, member } = decodeConfChangeContext(cc.context);
    this.applier.applyMembership(cc, member, batch);
    this.hooks.onMembershipApplied?.(cc, member);
    if (requestId !== 0n && this.results.has(requestId)) {
      settled.push([requestId, { ok: true, response: {}, revision: 0 }]);
    }
    return cc.type === ConfChangeType.RemoveNode && cc.nodeId === this.identity.memberId;
  }

  /**
   * Apply batches reach the state db in order, merged: a batch waits up to
   * backendBatchIntervalMs for the ones after it, then all pending ones go in one
   * synced write. Nothing waits for this: answers need only the WAL (already durable)
   * and the in-memory store; a restart replays the WAL from the db's applied index.
   */
  private writeDb(batch: BackendBatch): void {
    this.dbPending.push(batch);
    this.dbPendingOps += batch.length;
    if (this.dbPendingOps >= BACKEND_BATCH_LIMIT) {
      void this.flushDb();
      return;
    }
    this.dbTimer ??= this.scheduler.after(this.limits.backendBatchIntervalMs, () => {
      this.dbTimer = undefined;
      void this.flushDb();
    });
  }

  /**
   * Queues every pending apply batch as one db write; resolves when all writes so far
   * are done. Public for Maintenance.Snapshot: a db view taken after it holds every
   * entry applied before the call (etcd's backend Snapshot commits its batch tx first).
   */
  flushDb(): Promise<void> {
    this.dbTimer?.cancel();
    this.dbTimer = undefined;
    const batches = this.dbPending;
    if (batches.length === 0) return this.dbWrites;
    this.dbPending = [];
    this.dbPendingOps = 0;
    this.dbWrites = this.dbWrites.then(async () => {
      if (this.storageError !== undefined) return;
      try {
        await this.storage.writeApplyBatches(batches);
      } catch (err) {
        // The state db is behind the WAL; a restart replays it. Stop taking writes.
        this.storageError = err;
        this.storageFailed(err, 'state db write failed; stopping the member');
      }
    });
    return this.dbWrites;
  }

  /** A full disk freezes the member; any other storage failure stops it. */
  private storageFailed(err: unknown, what: string): void {
    if (isNoSpace(err)) return this.freezeNoSpace(err);
    this.logger.error({ err }, what);
    // Nothing is acknowledged after a failed write or fsync (fsyncgate): refuse and
    // fail everything waiting, even before the shell exits.
    this.storageError ??= err;
    this.results.failAll('stopped');
    this.failReads('stopped');
    this.fatal(err);
  }

  /**
   * The disk is full: stop raft where it stands (the Ready loop has already left or
   * leaves at its next turn, never reporting the failed write as persisted), keep
   * serving reads, refuse writes with NOSPACE. Proposals in flight may still commit
   * through the other members, so they fail as "server stopped", which clients treat
   * as unknown, not as refused. The state db batches not written yet stay in the WAL; a
   * restart replays them.
   */
  private freezeNoSpace(err: unknown): void {
    if (this.frozen || this.stopped) return;
    this.frozen = true;
    this.noSpace ??= err;
    this.storageError ??= err;
    this.tickTimer?.cancel();
    this.dbTimer?.cancel();
    this.dbTimer = undefined;
    this.dbPending = [];
    this.logger.error(
      { err },
      'no space left on device: this member refuses writes (NOSPACE) and serves reads; free or grow the disk, then restart it',
    );
    this.results.failAll('stopped');
    this.failReads('stopped');
    this.wake();
  }

  private fatal(err: unknown): void {
    this.onFatal(err);
  }
}

/**
 * A follower forwards each proposal as its own MsgProp; consecutive ones to the same
 * leader in one Ready travel as one message carrying all their entries in order: one
 * frame, one decode and one step on the leader instead of one per request. raft's
 * stepLeader appends a MsgProp's entries together (a forwarded ConfChange it refuses
 * becomes an empty entry, as alone), docs/architecture.md §4.
 */
export function mergeProposals(msgs: readonly Message[]): readonly Message[] {
  let any = false;
  for (let i = 1; i < msgs.length && !any; i++) any = joins(msgs[i - 1] as Message, msgs[i] as Message);
  if (!any) return msgs;
  const out: Message[] = [];
  let own: Message | undefined; // the last message of `out` when it is a merged copy
  for (const m of msgs) {
    const last = out[out.length - 1];
    if (last === undefined || !joins(last, m)) {
      out.push(m);
      continue;
    }
    if (own !== last) {
      own = { ...last, entries: [...last.entries] };
      out[out.length - 1] = own;
    }
    own.entries.push(...m.entries);
  }
  return out;
}

function joins(a: Message, b: Message): boolean {
  return a.type === MessageType.Prop && b.type === MessageType.Prop && a.to === b.to && a.from === b.from;
}
