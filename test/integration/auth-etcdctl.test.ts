/**
 * Authentication and RBAC end to end with the real etcdctl 3.4 (docs/security.md runs
 * the same commands): tsetcd and a real etcd 3.4.23, each started from the seed-style
 * mTLS config, get every command in lockstep and must answer alike (exit code, stdout,
 * the last stderr line): `user add/get/list/delete/passwd/grant-role/revoke-role`,
 * `role add/get/list/delete/grant-permission/revoke-permission` with --prefix and
 * --from-key, `auth enable/disable`, `--user` flows (limited user, wrong password,
 * anonymous), watch denial, and a permission revoke taking effect on the next request.
 *
 * Then client-cert-auth: both servers with `client-cert-auth: true`, two client
 * certificates CN=alice (a no-password user with a role) and CN=bob (no such user);
 * the certificate alone is the identity, as etcd's rule has it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueClientCert, makeTestPki, type TestPki } from '../helpers/certs.js';
import { etcdctlFor, seedClientTls, type EtcdctlOptions, type EtcdctlResult, type EtcdctlTls } from '../helpers/etcdctl.js';
import { REPO_ROOT, dumpMemberLogsOnFailure, startMember, stopAllMembers, targetFromEnv, type Member } from '../helpers/processes.js';

const target = targetFromEnv();
let pki: TestPki;
let member: Member;
let oracle: Member;

beforeAll(async () => {
  pki = await makeTestPki();
  [member, oracle] = await Promise.all([
    startMember({ target, pki, name: 'auth-node' }),
    startMember({ target: 'etcd', pki, name: 'auth-node' }),
  ]);
}, 60_000);
afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

/** The last line of etcdctl's stderr ("Error: ..."), without the Go client's warn logs. */
function errorLine(r: EtcdctlResult): string {
  const lines = r.stderr.trimEnd().split('\n').filter((l) => !l.startsWith('{"level"'));
  return lines[lines.length - 1] ?? '';
}

function describeRun(r: EtcdctlResult): string {
  return `${r.command}\nexit ${String(r.code)}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

const FAST = ['--dial-timeout=2s', '--command-timeout=4s'];
/** Every command run, as `etcdctl <args>` (docs/security.md must show only these). */
const ran = new Set<string>();

async function lockstep(on: [Member, Member], args: readonly string[], extra: Partial<EtcdctlOptions> = {}): Promise<EtcdctlResult> {
  ran.add(`etcdctl ${args.join(' ')}`);
  const [t, o] = await Promise.all(on.map((m) => etcdctlFor(m, [...FAST, ...args], extra)));
  if (t === undefined || o === undefined) throw new Error('two runs expected');
  const view = (r: EtcdctlResult): unknown => ({ code: r.code, stdout: r.stdout, error: r.code === 0 ? '' : errorLine(r) });
  expect(view(t), `${target} vs etcd for: etcdctl ${args.join(' ')}\n${describeRun(t)}\n--- etcd:\n${describeRun(o)}`).toEqual(view(o));
  return t;
}

describe(`etcdctl user/role/auth against ${target} and etcd 3.4.23`, () => {
  const both = (): [Member, Member] => [member, oracle];
  const ok = async (args: readonly string[], extra: Partial<EtcdctlOptions> = {}): Promise<string> => {
    const r = await lockstep(both(), args, extra);
    expect(r.code, describeRun(r)).toBe(0);
    return r.stdout;
  };
  const fails = async (args: readonly string[], line: string): Promise<void> => {
    const r = await lockstep(both(), args);
    expect(r.code, describeRun(r)).not.toBe(0);
    expect(errorLine(r)).toBe(line);
  };
  const root = ['--user', 'root:rootpw'];
  const alice = ['--user', 'alice:alicepw'];

  it('users, roles and permissions, enable, limited users, revoke, passwd, disable', async () => {
    expect(await ok(['user', 'add', 'root:rootpw'])).toBe('User root created\n');
    expect(await ok(['user', 'add', 'alice:alicepw'])).toBe('User alice created\n');
    expect(await ok(['role', 'add', 'app'])).toBe('Role app created\n');
    expect(await ok(['role', 'grant-permission', 'app', 'readwrite', '--prefix', 'app/'])).toBe('Role app updated\n');
    expect(await ok(['role', 'grant-permission', 'app', 'read', 'b', 'bz'])).toBe('Role app updated\n');
    expect(await ok(['role', 'grant-permission', 'app', 'write', '--from-key', 'zz'])).toBe('Role app updated\n');
    expect(await ok(['role', 'get', 'app'])).toBe('Role app\nKV Read:\n\t[app/, app0) (prefix app/)\n\t[b, bz)\nKV Write:\n\t[app/, app0) (prefix app/)\n\t[zz, <open ended>\n');
    expect(await ok(['user', 'grant-role', 'alice', 'app'])).toBe('Role app is granted to user alice\n');
    await ok(['user', 'get', 'alice']);
    await ok(['user', 'get', 'alice', '--detail']);
    await ok(['user', 'list']);
    await ok(['role', 'list']);
    await fails(['role', 'add', 'app'], 'Error: etcdserver: role name already exists');
    await fails(['user', 'grant-role', 'alice', 'nope'], 'Error: etcdserver: role name not found');
    await fails(['user', 'revoke-role', 'alice', 'nope'], 'Error: etcdserver: role is not granted to the user');

    expect(await ok(['auth', 'enable'])).toBe('Authentication Enabled\n');
    expect(await ok([...alice, 'put', 'app/x', '1'])).toBe('OK\n');
    expect(await ok([...alice, 'get', 'app/x'])).toBe('app/x\n1\n');
    expect(await ok([...alice, 'get', 'b', 'bz'])).toBe('');
    await fails([...alice, 'get', 'b', 'c'], 'Error: etcdserver: permission denied');
    await fails([...alice, 'put', 'b', '1'], 'Error: etcdserver: permission denied');
    expect(await ok([...alice, 'put', 'zzz', '1'])).toBe('OK\n');
    await fails(['get', 'app/x'], 'Error: etcdserver: user name is empty');
    await fails(['--user', 'alice:wrong', 'get', 'app/x'], 'Error: etcdserver: authentication failed, invalid user ID or password');
    await fails([...alice, 'user', 'list'], 'Error: etcdserver: permission denied');
    await fails([...alice, 'role', 'get', 'root'], 'Error: etcdserver: permission denied');
    await ok([...alice, 'role', 'get', 'app']);
    await ok([...alice, 'user', 'get', 'alice']);
    await fails([...root, 'user', 'delete', 'root'], 'Error: etcdserver: invalid auth management');
    await fails([...root, 'user', 'revoke-role', 'root', 'root'], 'Error: etcdserver: invalid auth management');
    // a watch alice may not read is cancelled by the server (exit 5 in both)
    const w = await lockstep(both(), [...alice, 'watch', 'q'], { timeoutMs: 15_000 });
    expect(w.code).toBe(5);

    const revoked = await ok([...root, 'role', 'revoke-permission', 'app', 'app/', '--prefix']);
    expect(revoked).toBe('Permission of range [app/, app0) is revoked from role app\n');
    await fails([...alice, 'get', 'app/x'], 'Error: etcdserver: permission denied');
    await fails([...alice, 'put', 'app/x', '2'], 'Error: etcdserver: permission denied');
    expect(await ok([...root, 'role', 'revoke-permission', 'app', 'zz', '--from-key'])).toBe(
      'Permission of range [zz, <open ended> is revoked from role app\n',
    );

    expect(await ok([...root, 'user', 'passwd', 'alice', '--interactive=false'], { stdin: 'newpw\n' })).toBe('Password updated\n');
    await fails([...alice, 'get', 'a'], 'Error: etcdserver: authentication failed, invalid user ID or password');
    expect(await ok(['--user', 'alice:newpw', 'get', 'b'])).toBe('');
    expect(await ok([...root, 'user', 'revoke-role', 'alice', 'app'])).toBe('Role app is revoked from user alice\n');
    await fails(['--user', 'alice:newpw', 'get', 'b'], 'Error: etcdserver: permission denied');
    expect(await ok([...root, 'role', 'delete', 'app'])).toBe('Role app deleted\n');
    expect(await ok([...root, 'user', 'delete', 'alice'])).toBe('User alice deleted\n');
    expect(await ok([...root, 'auth', 'disable'])).toBe('Authentication Disabled\n');
    expect(await ok(['get', 'app/x'])).toBe('app/x\n1\n');
  }, 120_000);
});

describe(`client certificates as identities (client-cert-auth) against ${target} and etcd 3.4.23`, () => {
  let pair: [Member, Member];
  let aliceTls: EtcdctlTls;
  let bobTls: EtcdctlTls;

  beforeAll(async () => {
    const [a, b] = await Promise.all([issueClientCert(pki, 'alice'), issueClientCert(pki, 'bob')]);
    aliceTls = { cacert: pki.caCert, ...a };
    bobTls = { cacert: pki.caCert, ...b };
    const security = { 'cert-file': pki.cert, 'key-file': pki.key, 'client-cert-auth': true, 'trusted-ca-file': pki.caCert, 'auto-tls': false };
    const extraConfig = { 'client-transport-security': security };
    pair = await Promise.all([
      startMember({ target, pki, name: 'cn-node', extraConfig }),
      startMember({ target: 'etcd', pki, name: 'cn-node', extraConfig }),
    ]);
  }, 60_000);

  it('CN=alice (a no-password user with a role) is allowed, CN=bob (no such user) is denied', async () => {
    const seed = { tls: seedClientTls(pki) };
    const run = (args: readonly string[], extra: Partial<EtcdctlOptions> = seed): Promise<EtcdctlResult> => lockstep(pair, args, extra);
    // the seed certificate's CN is "etcd": make it the root user, so it can set up and enable auth.
    for (const args of [
      ['user', 'add', 'root', '--no-password'],
      ['user', 'grant-role', 'root', 'root'],
      ['user', 'add', 'etcd', '--no-password'],
      ['user', 'grant-role', 'etcd', 'root'],
      ['user', 'add', 'alice', '--no-password'],
      ['role', 'add', 'kv'],
      ['role', 'grant-permission', 'kv', 'readwrite', '--prefix', '/registry/'],
      ['user', 'grant-role', 'alice', 'kv'],
      ['auth', 'enable'],
    ]) {
      const r = await run(args);
      expect(r.code, describeRun(r)).toBe(0);
    }
    const put = await run(['put', '/registry/pods/a', 'x'], { tls: aliceTls });
    expect(put.stdout).toBe('OK\n');
    expect((await run(['get', '/registry/pods/a'], { tls: aliceTls })).stdout).toBe('/registry/pods/a\nx\n');
    const bob = await run(['get', '/registry/pods/a'], { tls: bobTls });
    expect(errorLine(bob)).toBe('Error: etcdserver: permission denied');
    const bobAdmin = await run(['user', 'list'], { tls: bobTls });
    expect(errorLine(bobAdmin)).toBe('Error: etcdserver: user name not found');
    const aliceOut = await run(['put', '/other', 'x'], { tls: aliceTls });
    expect(errorLine(aliceOut)).toBe('Error: etcdserver: permission denied');
  }, 120_000);
});

describe('docs/security.md', () => {
  it('shows only etcdctl commands this file runs', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'security.md'), 'utf8');
    const blocks = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
    const commands = blocks.flatMap((b) => b.split('\n')).map((l) => l.replace(/#.*$/, '').trim()).filter((l) => l !== '');
    expect(commands.length).toBeGreaterThan(20);
    expect(commands.filter((c) => !ran.has(c))).toEqual([]);
  });
});
