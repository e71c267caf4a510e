/**
 * The mutex recipe behind the Lock service (etcd client/v3/concurrency/mutex.go, as
 * v3lock.Lock and Unlock run it on the server).
 *
 * lock(name, lease):
 *  1. myKey = name + "/" + hex(lease) (a new 60 s lease for lease 0). One txn:
 *     if create_revision(myKey) == 0 then [Put(myKey, "", lease), Get(oldest under
 *     prefix)] else [Get(myKey), Get(oldest under prefix)]. myRev is the txn revision
 *     (put) or myKey's create revision (it already existed: the same lease asks again).
 *  2. Granted at once when nothing is under the prefix or the oldest key is ours; the
 *     answer carries the txn's header.
 *  3. Else wait for the deletion of every key created before myRev (waitDeletes). If
 *     the wait fails (the caller went away, a watch was compacted) myKey is deleted so
 *     it does not block the queue, and the error is returned.
 *  4. Read myKey again: if it is gone (its lease expired or was revoked while waiting)
 *     the lock is NOT granted: "mutex: session is expired" (etcd #11456). The answer
 *     carries this read's header, so its revision is at least the revision at which
 *     the lock became ours.
 * unlock(key): a plain DeleteRange of the key.
 *
 * The key's create revision orders the waiters and is the fencing token: a holder
 * guards its writes with Compare(create_revision(key) == rev).
 */
import type { LeaseId } from '../shared/ids.js';
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

export interface LockResult {
  /** The lock's key (name/hex(lease)). */
  readonly key: Buffer;
  /** Header revision of the answer (see step 2 and 4). */
  readonly revision: number;
}

export async function lock(
  client: RecipeClient,
  name: Uint8Array,
  lease: LeaseId,
  signal: AbortSignal,
): Promise<LockResult> {
  const session = await sessionLease(client, lease, signal);
  const prefix = recipePrefix(name);
  const myKey = sessionKey(prefix, session);
  const getOwner = { requestRange: firstCreateRange(prefix) };
  const put = { key: myKey, value: Buffer.alloc(0), lease: fromBigInt(session, false) };
  const res = await client.txn(
    {
      compare: [{ target: COMPARE_CREATE, result: COMPARE_EQUAL, key: myKey, createRevision: 0 }],
      success: [{ requestPut: put }, getOwner],
      failure: [{ requestRange: { key: myKey } }, getOwner],
    },
    signal,
  );
  const responses = res.responses ?? [];
  let myRev = headerRevision(res);
  if (res.succeeded !== true) {
    myRev = toNumber(responses[0]?.responseRange?.kvs?.[0]?.createRevision);
  }
  const owner = responses[1]?.responseRange?.kvs?.[0];
  if (owner === undefined || toNumber(owner.createRevision) === myRev) {
    return { key: myKey, revision: headerRevision(res) };
  }
  try {
    await waitDeletes(client, prefix, myRev - 1, signal);
  } catch (err) {
    await unlockQuietly(client, myKey);
    throw err;
  }
  let check;
  try {
    check = await client.range({ key: myKey }, signal);
  } catch (err) {
    await unlockQuietly(client, myKey);
    throw err;
  }
  if ((check.kvs ?? []).length === 0) throw new RecipeError('session-expired');
  return { key: myKey, revision: headerRevision(check) };
}

/** Unlock: deletes the key; returns the header revision. */
export async function unlock(
  client: RecipeClient,
  key: Uint8Array,
  signal: AbortSignal,
): Promise<number> {
  const res = await client.deleteRange({ key }, signal);
  return headerRevision(res);
}

/** etcd ignores the outcome of this cleanup (m.Unlock(client.Ctx()) on a failed wait). */
async function unlockQuietly(client: RecipeClient, key: Buffer): Promise<void> {
  await unlock(client, key, detachedSignal()).catch(() => undefined);
}
