/**
 * `tsetcd snapshot status FILE [-w simple|table|json|fields]` and
 * `tsetcd snapshot restore FILE [flags]`, with etcdctl 3.4's flags, defaults, output and
 * exit codes (etcdctl/ctlv3/command/snapshot_command.go): errors are one line
 * "Error: <problem>" on stderr and exit 1 (an unsupported -w value exits 4, as etcdctl's
 * ExitBadFeature). Flags follow pflag's syntax: --flag=value, --flag value, -w value,
 * and bare --bool. etcdctl's global flags (--endpoints, --cacert, ...) are accepted and
 * ignored: these commands never dial.
 *
 * Restore progress goes to stderr: one updating line when stderr is a terminal, a log
 * line per ~10% of the key records otherwise.
 */
import { findDuplicateClusterUrl, formatUrl, parseInitialCluster, parseUrlList, splitCommaList } from '../config/index.js';
import {
  formatStatus,
  isStatusFormat,
  restoreSnapshotFile,
  snapshotFileStatus,
  STATUS_FORMATS,
} from '../snapshot/index.js';
import { createRootLogger } from './logger.js';

class UsageError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

const STATUS_HELP = `NAME:
\tsnapshot status - Gets backend snapshot status of a given file

USAGE:
\ttsetcd snapshot status <filename> [flags]

DESCRIPTION:
\tWhen --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
\tThe items in the lists are hash, revision, total keys, total size.

OPTIONS:
  -h, --help[=false]\thelp for status
  -w, --write-out="simple"\tset the output format (${STATUS_FORMATS.join(', ')})
`;

const RESTORE_HELP = `NAME:
\tsnapshot restore - Restores an etcd member snapshot to an etcd directory

USAGE:
\ttsetcd snapshot restore <filename> [options] [flags]

OPTIONS:
      --data-dir=""\t\t\t\t\t\tPath to the data directory
  -h, --help[=false]\t\t\t\t\t\thelp for restore
      --initial-advertise-peer-urls="http://localhost:2380"\tList of this member's peer URLs to advertise to the rest of the cluster
      --initial-cluster="default=http://localhost:2380"\t\tInitial cluster configuration for restore bootstrap
      --initial-cluster-token="etcd-cluster"\t\t\tInitial cluster token for the etcd cluster during restore bootstrap
      --name="default"\t\t\t\t\t\tHuman-readable name for this member
      --skip-hash-check[=false]\t\t\t\t\tIgnore snapshot integrity hash value (required if copied from data directory)
      --wal-dir=""\t\t\t\t\t\tPath to the WAL directory (use --data-dir if none given)

The result is a tsetcd data dir (start tsetcd on it with the same --name,
--initial-cluster and --initial-cluster-token); restore into etcd with etcdctl.
`;

const SNAPSHOT_HELP = `usage: tsetcd snapshot status <filename> [-w simple|table|json|fields]
       tsetcd snapshot restore <filename> [--data-dir DIR] [--wal-dir DIR] [--name NAME]
              [--initial-cluster NAME=URL,...] [--initial-cluster-token TOKEN]
              [--initial-advertise-peer-urls URLS] [--skip-hash-check]
`;

/** etcdctl's global flags that take a value (ignored here) and its boolean ones. */
const GLOBAL_VALUE_FLAGS = new Set([
  'cacert', 'cert', 'key', 'command-timeout', 'dial-timeout', 'discovery-srv', 'discovery-srv-name',
  'endpoints', 'keepalive-time', 'keepalive-timeout', 'user', 'password', 'write-out',
]);
const GLOBAL_BOOL_FLAGS = new Set(['debug', 'hex', 'insecure-discovery', 'insecure-skip-tls-verify', 'insecure-transport']);

interface Parsed {
  readonly positional: string[];
  readonly values: Map<string, string>;
  readonly help: boolean;
}

function parseBool(name: string, text: string): string {
  if (!/^(1|0|t|f|true|false|TRUE|FALSE|True|False)$/.test(text)) {
    throw new UsageError(`invalid argument "${text}" for "--${name}" flag: strconv.ParseBool: parsing "${text}": invalid syntax`);
  }
  return /^(1|t|true)$/i.test(text) ? 'true' : 'false';
}

/** pflag-style parsing against the command's own value and boolean flags. */
function parseFlags(args: readonly string[], valueFlags: ReadonlySet<string>, boolFlags: ReadonlySet<string>): Parsed {
  const positional: string[] = [];
  const values = new Map<string, string>();
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const short = !arg.startsWith('--');
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    let name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    if (short) {
      if (name === 'h') name = 'help';
      else if (name === 'w') name = 'write-out';
      else if (name === 'd') name = 'discovery-srv';
      else throw new UsageError(`unknown shorthand flag: '${name}' in ${arg}`);
    }
    if (name === 'help') {
      help = inline === undefined || parseBool(name, inline) === 'true';
      continue;
    }
    if (boolFlags.has(name) || GLOBAL_BOOL_FLAGS.has(name)) {
      values.set(name, inline === undefined ? 'true' : parseBool(name, inline));
      continue;
    }
    if (valueFlags.has(name) || GLOBAL_VALUE_FLAGS.has(name)) {
      let value = inline;
      if (value === undefined) {
        if (i + 1 >= args.length) throw new UsageError(`flag needs an argument: ${arg}`);
        value = args[++i] ?? '';
      }
      values.set(name, value);
      continue;
    }
    throw new UsageError(`unknown flag: --${name}`);
  }
  return { positional, values, help };
}

function oneFile(p: Parsed, command: string): string {
  const [file, ...rest] = p.positional;
  if (file === undefined || rest.length > 0) throw new UsageError(`snapshot ${command} requires exactly one argument`);
  return file;
}

function status(args: readonly string[]): void {
  const p = parseFlags(args, new Set(['write-out']), new Set());
  if (p.help) {
    process.stdout.write(STATUS_HELP);
    return;
  }
  const file = oneFile(p, 'status');
  const format = p.values.get('write-out') ?? 'simple';
  if (!isStatusFormat(format)) throw new UsageError(`${format} not supported as output format`, 4);
  process.stdout.write(formatStatus(snapshotFileStatus(file), format));
}

/** etcd's VerifyBootstrap for a restore: name in the cluster, no URL twice, advertised URLs match. */
function restoreMembers(name: string, clusterText: string, advertiseText: string): Array<{ name: string; peerUrls: string[] }> {
  let members;
  let advertised;
  try {
    members = parseInitialCluster(clusterText);
    advertised = parseUrlList(splitCommaList(advertiseText));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const duplicate = findDuplicateClusterUrl(members);
  if (duplicate !== undefined) throw new UsageError(`initial cluster ${clusterText} has duplicate url ${duplicate}`);
  const self = members.find((m) => m.name === name);
  if (self === undefined) throw new UsageError(`couldn't find local name ${JSON.stringify(name)} in the initial cluster configuration`);
  const listed = self.peerUrls.map(formatUrl).join(',');
  const advertisedText = advertised.map(formatUrl).join(',');
  if (listed !== advertisedText) {
    throw new UsageError(`--initial-cluster has ${name}=${listed} but missing from --initial-advertise-peer-urls=${advertisedText}`);
  }
  return members.map((m) => ({ name: m.name, peerUrls: m.peerUrls.map(formatUrl) }));
}

function progressReporter(): (records: number, fraction: number) => void {
  const tty = process.stderr.isTTY;
  let lastTenth = -1;
  let lastPct = -1;
  return (records, fraction) => {
    const pct = Math.floor(fraction * 100);
    if (pct === lastPct) return;
    lastPct = pct;
    if (tty) {
      process.stderr.write(`\rrestoring key records: ${pct}% (${records} records)${fraction >= 1 ? '\n' : ''}`);
      return;
    }
    const tenth = Math.floor(pct / 10);
    if (tenth === lastTenth) return;
    lastTenth = tenth;
    process.stderr.write(`${JSON.stringify({ level: 'info', ts: new Date().toISOString(), msg: 'restoring key records', records, percent: pct })}\n`);
  };
}

async function restore(args: readonly string[]): Promise<void> {
  const p = parseFlags(
    args,
    new Set(['data-dir', 'wal-dir', 'name', 'initial-cluster', 'initial-cluster-token', 'initial-advertise-peer-urls']),
    new Set(['skip-hash-check']),
  );
  if (p.help) {
    process.stdout.write(RESTORE_HELP);
    return;
  }
  const file = oneFile(p, 'restore');
  const name = p.values.get('name') ?? 'default';
  const members = restoreMembers(
    name,
    p.values.get('initial-cluster') ?? 'default=http://localhost:2380',
    p.values.get('initial-advertise-peer-urls') ?? 'http://localhost:2380',
  );
  const dataDir = p.values.get('data-dir') || `${name}.etcd`;
  const walDir = p.values.get('wal-dir');
  const logger = createRootLogger({ logLevel: 'info', logOutputs: ['stderr'], logFormat: 'json' });
  await restoreSnapshotFile({
    snapshotPath: file,
    dataDir,
    walDir: walDir === '' ? undefined : walDir,
    name,
    members,
    token: p.values.get('initial-cluster-token') ?? 'etcd-cluster',
    skipHashCheck: p.values.get('skip-hash-check') === 'true',
    logger,
    tempSuffix: `.restoring-${process.pid}`,
    onProgress: progressReporter(),
  });
}

/** Runs `tsetcd snapshot ...` (args after "snapshot"); exits non-zero on any problem. */
export async function snapshotCommand(args: readonly string[]): Promise<void> {
  const [sub, ...rest] = args;
  try {
    if (sub === 'status') return status(rest);
    if (sub === 'restore') return await restore(rest);
    if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
      process.stdout.write(SNAPSHOT_HELP);
      return;
    }
    throw new UsageError(`unknown command "${sub}" for "tsetcd snapshot" (status, restore)`);
  } catch (err) {
    // Whatever stopped the command (a refusal, or the disk failing under the restore) is
    // one line, as etcdctl's ExitWithError prints it.
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`Error: ${message.split('\n')[0] ?? message}\n`);
    process.exit(err instanceof UsageError ? err.exitCode : 1);
  }
}
