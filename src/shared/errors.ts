/**
 * Typed errors. Modules throw subclasses of TsetcdError with a stable `code`;
 * server/v3rpc/errors.ts maps each code to etcd's exact gRPC code and message in
 * one table. Error identity is the code, never the message text.
 */
export type ErrorCode =
  // request validation (etcdserver/api/v3rpc/key.go)
  | 'key-not-provided'
  | 'key-not-found'
  | 'value-provided'
  | 'lease-provided'
  | 'too-many-ops'
  | 'duplicate-key'
  | 'invalid-sort-option'
  | 'request-too-large'
  | 'too-many-requests'
  // mvcc
  | 'compacted'
  | 'future-rev'
  // lease
  | 'lease-not-found'
  | 'lease-exists'
  | 'lease-ttl-too-large'
  // cluster / raft
  | 'no-leader'
  | 'not-leader'
  | 'leader-changed'
  | 'stopped'
  | 'timeout'
  | 'timeout-due-to-leader-fail'
  | 'timeout-due-to-connection-lost'
  | 'timeout-wait-applied-index'
  | 'unhealthy-cluster'
  | 'corrupt'
  | 'no-space'
  | 'member-not-found'
  | 'member-exist'
  | 'peer-url-exist'
  | 'member-not-learner'
  | 'learner-not-ready'
  | 'too-many-learners'
  | 'member-bad-urls'
  | 'unhealthy-reconfig'
  | 'bad-leader-transferee'
  | 'not-capable'
  | 'not-supported-for-learner'
  | 'cluster-id-mismatch'
  | 'invalid-client-api-version'
  | 'canceled'
  | 'deadline-exceeded'
  | 'unimplemented'
  | 'permission-denied'
  | 'auth-not-enabled'
  // auth (etcd auth/store.go; the messages live in the gRPC table and src/auth/errors.ts)
  | 'auth-root-user-not-exist'
  | 'auth-root-role-not-exist'
  | 'auth-user-already-exist'
  | 'auth-user-empty'
  | 'auth-user-not-found'
  | 'auth-role-already-exist'
  | 'auth-role-not-found'
  | 'auth-role-empty'
  | 'auth-failed'
  | 'auth-no-password-user'
  | 'auth-role-not-granted'
  | 'auth-permission-not-granted'
  | 'auth-permission-not-given'
  | 'auth-old-revision'
  | 'auth-invalid-token'
  | 'auth-invalid-mgmt'
  | 'auth-verify-only';

export class TsetcdError extends Error {
  override readonly name: string = 'TsetcdError';
  constructor(readonly code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ?? code, options);
  }
}

export function isTsetcdError(err: unknown, code?: ErrorCode): err is TsetcdError {
  return err instanceof TsetcdError && (code === undefined || err.code === code);
}

/** Shorthand used where a module raises a plain typed error. */
export function fail(code: ErrorCode, detail?: string): never {
  throw new TsetcdError(code, detail);
}
