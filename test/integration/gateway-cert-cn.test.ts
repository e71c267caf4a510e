// The JSON gateway and client certificates with a CommonName, next to etcd 3.4.23
// (embed/serve.go accessController): with client-cert-auth on, the gateway serves a
// CN'd certificate while auth is off; once auth is enabled it answers every /v3/ (and
// /v3beta/) request from such a certificate with 400 and etcd's text, before routing,
// while gRPC calls with the same certificate still authenticate as the CN's user.
// With the seed's client-cert-auth: false (a trusted CA only) and auth on, the gateway
// does not refuse: the certificate's CN is simply not the caller ("user name is empty").
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueClientCert, makeTestPki, type TestPki } from '../helpers/certs.js';
import { runEtcdctl, seedClientTls, type EtcdctlResult } from '../helpers/etcdctl.js';
import { requireTools, toolMissing } from '../helpers/require-tool.js';
import { dumpMemberLogsOnFailure, startMember, stopAllMembers, targetFromEnv, type Member } from '../helpers/processes.js';

const target = targetFromEnv();
const missing = toolMissing('etcd') ?? toolMissing('curl') ?? toolMissing('openssl');
let pki: TestPki;
let alice: { cert: string; key: string };

afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

beforeAll(async () => {
  if (missing !== undefined) return;
  pki = await makeTestPki();
  alice = await issueClientCert(pki, 'alice');
}, 60_000);

interface CurlAnswer {
  readonly status: string;
  readonly body: string;
}

/** curl with alice's certificate: HTTP status and body. */
function curl(m: Member, path: string, body: string, proto: '--http1.1' | '--http2' = '--http1.1'): Promise<CurlAnswer> {
  const args = ['-s', proto, '--cacert', pki.caCert, '--cert', alice.cert, '--key', alice.key, '-X', 'POST', '-w', '\n%{http_code}'];
  return new Promise((resolve, reject) => {
    const child = spawn('curl', [...args, '--data-binary', body, `${m.clientUrl}${path}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.once('error', reject);
    child.once('close', () => {
      clearTimeout(timer);
      const cut = out.lastIndexOf('\n');
      resolve({ status: out.slice(cut + 1), body: out.slice(0, cut) });
    });
  });
}

const normalise = (a: CurlAnswer): CurlAnswer => ({
  status: a.status,
  body: a.body.replace(/"(cluster_id|member_id|revision|raft_term)":"\d+"/g, '"$1":"_"'),
});

async function setUpAuth(m: Member): Promise<void> {
  // Everything before `auth enable` runs while auth is off; alice (CN=alice) gets root.
  for (const args of [
    ['user', 'add', 'root', '--no-password'],
    ['user', 'add', 'alice', '--no-password'],
    ['user', 'grant-role', 'root', 'root'],
    ['user', 'grant-role', 'alice', 'root'],
    ['auth', 'enable'],
  ]) {
    const r: EtcdctlResult = await runEtcdctl(args, { endpoints: [m.clientUrl], tls: seedClientTls(pki) });
    expect(r.code, `${r.command}\n${r.stderr}`).toBe(0);
  }
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const REFUSAL = { status: '400', body: 'CommonName of client sending a request against gateway will be ignored and not used as expected\n' };

describe(`the gateway and a client certificate's CN, ${target} next to etcd 3.4.23`, () => {
  it('client-cert-auth and auth on: 400 for a CN\'d certificate on /v3/ and /v3beta/, gRPC unaffected', async (ctx) => {
    requireTools(ctx, 'etcd', 'curl', 'openssl');
    const security = { 'cert-file': pki.cert, 'key-file': pki.key, 'client-cert-auth': true, 'trusted-ca-file': pki.caCert, 'auto-tls': false };
    const extraConfig = { 'client-transport-security': security, 'enable-grpc-gateway': true };
    const pair = await Promise.all([
      startMember({ target, pki, name: 'gw-cn', extraConfig }),
      startMember({ target: 'etcd', pki, name: 'gw-cn', extraConfig }),
    ]);
    const put = `{"key":"${b64('k')}","value":"${b64('v')}"}`;
    const answers = async (path: string, body: string, proto?: '--http1.1' | '--http2'): Promise<CurlAnswer[]> =>
      Promise.all(pair.map(async (m) => normalise(await curl(m, path, body, proto))));
    // Auth off: served.
    const before = await answers('/v3/kv/put', put);
    expect(before[0]).toEqual(before[1]);
    expect(before[0]?.status).toBe('200');
    for (const m of pair) await setUpAuth(m);
    for (const [path, proto] of [
      ['/v3/kv/range', '--http1.1'],
      ['/v3/kv/range', '--http2'],
      ['/v3beta/kv/put', '--http1.1'],
      ['/v3/no/such/route', '--http1.1'],
    ] as const) {
      const [ours, etcd] = await answers(path, path.endsWith('put') ? put : `{"key":"${b64('k')}"}`, proto);
      expect({ path, proto, ...ours }).toEqual({ path, proto, ...etcd });
      expect(ours).toEqual(REFUSAL);
    }
    // gRPC with the same certificate: alice (a root user) reads.
    for (const m of pair) {
      const r = await runEtcdctl(['get', 'k'], { endpoints: [m.clientUrl], tls: { cacert: pki.caCert, ...alice } });
      expect(r.stdout, r.stderr).toBe('k\nv\n');
    }
  }, 120_000);

  it("the seed's client-cert-auth: false with auth on: no refusal, and the CN is not the caller", async (ctx) => {
    requireTools(ctx, 'etcd', 'curl', 'openssl');
    const pair = await Promise.all([
      startMember({ target, pki, name: 'gw-nocca', extraConfig: { 'enable-grpc-gateway': true } }),
      startMember({ target: 'etcd', pki, name: 'gw-nocca', extraConfig: { 'enable-grpc-gateway': true } }),
    ]);
    for (const m of pair) await setUpAuth(m);
    const [ours, etcd] = await Promise.all(pair.map(async (m) => normalise(await curl(m, '/v3/kv/range', `{"key":"${b64('k')}"}`))));
    expect(ours).toEqual(etcd);
    // The certificate's CN is not the caller: no user, as for a request without a token.
    expect(ours).toEqual({
      status: '400',
      body: '{"error":"etcdserver: user name is empty","message":"etcdserver: user name is empty","code":3}',
    });
  }, 120_000);
});
