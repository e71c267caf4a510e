/**
 * The table of every setting name tsetcd recognises: etcd 3.6's flags and YAML keys,
 * plus the 3.4/3.5 spellings still found in deployed configs (experimental-*,
 * debug, enable-v2, proxy*), so a config etcd accepts is never refused for its names.
 *
 * Contract: `name` is etcd's flag name; its environment variable is ETCD_<NAME> with
 * dashes as underscores (pkg/flags.FlagToEnv). `where` says where the name is valid:
 * - both:  a flag, an env var and a top-level YAML key;
 * - flag:  flag/env only (a top-level YAML key of that name is unknown to etcd; the
 *          TLS ones are reachable in YAML only through the transport-security blocks);
 * - yaml:  a top-level YAML key only;
 * - block: only inside client-transport-security (client-cert-allowed-cn).
 * `use`: carry = becomes a Config field; ignore = accepted, a notice says it has no
 * effect in tsetcd; refuse = a ConfigError when given a non-empty value (discovery:
 * tsetcd cannot bootstrap that way). `aliasOf`: a 3.5 experimental name whose value,
 * when set, replaces the 3.6 name's (etcdmain.config.parse does the same).
 */

export type Kind =
  'string' | 'bool' | 'uint' | 'int' | 'duration' | 'urls' | 'list' | 'any' | 'legacy';
export type Where = 'both' | 'flag' | 'yaml' | 'block';
export type Use = 'carry' | 'ignore' | 'refuse';

export interface KeySpec {
  readonly name: string;
  readonly kind: Kind;
  readonly where: Where;
  readonly use: Use;
  readonly aliasOf?: string;
}

const specs: KeySpec[] = [];

function add(kind: Kind, where: Where, use: Use, names: readonly string[]): void {
  for (const name of names) specs.push({ name, kind, where, use });
}

function alias(kind: Kind, name: string, aliasOf: string): void {
  specs.push({ name, kind, where: 'both', use: 'carry', aliasOf });
}

// --- carried settings -------------------------------------------------------------
add('string', 'both', 'carry', [
  'name',
  'data-dir',
  'wal-dir',
  'initial-cluster',
  'initial-cluster-token',
  'initial-cluster-state',
  'tls-min-version',
  'tls-max-version',
  'logger',
  'log-level',
  'log-format',
  'log-rotation-config-json',
  'auto-compaction-retention',
  'auto-compaction-mode',
  'metrics',
  'auth-token',
  'feature-gates',
]);
add('string', 'flag', 'carry', [
  'cert-file',
  'key-file',
  'client-cert-file',
  'client-key-file',
  'trusted-ca-file',
  'client-crl-file',
  'peer-cert-file',
  'peer-key-file',
  'peer-client-cert-file',
  'peer-client-key-file',
  'peer-trusted-ca-file',
  'peer-crl-file',
  'config-file',
]);
add('bool', 'both', 'carry', [
  'initial-election-tick-advance',
  'strict-reconfig-check',
  'pre-vote',
  'enable-pprof',
  'enable-grpc-gateway',
  'enable-log-rotation',
  'force-new-cluster',
  'unsafe-no-fsync',
  'debug',
]);
add('bool', 'flag', 'carry', [
  'client-cert-auth',
  'auto-tls',
  'peer-client-cert-auth',
  'peer-auto-tls',
  'peer-skip-client-san-verification',
  'socket-reuse-port',
  'socket-reuse-address',
]);
add('uint', 'both', 'carry', [
  'snapshot-count',
  'snapshot-catchup-entries',
  'max-snapshots',
  'max-wals',
  'heartbeat-interval',
  'election-timeout',
  'max-txn-ops',
  'max-request-bytes',
  'max-concurrent-streams',
  'self-signed-cert-validity',
  'bcrypt-cost',
  'auth-token-ttl',
]);
add('int', 'both', 'carry', ['quota-backend-bytes', 'max-learners', 'compaction-batch-limit']);
add('duration', 'both', 'carry', [
  'grpc-keepalive-min-time',
  'grpc-keepalive-interval',
  'grpc-keepalive-timeout',
  'watch-progress-notify-interval',
  'warning-apply-duration',
  'warning-unary-request-duration',
  'corrupt-check-time',
  'compact-hash-check-time',
  'compaction-sleep-interval',
]);
add('duration', 'flag', 'carry', ['raft-read-timeout', 'raft-write-timeout']);
add('urls', 'both', 'carry', [
  'listen-peer-urls',
  'listen-client-urls',
  'listen-client-http-urls',
  'listen-metrics-urls',
  'initial-advertise-peer-urls',
  'advertise-client-urls',
]);
add('list', 'both', 'carry', ['cipher-suites', 'log-outputs', 'cors', 'host-whitelist']);
add('list', 'flag', 'carry', [
  'client-cert-allowed-hostname',
  'peer-cert-allowed-cn',
  'peer-cert-allowed-hostname',
]);
add('list', 'block', 'carry', ['client-cert-allowed-cn']);

// --- 3.5 experimental spellings ---------------------------------------------------
alias('duration', 'experimental-corrupt-check-time', 'corrupt-check-time');
alias('duration', 'experimental-compact-hash-check-time', 'compact-hash-check-time');
alias('int', 'experimental-compaction-batch-limit', 'compaction-batch-limit');
alias('duration', 'experimental-compaction-sleep-interval', 'compaction-sleep-interval');
alias('duration', 'experimental-watch-progress-notify-interval', 'watch-progress-notify-interval');
alias('duration', 'experimental-warning-apply-duration', 'warning-apply-duration');
alias('duration', 'experimental-warning-unary-request-duration', 'warning-unary-request-duration');
alias('int', 'experimental-max-learners', 'max-learners');
alias('uint', 'experimental-snapshot-catchup-entries', 'snapshot-catchup-entries');
/** 3.5 booleans that became feature gates in 3.6 (embed.SetFeatureGatesFromExperimentalFlags). */
export const EXPERIMENTAL_GATE_FLAGS: ReadonlyMap<string, string> = new Map([
  ['experimental-initial-corrupt-check', 'InitialCorruptCheck'],
  ['experimental-compact-hash-check-enabled', 'CompactHashCheck'],
  ['experimental-enable-lease-checkpoint', 'LeaseCheckpoint'],
  ['experimental-enable-lease-checkpoint-persist', 'LeaseCheckpointPersist'],
  ['experimental-txn-mode-write-with-shared-buffer', 'TxnModeWriteWithSharedBuffer'],
  ['experimental-stop-grpc-service-on-defrag', 'StopGRPCServiceOnDefrag'],
]);
add('bool', 'both', 'carry', [...EXPERIMENTAL_GATE_FLAGS.keys()]);

// --- accepted, no effect in tsetcd ------------------------------------------------
add('duration', 'both', 'ignore', [
  'backend-batch-interval',
  'downgrade-check-time',
  'experimental-downgrade-check-time',
]);
add('int', 'both', 'ignore', [
  'backend-batch-limit',
  'distributed-tracing-sampling-rate',
  'experimental-distributed-tracing-sampling-rate',
]);
add('string', 'both', 'ignore', [
  'backend-bbolt-freelist-type',
  'experimental-backend-bbolt-freelist-type',
  'distributed-tracing-address',
  'distributed-tracing-service-name',
  'distributed-tracing-instance-id',
  'experimental-distributed-tracing-address',
  'experimental-distributed-tracing-service-name',
  'experimental-distributed-tracing-instance-id',
  'discovery-srv-name',
  'discovery-fallback',
  'discovery-proxy',
  'v2-deprecation',
  'log-package-levels',
  'experimental-enable-v2v3',
  'proxy',
]);
add('bool', 'both', 'ignore', [
  'disable-log-sampling',
  'memory-mlock',
  'experimental-memory-mlock',
  'enable-distributed-tracing',
  'experimental-enable-distributed-tracing',
  'enable-v2',
]);
add('uint', 'both', 'ignore', [
  'bootstrap-defrag-threshold-megabytes',
  'experimental-bootstrap-defrag-threshold-megabytes',
  'proxy-failure-wait',
  'proxy-refresh-interval',
  'proxy-dial-timeout',
  'proxy-write-timeout',
  'proxy-read-timeout',
]);
add('string', 'flag', 'ignore', [
  'discovery-token',
  'discovery-cert',
  'discovery-key',
  'discovery-cacert',
  'discovery-user',
  'discovery-password',
]);
add('duration', 'flag', 'ignore', [
  'discovery-dial-timeout',
  'discovery-request-timeout',
  'discovery-keepalive-time',
  'discovery-keepalive-timeout',
]);
add('bool', 'flag', 'ignore', [
  'discovery-insecure-transport',
  'discovery-insecure-skip-tls-verify',
]);
add('any', 'yaml', 'ignore', ['discovery-config']);
// etcdmain's `ignored` list: flags from etcd 0.4, accepted with or without a value.
add('legacy', 'flag', 'ignore', [
  'cluster-active-size',
  'cluster-remove-delay',
  'cluster-sync-interval',
  'force',
  'max-result-buffer',
  'max-retry-attempts',
  'peer-heartbeat-interval',
  'peer-election-timeout',
  'retry-interval',
  'snapshot',
  'v',
  'vv',
]);

// --- refused: tsetcd bootstraps from initial-cluster only -------------------------
add('string', 'both', 'refuse', ['discovery', 'discovery-srv']);
add('list', 'flag', 'refuse', ['discovery-endpoints']);

export const KEY_SPECS: ReadonlyMap<string, KeySpec> = new Map(specs.map((s) => [s.name, s]));

/** `--config` (tsetcd's alias for --config-file). */
export const CONFIG_FILE_FLAGS: readonly string[] = ['config-file', 'config'];

export function envName(flagName: string): string {
  return `ETCD_${flagName.toUpperCase().replace(/-/g, '_')}`;
}

export function isFlag(spec: KeySpec): boolean {
  return spec.where === 'both' || spec.where === 'flag';
}

export function isTopLevelYaml(spec: KeySpec): boolean {
  return spec.where === 'both' || spec.where === 'yaml';
}

/** YAML transport-security block keys -> flag names (embed.securityConfig). */
export const CLIENT_SECURITY_KEYS: ReadonlyMap<string, string> = new Map([
  ['cert-file', 'cert-file'],
  ['key-file', 'key-file'],
  ['client-cert-file', 'client-cert-file'],
  ['client-key-file', 'client-key-file'],
  ['client-cert-auth', 'client-cert-auth'],
  ['trusted-ca-file', 'trusted-ca-file'],
  ['auto-tls', 'auto-tls'],
  ['allowed-cn', 'client-cert-allowed-cn'],
  ['allowed-hostname', 'client-cert-allowed-hostname'],
]);

export const PEER_SECURITY_KEYS: ReadonlyMap<string, string> = new Map([
  ['cert-file', 'peer-cert-file'],
  ['key-file', 'peer-key-file'],
  ['client-cert-file', 'peer-client-cert-file'],
  ['client-key-file', 'peer-client-key-file'],
  ['client-cert-auth', 'peer-client-cert-auth'],
  ['trusted-ca-file', 'peer-trusted-ca-file'],
  ['auto-tls', 'peer-auto-tls'],
  ['allowed-cn', 'peer-cert-allowed-cn'],
  ['allowed-hostname', 'peer-cert-allowed-hostname'],
  ['skip-client-san-verification', 'peer-skip-client-san-verification'],
]);

/** The YAML `socket-options` block (transport.SocketOpts). */
export const SOCKET_OPTION_KEYS: ReadonlyMap<string, string> = new Map([
  ['reuse-port', 'socket-reuse-port'],
  ['reuse-address', 'socket-reuse-address'],
]);
