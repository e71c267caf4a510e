/**
 * `tsetcd --help`: every flag of the config table (./keys.ts), in etcd's groups
 * (etcdmain/help.go: Member, Clustering, Security, Auth, Profiling and Monitoring,
 * Logging, Experimental, Unsafe), each with its default as `config check` prints it
 * (./describe.ts over the defaults) and one line on what it does.
 *
 * Contract: the carried flags are placed by the GROUPS table below; accepted-but-inert,
 * refused and etcd 3.5 alias names are listed from the key table itself. test/config
 * checks that every flag of keys.ts appears exactly once, so a new flag without a help
 * line fails a test instead of going missing.
 */
import { describeConfig } from './describe.js';
import { EXPERIMENTAL_GATE_FLAGS, KEY_SPECS, isFlag, type KeySpec } from './keys.js';
import type { Config } from './types.js';

type Group = readonly [title: string, flags: ReadonlyArray<readonly [flag: string, what: string]>];

const GROUPS: readonly Group[] = [
  [
    'Member',
    [
      ['name', 'Human-readable name for this member.'],
      ['config-file', 'Path to the YAML configuration file; other flags and environment variables are then ignored.'],
      ['data-dir', 'Path to the data directory.'],
      ['wal-dir', 'Path to a dedicated WAL directory.'],
      ['snapshot-count', 'Applied entries between snapshots (log compaction points).'],
      ['snapshot-catchup-entries', 'Entries kept after a snapshot so slow followers catch up from the log.'],
      ['heartbeat-interval', 'Time (in milliseconds) of a heartbeat interval.'],
      ['election-timeout', 'Time (in milliseconds) for an election to time out.'],
      ['initial-election-tick-advance', 'Fast-forward the initial election ticks on boot for a faster election.'],
      ['listen-peer-urls', 'URLs to listen on for peer traffic.'],
      ['listen-client-urls', 'URLs to listen on for client traffic (gRPC, gateway, health, metrics).'],
      ['listen-client-http-urls', 'URLs to listen on for plain HTTP client traffic only.'],
      ['max-snapshots', 'Snapshot files to keep (0 is unlimited).'],
      ['max-wals', 'WAL files to keep (0 is unlimited).'],
      ['quota-backend-bytes', 'Raise a NOSPACE alarm when the backend exceeds this size (0: the default quota).'],
      ['max-txn-ops', 'Most operations allowed in one transaction.'],
      ['max-request-bytes', 'Largest client request accepted, in bytes.'],
      ['max-concurrent-streams', 'Most concurrent streams each client connection may open.'],
      ['grpc-keepalive-min-time', 'Shortest interval a client may ping the server at.'],
      ['grpc-keepalive-interval', 'How often the server pings idle connections (0 disables).'],
      ['grpc-keepalive-timeout', 'How long to wait for a ping answer before closing the connection.'],
      ['socket-reuse-port', 'Set SO_REUSEPORT on listeners.'],
      ['socket-reuse-address', 'Set SO_REUSEADDR on listeners.'],
      ['raft-read-timeout', 'Read timeout on the peer connections.'],
      ['raft-write-timeout', 'Write timeout on the peer connections.'],
    ],
  ],
  [
    'Clustering',
    [
      ['initial-advertise-peer-urls', "This member's peer URLs to advertise to the rest of the cluster."],
      ['initial-cluster', 'Initial cluster configuration for bootstrapping (name=peer-url,...).'],
      ['initial-cluster-state', "'new' for a new cluster, 'existing' to join one."],
      ['initial-cluster-token', 'Initial cluster token, unique per cluster.'],
      ['advertise-client-urls', "This member's client URLs to advertise to the rest of the cluster."],
      ['strict-reconfig-check', 'Refuse reconfiguration requests that would cause quorum loss.'],
      ['pre-vote', 'Run the Raft pre-vote phase before elections.'],
      ['auto-compaction-retention', 'Auto compaction retention for the mvcc key value store (0 disables).'],
      ['auto-compaction-mode', "Interpret auto-compaction-retention as 'periodic' (a duration) or 'revision'."],
      ['enable-grpc-gateway', 'Serve the JSON gateway (/v3/) on the client URLs.'],
      ['max-learners', 'Most learners a cluster may hold.'],
      ['compaction-batch-limit', 'Keys deleted per compaction batch.'],
      ['compaction-sleep-interval', 'Pause between compaction batches.'],
      ['watch-progress-notify-interval', 'How often to send progress notifications to watchers that asked.'],
      ['warning-apply-duration', 'Log a warning when applying a request takes longer than this.'],
      ['warning-unary-request-duration', 'Log a warning when a unary request takes longer than this.'],
      ['corrupt-check-time', 'How often to compare hashes with the other members (0 disables).'],
      ['compact-hash-check-time', 'How often the leader checks the followers compacted hashes.'],
      ['feature-gates', 'Feature gates to enable or disable (Name=true|false,...).'],
    ],
  ],
  [
    'Security',
    [
      ['cert-file', 'Path to the client server TLS certificate file.'],
      ['key-file', 'Path to the client server TLS key file.'],
      ['client-cert-auth', 'Require client certificates signed by trusted-ca-file.'],
      ['client-crl-file', 'Path to the client certificate revocation list file.'],
      ['client-cert-allowed-hostname', 'Allowed TLS hostname for client certificate authentication.'],
      ['trusted-ca-file', 'Path to the client server TLS trusted CA file.'],
      ['client-cert-file', 'Certificate this member presents as a client (defaults to cert-file).'],
      ['client-key-file', 'Key for client-cert-file (defaults to key-file).'],
      ['auto-tls', 'Client TLS with a generated self-signed certificate.'],
      ['peer-cert-file', 'Path to the peer server TLS certificate file.'],
      ['peer-key-file', 'Path to the peer server TLS key file.'],
      ['peer-client-cert-auth', 'Require peer client certificates signed by peer-trusted-ca-file.'],
      ['peer-trusted-ca-file', 'Path to the peer server TLS trusted CA file.'],
      ['peer-client-cert-file', 'Certificate this member presents to peers (defaults to peer-cert-file).'],
      ['peer-client-key-file', 'Key for peer-client-cert-file (defaults to peer-key-file).'],
      ['peer-cert-allowed-cn', 'Allowed common name for peer certificate authentication.'],
      ['peer-cert-allowed-hostname', 'Allowed TLS hostname for peer certificate authentication.'],
      ['peer-auto-tls', 'Peer TLS with a generated self-signed certificate.'],
      ['peer-skip-client-san-verification', "Skip the check of the peer client certificate's SAN against its address."],
      ['self-signed-cert-validity', 'Validity, in years, of the certificates auto-tls and peer-auto-tls make.'],
      ['peer-crl-file', 'Path to the peer certificate revocation list file.'],
      ['cipher-suites', 'Comma-separated TLS cipher suites (Go names) for client and peer connections.'],
      ['cors', 'Comma-separated origins allowed for CORS (cross-origin resource sharing).'],
      ['host-whitelist', 'Comma-separated hosts accepted on plain-HTTP client requests.'],
      ['tls-min-version', 'Minimum TLS version (TLS1.2 or TLS1.3).'],
      ['tls-max-version', 'Maximum TLS version (empty: the highest supported).'],
    ],
  ],
  [
    'Auth',
    [
      ['auth-token', "Token type: 'simple' or 'jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...'."],
      ['bcrypt-cost', 'Cost of the bcrypt hashes of passwords.'],
      ['auth-token-ttl', 'Time (in seconds) a simple token lives.'],
    ],
  ],
  [
    'Profiling and Monitoring',
    [
      ['enable-pprof', 'Serve CPU and heap profiles on /debug/pprof/ of the client URLs.'],
      ['metrics', "'basic' or 'extensive' (adds histograms of gRPC handling time)."],
      ['listen-metrics-urls', 'Extra URLs that serve /metrics and /health only.'],
    ],
  ],
  [
    'Logging',
    [
      ['logger', "'zap' ('capnslog' is accepted with a deprecation warning)."],
      ['log-outputs', "Where logs go: 'default', 'stderr', 'stdout', 'systemd/journal' or file paths."],
      ['log-level', 'debug, info, warn, error, panic or fatal.'],
      ['log-format', "'json' or 'console'."],
      ['enable-log-rotation', 'Rotate the single file log output.'],
      ['log-rotation-config-json', 'Rotation settings as JSON (maxsize, maxage, maxbackups, localtime, compress).'],
      ['debug', 'etcd 3.4: the same as --log-level debug.'],
    ],
  ],
  [
    'Unsafe feature',
    [
      ['force-new-cluster', 'Start a one-member cluster from this data dir, dropping the other members.'],
      ['unsafe-no-fsync', 'Disable fsync: faster, loses data on a crash.'],
    ],
  ],
];

const COMMANDS = `Usage:

  tsetcd [flags]
    Start a member.

  tsetcd --version
    Show the versions.

  tsetcd -h | --help
    Show this help.

  tsetcd --config-file FILE
    Read the settings from etcd's YAML configuration file; other flags and environment
    variables are then ignored, as etcd does.

  tsetcd config check [flags]
    Validate the settings and print the effective values.

  tsetcd snapshot status FILE | tsetcd snapshot restore FILE [flags]
    Read or restore an etcd snapshot file, as etcdctl does.

Every flag is also read from its environment variable, ETCD_<NAME> with dashes as
underscores (ETCD_DATA_DIR for --data-dir).
`;

function line(flag: string, def: string, what: string): string {
  return `  --${flag} '${def}'\n    ${what}\n`;
}

function whatOf(spec: KeySpec): string {
  if (spec.aliasOf !== undefined) return `etcd 3.5 name of --${spec.aliasOf}.`;
  const gate = EXPERIMENTAL_GATE_FLAGS.get(spec.name);
  if (gate !== undefined) return `etcd 3.5 switch for the feature gate ${gate}.`;
  if (spec.use === 'refuse') return 'Refused: tsetcd bootstraps from --initial-cluster only.';
  return 'Accepted for compatibility; no effect in tsetcd.';
}

/** The flags GROUPS places by hand. */
export function groupedFlags(): string[] {
  return GROUPS.flatMap(([, flags]) => flags.map(([f]) => f));
}

/** The whole help text; `defaults` is the Config built from no flags. */
export function helpText(defaults: Config): string {
  const values = new Map<string, string>();
  for (const l of describeConfig(defaults).split('\n')) {
    const at = l.indexOf(': ');
    if (at > 0) {
      const key = l.slice(0, at).replace(/^client-transport-security\./, '').replace(/^peer-transport-security\./, 'peer-');
      values.set(key.replace(/^socket-options\./, 'socket-'), l.slice(at + 2));
    }
  }
  const def = (flag: string): string => values.get(flag) ?? '';
  let out = COMMANDS;
  for (const [title, flags] of GROUPS) {
    out += `\n${title}:\n`;
    for (const [flag, what] of flags) out += line(flag, def(flag), what);
  }
  const placed = new Set(groupedFlags());
  const rest = [...KEY_SPECS.values()].filter((s) => isFlag(s) && !placed.has(s.name));
  const sections: ReadonlyArray<readonly [string, (s: KeySpec) => boolean]> = [
    ['Experimental feature (etcd 3.5 names)', (s) => s.use === 'carry'],
    ['Accepted, no effect in tsetcd', (s) => s.use === 'ignore'],
    ['Refused', (s) => s.use === 'refuse'],
  ];
  for (const [title, pick] of sections) {
    out += `\n${title}:\n`;
    for (const s of rest.filter(pick)) out += line(s.name, def(s.aliasOf ?? s.name), whatOf(s));
  }
  return out;
}
