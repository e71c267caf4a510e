/**
 * Building blocks shared by the mutex and election recipes (etcd client/v3/concurrency
 * session.go and key.go): the session lease, the per-session key under a prefix, the
 * "first/last created under a prefix" reads, and waiting for deletions.
 *
 * - Session: the server-side recipes use the caller's lease as is; lease 0 makes etcd's
 *   NewSession grant a fresh lease with the default TTL of 60 s that nobody keeps alive
 *   (the session is orphaned at once), so the keys written with it expire after 60 s.
 * - A session's key is prefix + the lease id in lowercase hex, as Go's "%x" prints an
 *   int64 (a negative id gets a '-' sign).
 * - waitDeletes(prefix, maxCreateRev): until no key under the prefix has a create
 *   revision <= maxCreateRev, take the youngest such key (sort by create revision
 *   descending, limit 1) and wait, with a watch from the read's header revision, for a
 *   DELETE of it. Ordering by create revision is what makes waiters queue fairly: each
 *   waits only on its predecessor at the time it looks.
 */
import { prefixEnd } from '../shared/bytes.js';
import { TsetcdError } from '../shared/errors.js';
import type { LeaseId } from '../shared/ids.js';
import type * as pb from '../generated/pb.js';
import { toNumber } from '../shared/pb-codec.js';
import type { RecipeClient } from './client.js';
import { RecipeError } from './errors.js';

/** etcd concurrency defaultSessionTTL. */
export const DEFAULT_SESSION_TTL_SECONDS = 60;

const SORT_ASCEND = 1;
const SORT_DESCEND = 2;
const SORT_BY_CREATE = 2;

/** The lease the recipe writes with: the caller's, or a new 60 s one for lease 0. */
export async function sessionLease(
  client: RecipeClient,
  lease: LeaseId,
  signal: AbortSignal,
): Promise<LeaseId> {
  if (lease !== 0n) return lease;
  return client.leaseGrant(DEFAULT_SESSION_TTL_SECONDS, signal);
}

/** Go's fmt "%x" of an int64. */
export function leaseHex(lease: LeaseId): string {
  return lease < 0n ? `-${(-lease).toString(16)}` : lease.toString(16);
}

export function sessionKey(prefix: Buffer, lease: LeaseId): Buffer {
  return Buffer.concat([prefix, Buffer.from(leaseHex(lease), 'latin1')]);
}

/** The prefix an election or mutex named `name` keeps its keys under. */
export function recipePrefix(name: Uint8Array): Buffer {
  return Buffer.concat([name, Buffer.from('/')]);
}

/** clientv3.WithFirstCreate: the oldest key under the prefix. */
export function firstCreateRange(prefix: Buffer): pb.RangeRequest {
  return {
    key: prefix,
    rangeEnd: prefixEnd(prefix),
    sortTarget: SORT_BY_CREATE,
    sortOrder: SORT_ASCEND,
    limit: 1,
  };
}

/** clientv3.WithLastCreate + WithMaxCreateRev: the youngest key created at or before
 * maxCreateRev. */
export function lastCreateBefore(prefix: Buffer, maxCreateRev: number): pb.RangeRequest {
  return {
    key: prefix,
    rangeEnd: prefixEnd(prefix),
    sortTarget: SORT_BY_CREATE,
    sortOrder: SORT_DESCEND,
    limit: 1,
    maxCreateRevision: maxCreateRev,
  };
}

export function headerRevision(res: { header?: pb.ResponseHeader | null }): number {
  return toNumber(res.header?.revision);
}

/** Resolves at the first DELETE of `key` at or after revision `rev`. */
export async function waitDelete(
  client: RecipeClient,
  key: Buffer,
  rev: number,
  signal: AbortSignal,
): Promise<void> {
  for await (const wr of client.watch({ key, startRevision: rev }, signal)) {
    if (wr.events.some((e) => e.type === 'delete')) return;
  }
  if (signal.aborted) throw new TsetcdError('canceled');
  throw new RecipeError('lost-watcher');
}

/** Waits until every key under `prefix` created at or before maxCreateRev is gone. */
export async function waitDeletes(
  client: RecipeClient,
  prefix: Buffer,
  maxCreateRev: number,
  signal: AbortSignal,
): Promise<number> {
  for (;;) {
    const res = await client.range(lastCreateBefore(prefix, maxCreateRev), signal);
    const last = res.kvs?.[0];
    if (last === undefined) return headerRevision(res);
    await waitDelete(client, Buffer.from(last.key ?? []), headerRevision(res), signal);
  }
}

/** A signal that never aborts, for the cleanup etcd runs with the client's own context. */
export function detachedSignal(): AbortSignal {
  return new AbortController().signal;
}
