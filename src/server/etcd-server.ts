/**
 * EtcdServer: one member. It owns the consensus node, the WAL, the state store and
 * the Ready loop, and offers the v3rpc layer three things: propose a write and get its
 * apply result, wait for a linearizable read point, and fill response headers.
 *
 * The Ready loop follows the Raft core's contract (src/raft/index.ts; etcd-io/raft
 * doc.go), one named step each:
 *   1. persist: WAL append of entries + hard state, fdatasync (resolves only then);
 *      then node.persisted(last) — nothing is applied or acknowledged before this.
 *   2. send messages (peers; none for a single member).
 *   3. apply committed entries in log order, synchronously, into one state-db batch that
 *      carries the applied index (DESIGN §3); answer waiting callers from the results.
 *   4. advance.
 * Every proposal that arrives during one event-loop turn (or while a WAL write is in
 * flight) lands in the same Ready: one WAL write, one fsync (group commit, DESIGN §4).
 *
 * State-db batches are written in order, one at a time, each synced, without holding
 * up the answer: the WAL already made the entries durable, and a restart replays the
 * WAL from the db's applied index. Reads of the latest state are served from memory,
 * so they see an apply whose batch is still being written.
 */
import { join } from 'node:path';
import type { Logger } from '../shared/logger.js';
import type { Clock } from '../shared/clock.js';
import type { Scheduler, Cancelable } from '../shared/scheduler.js';
import { TsetcdError } from '../shared/errors.js';
import { assert } from '../shared/assert.js';
import type { ClusterId, MemberId } from '../shared/ids.js';
import type { Entry, Ready } from '../raft/types.js';
import { EntryType } from '../raft/types.js';
import { RequestIdGenerator, decodeRequest, encodeRequest, etcdRequestSize, type RequestKind } from '../apply/request.js';
import type { ApplyOutcome, Applier } from '../apply/applier.js';
import { RequestWaiters, AppliedWaiters } from './waiters.js';
import type { ConsensusNode } from './solo-node.js';
import type { MemberStorage } from './member-storage.js';
import type { BackendBatch } from '../storage/backend.js';

export interface ServerLimits {
  readonly maxRequestBytes: number;
  /** Proposal and linearizable-read timeout: etcd uses 5 s + 2 x election timeout. */
  readonly requestTimeoutMs: number;
  /** etcd refuses new proposals when committed - applied exceeds this (5000). */
  readonly maxCommittedMinusApplied: number;
}

export interface ServerIdentity {
  readonly name: string;
  readonly memberId: MemberId;
  readonly clusterId: ClusterId;
}

export interface EtcdServerDeps {
  readonly identity: ServerIdentity;
  readonly node: ConsensusNode;
  readonly storage: MemberStorage;
  readonly applier: Applier;
  readonly limits: ServerLimits;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  /** Applied index of the state db at open. */
  readonly appliedIndex: number;
}

export interface ResponseHeaderFields {
  clusterId: bigint;
  memberId: bigint;
  revision: number;
  raftTerm: number;
}

export class EtcdServer {
  readonly identity: ServerIdentity;
  private readonly node: ConsensusNode;
  private readonly storage: MemberStorage;
  private readonly applier: Applier;
  private readonly limits: ServerLimits;
  private readonly scheduler: Scheduler;
  private readonly logger: Logger;
  private readonly ids: RequestIdGenerator;
  private readonly results = new RequestWaiters<ApplyOutcome>();
  private readonly applied: AppliedWaiters;
  /** Linearizable reads waiting for their ReadIndex, keyed by the request context. */
  private readonly readIndexWaiters = new RequestWaiters<number>();
  private loopWake: (() => void) | undefined;
  private wakeScheduled = false;
  private stopped = false;
  private loopDone: Promise<void> | undefined;
  private dbWrites: Promise<void> = Promise.resolve();
  private dbWriteError: unknown;
  private tickTimer: Cancelable | undefined;

  constructor(deps: EtcdServerDeps) {
    this.identity = deps.identity;
    this.node = deps.node;
    this.storage = deps.storage;
    this.applier = deps.applier;
    this.limits = deps.limits;
    this.scheduler = deps.scheduler;
    this.logger = deps.logger.child({ component: 'etcdserver' });
    this.ids = new RequestIdGenerator(deps.identity.memberId, deps.clock.wallMs());
    this.applied = new AppliedWaiters(deps.appliedIndex);
  }

  start(tickIntervalMs: number): void {
    this.loopDone = this.runReadyLoop().catch((err: unknown) => {
      this.logger.error({ err }, 'ready loop failed; stopping the member');
      this.fatal(err);
    });
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
    this.results.failAll('stopped');
    this.readIndexWaiters.failAll('stopped');
    this.applied.failAll('stopped');
    await this.dbWrites;
    await this.storage.close();
  }

  get appliedIndex(): number {
    return this.applied.appliedIndex;
  }

  /** Term, leader and commit index as the consensus node sees them. */
  raftStatus(): ReturnType<ConsensusNode['status']> {
    return this.node.status();
  }

  header(revision: number): ResponseHeaderFields {
    return {
      clusterId: this.identity.clusterId,
      memberId: this.identity.memberId,
      revision,
      raftTerm: this.node.status().term,
    };
  }

  /**
   * Propose one request and wait for its apply result on this member. The payload is
   * the request's protobuf encoding (etcd's own message for that kind).
   */
  async propose(kind: RequestKind, payload: Uint8Array, signal?: AbortSignal): Promise<ApplyOutcome> {
    this.checkAcceptingWrites();
    const id = this.ids.nextId();
    if (etcdRequestSize(kind, id, payload.length) > this.limits.maxRequestBytes) {
      throw new TsetcdError('request-too-large');
    }
    const result = this.withTimeout(this.results.wait(id, signal), id);
    this.node.propose(encodeRequest(kind, id, payload));
    this.wake();
    return result;
  }

  /**
   * Wait until this member has applied everything committed before the call: the
   * linearizable read point (ReadIndex, then applied >= index; DESIGN §1).
   */
  async linearizableReadPoint(signal?: AbortSignal): Promise<void> {
    if (this.stopped) throw new TsetcdError('stopped');
    const id = this.ids.nextId();
    const ctx = Buffer.allocUnsafe(8);
    ctx.writeBigUInt64BE(id);
    const index = this.withTimeout(this.readIndexWaiters.wait(id, signal), id);
    this.node.readIndex(ctx);
    this.wake();
    await this.applied.wait(await index);
  }

  private withTimeout<T>(p: Promise<T>, id: bigint): Promise<T> {
    const timer = this.scheduler.after(this.limits.requestTimeoutMs, () => {
      this.results.reject(id, new TsetcdError('timeout'));
      this.readIndexWaiters.reject(id, new TsetcdError('timeout'));
    });
    return p.finally(() => timer.cancel());
  }

  private checkAcceptingWrites(): void {
    if (this.stopped) throw new TsetcdError('stopped');
    if (this.dbWriteError !== undefined) throw new TsetcdError('stopped');
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

  private async runReadyLoop(): Promise<void> {
    while (!this.stopped) {
      if (!this.node.hasReady()) {
        await new Promise<void>((resolve) => {
          this.loopWake = resolve;
        });
        continue;
      }
      const rd = this.node.ready();
      await this.persist(rd);
      this.apply(rd);
      this.node.advance(rd);
    }
  }

  /** Step 1: WAL append + fsync, then tell the node what is durable. */
  private async persist(rd: Ready): Promise<void> {
    if (rd.entries.length === 0 && rd.hardState === undefined) return;
    await this.storage.save(rd.hardState, rd.entries, rd.mustSync);
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) this.node.persisted(last.index, last.term);
  }

  /** Step 3: apply committed entries into one db batch; release read points. */
  private apply(rd: Ready): void {
    for (const rs of rd.readStates) {
      this.readIndexWaiters.resolve(Buffer.from(rs.requestCtx).readBigUInt64BE(0), rs.index);
    }
    const entries = rd.committedEntries;
    const last = entries[entries.length - 1];
    if (last === undefined) return;
    const batch = this.storage.newApplyBatch();
    const settled: Array<[bigint, ApplyOutcome]> = [];
    for (const entry of entries) this.applyEntry(entry, batch, settled);
    this.storage.setAppliedIndex(batch, last.index, last.term);
    this.applied.advance(last.index);
    for (const [id, outcome] of settled) this.results.resolve(id, outcome);
    this.writeDb(batch);
  }

  private applyEntry(entry: Entry, batch: BackendBatch, settled: Array<[bigint, ApplyOutcome]>): void {
    if (entry.index <= this.applied.appliedIndex) return; // already in the db (restart replay)
    if (entry.type === EntryType.ConfChange) return; // membership arrives with the cluster issue
    if (entry.data.length === 0) return; // a new leader's empty entry
    const req = decodeRequest(entry.data);
    const outcome = this.applier.apply(req, { index: entry.index, term: entry.term }, batch);
    if (req.id !== 0n && this.results.has(req.id)) settled.push([req.id, outcome]);
  }

  private writeDb(batch: BackendBatch): void {
    this.dbWrites = this.dbWrites.then(async () => {
      if (this.dbWriteError !== undefined) return;
      try {
        await this.storage.writeApplyBatch(batch);
      } catch (err) {
        // The state db is behind the WAL; a restart replays it. Stop taking writes.
        this.dbWriteError = err;
        this.logger.error({ err }, 'state db write failed');
        this.fatal(err);
      }
    });
  }

  private fatal(err: unknown): void {
    this.onFatal(err);
  }
}

export function dataPaths(dataDir: string, walDir: string | undefined): { member: string; wal: string; db: string } {
  const member = join(dataDir, 'member');
  return { member, wal: walDir !== undefined && walDir !== '' ? walDir : join(member, 'wal'), db: join(member, 'db') };
}

export { assert };
