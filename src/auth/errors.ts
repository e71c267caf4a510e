/**
 * The auth module's typed errors. Each is a TsetcdError whose code the one error table
 * (shared/errors.ts etcdStatus) maps to etcd's status code and `etcdserver: ...`
 * message (etcdserver/api/v3rpc/rpctypes/error.go; two of them etcd never mapped and
 * sends as code Unknown with the internal text). The Error's own message is etcd's internal
 * `auth: ...` text (auth/store.go), which is what etcd sends, as code Unknown, on the
 * paths that return the auth error raw (Defragment, Snapshot, Hash, HashKV; see
 * `internalAuthMessage`).
 *
 * Start-up failures of --auth-token (bad options, keys) are not request errors and
 * never reach a client: they are AuthOptionsError with etcd's internal text.
 */
import { TsetcdError, type ErrorCode } from '../shared/errors.js';

export type AuthErrorCode = Extract<ErrorCode, `auth-${string}` | 'permission-denied'>;

/** etcd's internal error texts (auth/store.go `Err*`). */
const INTERNAL: Record<AuthErrorCode, string> = {
  'auth-root-user-not-exist': 'auth: root user does not exist',
  'auth-root-role-not-exist': 'auth: root user does not have root role',
  'auth-user-already-exist': 'auth: user already exists',
  'auth-user-empty': 'auth: user name is empty',
  'auth-user-not-found': 'auth: user not found',
  'auth-role-already-exist': 'auth: role already exists',
  'auth-role-not-found': 'auth: role not found',
  'auth-role-empty': 'auth: role name is empty',
  'auth-failed': 'auth: authentication failed, invalid user ID or password',
  'auth-no-password-user': 'auth: authentication failed, password was given for no password user',
  'permission-denied': 'auth: permission denied',
  'auth-role-not-granted': 'auth: role is not granted to the user',
  'auth-permission-not-granted': 'auth: permission is not granted to the role',
  'auth-permission-not-given': 'auth: permission not given',
  'auth-not-enabled': 'auth: authentication is not enabled',
  'auth-old-revision': 'auth: revision in header is old',
  'auth-invalid-token': 'auth: invalid auth token',
  'auth-invalid-mgmt': 'auth: invalid auth management',
  'auth-verify-only': 'auth: token signing attempted with verify-only key',
};

export class AuthError extends TsetcdError {
  override readonly name = 'AuthError';
  constructor(override readonly code: AuthErrorCode) {
    super(code, INTERNAL[code]);
  }
}

export function authFail(code: AuthErrorCode): never {
  throw new AuthError(code);
}

/** etcd's internal text for an auth error code (the raw `auth: ...` message). */
export function internalAuthMessage(code: AuthErrorCode): string {
  return INTERNAL[code];
}

export type AuthOptionsErrorKind = 'invalid-auth-options' | 'invalid-auth-method' | 'missing-key' | 'key-mismatch';

const OPTION_MESSAGES: Record<AuthOptionsErrorKind, string> = {
  'invalid-auth-options': 'auth: invalid auth options',
  'invalid-auth-method': 'auth: invalid auth signature method',
  'missing-key': 'auth: missing key data',
  'key-mismatch': "auth: public and private keys don't match",
};

/** A fatal --auth-token problem found at start-up (etcd logs it and exits). */
export class AuthOptionsError extends Error {
  override readonly name = 'AuthOptionsError';
  constructor(
    readonly kind: AuthOptionsErrorKind,
    detail?: string,
  ) {
    super(detail === undefined ? OPTION_MESSAGES[kind] : `${OPTION_MESSAGES[kind]}: ${detail}`);
  }
}
