/**
 * The error model, in one place.
 *
 * - TsetcdError: a request failed for a reason etcd has a name for. Its `code` is
 *   the identity (never the message text); ETCD_ERRORS below is the one table that maps
 *   each code to etcd's gRPC status and exact message (etcd
 *   api/v3rpc/rpctypes/error.go). Clients match errors by that message (the Go client's
 *   errStringToError, kube-apiserver's `err == rpctypes.ErrCompacted`), so every string
 *   is byte-exact. v3rpc/errors.ts puts them on the wire; /health reasons and
 *   watch cancel reasons read the same messages.
 * - StartRefusal: a member will not start (its data dir, its WAL, its listeners, what
 *   its peers say). The message is one line naming the problem and what to do; the
 *   CLI prints it and exits 1 without knowing which part refused.
 * - AssertionError (./assert.ts): a broken invariant, a bug; never mapped, the process
 *   stops.
 */
import { Status, type StatusCode } from './grpc-status.js';

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
  | 'proposal-dropped'
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
  // auth (etcd auth/store.go; the messages live in the table below and src/auth/errors.ts)
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

const ETCD_ERRORS: Record<ErrorCode, readonly [StatusCode, string]> = {
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
  // raft refused the proposal before it entered any log (no leader known, a leadership
  // transfer in progress): etcd returns raft.ErrProposalDropped unmapped, so the client
  // sees code Unknown and raft's text (api/v3rpc/util.go togRPCError). A definite
  // failure, unlike a timeout.
  'proposal-dropped': [Status.UNKNOWN, 'raft proposal dropped'],
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

/** etcd's gRPC status and message for a code. */
export function etcdStatus(code: ErrorCode): readonly [StatusCode, string] {
  return ETCD_ERRORS[code];
}

/** etcd's message for a code (also /health reasons and watch cancel reasons). */
export function etcdMessage(code: ErrorCode): string {
  return ETCD_ERRORS[code][1];
}

/** What refused a start; the message says the rest. */
export type RefusalKind =
  /** The data dir is not ours, is half-made, or belongs to another member or cluster. */
  | 'data-dir'
  /** The WAL is damaged in a way a crash cannot explain. */
  | 'wal-corrupt'
  /** A client, metrics or peer URL cannot be listened on. */
  | 'listen'
  /** A certificate, key or CA file does not parse, or a key is not its certificate's. */
  | 'tls'
  /** --auth-token cannot be used: a malformed option, a key file missing, unparsable or of the wrong type. */
  | 'auth-token'
  /** The peers say this member already bootstrapped, or do not know it when joining. */
  | 'cluster'
  /** Another running member holds the data dir. */
  | 'in-use'
  /** TSETCD_UNSAFE_TEST_BUGS names a switch this build does not have (shared/test-faults.ts). */
  | 'test-faults';

/** A member refused to start (see the contract above). */
export class StartRefusal extends Error {
  override readonly name: string = 'StartRefusal';
  constructor(
    readonly kind: RefusalKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
