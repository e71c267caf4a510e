/**
 * Permission checks of whole KV and lease requests (etcdserver/apply_auth.go), as
 * etcd 3.5.30+ makes them: the 3.4.23 holes (nested txns unchecked, a Put inside a txn
 * checked for write only) are closed, as the auth reference advises.
 *
 * - Range: read on [key, range_end).
 * - Put: write on key; when it names a lease that exists, write on every key already
 *   attached to it (a user who could not revoke the lease may not attach to it); read
 *   on key when prev_kv is asked for. In that order.
 * - DeleteRange: write on the range; then read on it when prev_kv is asked for.
 * - Txn: read on every compare's [key, range_end); then every op of success and of
 *   failure, whichever branch runs, each as above; nested txns recursively.
 * - LeaseRevoke: write on every key attached to the lease (none attached: nothing to
 *   check, even for an anonymous caller).
 *
 * Every check passes while auth is disabled; the first failure is thrown.
 */
import type * as pb from '../generated/pb.js';
import { leaseId, type LeaseId } from '../shared/ids.js';
import { toBigInt } from '../shared/pb-codec.js';
import type { AuthStore } from './store.js';
import type { AuthInfo } from './types.js';

/** The keys attached to a lease, or undefined when no such lease exists. */
export type LeaseKeys = (id: LeaseId) => Iterable<Uint8Array> | undefined;

export function checkRangeRequest(store: AuthStore, ai: AuthInfo, r: pb.RangeRequest): void {
  store.checkRange(ai, r.key ?? EMPTY, r.rangeEnd);
}

const EMPTY = new Uint8Array(0);

export function checkPutRequest(store: AuthStore, ai: AuthInfo, r: pb.PutRequest, leaseKeys: LeaseKeys): void {
  if (!store.enabled) return;
  const key = r.key ?? EMPTY;
  store.checkPut(ai, key);
  const lease = leaseId(toBigInt(r.lease, false));
  if (lease !== 0n) checkLeaseKeys(store, ai, lease, leaseKeys);
  if (r.prevKv === true) store.checkRange(ai, key, undefined);
}

export function checkDeleteRangeRequest(store: AuthStore, ai: AuthInfo, r: pb.DeleteRangeRequest): void {
  if (!store.enabled) return;
  const key = r.key ?? EMPTY;
  store.checkDeleteRange(ai, key, r.rangeEnd);
  if (r.prevKv === true) store.checkRange(ai, key, r.rangeEnd);
}

export function checkTxnRequest(store: AuthStore, ai: AuthInfo, r: pb.TxnRequest, leaseKeys: LeaseKeys): void {
  if (!store.enabled) return;
  for (const c of r.compare ?? []) store.checkRange(ai, c.key ?? EMPTY, c.rangeEnd);
  for (const ops of [r.success ?? [], r.failure ?? []]) {
    for (const op of ops) checkRequestOp(store, ai, op, leaseKeys);
  }
}

function checkRequestOp(store: AuthStore, ai: AuthInfo, op: pb.RequestOp, leaseKeys: LeaseKeys): void {
  if (op.requestRange != null) checkRangeRequest(store, ai, op.requestRange);
  else if (op.requestPut != null) checkPutRequest(store, ai, op.requestPut, leaseKeys);
  else if (op.requestDeleteRange != null) checkDeleteRangeRequest(store, ai, op.requestDeleteRange);
  else if (op.requestTxn != null) checkTxnRequest(store, ai, op.requestTxn, leaseKeys);
}

/** LeaseRevoke (and a Put's lease): write on every key attached to the lease. */
export function checkLeaseKeys(store: AuthStore, ai: AuthInfo, id: LeaseId, leaseKeys: LeaseKeys): void {
  if (!store.enabled) return;
  const keys = leaseKeys(id);
  if (keys === undefined) return;
  for (const key of keys) store.checkPut(ai, key);
}
