/**
 * describeConfig: the effective settings as `key: value` lines, one per setting, using
 * etcd's key names (YAML block paths for TLS and socket options), for
 * `tsetcd config check`. Durations print in Go syntax ("10m0s"), milliseconds settings
 * (heartbeat-interval, election-timeout) as etcd's plain integers, lists comma-joined,
 * unset paths as an empty value. Output is deterministic: same Config, same text.
 */
import { formatGoDuration } from './duration.js';
import { toOneLine } from './errors.js';
import type { Config, FeatureGates, TransportSecurity } from './types.js';
import { formatUrls } from './urls.js';

type Entry = readonly [string, string | number | boolean | undefined | readonly string[]];

function tlsEntries(block: string, tls: TransportSecurity, peer: boolean): Entry[] {
  const entries: Entry[] = [
    [`${block}.cert-file`, tls.certFile],
    [`${block}.key-file`, tls.keyFile],
    [`${block}.client-cert-file`, tls.clientCertFile],
    [`${block}.client-key-file`, tls.clientKeyFile],
    [`${block}.client-cert-auth`, tls.clientCertAuth],
    [`${block}.trusted-ca-file`, tls.trustedCaFile],
    [`${block}.auto-tls`, tls.autoTls],
    [`${block}.allowed-cn`, tls.allowedCn],
    [`${block}.allowed-hostname`, tls.allowedHostname],
  ];
  if (peer) entries.push([`${block}.skip-client-san-verification`, tls.skipClientSanVerification]);
  return entries;
}

const GATE_NAMES: readonly [keyof FeatureGates, string][] = [
  ['compactHashCheck', 'CompactHashCheck'],
  ['initialCorruptCheck', 'InitialCorruptCheck'],
  ['leaseCheckpoint', 'LeaseCheckpoint'],
  ['leaseCheckpointPersist', 'LeaseCheckpointPersist'],
  ['setMemberLocalAddr', 'SetMemberLocalAddr'],
  ['stopGrpcServiceOnDefrag', 'StopGRPCServiceOnDefrag'],
  ['txnModeWriteWithSharedBuffer', 'TxnModeWriteWithSharedBuffer'],
];

export function describeConfig(config: Config): string {
  const dur = formatGoDuration;
  const entries: Entry[] = [
    ['config-file', config.configFile],
    ['name', config.name],
    ['data-dir', config.dataDir],
    ['wal-dir', config.walDir],
    ['snapshot-count', config.snapshotCount],
    ['snapshot-catchup-entries', config.snapshotCatchupEntries],
    ['max-snapshots', config.maxSnapshots],
    ['max-wals', config.maxWals],
    ['heartbeat-interval', config.heartbeatIntervalMs],
    ['election-timeout', config.electionTimeoutMs],
    ['initial-election-tick-advance', config.initialElectionTickAdvance],
    ['quota-backend-bytes', config.quotaBackendBytes],
    ['max-txn-ops', config.maxTxnOps],
    ['max-request-bytes', config.maxRequestBytes],
    ['max-concurrent-streams', config.maxConcurrentStreams],
    ['grpc-keepalive-min-time', dur(config.grpcKeepaliveMinTimeMs)],
    ['grpc-keepalive-interval', dur(config.grpcKeepaliveIntervalMs)],
    ['grpc-keepalive-timeout', dur(config.grpcKeepaliveTimeoutMs)],
    ['socket-options.reuse-port', config.socketReusePort],
    ['socket-options.reuse-address', config.socketReuseAddress],
    ['raft-read-timeout', dur(config.raftReadTimeoutMs)],
    ['raft-write-timeout', dur(config.raftWriteTimeoutMs)],
    ['listen-peer-urls', formatUrls(config.listenPeerUrls)],
    ['listen-client-urls', formatUrls(config.listenClientUrls)],
    ['listen-client-http-urls', formatUrls(config.listenClientHttpUrls)],
    ['listen-metrics-urls', formatUrls(config.listenMetricsUrls)],
    ['initial-advertise-peer-urls', formatUrls(config.initialAdvertisePeerUrls)],
    ['advertise-client-urls', formatUrls(config.advertiseClientUrls)],
    [
      'initial-cluster',
      config.initialCluster
        .map((m) => m.peerUrls.map((u) => `${m.name}=${formatUrls([u])}`).join(','))
        .join(','),
    ],
    ['initial-cluster-token', config.initialClusterToken],
    ['initial-cluster-state', config.initialClusterState],
    ['strict-reconfig-check', config.strictReconfigCheck],
    ['pre-vote', config.preVote],
    ['force-new-cluster', config.forceNewCluster],
    ...tlsEntries('client-transport-security', config.clientTls, false),
    ['client-crl-file', config.clientTls.crlFile],
    ...tlsEntries('peer-transport-security', config.peerTls, true),
    ['peer-crl-file', config.peerTls.crlFile],
    ['cipher-suites', config.cipherSuites],
    ['tls-min-version', config.tlsMinVersion],
    ['tls-max-version', config.tlsMaxVersion],
    ['self-signed-cert-validity', config.selfSignedCertValidityYears],
    ['cors', config.cors],
    ['host-whitelist', config.hostWhitelist],
    ['auto-compaction-mode', config.autoCompactionMode],
    ['auto-compaction-retention', config.autoCompactionRetention],
    ['compaction-batch-limit', config.compactionBatchLimit],
    ['compaction-sleep-interval', dur(config.compactionSleepIntervalMs)],
    ['metrics', config.metrics],
    ['enable-pprof', config.enablePprof],
    ['enable-grpc-gateway', config.enableGrpcGateway],
    ['logger', config.logger],
    ['log-level', config.logLevel],
    ['log-outputs', config.logOutputs],
    ['log-format', config.logFormat],
    ['enable-log-rotation', config.enableLogRotation],
    ['log-rotation-config-json', config.logRotationConfigJson],
    ['auth-token', config.authToken],
    ['bcrypt-cost', config.bcryptCost],
    ['auth-token-ttl', config.authTokenTtlSeconds],
    ['watch-progress-notify-interval', dur(config.watchProgressNotifyIntervalMs)],
    ['warning-apply-duration', dur(config.warningApplyDurationMs)],
    ['warning-unary-request-duration', dur(config.warningUnaryRequestDurationMs)],
    ['max-learners', config.maxLearners],
    ['corrupt-check-time', dur(config.corruptCheckTimeMs)],
    ['compact-hash-check-time', dur(config.compactHashCheckTimeMs)],
    ['feature-gates', GATE_NAMES.map(([field, gate]) => `${gate}=${config.featureGates[field]}`)],
    ['unsafe-no-fsync', config.unsafeNoFsync],
  ];
  return entries.map(([key, value]) => `${key}: ${render(value)}`).join('\n');
}

function render(value: Entry[1]): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.join(',');
  return toOneLine(String(value));
}
