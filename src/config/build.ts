/**
 * Raw settings -> a Config draft: typed reads, etcd's defaults (defaults.ts) and the
 * per-setting rules (value sets, ranges, derived fields). Cross-setting rules that
 * need URLs and files together live in validate.ts.
 *
 * Order matters in two places, both copied from etcd:
 * - data-dir defaults from the resolved name (etcdmain: `<name>.etcd`, here .tsetcd);
 * - initial-cluster: when the name is not `default` and initial-cluster still equals
 *   the default, it becomes `<name>=<each advertise peer URL>`
 *   (embed.Config.UpdateDefaultClusterFromName).
 */
import { buildTlsPolicy, buildTransportSecurity } from './build-tls.js';
import * as d from './defaults.js';
import { buildAuth, buildAutoCompaction, buildFeatureGates, buildLogging } from './build-policy.js';
import type { ClusterState, Config, MetricsLevel } from './types.js';
import { UrlSyntaxError, formatUrl, parseInitialCluster } from './urls.js';
import type { Values } from './values.js';

export function buildConfig(v: Values, notices: string[]): Config {
  const name = v.string('name', d.DEFAULT_NAME);
  const dataDir = v.optionalString('data-dir') ?? `${name}${d.DATA_DIR_SUFFIX}`;
  if (name === d.DEFAULT_NAME) {
    notices.push(
      'it is not recommended to use the default name; set --name (members sharing the ' +
        'name "default" can be confused, etcd-io/etcd#13757)',
    );
  }

  const heartbeatIntervalMs = v.uint('heartbeat-interval', d.DEFAULT_HEARTBEAT_INTERVAL_MS);
  const electionTimeoutMs = v.uint('election-timeout', d.DEFAULT_ELECTION_TIMEOUT_MS);
  checkTimers(v, heartbeatIntervalMs, electionTimeoutMs);

  const listenClientUrls = v.urls('listen-client-urls', [d.DEFAULT_LISTEN_CLIENT_URL]);
  const advertiseClientUrls = v.urls('advertise-client-urls', [d.DEFAULT_ADVERTISE_CLIENT_URL]);
  // etcdmain.configFromCmdLine: an explicit listen-client-urls drops the default
  // advertise-client-urls, and Validate then refuses. A config file keeps the default.
  if (v.source.mode === 'flags' && v.has('listen-client-urls') && !v.has('advertise-client-urls')) {
    v.fail('advertise-client-urls', 'required when listen-client-urls is set explicitly');
  }
  const initialAdvertisePeerUrls = v.urls('initial-advertise-peer-urls', [
    d.DEFAULT_ADVERTISE_PEER_URL,
  ]);
  let initialClusterRaw = v.string('initial-cluster', d.DEFAULT_INITIAL_CLUSTER);
  if (name !== d.DEFAULT_NAME && initialClusterRaw === d.DEFAULT_INITIAL_CLUSTER) {
    initialClusterRaw = initialAdvertisePeerUrls.map((u) => `${name}=${formatUrl(u)}`).join(',');
  }
  let initialCluster;
  try {
    initialCluster = parseInitialCluster(initialClusterRaw);
  } catch (err) {
    if (err instanceof UrlSyntaxError) v.fail('initial-cluster', err.message);
    throw err;
  }

  const quotaBackendBytes = v.int('quota-backend-bytes', 0);
  if (quotaBackendBytes > d.MAX_RECOMMENDED_QUOTA_BACKEND_BYTES) {
    notices.push(`${v.label('quota-backend-bytes')} exceeds the maximum recommended quota (8 GiB)`);
  }
  const tls = buildTlsPolicy(v, notices);
  const compaction = buildAutoCompaction(v);
  const logging = buildLogging(v, notices);
  const auth = buildAuth(v);
  const compactHashCheckTimeMs = v.durationMs(
    'compact-hash-check-time',
    d.DEFAULT_COMPACT_HASH_CHECK_TIME_MS,
  );
  if (compactHashCheckTimeMs <= 0) v.fail('compact-hash-check-time', 'must be > 0');
  const compactionSleepIntervalMs = v.durationMs('compaction-sleep-interval', 0);

  return {
    configFile: v.source.configFile,
    name,
    dataDir,
    walDir: v.optionalString('wal-dir'),
    snapshotCount: v.uint('snapshot-count', d.DEFAULT_SNAPSHOT_COUNT),
    snapshotCatchupEntries: v.uint('snapshot-catchup-entries', d.DEFAULT_SNAPSHOT_CATCHUP_ENTRIES),
    maxSnapshots: v.uint('max-snapshots', d.DEFAULT_MAX_SNAPSHOTS),
    maxWals: v.uint('max-wals', d.DEFAULT_MAX_WALS),
    heartbeatIntervalMs,
    electionTimeoutMs,
    initialElectionTickAdvance: v.bool('initial-election-tick-advance', true),
    quotaBackendBytes,
    quotaBackendBytesLimit:
      quotaBackendBytes < 0
        ? undefined
        : quotaBackendBytes === 0
          ? d.DEFAULT_QUOTA_BACKEND_BYTES
          : quotaBackendBytes,
    maxTxnOps: v.uint('max-txn-ops', d.DEFAULT_MAX_TXN_OPS),
    maxRequestBytes: v.uint('max-request-bytes', d.DEFAULT_MAX_REQUEST_BYTES),
    maxConcurrentStreams: v.uint(
      'max-concurrent-streams',
      d.DEFAULT_MAX_CONCURRENT_STREAMS,
      0xffff_ffff,
    ),
    grpcKeepaliveMinTimeMs: v.durationMs(
      'grpc-keepalive-min-time',
      d.DEFAULT_GRPC_KEEPALIVE_MIN_TIME_MS,
    ),
    grpcKeepaliveIntervalMs: v.durationMs(
      'grpc-keepalive-interval',
      d.DEFAULT_GRPC_KEEPALIVE_INTERVAL_MS,
    ),
    grpcKeepaliveTimeoutMs: v.durationMs(
      'grpc-keepalive-timeout',
      d.DEFAULT_GRPC_KEEPALIVE_TIMEOUT_MS,
    ),
    socketReusePort: v.bool('socket-reuse-port', false),
    socketReuseAddress: v.bool('socket-reuse-address', false),
    // etcdmain raises both to their minimum (5s) when set lower.
    raftReadTimeoutMs: Math.max(
      v.durationMs('raft-read-timeout', d.DEFAULT_RAFT_READ_TIMEOUT_MS),
      d.DEFAULT_RAFT_READ_TIMEOUT_MS,
    ),
    raftWriteTimeoutMs: Math.max(
      v.durationMs('raft-write-timeout', d.DEFAULT_RAFT_WRITE_TIMEOUT_MS),
      d.DEFAULT_RAFT_WRITE_TIMEOUT_MS,
    ),

    listenPeerUrls: v.urls('listen-peer-urls', [d.DEFAULT_LISTEN_PEER_URL]),
    listenClientUrls,
    listenClientHttpUrls: v.urls('listen-client-http-urls', []),
    listenMetricsUrls: v.urls('listen-metrics-urls', []),
    initialAdvertisePeerUrls,
    advertiseClientUrls,

    initialCluster,
    initialClusterRaw,
    initialClusterToken: v.string('initial-cluster-token', d.DEFAULT_INITIAL_CLUSTER_TOKEN),
    initialClusterState: clusterState(v),
    strictReconfigCheck: v.bool('strict-reconfig-check', true),
    preVote: v.bool('pre-vote', true),
    forceNewCluster: v.bool('force-new-cluster', false),

    clientTls: buildTransportSecurity(v, 'client'),
    peerTls: buildTransportSecurity(v, 'peer'),
    ...tls,
    selfSignedCertValidityYears:
      v.uint('self-signed-cert-validity', d.DEFAULT_SELF_SIGNED_CERT_VALIDITY_YEARS) ||
      d.DEFAULT_SELF_SIGNED_CERT_VALIDITY_YEARS,
    cors: v.list('cors', ['*']),
    hostWhitelist: v.list('host-whitelist', ['*']),

    ...compaction,
    compactionBatchLimit: v.int('compaction-batch-limit', d.DEFAULT_COMPACTION_BATCH_LIMIT),
    // 0 means mvcc's default pause between compaction batches (10ms).
    compactionSleepIntervalMs:
      compactionSleepIntervalMs > 0
        ? compactionSleepIntervalMs
        : d.DEFAULT_COMPACTION_SLEEP_INTERVAL_MS,

    metrics: metricsLevel(v),
    enablePprof: v.bool('enable-pprof', false),
    enableGrpcGateway: v.bool('enable-grpc-gateway', true),
    ...logging,

    ...auth,

    watchProgressNotifyIntervalMs: v.durationMs(
      'watch-progress-notify-interval',
      d.DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL_MS,
    ),
    warningApplyDurationMs: v.durationMs(
      'warning-apply-duration',
      d.DEFAULT_WARNING_APPLY_DURATION_MS,
    ),
    warningUnaryRequestDurationMs: v.durationMs(
      'warning-unary-request-duration',
      d.DEFAULT_WARNING_UNARY_REQUEST_DURATION_MS,
    ),
    maxLearners: v.int('max-learners', d.DEFAULT_MAX_LEARNERS, 0),
    corruptCheckTimeMs: v.durationMs('corrupt-check-time', d.DEFAULT_CORRUPT_CHECK_TIME_MS),
    compactHashCheckTimeMs,
    featureGates: buildFeatureGates(v, notices),
    unsafeNoFsync: v.bool('unsafe-no-fsync', false),
  };
}

/** embed.Config.Validate's timer rules, with etcd's limits. */
function checkTimers(v: Values, heartbeatMs: number, electionMs: number): void {
  if (heartbeatMs === 0) v.fail('heartbeat-interval', 'must be > 0 (set to 0ms)');
  if (electionMs === 0) v.fail('election-timeout', 'must be > 0 (set to 0ms)');
  if (5 * heartbeatMs > electionMs) {
    v.fail(
      'election-timeout',
      `${electionMs}ms should be at least 5 times heartbeat-interval (${heartbeatMs}ms)`,
    );
  }
  if (electionMs > d.MAX_ELECTION_TIMEOUT_MS) {
    v.fail(
      'election-timeout',
      `${electionMs}ms is too long; it must be at most ${d.MAX_ELECTION_TIMEOUT_MS}ms`,
    );
  }
}

function clusterState(v: Values): ClusterState {
  const state = v.string('initial-cluster-state', 'new');
  if (state === 'new' || state === 'existing') return state;
  // A config file's empty value means "new" (embed.configFromFile).
  if (state === '' && v.source.mode === 'file') return 'new';
  return v.fail(
    'initial-cluster-state',
    `must be "new" or "existing", not ${JSON.stringify(state)}`,
  );
}

function metricsLevel(v: Values): MetricsLevel {
  const level = v.string('metrics', 'basic');
  if (level === 'basic' || level === 'extensive') return level;
  return v.fail('metrics', `must be "basic" or "extensive", not ${JSON.stringify(level)}`);
}
