/**
 * The Lock service (etcd server/etcdserver/api/v3lock): Lock runs the mutex recipe
 * (src/concurrency/mutex.ts) with the caller's lease over the member's loopback
 * client; Unlock deletes the key.
 *
 * Errors, as etcd answers them: etcd's services call the recipes through its loopback
 * client, which turns every known server error into rpctypes.EtcdError, a type without
 * a gRPC status; grpc-go then sends code UNKNOWN with the message. So every etcd error
 * ("etcdserver: requested lease not found", "etcdserver: key is not provided", ...) and
 * every recipe error ("mutex: session is expired") leaves with UNKNOWN and etcd's
 * exact message. A caller that went away gets CANCELLED (it no longer listens).
 *
 * Shared with election.ts: RecipeBackend and recipeGrpcError().
 */
import type * as pb from '../generated/pb.js';
import { toBuffer } from '../shared/bytes.js';
import { leaseId, type LeaseId } from '../shared/ids.js';
import { toBigInt, type Int64Like } from '../shared/pb-codec.js';
import { isRecipeError, lock, unlock, type RecipeClient } from '../concurrency/index.js';
import type { CallContext } from '../grpc/server.js';
import { GrpcError } from '../grpc/status.js';
import { Status } from '../shared/grpc-status.js';
import { TsetcdError, etcdMessage } from '../shared/errors.js';
import { OPEN_GATE, checkRecipe, type AuthGate, type AuthInfo } from '../auth/index.js';
import type { HeaderFiller } from './header.js';
import type { AnyHandler } from './services.js';

export const LOCK_PATH = '/v3lockpb.Lock/Lock';
export const UNLOCK_PATH = '/v3lockpb.Lock/Unlock';

/** What the Lock and Election services need from the member. */
export interface RecipeBackend {
  /**
   * The loopback client (concurrency/memberRecipeClient over this member) running as
   * `caller`: the recipe's writes carry the caller into the log.
   */
  recipeClient(caller: AuthInfo): RecipeClient;
}

/** The status etcd's v3lock / v3election servers answer an error with (see above). */
export function recipeGrpcError(err: unknown, signal: AbortSignal): unknown {
  if (err instanceof GrpcError) return err;
  if (signal.aborted) return new TsetcdError('canceled');
  if (isRecipeError(err)) return new GrpcError(Status.UNKNOWN, err.message);
  if (err instanceof TsetcdError) {
    const keeps = err.code === 'canceled' || err.code === 'deadline-exceeded';
    if (keeps || err.code === 'unimplemented') return err;
    return new GrpcError(Status.UNKNOWN, etcdMessage(err.code));
  }
  return err;
}

export function leaseOf(v: Int64Like): LeaseId {
  return leaseId(toBigInt(v, false));
}

export function lockHandlers(s: RecipeBackend, headers: HeaderFiller, gate: AuthGate = OPEN_GATE): Map<string, AnyHandler> {
  const lockFn = async (req: pb.LockRequest, ctx: CallContext): Promise<pb.LockResponse> => {
    try {
      const caller = await checkRecipe(gate, ctx, toBuffer(req.name), 'write', true);
      const r = await lock(s.recipeClient(caller), toBuffer(req.name), leaseOf(req.lease), ctx.signal);
      return { header: headers.header(r.revision), key: r.key };
    } catch (err) {
      throw recipeGrpcError(err, ctx.signal);
    }
  };

  const unlockFn = async (req: pb.UnlockRequest, ctx: CallContext): Promise<pb.UnlockResponse> => {
    try {
      const caller = await checkRecipe(gate, ctx, toBuffer(req.key), 'write', false);
      const revision = await unlock(s.recipeClient(caller), toBuffer(req.key), ctx.signal);
      return { header: headers.header(revision) };
    } catch (err) {
      throw recipeGrpcError(err, ctx.signal);
    }
  };

  return new Map<string, AnyHandler>([
    [LOCK_PATH, { kind: 'unary', fn: lockFn }],
    [UNLOCK_PATH, { kind: 'unary', fn: unlockFn }],
  ]);
}
