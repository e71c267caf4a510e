/**
 * The election recipe behind the Election service (etcd client/v3/concurrency
 * election.go, as v3election runs it on the server with the caller's lease).
 *
 * - campaign(name, lease, value): key = name + "/" + hex(lease) (a new 60 s lease for
 *   lease 0). One txn: if create_revision(key) == 0 then Put(key, value, lease) else
 *   Get(key). The leader key's rev is the txn revision, or the existing key's create
 *   revision (the same lease campaigns again; a different value is proclaimed first).
 *   Then wait for the deletion of every key under the prefix created before rev. If
 *   the caller goes away while waiting, the candidacy is resigned (key deleted if its
 *   create revision is still rev). Answer: LeaderKey{name, key, rev, lease} with the
 *   campaign txn's header. rev is the fencing token: it only grows between leaders.
 * - proclaim(leader, value): txn if create_revision(key) == rev then Put(key, value,
 *   lease) — else "election: not leader".
 * - resign(leader): txn if create_revision(key) == rev then Delete(key); answers with
 *   the txn's header whether or not the key was still there.
 * - leader(name): the key with the lowest create revision under the prefix, or
 *   "election: no leader".
 * - observe(name): the current leader, then every new value of its key, and the next
 *   leader after its key is deleted (waiting, via a watch of the prefix, for the first
 *   PUT when there is none). Ends quietly when a read or watch fails, as etcd's
 *   Observe channel closes.
 * proclaim and resign, like etcd's session for them, grant a 60 s lease for lease 0.
 */
import type { LeaseId } from '../shared/ids.js';
import type * as pb from '../generated/pb.js';
import { prefixEnd, toBuffer } from '../shared/bytes.js';
import { fromBigInt, toNumber } from '../shared/pb-codec.js';
import type { RecipeClient } from './client.js';
import { RecipeError } from './errors.js';
import {
  detachedSignal,
  firstCreateRange,
  headerRevision,
  recipePrefix,
  sessionKey,
  sessionLease,
  waitDeletes,
} from './keys.js';

const COMPARE_EQUAL = 0;
const COMPARE_CREATE = 1;

export interface LeaderKey {
  readonly name: Buffer;
  readonly key: Buffer;
  /** The key's create revision. */
  readonly rev: number;
  readonly lease: LeaseId;
}

export interface CampaignResult {
  readonly leader: LeaderKey;
  /** Header revision of the campaign txn. */
  readonly revision: number;
}

export interface LeaderValue {
  readonly kv: pb.KeyValue;
  readonly revision: number;
}

function isLeader(key: Buffer, rev: number): pb.Compare {
  return { target: COMPARE_CREATE, result: COMPARE_EQUAL, key, createRevision: rev };
}

export async function campaign(
  client: RecipeClient,
  name: Uint8Array,
  lease: LeaseId,
  value: Uint8Array,
  signal: AbortSignal,
): Promise<CampaignResult> {
  const session = await sessionLease(client, lease, signal);
  const prefix = recipePrefix(name);
  const key = sessionKey(prefix, session);
  const res = await client.txn(
    {
      compare: [isLeader(key, 0)],
      success: [{ requestPut: { key, value, lease: fromBigInt(session, false) } }],
      failure: [{ requestRange: { key } }],
    },
    signal,
  );
  let rev = headerRevision(res);
  if (res.succeeded !== true) {
    const kv = res.responses?.[0]?.responseRange?.kvs?.[0];
    rev = toNumber(kv?.createRevision);
    if (!toBuffer(kv?.value).equals(toBuffer(value))) {
      try {
        await proclaimAs(client, key, rev, session, value, signal);
      } catch (err) {
        await resignQuietly(client, key, rev, signal);
        throw err;
      }
    }
  }
  try {
    await waitDeletes(client, prefix, rev - 1, signal);
  } catch (err) {
    // etcd resigns only when the caller's context ended; other failures keep the key.
    if (signal.aborted) await resignQuietly(client, key, rev, detachedSignal());
    throw err;
  }
  const leaderKey: LeaderKey = { name: Buffer.from(name), key, rev, lease: session };
  return { leader: leaderKey, revision: headerRevision(res) };
}

export async function proclaim(
  client: RecipeClient,
  leader: LeaderKey,
  value: Uint8Array,
  signal: AbortSignal,
): Promise<number> {
  const session = await sessionLease(client, leader.lease, signal);
  return proclaimAs(client, leader.key, leader.rev, session, value, signal);
}

async function proclaimAs(
  client: RecipeClient,
  key: Buffer,
  rev: number,
  lease: LeaseId,
  value: Uint8Array,
  signal: AbortSignal,
): Promise<number> {
  const res = await client.txn(
    {
      compare: [isLeader(key, rev)],
      success: [{ requestPut: { key, value, lease: fromBigInt(lease, false) } }],
      failure: [],
    },
    signal,
  );
  if (res.succeeded !== true) throw new RecipeError('election-not-leader');
  return headerRevision(res);
}

export async function resign(
  client: RecipeClient,
  leader: LeaderKey,
  signal: AbortSignal,
): Promise<number> {
  await sessionLease(client, leader.lease, signal);
  return resignAs(client, leader.key, leader.rev, signal);
}

async function resignAs(
  client: RecipeClient,
  key: Buffer,
  rev: number,
  signal: AbortSignal,
): Promise<number> {
  const res = await client.txn(
    { compare: [isLeader(key, rev)], success: [{ requestDeleteRange: { key } }], failure: [] },
    signal,
  );
  return headerRevision(res);
}

async function resignQuietly(
  client: RecipeClient,
  key: Buffer,
  rev: number,
  signal: AbortSignal,
): Promise<void> {
  await resignAs(client, key, rev, signal).catch(() => undefined);
}

export async function leader(
  client: RecipeClient,
  name: Uint8Array,
  signal: AbortSignal,
): Promise<LeaderValue> {
  const res = await client.range(firstCreateRange(recipePrefix(name)), signal);
  const kv = res.kvs?.[0];
  if (kv === undefined) throw new RecipeError('election-no-leader');
  return { kv, revision: headerRevision(res) };
}

/** Leader values as they change; ends when a read or watch fails or `signal` aborts. */
export async function* observe(
  client: RecipeClient,
  name: Uint8Array,
  signal: AbortSignal,
): AsyncGenerator<LeaderValue, void, undefined> {
  const prefix = recipePrefix(name);
  try {
    for (;;) {
      const res = await client.range(firstCreateRange(prefix), signal);
      let current: LeaderValue | undefined;
      const first = res.kvs?.[0];
      if (first !== undefined) {
        current = { kv: first, revision: headerRevision(res) };
      } else {
        // No leader: the first PUT under the prefix is the next one (a delete is skipped).
        const rangeEnd = prefixEnd(prefix);
        const watch = { key: prefix, rangeEnd, startRevision: headerRevision(res) };
        for await (const wr of client.watch(watch, signal)) {
          const put = wr.events.find((e) => e.type === 'put');
          if (put !== undefined) {
            current = { kv: put.kv, revision: toNumber(put.kv.modRevision) };
            break;
          }
        }
        if (current === undefined) return;
      }
      yield current;
      const key = toBuffer(current.kv.key);
      let deleted = false;
      for await (const wr of client.watch({ key, startRevision: current.revision + 1 }, signal)) {
        for (const e of wr.events) {
          if (e.type === 'delete') {
            deleted = true;
            break;
          }
          yield { kv: e.kv, revision: wr.revision };
        }
        if (deleted) break;
      }
      if (!deleted) return;
    }
  } catch {
    // etcd's observe goroutine closes its channel on any error; the stream then ends.
    return;
  }
}
