/**
 * Runs Debian's etcdctl (API 3) against members, the way an operator of the seed
 * deployment does: --endpoints plus --cacert/--cert/--key.
 *
 * Contract: runEtcdctl() always resolves (never throws on a non-zero exit) with the
 * exit code, stdout and stderr; a run that exceeds timeoutMs is SIGKILLed and reported
 * with code null and timedOut true. stdin (for `txn`) is written and closed. The
 * environment is the test process's minus any ETCDCTL_* variables, plus ETCDCTL_API=3,
 * so an operator's shell settings cannot leak into assertions.
 */
import { spawn } from 'node:child_process';
import type { TestPki } from './certs.js';
import type { Member } from './processes.js';

export const ETCDCTL_BIN = process.env['ETCDCTL_BIN'] ?? '/usr/bin/etcdctl';
const DEFAULT_TIMEOUT_MS = 20_000;

export interface EtcdctlTls {
  readonly cacert?: string;
  readonly cert?: string;
  readonly key?: string;
}

export interface EtcdctlOptions {
  readonly endpoints: readonly string[];
  /** Client TLS files; omit for a client that presents no certificate (and trusts none). */
  readonly tls?: EtcdctlTls;
  readonly stdin?: string;
  readonly timeoutMs?: number;
  /** Extra environment variables (e.g. ETCDCTL_DIAL_TIMEOUT). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface EtcdctlResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  /** The command line, for assertion messages. */
  readonly command: string;
}

/** The seed operator's TLS flags: the trusted CA and the shared etcd.pem/etcd-key.pem. */
export function seedClientTls(pki: TestPki): EtcdctlTls {
  return { cacert: pki.caCert, cert: pki.cert, key: pki.key };
}

export function runEtcdctl(
  args: readonly string[],
  options: EtcdctlOptions,
): Promise<EtcdctlResult> {
  const full = [`--endpoints=${options.endpoints.join(',')}`];
  const tls = options.tls;
  if (tls?.cacert !== undefined) full.push(`--cacert=${tls.cacert}`);
  if (tls?.cert !== undefined) full.push(`--cert=${tls.cert}`);
  if (tls?.key !== undefined) full.push(`--key=${tls.key}`);
  full.push(...args);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('ETCDCTL_')) env[k] = v;
  }
  Object.assign(env, { ETCDCTL_API: '3' }, options.env);
  const command = `etcdctl ${full.join(' ')}`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve) => {
    const child = spawn(ETCDCTL_BIN, full, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => undefined); // etcdctl may exit before reading stdin
    child.stdin.end(options.stdin ?? '');
    const finish = (code: number | null, spawnError?: Error): void => {
      clearTimeout(timer);
      const stderr =
        Buffer.concat(err).toString('utf8') + (spawnError === undefined ? '' : String(spawnError));
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr, timedOut, command });
    };
    child.once('error', (e) => finish(null, e));
    child.once('close', (code) => finish(timedOut ? null : code));
  });
}

/** etcdctl against one member with the seed's client certificate. */
export function etcdctlFor(
  member: Member,
  args: readonly string[],
  extra: Partial<EtcdctlOptions> = {},
): Promise<EtcdctlResult> {
  const pki = member.spec.pki;
  return runEtcdctl(args, {
    endpoints: [member.clientUrl],
    ...(pki === undefined ? {} : { tls: seedClientTls(pki) }),
    ...extra,
  });
}

/** One key of `etcdctl get -w json`, every field present, int64s as decimal strings. */
export interface EtcdctlKv {
  key: string;
  value: string;
  create_revision: string;
  mod_revision: string;
  version: string;
  lease: string;
}

/** The kvs of `etcdctl get -w json` (lease ids exceed 2^53: integers stay strings). */
export function parseGetKvs(json: string): EtcdctlKv[] {
  const doc = JSON.parse(json.replace(/"(\w+)":(-?\d+)/g, '"$1":"$2"')) as { kvs?: Array<Partial<EtcdctlKv>> };
  return (doc.kvs ?? []).map((kv) => ({
    key: kv.key ?? '',
    value: kv.value ?? '',
    create_revision: kv.create_revision ?? '0',
    mod_revision: kv.mod_revision ?? '0',
    version: kv.version ?? '0',
    lease: kv.lease ?? '0',
  }));
}
