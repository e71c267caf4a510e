/**
 * Defaults: etcd 3.6's (server/embed/config.go NewConfig, etcdserver defaults), except
 * where tsetcd must differ:
 * - data dir `<name>.tsetcd`, never `<name>.etcd`: tsetcd never touches etcd's data dirs;
 * - listen/advertise URLs on 127.0.0.1 instead of etcd's `localhost`. Go's net.Listen
 *   binds "localhost" to its first IPv4 address, but Node 17+ resolves in the resolver's
 *   order, and Debian's /etc/hosts lists `::1 localhost` too, so Node may bind ::1 only
 *   and `etcdctl --endpoints 127.0.0.1:2379` (etcdctl's own default) would miss it.
 *   127.0.0.1 is what etcd actually ends up serving on, so that is the default here.
 */

export const DEFAULT_NAME = 'default';
export const DATA_DIR_SUFFIX = '.tsetcd';
export const DEFAULT_LISTEN_PEER_URL = 'http://127.0.0.1:2380';
export const DEFAULT_LISTEN_CLIENT_URL = 'http://127.0.0.1:2379';
export const DEFAULT_ADVERTISE_PEER_URL = 'http://127.0.0.1:2380';
export const DEFAULT_ADVERTISE_CLIENT_URL = 'http://127.0.0.1:2379';
export const DEFAULT_INITIAL_CLUSTER = `${DEFAULT_NAME}=${DEFAULT_ADVERTISE_PEER_URL}`;
export const DEFAULT_INITIAL_CLUSTER_TOKEN = 'etcd-cluster';

export const DEFAULT_SNAPSHOT_COUNT = 10_000; // etcd 3.6 (3.5: 100000)
export const DEFAULT_SNAPSHOT_CATCHUP_ENTRIES = 5_000;
export const DEFAULT_MAX_SNAPSHOTS = 5;
export const DEFAULT_MAX_WALS = 5;
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 100;
export const DEFAULT_ELECTION_TIMEOUT_MS = 1_000;
export const MAX_ELECTION_TIMEOUT_MS = 50_000;
export const DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024 * 1024 * 1024;
export const MAX_RECOMMENDED_QUOTA_BACKEND_BYTES = 8 * 1024 * 1024 * 1024;
export const DEFAULT_MAX_TXN_OPS = 128;
export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
export const DEFAULT_MAX_CONCURRENT_STREAMS = 0xffff_ffff;
export const DEFAULT_GRPC_KEEPALIVE_MIN_TIME_MS = 5_000;
export const DEFAULT_GRPC_KEEPALIVE_INTERVAL_MS = 2 * 60 * 60 * 1_000;
export const DEFAULT_GRPC_KEEPALIVE_TIMEOUT_MS = 20_000;
export const DEFAULT_RAFT_READ_TIMEOUT_MS = 5_000;
export const DEFAULT_RAFT_WRITE_TIMEOUT_MS = 5_000;

export const DEFAULT_AUTO_COMPACTION_MODE = 'periodic';
export const DEFAULT_AUTO_COMPACTION_RETENTION = '0';
export const DEFAULT_COMPACTION_BATCH_LIMIT = 1_000;
export const DEFAULT_COMPACTION_SLEEP_INTERVAL_MS = 10;

export const DEFAULT_LOG_LEVEL = 'info';
export const DEFAULT_LOG_FORMAT = 'json';
export const DEFAULT_LOG_OUTPUT = 'default';
export const DEFAULT_LOG_ROTATION_CONFIG_JSON =
  '{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}';

export const DEFAULT_AUTH_TOKEN = 'simple';
export const DEFAULT_BCRYPT_COST = 10;
export const MIN_BCRYPT_COST = 4;
export const MAX_BCRYPT_COST = 31;
export const DEFAULT_AUTH_TOKEN_TTL_SECONDS = 300;

export const DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL_MS = 10 * 60 * 1_000;
export const DEFAULT_WARNING_APPLY_DURATION_MS = 100;
export const DEFAULT_WARNING_UNARY_REQUEST_DURATION_MS = 300;
export const DEFAULT_MAX_LEARNERS = 1;
export const DEFAULT_CORRUPT_CHECK_TIME_MS = 0;
export const DEFAULT_COMPACT_HASH_CHECK_TIME_MS = 60_000;
export const DEFAULT_SELF_SIGNED_CERT_VALIDITY_YEARS = 1;
