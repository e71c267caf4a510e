/**
 * Lessor: etcd's lease manager (server/lease/lessor.go), split along the line docs/architecture.md §1
 * draws between replicated state and the leader's clock.
 *
 * Replicated state (changed only from apply, identical on every member): the leases,
 * each {id, granted TTL, checkpointed remaining TTL}, persisted in the apply batch under
 * 'l' (wire.ts), and the keys attached to each lease. Attachments are not persisted:
 * mvcc stores the lease id on every key, and the member re-attaches live keys at open
 * (attach) before the WAL replay, as etcd's restore does. Apply calls grant, keysOf +
 * removeRevoked (around mvcc's deletes), checkpoint and onLeaseChanges.
 *
 * Leader-only state (the "primary" lessor, never persisted, never read by apply):
 * expiry times from the injected Clock, the expiry queue and the checkpoint queue.
 * Followers hold every lease forever. promote(extendMs, term) makes this lessor primary
 * and sets every expiry to now + extendMs + (checkpointed remaining TTL, else the full
 * TTL), spreading pile-ups as etcd does; demote() forgets all of it. The member promotes
 * when, as leader, it applies the first entry of its own term, which is also the moment
 * keep-alives may be answered (renew refuses until then).
 *
 * Invariants: a key is attached to at most one lease, and lease.keys mirrors the keys
 * in mvcc whose lease field names it; a granted TTL is in [minTtlSeconds, 9e9];
 * expiryMs is Infinity exactly when the lessor is not primary; the queues are empty
 * when not primary and hold only ids that were leases when registered.
 */
import { noObserve, type Observe } from '../shared/observe.js';
import { assert } from '../shared/assert.js';
import type { Clock } from '../shared/clock.js';
import { TsetcdError } from '../shared/errors.js';
import type { LeaseId } from '../shared/ids.js';
import { nullLogger, type Logger } from '../shared/logger.js';
import {
  forEachInRange,
  prefixRange,
  type Backend,
  type BackendBatch,
} from '../storage/backend.js';
import { LEASE_PREFIX } from '../storage/schema.js';
import { LeaseQueue } from './lease-queue.js';
import { ExpiryWaiters, type GoneReason } from './waiters.js';
import { pileUpDelays } from './pile-up.js';
import {
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  EXPIRED_RETRY_MS,
  LEASE_REVOKE_RATE_PER_SECOND,
  MAX_LEASE_TTL_SECONDS,
} from './limits.js';
import {
  decodeLeaseRecord,
  encodeLeaseRecord,
  leaseIdFromRecordKey,
  leaseRecordKey,
  type CheckpointEntry,
  type LeaseRecord,
} from './wire.js';

export interface LessorOptions {
  readonly minTtlSeconds: number;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** 0 disables checkpoints (etcd's default off; tsetcd's default on, 5 min). */
  readonly checkpointIntervalMs?: number;
  readonly expiredRetryMs?: number;
  readonly revokeRatePerSecond?: number;
  /** Grants (with TTL), renewals and revokes, for the metrics (shared/observe.ts). */
  readonly observe?: Observe;
}

/** A read-only view of one lease for TimeToLive and tests. */
export interface LeaseInfo {
  readonly id: LeaseId;
  readonly ttlSeconds: number;
  readonly remainingTtlSeconds: number;
  /** Leader clock time the lease expires at; Infinity when this lessor is not primary. */
  readonly expiryMs: number;
  /** Attached keys in byte order. */
  keys(): Buffer[];
}

export type RenewResult =
  | { readonly kind: 'renewed'; readonly ttlSeconds: number; readonly clearCheckpoint: boolean }
  | { readonly kind: 'not-found' }
  /** Past its expiry but not yet revoked: wait for the revoke (etcd Renew does). */
  | { readonly kind: 'expired' }
  | { readonly kind: 'not-primary' };

/** A key whose lease attachment changed (mvcc's LeaseChange, structurally). */
export interface LeaseAttachmentChange {
  readonly key: Buffer;
  readonly oldLease: LeaseId;
  readonly newLease: LeaseId;
}

class Lease implements LeaseInfo {
  /** latin1 string of the key (a byte-exact bijection) -> the key. */
  readonly attached = new Map<string, Buffer>();
  expiryMs = Infinity;

  constructor(
    readonly id: LeaseId,
    readonly ttlSeconds: number,
    public remainingTtlSeconds: number,
  ) {}

  /** etcd getRemainingTTL: the checkpointed remaining TTL when set, else the full TTL. */
  get effectiveTtlSeconds(): number {
    return this.remainingTtlSeconds > 0 ? this.remainingTtlSeconds : this.ttlSeconds;
  }

  keys(): Buffer[] {
    return [...this.attached.values()].sort(Buffer.compare);
  }

  record(): LeaseRecord {
    return {
      id: this.id,
      ttlSeconds: this.ttlSeconds,
      remainingTtlSeconds: this.remainingTtlSeconds,
    };
  }
}

export class Lessor {
  private readonly leaseMap = new Map<LeaseId, Lease>();
  private readonly expiryQueue = new LeaseQueue();
  private readonly checkpointQueue = new LeaseQueue();
  private readonly waiters = new ExpiryWaiters();
  private primary: { readonly term: number } | undefined;
  private readonly clock: Clock;
  private readonly logger: Logger;
  readonly minTtlSeconds: number;
  private readonly checkpointIntervalMs: number;
  private readonly expiredRetryMs: number;
  private readonly revokeRate: number;
  private readonly observe: Observe;

  constructor(opts: LessorOptions) {
    assert(
      Number.isSafeInteger(opts.minTtlSeconds) && opts.minTtlSeconds >= 0,
      'bad minimum lease TTL',
    );
    this.clock = opts.clock;
    this.logger = (opts.logger ?? nullLogger).child({ component: 'lessor' });
    this.minTtlSeconds = opts.minTtlSeconds;
    this.checkpointIntervalMs = opts.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    this.expiredRetryMs = opts.expiredRetryMs ?? EXPIRED_RETRY_MS;
    this.revokeRate = opts.revokeRatePerSecond ?? LEASE_REVOKE_RATE_PER_SECOND;
    this.observe = opts.observe ?? noObserve;
    assert(this.expiredRetryMs > 0, 'expired lease retry interval must be positive');
    assert(this.checkpointIntervalMs >= 0, 'checkpoint interval must not be negative');
  }

  /** A lessor holding every lease persisted in `backend` (all followers' view: forever). */
  static async open(backend: Backend, opts: LessorOptions): Promise<Lessor> {
    const lessor = new Lessor(opts);
    await lessor.load(backend);
    return lessor;
  }

  /**
   * Replaces every lease with the db's (after a snapshot from the leader replaced the
   * state db). The lessor becomes a follower's: promote() again if this member leads.
   */
  async reload(backend: Backend): Promise<void> {
    this.demote();
    for (const id of [...this.leaseMap.keys()]) {
      this.expiryQueue.remove(id);
      this.checkpointQueue.remove(id);
    }
    this.leaseMap.clear();
    await this.load(backend);
  }

  private async load(backend: Backend): Promise<void> {
    await forEachInRange(backend, prefixRange(Buffer.from([LEASE_PREFIX])), (k, v) => {
      const r = decodeLeaseRecord(v);
      assert(r.id === leaseIdFromRecordKey(k), `lease record ${r.id} stored under another id`);
      // A smaller minimum from an older config is raised, as etcd's recover does.
      const ttl = Math.max(r.ttlSeconds, this.minTtlSeconds);
      this.leaseMap.set(r.id, new Lease(r.id, ttl, r.remainingTtlSeconds));
    });
    this.logger.info({ leases: this.leaseMap.size }, 'recovered leases');
  }

  get size(): number {
    return this.leaseMap.size;
  }

  get isPrimary(): boolean {
    return this.primary !== undefined;
  }

  /** The term this lessor was promoted in (its expiries and checkpoints carry it). */
  get primaryTerm(): number | undefined {
    return this.primary?.term;
  }

  has(id: LeaseId): boolean {
    return this.leaseMap.has(id);
  }

  lookup(id: LeaseId): LeaseInfo | undefined {
    return this.leaseMap.get(id);
  }

  /** Every lease id, soonest expiry first, then by id (etcd sorts by expiry). */
  leases(): LeaseId[] {
    return [...this.leaseMap.values()]
      .sort((a, b) => a.expiryMs - b.expiryMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((l) => l.id);
  }

  // ---- replicated state: called from apply only ----

  /** Grants a lease (etcd lessor.Grant): raises a short TTL to the minimum. */
  grant(id: LeaseId, ttlSeconds: bigint, batch: BackendBatch): { id: LeaseId; ttlSeconds: number } {
    if (id === 0n) throw new TsetcdError('lease-not-found');
    if (ttlSeconds > BigInt(MAX_LEASE_TTL_SECONDS)) throw new TsetcdError('lease-ttl-too-large');
    const ttl = ttlSeconds < BigInt(this.minTtlSeconds) ? this.minTtlSeconds : Number(ttlSeconds);
    if (this.leaseMap.has(id)) throw new TsetcdError('lease-exists');
    const l = new Lease(id, ttl, 0);
    this.leaseMap.set(id, l);
    this.persist(l, batch);
    if (this.primary !== undefined) {
      const now = this.clock.nowMs();
      this.refresh(l, 0, now);
      this.scheduleCheckpoint(l, now);
    }
    this.observe('lease.granted', 1);
    this.observe('lease.ttl', ttl);
    return { id, ttlSeconds: ttl };
  }

  /** The keys a revoke must delete, in byte order (the same on every member). */
  keysOf(id: LeaseId): Buffer[] {
    const l = this.leaseMap.get(id);
    if (l === undefined) throw new TsetcdError('lease-not-found');
    return l.keys();
  }

  /** Last step of a revoke, after mvcc deleted keysOf(id) in the same batch. */
  removeRevoked(id: LeaseId, batch: BackendBatch): void {
    const l = this.leaseMap.get(id);
    assert(l !== undefined, `removeRevoked: lease ${id} does not exist`);
    assert(l.attached.size === 0, `lease ${id} still has ${l.attached.size} keys after its revoke`);
    this.leaseMap.delete(id);
    batch.del(leaseRecordKey(id));
    this.expiryQueue.remove(id);
    this.checkpointQueue.remove(id);
    this.waiters.settle(id, 'revoked');
    this.observe('lease.revoked', 1);
  }

  /** etcd lessor.Checkpoint: records the remaining TTL; unknown leases are ignored. */
  checkpoint(cp: CheckpointEntry, batch: BackendBatch): void {
    const l = this.leaseMap.get(cp.id);
    if (l === undefined) return;
    l.remainingTtlSeconds = cp.remainingTtlSeconds;
    this.persist(l, batch);
    if (this.primary !== undefined) this.scheduleCheckpoint(l, this.clock.nowMs());
  }

  /** Attaches a key (writes through apply, and the member's recovery at open). */
  attach(id: LeaseId, key: Buffer): boolean {
    const l = this.leaseMap.get(id);
    if (l === undefined) {
      this.logger.warn(
        { lease: id.toString(16), key: key.toString('latin1') },
        'key names a lease that does not exist',
      );
      return false;
    }
    l.attached.set(key.toString('latin1'), key);
    return true;
  }

  detach(id: LeaseId, key: Buffer): void {
    const l = this.leaseMap.get(id);
    if (l === undefined) {
      this.logger.warn({ lease: id.toString(16) }, 'detach from a lease that does not exist');
      return;
    }
    l.attached.delete(key.toString('latin1'));
  }

  /** mvcc's attachment changes of one write, in order. */
  onLeaseChanges(changes: readonly LeaseAttachmentChange[]): void {
    for (const c of changes) {
      if (c.oldLease !== 0n) this.detach(c.oldLease, c.key);
      if (c.newLease !== 0n)
        assert(this.attach(c.newLease, c.key), `attach to missing lease ${c.newLease}`);
    }
  }

  // ---- leader-only state ----

  promote(extendMs: number, term: number): void {
    assert(
      extendMs >= 0 && Number.isSafeInteger(term) && term > 0,
      `promote(${extendMs}, ${term})`,
    );
    // Re-promotion in a new term: renewals waiting on the old term's expiries retry.
    if (this.primary !== undefined) this.waiters.settleAll('demoted');
    this.expiryQueue.clear();
    this.checkpointQueue.clear();
    this.primary = { term };
    const now = this.clock.nowMs();
    for (const l of this.leaseMap.values()) {
      this.refresh(l, extendMs, now);
      this.scheduleCheckpoint(l, now);
    }
    this.spreadPileUps(extendMs, now);
    this.logger.info({ term, leases: this.leaseMap.size, extendMs }, 'lessor promoted');
  }

  demote(): void {
    if (this.primary === undefined) return;
    for (const l of this.leaseMap.values()) l.expiryMs = Infinity;
    this.expiryQueue.clear();
    this.checkpointQueue.clear();
    this.primary = undefined;
    this.waiters.settleAll('demoted');
    this.logger.info({}, 'lessor demoted');
  }

  /** etcd lessor.Renew. The caller proposes a clearing checkpoint when asked to. */
  renew(id: LeaseId): RenewResult {
    if (this.primary === undefined) return { kind: 'not-primary' };
    const l = this.leaseMap.get(id);
    if (l === undefined) return { kind: 'not-found' };
    const now = this.clock.nowMs();
    if (now >= l.expiryMs) return { kind: 'expired' };
    // The leader's expiry restarts from the full TTL; the replicated remaining TTL is
    // cleared by a checkpoint entry so a later promotion does not use the stale one.
    const clearCheckpoint = this.checkpointIntervalMs > 0 && l.remainingTtlSeconds > 0;
    l.expiryMs = now + l.ttlSeconds * 1000;
    this.expiryQueue.registerOrUpdate(id, l.expiryMs);
    this.observe('lease.renewed', 1);
    return { kind: 'renewed', ttlSeconds: l.ttlSeconds, clearCheckpoint };
  }

  /** Resolves when `id` is revoked or this lessor stops being primary. */
  waitGone(id: LeaseId, signal?: AbortSignal): Promise<GoneReason> {
    if (!this.leaseMap.has(id)) return Promise.resolve('revoked');
    if (this.primary === undefined) return Promise.resolve('demoted');
    return this.waiters.wait(id, signal);
  }

  /**
   * Up to `limit` leases past their expiry (etcd findExpiredLeases). Each one offered is
   * offered again after expiredRetryMs if its revoke has not been applied by then.
   */
  expired(limit: number): LeaseId[] {
    const out: LeaseId[] = [];
    if (this.primary === undefined) return out;
    const now = this.clock.nowMs();
    while (out.length < limit) {
      const top = this.expiryQueue.peek();
      if (top === undefined || now < top.timeMs) break;
      const l = this.leaseMap.get(top.id);
      if (l === undefined) {
        this.expiryQueue.pop();
        continue;
      }
      // Moves the item past `now`, so the loop ends after each due item is seen once.
      this.expiryQueue.registerOrUpdate(top.id, now + this.expiredRetryMs);
      if (now >= l.expiryMs) out.push(l.id);
    }
    return out;
  }

  /**
   * An expiry proposal for `id` did not apply (dropped at a leader change, fenced by a
   * newer term, timed out): offer it again at the next round instead of waiting out
   * expiredRetryMs, so a lease is not kept seconds past its bound after a hand-over.
   */
  expiryNotApplied(id: LeaseId): void {
    if (this.primary === undefined || !this.leaseMap.has(id)) return;
    this.expiryQueue.registerOrUpdate(id, this.clock.nowMs());
  }

  /** Due checkpoints of remaining TTLs, at most `limit` (etcd findDueScheduledCheckpoints). */
  dueCheckpoints(limit: number): CheckpointEntry[] {
    const out: CheckpointEntry[] = [];
    if (this.primary === undefined || this.checkpointIntervalMs === 0) return out;
    const now = this.clock.nowMs();
    while (out.length < limit) {
      const top = this.checkpointQueue.peek();
      if (top === undefined || top.timeMs > now) break;
      this.checkpointQueue.pop();
      const l = this.leaseMap.get(top.id);
      if (l === undefined || now >= l.expiryMs) continue;
      const remaining = Math.ceil((l.expiryMs - now) / 1000);
      // Scheduled again here (not only when the checkpoint applies), so a lost proposal
      // or a just-renewed lease is checkpointed at the next interval.
      if (remaining * 1000 > this.checkpointIntervalMs) {
        this.checkpointQueue.registerOrUpdate(l.id, now + this.checkpointIntervalMs);
      }
      if (remaining >= l.ttlSeconds) continue;
      out.push({ id: l.id, remainingTtlSeconds: remaining });
    }
    return out;
  }

  private persist(l: Lease, batch: BackendBatch): void {
    batch.put(leaseRecordKey(l.id), encodeLeaseRecord(l.record()));
  }

  private refresh(l: Lease, extendMs: number, now: number): void {
    l.expiryMs = now + extendMs + l.effectiveTtlSeconds * 1000;
    this.expiryQueue.registerOrUpdate(l.id, l.expiryMs);
  }

  private scheduleCheckpoint(l: Lease, now: number): void {
    if (this.checkpointIntervalMs === 0) return;
    if (l.effectiveTtlSeconds * 1000 > this.checkpointIntervalMs) {
      this.checkpointQueue.registerOrUpdate(l.id, now + this.checkpointIntervalMs);
    }
  }

  /** etcd Promote's pile-up adjustment (pile-up.ts): later leases of a crowded second wait. */
  private spreadPileUps(extendMs: number, now: number): void {
    if (this.leaseMap.size < this.revokeRate) return;
    const remaining = [...this.leaseMap.values()].map((l) => ({
      id: l.id,
      remainingMs: l.expiryMs - now,
    }));
    for (const [id, delayMs] of pileUpDelays(remaining, this.revokeRate)) {
      const l = this.leaseMap.get(id);
      assert(l !== undefined, `pile-up delay for unknown lease ${id}`);
      this.refresh(l, delayMs + extendMs, now);
      this.scheduleCheckpoint(l, now);
    }
  }
}
