/**
 * A first start that fails leaves nothing behind (docs/architecture.md §3), with real
 * `tsetcd` processes: a garbage certificate, a key that is not the certificate's, a
 * taken client port, a taken peer port and a data dir the user cannot write each end
 * the process with exit 1 and one `tsetcd:` line, before a data dir exists (or leave
 * exactly the empty dir the operator made). The next correct start then bootstraps
 * from the token it is given: its cluster ID equals a fresh start's in another dir.
 * A bad --auth-token key file (missing, unparsable, of the wrong type) or sign method is
 * refused the same way. Also: a data dir of mode 0755 gets etcd's permission warning, and
 * `tsetcd config check` reports a mismatched pair, an expired certificate and an
 * advertised IP missing from the SAN.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { killWhenTestProcessExits, removeWhenTestProcessExits } from '../helpers/cleanup.js';
import { ETCDCTL_BIN } from '../helpers/etcdctl.js';
import { freePorts } from '../helpers/ports.js';
import { TSETCD_BIN } from '../helpers/processes.js';
import { requireTools } from '../helpers/require-tool.js';

const execFileAsync = promisify(execFile);
const TOKEN = 'tok-first-start';
const START_TIMEOUT_MS = 20_000;

let pki: TestPki;
let root: string;

beforeAll(async () => {
  pki = await makeTestPki();
  // 0755 and owned by root: a non-root user can read the tree but not write in it.
  root = mkdtempSync(join(tmpdir(), 'tsetcd-first-start-'));
  chmodSync(root, 0o755);
  removeWhenTestProcessExits(root);
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Ports {
  readonly client: number;
  readonly peer: number;
}

function flags(dataDir: string, p: Ports, extra: readonly string[] = [], scheme = 'http'): string[] {
  const client = `${scheme}://127.0.0.1:${p.client}`;
  const peer = `http://127.0.0.1:${p.peer}`;
  return [
    '--name=n1',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=n1=${peer}`,
    `--initial-cluster-token=${TOKEN}`,
    ...extra,
  ];
}

/** A start that must fail: its exit code and its `tsetcd:` lines (the log is JSON). */
function failedStart(args: readonly string[], asUser?: string): { code: number | null; lines: string[]; stderr: string } {
  const [cmd, argv] = asUser === undefined ? [TSETCD_BIN, args] : ['setpriv', ['--reuid', asUser, '--regid', asUser, '--clear-groups', TSETCD_BIN, ...args]];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: START_TIMEOUT_MS });
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('tsetcd:'));
  return { code: r.status, lines, stderr: r.stderr };
}

/** Starts a member that must come up; resolves with its cluster ID and its stderr so far, then stops it. */
async function goodStart(args: readonly string[]): Promise<{ clusterId: string; stderr: string }> {
  const child = spawn(TSETCD_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (child.pid !== undefined) killWhenTestProcessExits(child.pid);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  try {
    const endpoint = args.find((a) => a.startsWith('--advertise-client-urls='))?.split('=')[1] ?? '';
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the member exited ${child.exitCode}: ${stderr.slice(-2000)}`);
      try {
        const { stdout } = await execFileAsync(ETCDCTL_BIN, [`--endpoints=${endpoint}`, 'member', 'list', '-w', 'json'], {
          timeout: 5000,
        });
        // etcdctl prints the uint64 as a JSON number: take its digits from the text.
        const m = /"cluster_id":(\d+)/.exec(stdout);
        if (m?.[1] === undefined) throw new Error(`no cluster_id in ${stdout}`);
        return { clusterId: m[1], stderr };
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

function hold(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

describe('a failed first start leaves nothing behind', () => {
  it('refuses a garbage certificate, a mismatched key, taken ports and an unwritable dir; then bootstraps with the given token', async (ctx) => {
    requireTools(ctx, 'etcdctl', 'root');
    const [client, peer] = await freePorts(2);
    const p: Ports = { client: client ?? 0, peer: peer ?? 0 };
    // The reference: a fresh start's cluster ID with this token and these URLs.
    const reference = await goodStart(flags(join(root, 'reference'), p));
    expect(reference.clusterId).toMatch(/^\d+$/);

    const missing = join(root, 'missing');
    const made = join(root, 'made'); // the operator made it, empty, 0755
    mkdirSync(made, { mode: 0o755 });
    chmodSync(made, 0o755);
    const garbage = join(root, 'garbage.pem');
    writeFileSync(garbage, 'this is not a certificate\n');

    const cases: Array<[string, () => Promise<{ code: number | null; lines: string[] }>, RegExp]> = [
      [
        'garbage certificate',
        async () => failedStart(flags(missing, p, [`--cert-file=${garbage}`, `--key-file=${pki.key}`], 'https')),
        /^tsetcd: cannot start: .*garbage\.pem: no PEM certificate in the file$/,
      ],
      [
        'key of another certificate',
        async () => failedStart(flags(missing, p, [`--cert-file=${pki.cert}`, `--key-file=${pki.otherClientKey}`], 'https')),
        /^tsetcd: cannot start: .*: the private key does not match the certificate .*etcd\.pem/,
      ],
      [
        'client port taken',
        async () => {
          const s = await hold(p.client);
          try {
            return failedStart(flags(missing, p));
          } finally {
            s.close();
          }
        },
        /^tsetcd: cannot listen: listen EADDRINUSE: address already in use 127\.0\.0\.1:\d+$/,
      ],
      [
        'peer port taken',
        async () => {
          const s = await hold(p.peer);
          try {
            return failedStart(flags(missing, p));
          } finally {
            s.close();
          }
        },
        /^tsetcd: cannot listen on peer URL http:\/\/127\.0\.0\.1:\d+: listen EADDRINUSE/,
      ],
      [
        'a data dir whose parent the user cannot write',
        async () => failedStart(flags(missing, p), '65534'),
        /^tsetcd: cannot access data directory: cannot create .*missing: .* is not writable by user nobody \(uid 65534\)$/,
      ],
      [
        'a data dir the user cannot write',
        async () => failedStart(flags(made, p), '65534'),
        /^tsetcd: cannot access data directory: EACCES: permission denied, open '.*made\/\.touch'; tsetcd runs as user nobody \(uid 65534\)$/,
      ],
    ];
    for (const [name, run, expected] of cases) {
      const { code, lines } = await run();
      expect({ name, code }).toEqual({ name, code: 1 });
      expect(lines, name).toHaveLength(1);
      expect(lines[0], name).toMatch(expected);
      expect(existsSync(missing), `${name}: ${missing} exists`).toBe(false);
      expect(readdirSync(made), `${name}: ${made}`).toEqual([]);
    }
    // The operator's empty dir stays exactly that after a refused certificate or port.
    const tlsMade = failedStart(flags(made, p, [`--cert-file=${garbage}`, `--key-file=${pki.key}`], 'https'));
    expect(tlsMade.code).toBe(1);
    expect(readdirSync(made)).toEqual([]);
    const s = await hold(p.client);
    const portMade = failedStart(flags(made, p));
    s.close();
    expect(portMade.code).toBe(1);
    expect(readdirSync(made)).toEqual([]);

    // The next correct start bootstraps from the token: the reference's cluster ID.
    const good = await goodStart(flags(made, p));
    expect(good.clusterId).toBe(reference.clusterId);
    expect(good.stderr).toContain(
      `check file permission: directory \\"${made}\\" exist, but the permission is \\"drwxr-xr-x\\". The recommended permission is \\"-rwx------\\" to prevent possible unprivileged access to the data.`,
    );
  }, 120_000);
});

describe('a bad --auth-token key file', () => {
  it('refuses the start with exit 1 and one line naming the file and the problem, before the data dir exists', async (ctx) => {
    requireTools(ctx, 'openssl');
    const [client, peer] = await freePorts(2);
    const p: Ports = { client: client ?? 0, peer: peer ?? 0 };
    const dir = join(root, 'auth-token');
    mkdirSync(dir);
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a key\n');
    const ec = join(dir, 'ec.key');
    await execFileAsync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', ec], { timeout: 30_000 });
    const missing = join(dir, 'data');
    const jwt = (opts: string): string[] => flags(missing, p, [`--auth-token=jwt,${opts}`]);
    const cases: Array<[string, string[], RegExp]> = [
      ['missing key file', jwt(`priv-key=${join(dir, 'none.pem')},sign-method=RS256`), /^tsetcd: auth-token: priv-key file .*\/none\.pem does not exist$/],
      ['unparsable key file', jwt(`priv-key=${garbage},sign-method=RS256`), /^tsetcd: cannot start: --auth-token: auth: invalid auth options: cannot parse priv-key .*\/garbage\.pem: /],
      ['an EC key for RS256', jwt(`priv-key=${ec},sign-method=RS256`), /^tsetcd: cannot start: --auth-token: auth: invalid auth options: priv-key .*\/ec\.key is not an RSA key, as RS256 needs$/],
      ['an unknown sign method', jwt(`priv-key=${ec},sign-method=XX256`), /^tsetcd: cannot start: --auth-token: auth: invalid auth signature method: "XX256"$/],
    ];
    for (const [name, args, expected] of cases) {
      const { code, lines, stderr } = failedStart(args);
      expect({ name, code }, stderr).toEqual({ name, code: 1 });
      expect(lines, name).toHaveLength(1);
      expect(lines[0], name).toMatch(expected);
      expect(existsSync(missing), `${name}: ${missing} exists`).toBe(false);
    }
  }, 60_000);
});

describe('tsetcd config check reads the certificates', () => {
  function check(extra: readonly string[]): { code: number | null; stderr: string } {
    const r = spawnSync(TSETCD_BIN, ['config', 'check', '--name=n1', ...extra], { encoding: 'utf8', timeout: START_TIMEOUT_MS });
    return { code: r.status, stderr: r.stderr };
  }

  it('passes a good pair, reports a mismatched pair, an expired certificate and a SAN that misses the advertised IP', async (ctx) => {
    requireTools(ctx, 'openssl', 'faketime');
    const good = check([`--cert-file=${pki.cert}`, `--key-file=${pki.key}`, '--listen-client-urls=https://127.0.0.1:2379', '--advertise-client-urls=https://127.0.0.1:2379']);
    expect(good).toEqual({ code: 0, stderr: '' });
    const mismatch = check([`--cert-file=${pki.cert}`, `--key-file=${pki.otherClientKey}`]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(/^tsetcd: .*: the private key does not match the certificate .*etcd\.pem/m);
    const san = check([`--cert-file=${pki.cert}`, `--key-file=${pki.key}`, '--listen-client-urls=https://127.0.0.1:2379', '--advertise-client-urls=https://10.9.8.7:2379']);
    expect(san.code).toBe(0);
    expect(san.stderr).toMatch(/^warning: .*etcd\.pem: the certificate's SAN does not cover the advertised IP 10\.9\.8\.7$/m);
    // An expired certificate: made a day long, in 2020 (faketime).
    const dir = mkdtempSync(join(root, 'expired-'));
    const key = join(dir, 'k.pem');
    const cert = join(dir, 'c.pem');
    const made = spawnSync(
      'faketime',
      ['2020-01-01 00:00:00', 'openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=expired', '-days', '1'],
      { encoding: 'utf8' },
    );
    expect(made.status, made.stderr).toBe(0);
    const expired = check([`--cert-file=${cert}`, `--key-file=${key}`]);
    expect(expired.code).toBe(1);
    expect(expired.stderr).toMatch(/^tsetcd: .*c\.pem: the certificate expired on Jan {1,2}2 00:00:00 2020 GMT$/m);
  }, 60_000);
});
