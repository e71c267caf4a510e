/**
 * The one table that maps tsetcd's typed errors to etcd's gRPC status codes and
 * messages (etcd api/v3rpc/rpctypes/error.go). Clients match errors by the
 * exact message (the Go client's errStringToError, kube-apiserver's
 * `err == rpctypes.ErrCompacted`), so every string here is byte-exact.
 */
import { AssertionError } from '../../shared/assert.js';
import { TsetcdError, type ErrorCode } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { GrpcError, Status, type StatusCode } from '../grpc/status.js';

const TABLE: Record<ErrorCode, readonly [StatusCode, string]> = {
  'key-not-provided': [Status.INVALID_ARGUMENT, 'etcdserver: key is not provided'],
  'key-not-found': [Status.INVALID_ARGUMENT, 'etcdserver: key not found'],
  'value-provided': [Status.INVALID_ARGUMENT, 'etcdserver: value is provided'],
  'lease-provided': [Status.INVALID_ARGUMENT, 'etcdserver: lease is provided'],
  'too-many-ops': [Status.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'],
  'duplicate-key': [Status.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'],
  'invalid-sort-option': [Status.INVALID_ARGUMENT, 'etcdserver: invalid sort option'],
  'request-too-large': [Status.INVALID_ARGUMENT, 'etcdserver: request is too large'],
  'invalid-client-api-version': [Status.INVALID_ARGUMENT, 'etcdserver: invalid client api version'],
  'member-bad-urls': [Status.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'],
  'too-many-requests': [Status.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'],
  'no-space': [Status.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'],
  compacted: [Status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'],
  'future-rev': [Status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
  'lease-ttl-too-large': [Status.OUT_OF_RANGE, 'etcdserver: too large lease TTL'],
  'lease-not-found': [Status.NOT_FOUND, 'etcdserver: requested lease not found'],
  'member-not-found': [Status.NOT_FOUND, 'etcdserver: member not found'],
  'lease-exists': [Status.FAILED_PRECONDITION, 'etcdserver: lease already exists'],
  'member-exist': [Status.FAILED_PRECONDITION, 'etcdserver: member ID already exist'],
  'peer-url-exist': [Status.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'],
  'unhealthy-reconfig': [
    Status.FAILED_PRECONDITION,
    'etcdserver: re-configuration failed due to not enough started members',
  ],
  'member-not-learner': [Status.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'],
  'learner-not-ready': [
    Status.FAILED_PRECONDITION,
    'etcdserver: can only promote a learner member which is in sync with leader',
  ],
  'too-many-learners': [Status.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'],
  'cluster-id-mismatch': [Status.FAILED_PRECONDITION, 'etcdserver: cluster ID mismatch'],
  'not-leader': [Status.FAILED_PRECONDITION, 'etcdserver: not leader'],
  'not-capable': [Status.FAILED_PRECONDITION, 'etcdserver: not capable'],
  'not-supported-for-learner': [Status.FAILED_PRECONDITION, 'etcdserver: rpc not supported for learner'],
  'bad-leader-transferee': [Status.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'],
  'auth-not-enabled': [Status.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'],
  'permission-denied': [Status.PERMISSION_DENIED, 'etcdserver: permission denied'],
  // auth (src/auth/errors.ts holds etcd's internal `auth: ...` text of each)
  'auth-root-user-not-exist': [Status.FAILED_PRECONDITION, 'etcdserver: root user does not exist'],
  'auth-root-role-not-exist': [Status.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'],
  'auth-user-already-exist': [Status.FAILED_PRECONDITION, 'etcdserver: user name already exists'],
  'auth-user-empty': [Status.INVALID_ARGUMENT, 'etcdserver: user name is empty'],
  'auth-user-not-found': [Status.FAILED_PRECONDITION, 'etcdserver: user name not found'],
  'auth-role-already-exist': [Status.FAILED_PRECONDITION, 'etcdserver: role name already exists'],
  'auth-role-not-found': [Status.FAILED_PRECONDITION, 'etcdserver: role name not found'],
  'auth-role-empty': [Status.INVALID_ARGUMENT, 'etcdserver: role name is empty'],
  'auth-failed': [Status.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'],
  'auth-role-not-granted': [Status.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'],
  'auth-permission-not-granted': [Status.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'],
  'auth-permission-not-given': [Status.INVALID_ARGUMENT, 'etcdserver: permission not given'],
  'auth-old-revision': [Status.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'],
  'auth-invalid-token': [Status.UNAUTHENTICATED, 'etcdserver: invalid auth token'],
  'auth-invalid-mgmt': [Status.INVALID_ARGUMENT, 'etcdserver: invalid auth management'],
  // etcd never mapped these two: the client sees code Unknown and the internal text.
  'auth-no-password-user': [Status.UNKNOWN, 'auth: authentication failed, password was given for no password user'],
  'auth-verify-only': [Status.UNKNOWN, 'auth: token signing attempted with verify-only key'],
  'no-leader': [Status.UNAVAILABLE, 'etcdserver: no leader'],
  'leader-changed': [Status.UNAVAILABLE, 'etcdserver: leader changed'],
  stopped: [Status.UNAVAILABLE, 'etcdserver: server stopped'],
  timeout: [Status.UNAVAILABLE, 'etcdserver: request timed out'],
  'timeout-due-to-leader-fail': [
    Status.UNAVAILABLE,
    'etcdserver: request timed out, possibly due to previous leader failure',
  ],
  'timeout-due-to-connection-lost': [
    Status.UNAVAILABLE,
    'etcdserver: request timed out, possibly due to connection lost',
  ],
  'timeout-wait-applied-index': [
    Status.UNAVAILABLE,
    'etcdserver: request timed out, waiting for the applied index took too long',
  ],
  'unhealthy-cluster': [Status.UNAVAILABLE, 'etcdserver: unhealthy cluster'],
  corrupt: [Status.DATA_LOSS, 'etcdserver: corrupt cluster'],
  canceled: [Status.CANCELLED, 'etcdserver: request canceled'],
  'deadline-exceeded': [Status.DEADLINE_EXCEEDED, 'etcdserver: context deadline exceeded'],
  unimplemented: [Status.UNIMPLEMENTED, 'unimplemented'],
};

/** etcd's message for a typed error (also used by /health reasons and watch cancel reasons). */
export function etcdMessage(code: ErrorCode): string {
  return TABLE[code][1];
}

export function toGrpcError(err: unknown, path: string, logger: Logger): GrpcError {
  if (err instanceof GrpcError) return err;
  if (err instanceof TsetcdError) {
    if (err.code === 'unimplemented') return new GrpcError(Status.UNIMPLEMENTED, err.message);
    const [code, message] = TABLE[err.code];
    return new GrpcError(code, message);
  }
  if (err instanceof AssertionError) {
    // A broken invariant: the server's top level decides to exit; the client sees UNKNOWN.
    logger.error({ err, path }, 'assertion failed while serving a request');
    return new GrpcError(Status.UNKNOWN, err.message);
  }
  logger.error({ err, path }, 'unexpected error while serving a request');
  return new GrpcError(Status.UNKNOWN, err instanceof Error ? err.message : String(err));
}
