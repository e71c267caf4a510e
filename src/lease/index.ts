/**
 * lease: etcd's leases (server/lease), without its cycle through mvcc (docs/architecture.md §2).
 *
 * Owns: the lessor (leases, their attached keys, the 'l' records in the state db),
 * the leader's expiry and checkpoint queues, the apply functions of the four lease
 * request kinds, and the LeaseDriver that proposes expiries and checkpoints.
 *
 * How a member uses it (the wiring lives in server/member-core.ts):
 *   const lessor = await Lessor.open(backend, { minTtlSeconds, clock, logger });
 *   await recoverAttachments(lessor, store);            // before the WAL replay
 *   new Applier({ store, membership, lessor, alarms, logger }); // apply runs leaseAppliers(lessor)
 *   const driver = new LeaseDriver({ lessor, scheduler, logger, proposeLocal, leadership,
 *     electionTimeoutMs });
 *   driver.start();   // every 500 ms: syncLeadership(), expiries, checkpoints
 *   on a leader change, and when the leader applied its first own-term entry:
 *   driver.syncLeadership()   // promote(electionTimeoutMs, term) or demote()
 *
 * Safety (docs/architecture.md §1): only a primary lessor computes expiries; an expiry
 * entry carries the term of the promotion and apply runs it only in an entry of that
 * term; followers hold leases forever; keep-alives are refused until promotion.
 */
export {
  minLeaseTtlSeconds,
  MAX_LEASE_TTL_SECONDS,
  LEASE_REVOKE_RATE_PER_SECOND,
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  EXPIRED_RETRY_MS,
} from './limits.js';
export { pileUpDelays } from './pile-up.js';
export {
  Lessor,
  type LessorOptions,
  type LeaseInfo,
  type RenewResult,
  type LeaseAttachmentChange,
} from './lessor.js';
export { LeaseQueue, type QueueItem } from './lease-queue.js';
export {
  LeaseDriver,
  type LeaseDriverDeps,
  type LeaseEntryKind,
  type ProposalOutcome,
} from './driver.js';
export {
  leaseAppliers,
  type LeaseAppliers,
  type LeaseApplyContext,
  type LeaseKindApplier,
  type LeaseGrantResult,
  type LeaseRevokeResult,
} from './lease-apply.js';
export type { GoneReason } from './waiters.js';
export { recoverAttachments, type LiveKeySource, type RecoveredAttachments } from './recover.js';
export {
  encodeGrantRequest,
  encodeRevokeRequest,
  encodeCheckpoint,
  encodeExpire,
  encodeFenced,
  decodeFenced,
  encodeCheckpointRequest,
  decodeCheckpointRequest,
  encodeLeaseRecord,
  decodeLeaseRecord,
  leaseRecordKey,
  type CheckpointEntry,
  type LeaseRecord,
} from './wire.js';
