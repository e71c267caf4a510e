// Prints the settings tables of docs/configuration.md from src/config/keys.ts (built:
// run `npm run build` first), so the document lists exactly the names tsetcd accepts.
//   node docs/gen-config-keys.mjs > /tmp/keys.md   and paste between the markers.
// EFFECT below is maintained by hand: which carried settings the server uses today
// (grep the Config field outside src/config when a module starts using one).
import { KEY_SPECS, envName } from '../dist/src/config/keys.js';
import { describeConfig, loadConfig } from '../dist/src/config/index.js';

const NO_EFFECT = 'accepted, no effect yet';
const EFFECT = new Map(Object.entries({
  'max-snapshots': NO_EFFECT + ' (WAL segments are released after each snapshot)',
  'max-wals': NO_EFFECT + ' (WAL segments are released after each snapshot)',
  'grpc-keepalive-min-time': NO_EFFECT,
  'grpc-keepalive-interval': NO_EFFECT,
  'grpc-keepalive-timeout': NO_EFFECT,
  'socket-reuse-port': NO_EFFECT,
  'socket-reuse-address': NO_EFFECT,
  'raft-read-timeout': NO_EFFECT,
  'raft-write-timeout': NO_EFFECT,
  'listen-client-http-urls': NO_EFFECT + ' (HTTP stays on the client URLs)',
  'listen-metrics-urls': 'serves /metrics, /health, /livez, /readyz, /version (no gRPC, no gateway)',
  'force-new-cluster': 'as etcd: a restart makes this member the only voter, keeping its data ([backup-restore.md](backup-restore.md#4-recovering-from-lost-quorum---force-new-cluster))',
  'client-cert-allowed-cn': NO_EFFECT + ' (peer-cert-allowed-cn works)',
  'client-cert-allowed-hostname': NO_EFFECT + ' (peer-cert-allowed-hostname works)',
  'tls-max-version': 'client listeners only',
  'cors': "as etcd: origins that get CORS headers on the gateway's answers",
  'host-whitelist': NO_EFFECT,
  'auto-compaction-mode': "as etcd: the leader compacts on etcd's schedule (periodic: every tenth of min(retention, 1 h) it samples the revision and compacts at the one of a retention ago; revision: every 5 minutes it keeps the last N)",
  'auto-compaction-retention': 'as etcd: periodic takes hours (a bare number) or a duration (`30m`); revision takes a count; `0` turns auto-compaction off',
  'compaction-batch-limit': NO_EFFECT + ' (fixed at 1000)',
  'compaction-sleep-interval': NO_EFFECT + ' (fixed at 10ms)',
  'metrics': 'as etcd: `extensive` adds grpc_server_handling_seconds',
  'enable-pprof': 'as etcd: CPU and heap profiles under /debug/pprof/ in pprof format ([operations.md](operations.md))',
  'enable-grpc-gateway': 'as etcd: the JSON gateway on /v3/ (and 3.4\'s /v3beta/) of the client URLs',
  'log-format': NO_EFFECT + ' (always json)',
  'enable-log-rotation': NO_EFFECT,
  'log-rotation-config-json': NO_EFFECT,
  'auth-token': 'as etcd: `simple`, or `jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...` ([security.md](security.md))',
  'auth-token-ttl': 'as etcd: seconds a simple token lives unused',
  'warning-apply-duration': 'as etcd: a slower apply logs "apply request took too long" and counts in etcd_server_slow_apply_total',
  'warning-unary-request-duration': 'as etcd 3.5: a slower unary call logs "request stats" as a warning (every call at --log-level debug)',
  'compact-hash-check-time': NO_EFFECT,
  'feature-gates': 'validated; InitialCorruptCheck is used, no other gate changes behaviour yet',
  'debug': 'true sets log-level debug (etcd 3.4 key)',
  'logger': "zap; capnslog is accepted with etcd 3.5's deprecation warning",
  'config-file': 'see Precedence',
}));
/** The 3.5 gate booleans the server reads today. */
const GATES_IN_USE = new Set(['experimental-initial-corrupt-check']);
for (const name of KEY_SPECS.keys()) {
  if (name.startsWith('experimental-') && KEY_SPECS.get(name).use === 'carry' && !KEY_SPECS.get(name).aliasOf) {
    EFFECT.set(name, 'deprecated spelling of a feature gate; ' + (GATES_IN_USE.has(name) ? 'used' : NO_EFFECT));
  }
}

// Defaults as `tsetcd config check` prints them with no settings at all.
const defaults = new Map();
for (const line of describeConfig(loadConfig([], {}).config).split('\n')) {
  const i = line.indexOf(': ');
  defaults.set(line.slice(0, i), line.slice(i + 2));
}
const YAML_BLOCK = {
  'cert-file': 'client-transport-security.cert-file',
  'key-file': 'client-transport-security.key-file',
  'client-cert-file': 'client-transport-security.client-cert-file',
  'client-key-file': 'client-transport-security.client-key-file',
  'client-cert-auth': 'client-transport-security.client-cert-auth',
  'trusted-ca-file': 'client-transport-security.trusted-ca-file',
  'auto-tls': 'client-transport-security.auto-tls',
  'client-cert-allowed-cn': 'client-transport-security.allowed-cn',
  'client-cert-allowed-hostname': 'client-transport-security.allowed-hostname',
  'peer-cert-file': 'peer-transport-security.cert-file',
  'peer-key-file': 'peer-transport-security.key-file',
  'peer-client-cert-file': 'peer-transport-security.client-cert-file',
  'peer-client-key-file': 'peer-transport-security.client-key-file',
  'peer-client-cert-auth': 'peer-transport-security.client-cert-auth',
  'peer-trusted-ca-file': 'peer-transport-security.trusted-ca-file',
  'peer-auto-tls': 'peer-transport-security.auto-tls',
  'peer-cert-allowed-cn': 'peer-transport-security.allowed-cn',
  'peer-cert-allowed-hostname': 'peer-transport-security.allowed-hostname',
  'peer-skip-client-san-verification': 'peer-transport-security.skip-client-san-verification',
  'socket-reuse-port': 'socket-options.reuse-port',
  'socket-reuse-address': 'socket-options.reuse-address',
};
const DEFAULT_KEY = { ...YAML_BLOCK, 'client-crl-file': 'client-crl-file', 'peer-crl-file': 'peer-crl-file' };

function yamlName(spec) {
  if (spec.name === 'config-file') return '—';
  if (YAML_BLOCK[spec.name]) return `\`${YAML_BLOCK[spec.name]}\``;
  if (spec.where === 'both' || spec.where === 'yaml') return `\`${spec.name}\``;
  return '—';
}
function flagName(spec) {
  return spec.where === 'yaml' || spec.where === 'block' ? '—' : `\`--${spec.name}\``;
}
function envCol(spec) {
  return spec.where === 'yaml' || spec.where === 'block' ? '—' : `\`${envName(spec.name)}\``;
}
function defaultOf(spec) {
  if (spec.name === 'debug') return '`false`';
  const v = defaults.get(DEFAULT_KEY[spec.name] ?? spec.name);
  if (v === undefined) return 'unset';
  return v === '' ? '""' : `\`${v.replace(/\|/g, '\\|')}\``;
}

const byName = (a, b) => (a.name < b.name ? -1 : 1);
const carried = [...KEY_SPECS.values()].filter((s) => s.use === 'carry' && !s.aliasOf).sort(byName);
const aliases = [...KEY_SPECS.values()].filter((s) => s.aliasOf);
const ignored = [...KEY_SPECS.values()].filter((s) => s.use === 'ignore');
const refused = [...KEY_SPECS.values()].filter((s) => s.use === 'refuse');
const out = [];
out.push('| setting | flag | environment | YAML key | default | effect today |');
out.push('|---|---|---|---|---|---|');
for (const s of carried) {
  out.push(`| ${s.name} | ${flagName(s)} | ${envCol(s)} | ${yamlName(s)} | ${defaultOf(s)} | ${EFFECT.get(s.name) ?? 'used'} |`);
}
out.push('', '3.5 spellings (flag, `ETCD_*` variable and YAML key; the value replaces the 3.6 setting\'s, with a deprecation warning):', '');
out.push(aliases.map((s) => `\`${s.name}\` → \`${s.aliasOf}\``).join(', ') + '.');
out.push('', 'Accepted for compatibility, no effect in tsetcd (a warning says "has no effect in tsetcd; ignored"):', '');
out.push(ignored.map((s) => `\`${s.name}\``).join(', ') + '.');
out.push('', 'Refused when non-empty (tsetcd bootstraps only from `initial-cluster`): ' + refused.map((s) => `\`${s.name}\``).join(', ') + '.');
console.log(out.join('\n'));
