/**
 * The recipes' own errors, with etcd's exact messages (client/v3/concurrency and
 * server/etcdserver/api/v3election). They are plain Go errors in etcd, so the
 * Election and Lock services answer them with gRPC code UNKNOWN and the message, as
 * every other error that comes back through etcd's loopback client (the client turns
 * known server errors into rpctypes.EtcdError, which has no gRPC status of its own).
 */
export type RecipeErrorCode =
  | 'election-not-leader'
  | 'election-no-leader'
  | 'missing-leader-key'
  | 'session-expired'
  | 'lost-watcher';

const MESSAGES: Record<RecipeErrorCode, string> = {
  'election-not-leader': 'election: not leader',
  'election-no-leader': 'election: no leader',
  'missing-leader-key': '"leader" field must be provided',
  'session-expired': 'mutex: session is expired',
  'lost-watcher': 'lost watcher waiting for delete',
};

export class RecipeError extends Error {
  override readonly name = 'RecipeError';
  constructor(readonly code: RecipeErrorCode) {
    super(MESSAGES[code]);
  }
}

export function isRecipeError(err: unknown, code?: RecipeErrorCode): err is RecipeError {
  return err instanceof RecipeError && (code === undefined || err.code === code);
}
