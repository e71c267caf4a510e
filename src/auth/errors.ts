/**
 * The auth module's typed errors. Each is a TsetcdError whose code the server's one
 * gRPC table maps to etcd's status code and `etcdserver: ...` message
 * (etcdserver/api/v3rpc/rpctypes/error.go). The Error's own message is etcd's internal
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

/**
 * etcd's gRPC status for each auth error (rpctypes/error.go). The server's error table
 * holds the same rows; this copy lets the auth tests pin them and documents the
 * mapping next to the codes. Codes Unknown (2) are the errors etcd never mapped: the
 * client sees the internal text.
 */
export const AUTH_GRPC_STATUS: Record<AuthErrorCode, readonly [code: number, message: string]> = {
  'auth-root-user-not-exist': [9, 'etcdserver: root user does not exist'],
  'auth-root-role-not-exist': [9, 'etcdserver: root user does not have root role'],
  'auth-user-already-exist': [9, 'etcdserver: user name already exists'],
  'auth-user-empty': [3, 'etcdserver: user name is empty'],
  'auth-user-not-found': [9, 'etcdserver: user name not found'],
  'auth-role-already-exist': [9, 'etcdserver: role name already exists'],
  'auth-role-not-found': [9, 'etcdserver: role name not found'],
  'auth-role-empty': [3, 'etcdserver: role name is empty'],
  'auth-failed': [3, 'etcdserver: authentication failed, invalid user ID or password'],
  'auth-no-password-user': [2, 'auth: authentication failed, password was given for no password user'],
  'permission-denied': [7, 'etcdserver: permission denied'],
  'auth-role-not-granted': [9, 'etcdserver: role is not granted to the user'],
  'auth-permission-not-granted': [9, 'etcdserver: permission is not granted to the role'],
  'auth-permission-not-given': [3, 'etcdserver: permission not given'],
  'auth-not-enabled': [9, 'etcdserver: authentication is not enabled'],
  'auth-old-revision': [3, 'etcdserver: revision of auth store is old'],
  'auth-invalid-token': [16, 'etcdserver: invalid auth token'],
  'auth-invalid-mgmt': [3, 'etcdserver: invalid auth management'],
  'auth-verify-only': [2, 'auth: token signing attempted with verify-only key'],
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
