/**
 * The lease request kinds as apply runs them. The Applier builds these from its lessor
 * when it is constructed (apply composes lease and mvcc, docs/architecture.md §2); this
 * module sees apply's context only through the structural LeaseApplyContext, so lease
 * imports neither apply nor mvcc.
 *
 * Everything here is synchronous and deterministic: the batch and the response depend
 * only on the entry and the replicated state (the leader's in-memory expiry, set by
 * grant on a primary lessor, is not part of either).
 *
 * - LeaseGrant: etcd's LeaseGrantRequest; the id is never 0 (the proposer chose one).
 * - LeaseRevoke: every attached key deleted in ONE revision (a single mvcc txn, keys in
 *   byte order as etcd sorts them), then the lease record; watch gets the DELETE events
 *   with prev_kv from mvcc.
 * - LeaseExpire: [term][LeaseRevokeRequest]; revokes like LeaseRevoke only when the
 *   proposer's term equals the entry's log term; otherwise 'leader-changed', no change.
 *   An expiry of a lease already gone is 'lease-not-found', no change.
 * - LeaseCheckpoint: [term][LeaseCheckpointRequest], fenced the same way.
 */
import type { BackendBatch } from '../storage/backend.js';
import type { LeaseId } from '../shared/ids.js';
import { TsetcdError } from '../shared/errors.js';
import type { TestFaults } from '../shared/test-faults.js';
import type { Lessor } from './lessor.js';
import {
  decodeCheckpointRequest,
  decodeFenced,
  decodeGrantRequest,
  decodeRevokeRequest,
} from './wire.js';

/** What a lease applier needs of apply's ApplyContext (a structural subset of it). */
export interface LeaseApplyContext {
  readonly batch: BackendBatch;
  readonly position: { readonly index: number; readonly term: number };
  readonly store: { readonly currentRevision: number };
  /** Deletes the keys through mvcc in this batch, at one revision; mvcc reports the detaches. */
  deleteKeys(keys: readonly Buffer[]): { revision: number; deleted: number };
}

export type LeaseKindApplier = (
  payload: Uint8Array,
  ctx: LeaseApplyContext,
) => { response: object; revision: number };

/** The apply response of a LeaseGrant (the handler turns it into LeaseGrantResponse). */
export interface LeaseGrantResult {
  readonly id: LeaseId;
  readonly ttlSeconds: number;
}

/** The apply response of a revoke or an expiry. */
export interface LeaseRevokeResult {
  readonly deleted: number;
}

export interface LeaseAppliers {
  readonly grant: LeaseKindApplier;
  readonly revoke: LeaseKindApplier;
  readonly expire: LeaseKindApplier;
  readonly checkpoint: LeaseKindApplier;
}

/**
 * `bugs.noLeaseFencing` (shared/test-faults.ts) applies an expiry whatever term
 * proposed it, so the Jepsen suite can show it catches a deposed leader's expiry.
 */
export function leaseAppliers(lessor: Lessor, bugs: Pick<TestFaults, 'noLeaseFencing'> = {}): LeaseAppliers {
  const revokeNow = (
    id: LeaseId,
    ctx: LeaseApplyContext,
  ): { response: LeaseRevokeResult; revision: number } => {
    const keys = lessor.keysOf(id); // throws lease-not-found
    const r =
      keys.length > 0 ? ctx.deleteKeys(keys) : { revision: ctx.store.currentRevision, deleted: 0 };
    lessor.removeRevoked(id, ctx.batch);
    return { response: { deleted: r.deleted }, revision: r.revision };
  };

  const fenced = (payload: Uint8Array, ctx: LeaseApplyContext): Uint8Array => {
    const { term, body } = decodeFenced(payload);
    if (term !== ctx.position.term && bugs.noLeaseFencing !== true)
      throw new TsetcdError('leader-changed', `proposed in term ${term}, entry of term ${ctx.position.term}`);
    return body;
  };

  return {
    grant: (payload, ctx) => {
      const req = decodeGrantRequest(payload);
      const granted: LeaseGrantResult = lessor.grant(req.id, req.ttlSeconds, ctx.batch);
      return { response: granted, revision: ctx.store.currentRevision };
    },
    revoke: (payload, ctx) => revokeNow(decodeRevokeRequest(payload), ctx),
    expire: (payload, ctx) => revokeNow(decodeRevokeRequest(fenced(payload, ctx)), ctx),
    checkpoint: (payload, ctx) => {
      for (const cp of decodeCheckpointRequest(fenced(payload, ctx)))
        lessor.checkpoint(cp, ctx.batch);
      return { response: {}, revision: ctx.store.currentRevision };
    },
  };
}
