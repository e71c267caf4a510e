/**
 * The client the concurrency recipes run on: the subset of etcd's client/v3 that
 * client/v3/concurrency uses (Txn, Get, Delete, Grant, Watch), as an interface so the
 * same recipes run over a member's own store, watch hub and proposals (member-client.ts,
 * what etcd's v3client loopback is for v3election / v3lock) and over an in-process fake
 * in tests.
 *
 * Contract (what the recipes rely on, as they rely on etcd's client):
 * - range is linearizable: it sees every write that completed before it was called;
 *   its header revision is the store revision it was served at.
 * - txn / deleteRange go through the log and resolve after they applied locally; the
 *   header revision is the store revision after them. A failure at apply (unknown
 *   lease) rejects with the typed TsetcdError.
 * - watch yields, in revision order and without gaps, every change of the key (or of
 *   [key, rangeEnd)) from startRevision on, one response per revision or per catch-up
 *   batch, never an empty one; it rejects with TsetcdError('compacted') when
 *   startRevision was compacted, ends (returns) only if the watch was ended by the
 *   member (stream closed), and rejects with TsetcdError('canceled') once `signal`
 *   aborts.
 * - leaseGrant grants a lease with a member-chosen id.
 * All messages are the etcd protobuf shapes (src/shared/pb.ts); responses carry a
 * header with at least `revision`.
 */
import type * as pb from '../generated/pb.js';
import type { LeaseId } from '../shared/ids.js';

export interface RecipeWatchRequest {
  readonly key: Buffer;
  /** Absent or empty: the single key. */
  readonly rangeEnd?: Buffer;
  /** > 0: the first revision to deliver. */
  readonly startRevision: number;
}

export interface RecipeEvent {
  readonly type: 'put' | 'delete';
  /** For a delete only key and mod_revision are set (etcd's delete event). */
  readonly kv: pb.KeyValue;
}

export interface RecipeWatchResponse {
  /** Header revision: the event revision (live) or the store revision (catch-up). */
  readonly revision: number;
  /** Never empty. */
  readonly events: readonly RecipeEvent[];
}

export interface RecipeClient {
  range(req: pb.RangeRequest, signal: AbortSignal): Promise<pb.RangeResponse>;
  txn(req: pb.TxnRequest, signal: AbortSignal): Promise<pb.TxnResponse>;
  deleteRange(req: pb.DeleteRangeRequest, signal: AbortSignal): Promise<pb.DeleteRangeResponse>;
  leaseGrant(ttlSeconds: number, signal: AbortSignal): Promise<LeaseId>;
  watch(req: RecipeWatchRequest, signal: AbortSignal): AsyncIterable<RecipeWatchResponse>;
}
