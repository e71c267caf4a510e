/**
 * LeaseDriver: the leader's lease clock work (etcd lessor.runLoop + the server's
 * revokeExpiredLeases). Every intervalMs (500) it first syncs the lessor with
 * leadership (syncLeadership: promote when this member is a leader that applied an
 * entry of its own term, with etcd's extension of one election timeout; demote when
 * it is not), then, on a primary lessor:
 *  1. proposes one LeaseExpire entry per expired lease, at most revokeLimit per round
 *     (etcd: leaseRevokeRate / 2 = 500 per 500 ms), each carrying the term the lessor
 *     was promoted in, so apply drops it unless it is appended in that same term;
 *  2. proposes the due checkpoints of remaining TTLs, batches of at most
 *     checkpointBatchMax (1000) leases per entry, at most checkpointBatchesPerRound.
 *
 * The driver owns no lease state: the lessor decides what is due (and offers an
 * unrevoked expired lease again after 3 s), apply decides what happens. Proposals go
 * through `proposeLocal`, which must never forward to another member (docs/architecture.md §1).
 * Outstanding expiry proposals are bounded by revokeLimit: a round that finds the
 * previous ones still in flight proposes only up to the limit.
 */
import type { Logger } from '../shared/logger.js';
import type { TestFaults } from '../shared/test-faults.js';
import type { Cancelable, Scheduler } from '../shared/scheduler.js';
import { isTsetcdError, type ErrorCode } from '../shared/errors.js';
import type { Lessor } from './lessor.js';
import type { LeaseId } from '../shared/ids.js';
import { LEASE_REVOKE_RATE_PER_SECOND } from './limits.js';
import { encodeCheckpoint, encodeExpire } from './wire.js';

export type LeaseEntryKind = 'expire' | 'checkpoint';

/** The part of apply's ApplyOutcome the driver reads. */
export interface ProposalOutcome {
  readonly ok: boolean;
  readonly error?: unknown;
}

export interface LeaseDriverDeps {
  /** noLeaseFencing: a deposed leader keeps expiring leases (shared/test-faults.ts). */
  readonly bugs?: Pick<TestFaults, 'noLeaseFencing'>;
  readonly lessor: Lessor;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  /**
   * Propose an entry on THIS member's consensus node, never forwarded to a leader
   * elsewhere; resolves with the apply outcome (apply's ApplyOutcome fits) or rejects.
   */
  proposeLocal(kind: LeaseEntryKind, payload: Uint8Array): Promise<ProposalOutcome>;
  /** Raft's view now: leader that applied an entry of its own term, and the term. */
  leadership(): { readonly isReadyLeader: boolean; readonly term: number };
  /** etcd promotes with extend = election timeout. */
  readonly electionTimeoutMs: number;
  readonly intervalMs?: number;
  readonly revokeLimit?: number;
  readonly checkpointBatchMax?: number;
  readonly checkpointBatchesPerRound?: number;
}

const ORDINARY_FAILURES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'leader-changed',
  'lease-not-found',
  'stopped',
  'canceled',
  'not-leader',
  'no-leader',
  'proposal-dropped',
  'timeout',
]);

export class LeaseDriver {
  private timer: Cancelable | undefined;
  private expiriesInFlight = 0;
  private readonly intervalMs: number;
  private readonly revokeLimit: number;
  private readonly checkpointBatchMax: number;
  private readonly checkpointBatchesPerRound: number;
  private readonly logger: Logger;

  constructor(private readonly deps: LeaseDriverDeps) {
    this.intervalMs = deps.intervalMs ?? 500;
    this.revokeLimit = deps.revokeLimit ?? LEASE_REVOKE_RATE_PER_SECOND / 2;
    this.checkpointBatchMax = deps.checkpointBatchMax ?? 1000;
    this.checkpointBatchesPerRound =
      deps.checkpointBatchesPerRound ?? LEASE_REVOKE_RATE_PER_SECOND / 2;
    this.logger = deps.logger.child({ component: 'lease-driver' });
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = this.deps.scheduler.every(this.intervalMs, () => this.tick());
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Number of expiry proposals not yet settled. */
  get inFlight(): number {
    return this.expiriesInFlight;
  }

  /**
   * Promote or demote the lessor to match leadership. Called every round, and by the
   * member right when leadership changes or the leader applies its first own-term entry
   * (etcd promotes while applying that entry), so keep-alives need not wait a round.
   */
  syncLeadership(): void {
    const { lessor } = this.deps;
    const { isReadyLeader, term } = this.deps.leadership();
    if (isReadyLeader) {
      if (lessor.primaryTerm !== term) lessor.promote(this.deps.electionTimeoutMs, term);
    } else if (lessor.isPrimary && this.deps.bugs?.noLeaseFencing !== true) {
      lessor.demote();
    }
  }

  /** One round; public so tests (and a simulator) can drive it step by step. */
  tick(): void {
    this.syncLeadership();
    const { lessor } = this.deps;
    const term = lessor.primaryTerm;
    if (term === undefined) return;
    const room = this.revokeLimit - this.expiriesInFlight;
    const expired = room > 0 ? lessor.expired(room) : [];
    for (const id of expired) {
      this.expiriesInFlight++;
      this.deps.proposeLocal('expire', encodeExpire(term, id)).then(
        (outcome) => {
          this.expiriesInFlight--;
          if (!outcome.ok) this.failed('expire', outcome.error, id);
        },
        (err: unknown) => {
          this.expiriesInFlight--;
          this.failed('expire', err, id);
        },
      );
    }
    for (let round = 0; round < this.checkpointBatchesPerRound; round++) {
      const cps = lessor.dueCheckpoints(this.checkpointBatchMax);
      if (cps.length > 0) {
        this.deps.proposeLocal('checkpoint', encodeCheckpoint(term, cps)).then(
          (outcome) => {
            if (!outcome.ok) this.failed('checkpoint', outcome.error);
          },
          (err: unknown) => this.failed('checkpoint', err),
        );
      }
      if (cps.length < this.checkpointBatchMax) break;
    }
  }

  private failed(kind: LeaseEntryKind, err: unknown, id?: bigint): void {
    if (kind === 'expire' && id !== undefined) this.deps.lessor.expiryNotApplied(id as LeaseId);
    // Losing leadership mid-flight is ordinary; the next leader proposes its own.
    const ordinary = isTsetcdError(err) && ORDINARY_FAILURES.has(err.code);
    const fields = { kind, err, ...(id !== undefined ? { lease: id.toString(16) } : {}) };
    if (ordinary) this.logger.debug(fields, 'lease proposal did not apply');
    else this.logger.warn(fields, 'lease proposal failed');
  }
}
