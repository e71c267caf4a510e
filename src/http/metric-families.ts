/**
 * etcd 3.4.23's metric families, as etcd registers them (names, help text, types,
 * label names and histogram buckets, read from etcd's metrics.go files and checked
 * against a scrape of etcd: test/integration/metrics.test.ts), minus Go's runtime
 * (go_*). Only declarations: what feeds each family is in ./metrics.ts.
 *
 * Invariant: every name here is one etcd 3.4.23 exposes, with etcd's type; nothing
 * else is declared here (Node's runtime metrics come from prom-client beside them).
 */

/** prometheus.ExponentialBuckets(start, factor, count) */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

/** etcd's disk latency buckets: 1 ms to 8.192 s. */
const DISK = exponentialBuckets(0.001, 2, 14);

export interface FamilyDef {
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly help: string;
  readonly labels?: readonly string[];
  readonly buckets?: readonly number[];
}

export const FAMILIES = {
  // etcdserver/metrics.go
  etcd_server_has_leader: { type: 'gauge', help: 'Whether or not a leader exists. 1 is existence, 0 is not.' },
  etcd_server_is_leader: { type: 'gauge', help: 'Whether or not this member is a leader. 1 if is, 0 otherwise.' },
  etcd_server_is_learner: { type: 'gauge', help: 'Whether or not this member is a learner. 1 if is, 0 otherwise.' },
  etcd_server_leader_changes_seen_total: { type: 'counter', help: 'The number of leader changes seen.' },
  etcd_server_learner_promote_successes: {
    type: 'counter',
    help: 'The total number of successful learner promotions while this member is leader.',
  },
  etcd_server_heartbeat_send_failures_total: {
    type: 'counter',
    help: 'The total number of leader heartbeat send failures (likely overloaded from slow disk).',
  },
  etcd_server_slow_apply_total: {
    type: 'counter',
    help: 'The total number of slow apply requests (likely overloaded from slow disk).',
  },
  etcd_server_proposals_committed_total: { type: 'gauge', help: 'The total number of consensus proposals committed.' },
  etcd_server_proposals_applied_total: { type: 'gauge', help: 'The total number of consensus proposals applied.' },
  etcd_server_proposals_pending: { type: 'gauge', help: 'The current number of pending proposals to commit.' },
  etcd_server_proposals_failed_total: { type: 'counter', help: 'The total number of failed proposals seen.' },
  etcd_server_slow_read_indexes_total: {
    type: 'counter',
    help: "The total number of pending read indexes not in sync with leader's or timed out read index requests.",
  },
  etcd_server_read_indexes_failed_total: { type: 'counter', help: 'The total number of failed read indexes seen.' },
  etcd_server_quota_backend_bytes: { type: 'gauge', help: 'Current backend storage quota size in bytes.' },
  etcd_server_version: {
    type: 'gauge',
    help: "Which version is running. 1 for 'server_version' label with current version.",
    labels: ['server_version'],
  },
  etcd_server_go_version: {
    type: 'gauge',
    help: "Which Go version server is running with. 1 for 'server_go_version' label with current version.",
    labels: ['server_go_version'],
  },
  etcd_server_id: {
    type: 'gauge',
    help: "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
    labels: ['server_id'],
  },
  etcd_server_health_success: { type: 'counter', help: 'The total number of successful health checks' },
  etcd_server_health_failures: { type: 'counter', help: 'The total number of failed health checks' },
  etcd_server_snapshot_apply_in_progress_total: {
    type: 'gauge',
    help: '1 if the server is applying the incoming snapshot. 0 if none.',
  },
  etcd_server_client_requests_total: {
    type: 'counter',
    help: 'The total number of client requests per client version.',
    labels: ['type', 'client_api_version'],
  },
  etcd_cluster_version: {
    type: 'gauge',
    help: "Which version is running. 1 for 'cluster_version' label with current cluster version",
    labels: ['cluster_version'],
  },
  // etcdserver/api/v3rpc/metrics.go
  etcd_network_client_grpc_sent_bytes_total: { type: 'counter', help: 'The total number of bytes sent to grpc clients.' },
  etcd_network_client_grpc_received_bytes_total: {
    type: 'counter',
    help: 'The total number of bytes received from grpc clients.',
  },
  // etcdserver/api/rafthttp/metrics.go
  etcd_network_active_peers: {
    type: 'gauge',
    help: 'The current number of active peer connections.',
    labels: ['Local', 'Remote'],
  },
  etcd_network_disconnected_peers_total: {
    type: 'counter',
    help: 'The total number of disconnected peers.',
    labels: ['Local', 'Remote'],
  },
  etcd_network_peer_sent_bytes_total: { type: 'counter', help: 'The total number of bytes sent to peers.', labels: ['To'] },
  etcd_network_peer_received_bytes_total: {
    type: 'counter',
    help: 'The total number of bytes received from peers.',
    labels: ['From'],
  },
  etcd_network_peer_sent_failures_total: {
    type: 'counter',
    help: 'The total number of send failures from peers.',
    labels: ['To'],
  },
  etcd_network_peer_received_failures_total: {
    type: 'counter',
    help: 'The total number of receive failures from peers.',
    labels: ['From'],
  },
  etcd_network_snapshot_send_inflights_total: {
    type: 'gauge',
    help: 'Total number of inflight snapshot sends',
    labels: ['To'],
  },
  etcd_network_snapshot_send_total_duration_seconds: {
    type: 'histogram',
    help: 'Total latency distributions of v3 snapshot sends',
    labels: ['To'],
    buckets: exponentialBuckets(0.1, 2, 10),
  },
  etcd_network_snapshot_receive_inflights_total: {
    type: 'gauge',
    help: 'Total number of inflight snapshot receives',
    labels: ['From'],
  },
  etcd_network_snapshot_receive_total_duration_seconds: {
    type: 'histogram',
    help: 'Total latency distributions of v3 snapshot receives',
    labels: ['From'],
    buckets: exponentialBuckets(0.1, 2, 10),
  },
  etcd_network_snapshot_send_success: {
    type: 'counter',
    help: 'Total number of successful snapshot sends',
    labels: ['To'],
  },
  etcd_network_snapshot_send_failures: { type: 'counter', help: 'Total number of snapshot send failures', labels: ['To'] },
  etcd_network_snapshot_receive_success: {
    type: 'counter',
    help: 'Total number of successful snapshot receives',
    labels: ['From'],
  },
  etcd_network_snapshot_receive_failures: {
    type: 'counter',
    help: 'Total number of snapshot receive failures',
    labels: ['From'],
  },
  etcd_network_peer_round_trip_time_seconds: {
    type: 'histogram',
    help: 'Round-Trip-Time histogram between peers',
    labels: ['To'],
    buckets: exponentialBuckets(0.0001, 2, 16),
  },
  // mvcc/metrics.go
  etcd_mvcc_range_total: { type: 'counter', help: 'Total number of ranges seen by this member.' },
  etcd_mvcc_put_total: { type: 'counter', help: 'Total number of puts seen by this member.' },
  etcd_mvcc_delete_total: { type: 'counter', help: 'Total number of deletes seen by this member.' },
  etcd_mvcc_txn_total: { type: 'counter', help: 'Total number of txns seen by this member.' },
  etcd_debugging_mvcc_range_total: { type: 'counter', help: 'Total number of ranges seen by this member.' },
  etcd_debugging_mvcc_put_total: { type: 'counter', help: 'Total number of puts seen by this member.' },
  etcd_debugging_mvcc_delete_total: { type: 'counter', help: 'Total number of deletes seen by this member.' },
  etcd_debugging_mvcc_txn_total: { type: 'counter', help: 'Total number of txns seen by this member.' },
  etcd_debugging_mvcc_keys_total: { type: 'gauge', help: 'Total number of keys.' },
  etcd_debugging_mvcc_watch_stream_total: { type: 'gauge', help: 'Total number of watch streams.' },
  etcd_debugging_mvcc_watcher_total: { type: 'gauge', help: 'Total number of watchers.' },
  etcd_debugging_mvcc_slow_watcher_total: { type: 'gauge', help: 'Total number of unsynced slow watchers.' },
  etcd_debugging_mvcc_events_total: { type: 'counter', help: 'Total number of events sent by this member.' },
  etcd_debugging_mvcc_pending_events_total: { type: 'gauge', help: 'Total number of pending events to be sent.' },
  etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds: {
    type: 'histogram',
    help: 'Bucketed histogram of index compaction pause duration.',
    buckets: exponentialBuckets(0.5, 2, 14),
  },
  etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds: {
    type: 'histogram',
    help: 'Bucketed histogram of db compaction pause duration.',
    buckets: exponentialBuckets(1, 2, 13),
  },
  etcd_debugging_mvcc_db_compaction_total_duration_milliseconds: {
    type: 'histogram',
    help: 'Bucketed histogram of db compaction total duration.',
    buckets: exponentialBuckets(100, 2, 14),
  },
  etcd_debugging_mvcc_db_compaction_keys_total: { type: 'counter', help: 'Total number of db keys compacted.' },
  etcd_debugging_mvcc_db_total_size_in_bytes: {
    type: 'gauge',
    help: 'Total size of the underlying database physically allocated in bytes.',
  },
  etcd_mvcc_db_total_size_in_bytes: {
    type: 'gauge',
    help: 'Total size of the underlying database physically allocated in bytes.',
  },
  etcd_mvcc_db_total_size_in_use_in_bytes: {
    type: 'gauge',
    help: 'Total size of the underlying database logically in use in bytes.',
  },
  etcd_mvcc_db_open_read_transactions: { type: 'gauge', help: 'The number of currently open read transactions' },
  etcd_debugging_mvcc_current_revision: { type: 'gauge', help: 'The current revision of store.' },
  etcd_debugging_mvcc_compact_revision: { type: 'gauge', help: 'The revision of the last compaction in store.' },
  etcd_debugging_mvcc_total_put_size_in_bytes: {
    type: 'gauge',
    help: 'The total size of put kv pairs seen by this member.',
  },
  etcd_mvcc_hash_duration_seconds: {
    type: 'histogram',
    help: 'The latency distribution of storage hash operation.',
    buckets: exponentialBuckets(0.01, 2, 15),
  },
  etcd_mvcc_hash_rev_duration_seconds: {
    type: 'histogram',
    help: 'The latency distribution of storage hash by revision operation.',
    buckets: exponentialBuckets(0.01, 2, 15),
  },
  // lease/metrics.go, etcdserver/metrics.go
  etcd_debugging_lease_granted_total: { type: 'counter', help: 'The total number of granted leases.' },
  etcd_debugging_lease_revoked_total: { type: 'counter', help: 'The total number of revoked leases.' },
  etcd_debugging_lease_renewed_total: { type: 'counter', help: 'The number of renewed leases seen by the leader.' },
  etcd_debugging_lease_ttl_total: {
    type: 'histogram',
    help: 'Bucketed histogram of lease TTLs.',
    buckets: exponentialBuckets(1, 2, 24),
  },
  etcd_debugging_server_lease_expired_total: { type: 'counter', help: 'The total number of expired leases.' },
  // auth/metrics.go
  etcd_debugging_auth_revision: { type: 'gauge', help: 'The current revision of auth store.' },
  // wal/metrics.go, mvcc/backend/metrics.go
  etcd_disk_wal_fsync_duration_seconds: {
    type: 'histogram',
    help: 'The latency distributions of fsync called by WAL.',
    buckets: DISK,
  },
  etcd_disk_wal_write_bytes_total: { type: 'gauge', help: 'Total number of bytes written in WAL.' },
  etcd_disk_backend_commit_duration_seconds: {
    type: 'histogram',
    help: 'The latency distributions of commit called by backend.',
    buckets: DISK,
  },
  etcd_debugging_disk_backend_commit_rebalance_duration_seconds: {
    type: 'histogram',
    help: 'The latency distributions of commit.rebalance called by bboltdb backend.',
    buckets: DISK,
  },
  etcd_debugging_disk_backend_commit_spill_duration_seconds: {
    type: 'histogram',
    help: 'The latency distributions of commit.spill called by bboltdb backend.',
    buckets: DISK,
  },
  etcd_debugging_disk_backend_commit_write_duration_seconds: {
    type: 'histogram',
    help: 'The latency distributions of commit.write called by bboltdb backend.',
    buckets: DISK,
  },
  etcd_disk_backend_defrag_duration_seconds: {
    type: 'histogram',
    help: 'The latency distribution of backend defragmentation.',
    buckets: exponentialBuckets(0.1, 2, 13),
  },
  etcd_disk_backend_snapshot_duration_seconds: {
    type: 'histogram',
    help: 'The latency distribution of backend snapshots.',
    buckets: exponentialBuckets(0.01, 2, 17),
  },
  etcd_disk_defrag_inflight: {
    type: 'gauge',
    help: 'Whether or not defrag is active on the member. 1 means active, 0 means not.',
  },
  // etcdserver/api/snap/metrics.go, mvcc/backend snapshot save
  etcd_snap_db_fsync_duration_seconds: {
    type: 'histogram',
    help: 'The latency distributions of fsyncing .snap.db file',
    buckets: DISK,
  },
  etcd_snap_db_save_total_duration_seconds: {
    type: 'histogram',
    help: 'The total latency distributions of v3 snapshot save',
    buckets: exponentialBuckets(0.1, 2, 10),
  },
  etcd_snap_fsync_duration_seconds: {
    type: 'histogram',
    help: 'The latency distributions of fsync called by snap.',
    buckets: DISK,
  },
  etcd_debugging_snap_save_marshalling_duration_seconds: {
    type: 'histogram',
    help: 'The marshalling cost distributions of save called by snapshot.',
    buckets: DISK,
  },
  etcd_debugging_snap_save_total_duration_seconds: {
    type: 'histogram',
    help: 'The total latency distributions of save called by snapshot.',
    buckets: DISK,
  },
  // etcdserver/api/v2store/metrics.go: the store etcd 3.4 keeps its members in.
  etcd_debugging_store_reads_total: {
    type: 'counter',
    help: 'Total number of reads action by (get/getRecursive), local to this member.',
    labels: ['action'],
  },
  etcd_debugging_store_writes_total: {
    type: 'counter',
    help: 'Total number of writes (e.g. set/compareAndDelete) seen by this member.',
    labels: ['action'],
  },
  etcd_debugging_store_expires_total: { type: 'counter', help: 'Total number of expired keys.' },
  etcd_debugging_store_watch_requests_total: {
    type: 'counter',
    help: 'Total number of incoming watch requests (new or reestablished).',
  },
  etcd_debugging_store_watchers: { type: 'gauge', help: 'Count of currently active watchers.' },
  // proxy/grpcproxy/metrics.go (registered by etcd's binary, which links the proxy)
  etcd_grpc_proxy_cache_hits_total: { type: 'gauge', help: 'Total number of cache hits' },
  etcd_grpc_proxy_cache_keys_total: { type: 'gauge', help: 'Total number of keys/ranges cached' },
  etcd_grpc_proxy_cache_misses_total: { type: 'gauge', help: 'Total number of cache misses' },
  etcd_grpc_proxy_events_coalescing_total: { type: 'counter', help: 'Total number of events coalescing' },
  etcd_grpc_proxy_watchers_coalescing_total: { type: 'gauge', help: 'Total number of current watchers coalescing' },
  // go-grpc-prometheus server metrics
  grpc_server_started_total: {
    type: 'counter',
    help: 'Total number of RPCs started on the server.',
    labels: ['grpc_type', 'grpc_service', 'grpc_method'],
  },
  grpc_server_handled_total: {
    type: 'counter',
    help: 'Total number of RPCs completed on the server, regardless of success or failure.',
    labels: ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'],
  },
  grpc_server_msg_received_total: {
    type: 'counter',
    help: 'Total number of RPC stream messages received on the server.',
    labels: ['grpc_type', 'grpc_service', 'grpc_method'],
  },
  grpc_server_msg_sent_total: {
    type: 'counter',
    help: 'Total number of gRPC stream messages sent by the server.',
    labels: ['grpc_type', 'grpc_service', 'grpc_method'],
  },
  // pkg/runtime via etcdserver/metrics.go; client_golang's process and promhttp collectors
  os_fd_limit: { type: 'gauge', help: 'The file descriptor limit.' },
  os_fd_used: { type: 'gauge', help: 'The number of used file descriptors.' },
  process_virtual_memory_max_bytes: { type: 'gauge', help: 'Maximum amount of virtual memory available in bytes.' },
  promhttp_metric_handler_requests_in_flight: { type: 'gauge', help: 'Current number of scrapes being served.' },
  promhttp_metric_handler_requests_total: {
    type: 'counter',
    help: 'Total number of scrapes by HTTP status code.',
    labels: ['code'],
  },
} as const satisfies Record<string, FamilyDef>;

export type FamilyName = keyof typeof FAMILIES;

/** grpc-go's code names, as go-grpc-prometheus labels them (codes.Code.String()). */
export const GRPC_CODE_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists',
  'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange',
  'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
] as const;
