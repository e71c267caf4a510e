// The JSON gateway next to etcd 3.4.23's: one fresh member of each, the same requests
// in the same order to both (so revisions match), answers compared as text after the
// ids that must differ (cluster, member, lease ids) are replaced by placeholders.
// Every service is asked, errors included (bad JSON, unknown enum, bad base64, 404,
// 405, etcd errors with their HTTP status); auth tokens travel in the Authorization
// header; streams are read over curl -N (Watch, LeaseKeepAlive, Election Observe) or
// whole (Snapshot); the seed's TLS setup serves the gateway over HTTP/1.1 and h2 with
// a client certificate.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { requireTools } from '../helpers/require-tool.js';
import { runEtcdctl } from '../helpers/etcdctl.js';
import {
  dumpMemberLogsOnFailure,
  sleep,
  startMember,
  stopAllMembers,
  targetFromEnv,
  REPO_ROOT,
  type Member,
} from '../helpers/processes.js';

const CURL_TIMEOUT_MS = 10_000;
let ours: Member;
let etcd: Member;

// etcd 3.4 leaves the gateway off when a config file does not enable it (its
// flag default, true, does not apply to files); etcd 3.5 and tsetcd default to on.
const GATEWAY_ON = { 'enable-grpc-gateway': true };

beforeAll(async () => {
  [ours, etcd] = await Promise.all([
    startMember({ target: targetFromEnv(), extraConfig: GATEWAY_ON }),
    startMember({ target: 'etcd', extraConfig: GATEWAY_ON }),
  ]);
}, 60_000);
afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

async function post(m: Member, path: string, body: string, method = 'POST'): Promise<Answer> {
  const res = await fetch(`${m.clientUrl}${path}`, {
    method,
    ...(method === 'POST' ? { body } : {}),
    signal: AbortSignal.timeout(CURL_TIMEOUT_MS),
  });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** Ids that legitimately differ between the two members, per member. */
class Ids {
  private readonly names = new Map<string, string>();
  constructor(private readonly m: Member) {}
  lease(id: string, name: string): void {
    this.names.set(id, name);
    this.names.set(BigInt(id).toString(16), name);
  }
  leaseId(name: string): string {
    for (const [id, n] of this.names) if (n === name && /^\d+$/.test(id)) return id;
    throw new Error(`no lease ${name} on ${this.m.target}`);
  }
  normalise(text: string): string {
    let out = text
      .replace(/"(cluster_id|member_id|leader|ID)":"(\d+)"/g, (all, k: string, v: string) => {
        const n = this.names.get(v);
        return n !== undefined ? `"${k}":"<${n}>"` : k === 'ID' ? all : `"${k}":"<${k}>"`;
      })
      .replace(/"token":"[^"]+"/g, '"token":"<token>"')
      .replace(/"(lease)":"(\d+)"/g, (all, k: string, v: string) => {
        const n = this.names.get(v);
        return n !== undefined ? `"${k}":"<${n}>"` : all;
      });
    // Election and lock keys end in the lease id in hex: "<name>/<hex>", base64.
    out = out.replace(/"key":"([A-Za-z0-9+/=]+)"/g, (all, b64: string) => {
      const text = Buffer.from(b64, 'base64').toString('latin1');
      const m = /^(.*)\/([0-9a-f]+)$/.exec(text);
      const n = m === null ? undefined : this.names.get(m[2] ?? '');
      return m === null || n === undefined ? all : `"key":"${m[1] ?? ''}/<${n}>"`;
    });
    return out;
  }
}

const ids = new Map<Member, Ids>();
function idsOf(m: Member): Ids {
  let x = ids.get(m);
  if (x === undefined) {
    x = new Ids(m);
    ids.set(m, x);
  }
  return x;
}

/** Sends `body` (with $LEASE_name placeholders) to both; returns both normalised answers. */
async function both(path: string, body: string, method = 'POST'): Promise<[Answer, Answer]> {
  const go = async (m: Member): Promise<Answer> => {
    const b = body.replace(/\$LEASE_(\w+)/g, (_all, n: string) => idsOf(m).leaseId(n));
    const a = await post(m, path, b, method);
    return { ...a, body: idsOf(m).normalise(a.body) };
  };
  return [await go(ours), await go(etcd)];
}

async function same(path: string, body: string, method = 'POST'): Promise<Answer> {
  const [a, b] = await both(path, body, method);
  expect({ path, request: body, ...a }).toEqual({ path, request: body, ...b });
  return a;
}

async function grant(name: string, ttl: number): Promise<void> {
  for (const m of [ours, etcd]) {
    const a = await post(m, '/v3/lease/grant', `{"TTL":"${ttl}"}`);
    const id = /"ID":"(\d+)"/.exec(a.body)?.[1];
    expect(id, a.body).toBeDefined();
    idsOf(m).lease(id ?? '', name);
  }
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** curl -N on a streaming route: the lines it printed before `until` said stop. */
async function curlStream(
  m: Member,
  path: string,
  body: string,
  lines: number,
  whileOpen?: () => Promise<void>,
  extra: readonly string[] = [],
): Promise<string[]> {
  const child = spawn('curl', ['-sN', '-X', 'POST', ...extra, '--data-binary', body, `${m.clientUrl}${path}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const got: Promise<void> = new Promise((resolve) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (out.split('\n').filter((l) => l !== '').length >= lines) resolve();
    });
    child.once('exit', () => resolve());
  });
  try {
    if (whileOpen !== undefined) {
      await sleep(300);
      await whileOpen();
    }
    await Promise.race([got, sleep(CURL_TIMEOUT_MS)]);
    return out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => idsOf(m).normalise(l));
  } finally {
    child.kill('SIGKILL');
  }
}

describe('the JSON gateway next to etcd 3.4.23', () => {
  it('KV: put, range, txn, delete, compaction; /v3beta alias; errors as etcd', async (ctx) => {
    requireTools(ctx, 'etcd', 'curl');
    await same('/v3/kv/put', `{"key":"${b64('foo')}","value":"${b64('bar')}"}`);
    await same('/v3/kv/put', `{"key":"${b64('foo')}","value":"${b64('baz')}","prev_kv":true}`);
    await same('/v3/kv/put', `{"key":"${b64('k<&>')}","value":"${b64('')}"}`);
    await same('/v3/kv/range', `{"key":"${b64('foo')}"}`);
    await same('/v3beta/kv/range', `{"key":"${b64('a')}","range_end":"${b64('z')}","keys_only":true,"sort_order":"DESCEND"}`);
    await same('/v3/kv/range', `{"key":"${b64('a')}","rangeEnd":"${b64('z')}","count_only":true,"limit":"1"}`);
    await same(
      '/v3/kv/txn',
      `{"compare":[{"target":"VALUE","key":"${b64('foo')}","value":"${b64('baz')}"}],` +
        `"success":[{"request_put":{"key":"${b64('t')}","value":"${b64('1')}"}},{"request_range":{"key":"${b64('foo')}"}}],` +
        `"failure":[{"request_delete_range":{"key":"${b64('foo')}"}}]}`,
    );
    await same('/v3/kv/txn', `{"compare":[{"target":"VERSION","result":"GREATER","key":"${b64('foo')}","version":"5"}],"failure":[{"request_range":{"key":"${b64('nope')}"}}]}`);
    await same('/v3/kv/deleterange', `{"key":"${b64('t')}","prev_kv":true}`);
    await same('/v3/kv/compaction', '{"revision":"2"}');
    // etcd's own errors, with the HTTP status grpc-gateway maps their code to.
    await same('/v3/kv/range', '{"key":""}');
    await same('/v3/kv/range', `{"key":"${b64('foo')}","revision":"1"}`);
    await same('/v3/kv/compaction', '{"revision":"100000"}');
    await same('/v3/kv/put', `{"key":"${b64('x')}","value":"${b64('y')}","lease":"12345"}`);
    // The JSON layer's errors, in Go's words.
    await same('/v3/kv/range', `{"key":"${b64('foo')}",bad`);
    await same('/v3/kv/range', '{"key":"not base64!"}');
    await same('/v3/kv/range', '{"key":"YQ==","sort_order":"BOGUS"}');
    await same('/v3/kv/range', '[]');
    await same('/v3/kv/range', '{"limit":"x"}');
    await same('/v3/kv/range', `{"key":"${b64('foo')}","unknown_field":1}`);
    await same('/v3/kv/range', '', 'GET');
    await same('/v3/kv/nothing', '{}');
    const put = await same('/v3/kv/put', `{"key":"${b64('h')}","value":"${b64('v')}"}`);
    expect(put.contentType).toBe('application/json');
  });

  it('Lease: grant, time-to-live, leases, keep-alive over curl, revoke, errors', async (ctx) => {
    requireTools(ctx, 'etcd', 'curl');
    await grant('l1', 600);
    await same('/v3/kv/put', `{"key":"${b64('leased')}","value":"${b64('v')}","lease":"$LEASE_l1"}`);
    await same('/v3/lease/timetolive', '{"ID":"$LEASE_l1","keys":true}');
    await same('/v3/kv/lease/timetolive', '{"ID":"1"}');
    await same('/v3/lease/leases', '{}');
    const [a, b] = await Promise.all([
      curlStream(ours, '/v3/lease/keepalive', `{"ID":"${idsOf(ours).leaseId('l1')}"}`, 1),
      curlStream(etcd, '/v3/lease/keepalive', `{"ID":"${idsOf(etcd).leaseId('l1')}"}`, 1),
    ]);
    expect(a).toEqual(b);
    expect(a[0]).toMatch(/^\{"result":\{"header":.*"ID":"<l1>","TTL":"600"\}\}$/);
    await same('/v3/lease/revoke', '{"ID":"$LEASE_l1"}');
    await same('/v3/kv/lease/revoke', '{"ID":"$LEASE_l1"}');
    await same('/v3/kv/range', `{"key":"${b64('leased')}"}`);
    await same('/v3/lease/grant', '{"TTL":"x"}');
  });

  it('Watch: events over curl as etcd streams them, compacted and bad first requests', async (ctx) => {
    requireTools(ctx, 'etcd', 'curl');
    const create = `{"create_request":{"key":"${b64('w/')}","range_end":"${b64('w0')}","prev_kv":true}}`;
    const writes = async (m: Member): Promise<void> => {
      await post(m, '/v3/kv/put', `{"key":"${b64('w/1')}","value":"${b64('a')}"}`);
      await post(m, '/v3/kv/put', `{"key":"${b64('w/1')}","value":"${b64('b')}"}`);
      await post(m, '/v3/kv/deleterange', `{"key":"${b64('w/1')}"}`);
    };
    const [a, b] = await Promise.all([
      curlStream(ours, '/v3/watch', create, 4, () => writes(ours)),
      curlStream(etcd, '/v3/watch', create, 4, () => writes(etcd)),
    ]);
    expect(a).toHaveLength(4);
    expect(a).toEqual(b);
    expect(a[0]).toContain('"created":true');
    expect(a[3]).toContain('"type":"DELETE"');
    // Two requests in one body: both watchers are created; a compacted start revision.
    const two = `{"create_request":{"key":"${b64('foo')}"}} {"create_request":{"key":"${b64('w/')}","start_revision":"1"}}`;
    const [c, d] = await Promise.all([curlStream(ours, '/v3/watch', two, 3), curlStream(etcd, '/v3/watch', two, 3)]);
    expect(c).toEqual(d);
    expect(c.join('\n')).toContain('"compact_revision":"2"');
    await same('/v3/watch', `{"create_request":{"key":"${b64('foo')}"}`);
    await same('/v3/watch', 'nope');
  });

  it('Election and Lock: campaign, leader, observe over curl, proclaim, resign, lock, unlock', async (ctx) => {
    requireTools(ctx, 'etcd', 'curl');
    await grant('e1', 600);
    const name = b64('el');
    await same('/v3/election/leader', `{"name":"${name}"}`);
    const won = await same('/v3/election/campaign', `{"name":"${name}","lease":"$LEASE_e1","value":"${b64('v1')}"}`);
    expect(won.status).toBe(200);
    await same('/v3/election/leader', `{"name":"${name}"}`);
    const [a, b] = await Promise.all([
      curlStream(ours, '/v3/election/observe', `{"name":"${name}"}`, 1),
      curlStream(etcd, '/v3/election/observe', `{"name":"${name}"}`, 1),
    ]);
    expect(a).toEqual(b);
    expect(a).toHaveLength(1);
    const leaderKey = (m: Member): string => `{"name":"${name}","key":"${b64(`el/${BigInt(idsOf(m).leaseId('e1')).toString(16)}`)}","rev":"REV","lease":"${idsOf(m).leaseId('e1')}"}`;
    const rev = /"rev":"(\d+)"/.exec(won.body)?.[1] ?? '0';
    const proclaim = async (m: Member): Promise<Answer> => {
      const a2 = await post(m, '/v3/election/proclaim', `{"leader":${leaderKey(m).replace('REV', rev)},"value":"${b64('v2')}"}`);
      return { ...a2, body: idsOf(m).normalise(a2.body) };
    };
    expect(await proclaim(ours)).toEqual(await proclaim(etcd));
    const resign = async (m: Member): Promise<Answer> => {
      const a2 = await post(m, '/v3/election/resign', `{"leader":${leaderKey(m).replace('REV', rev)}}`);
      return { ...a2, body: idsOf(m).normalise(a2.body) };
    };
    expect(await resign(ours)).toEqual(await resign(etcd));
    await same('/v3/election/leader', `{"name":"${name}"}`);
    await same('/v3/election/campaign', `{"name":"${name}","lease":"1","value":"${b64('v')}"}`);
    const locked = await same('/v3/lock/lock', `{"name":"${b64('lk')}","lease":"$LEASE_e1"}`);
    expect(locked.status).toBe(200);
    const unlock = async (m: Member): Promise<Answer> => {
      const key = b64(`lk/${BigInt(idsOf(m).leaseId('e1')).toString(16)}`);
      const a2 = await post(m, '/v3/lock/unlock', `{"key":"${key}"}`);
      return { ...a2, body: idsOf(m).normalise(a2.body) };
    };
    expect(await unlock(ours)).toEqual(await unlock(etcd));
    await same('/v3/lock/lock', `{"name":"${b64('lk')}","lease":"1"}`);
  });

  it('Cluster and Maintenance: member list, member errors, alarms, status, hash, defragment, move-leader errors', async (ctx) => {
    requireTools(ctx, 'etcd', 'curl');
    const shape = (a: Answer): unknown => ({ status: a.status, keys: Object.keys(JSON.parse(a.body) as object) });
    const [la, lb] = await both('/v3/cluster/member/list', '{}');
    expect(shape(la)).toEqual(shape(lb));
    expect(la.body).toMatch(/^\{"header":\{"cluster_id":"<cluster_id>","member_id":"<member_id>","raft_term":"\d+"\},"members":\[\{"ID":"\d+","name":"kube-etcd-node01","peerURLs":\["http:\/\/127\.0\.0\.1:\d+"\],"clientURLs":\["http:\/\/127\.0\.0\.1:\d+"\]\}\]\}$/);
    await same('/v3/cluster/member/add', '{"peerURLs":["not a url"]}');
    await same('/v3/cluster/member/remove', '{"ID":"1"}');
    await same('/v3/cluster/member/update', '{"ID":"1","peerURLs":["http://127.0.0.1:1"]}');
    await same('/v3/cluster/member/promote', '{"ID":"1"}');
    // Known difference: etcd 3.5 fills the Alarm response's header, 3.4 sends none
    // (3.5 api/v3rpc/maintenance.go Alarm calls hdr.fill).
    for (const body of ['{"action":"GET"}', '{"action":"DEACTIVATE","alarm":"NOSPACE"}']) {
      const [aa, ab] = await both('/v3/maintenance/alarm', body);
      expect({ ...aa, body: aa.body.replace(/"header":\{[^}]*\},?/, '') }).toEqual(ab);
      expect(aa.body).toMatch(/^\{"header":\{"cluster_id":"<cluster_id>","member_id":"<member_id>","revision":"\d+","raft_term":"\d+"\}\}$/);
    }
    // Known difference: etcd 3.4 answers Defragment without a header; tsetcd fills it.
    const [da, db] = await both('/v3/maintenance/defragment', '{}');
    expect({ ...da, body: da.body.replace(/"header":\{[^}]*\},?/, '') }).toEqual(db);
    await same('/v3/maintenance/transfer-leadership', '{"targetID":"1"}');
    const [sa, sb] = await both('/v3/maintenance/status', '{}');
    expect(sa.status).toBe(sb.status);
    const statusKeys = (a: Answer): string[] => Object.keys(JSON.parse(a.body) as object).filter((k) => k !== 'dbSizeInUse');
    expect(statusKeys(sa)).toEqual(statusKeys(sb));
    const [ha, hb] = await both('/v3/maintenance/hash', '{}');
    expect(shape(ha)).toEqual(shape(hb));
    expect(ha.body).toMatch(/^\{"header":\{.*\},"hash":\d+\}$/);
    // Snapshot: the db file in blob chunks, then its SHA-256 alone, as etcd streams it.
    const snapshot = async (m: Member): Promise<string[]> => {
      const res = await fetch(`${m.clientUrl}/v3/maintenance/snapshot`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(CURL_TIMEOUT_MS) });
      expect(res.status).toBe(200);
      return (await res.text()).split('\n').filter((l) => l !== '');
    };
    for (const lines of [await snapshot(ours), await snapshot(etcd)]) {
      expect(lines.length).toBeGreaterThanOrEqual(2);
      for (const l of lines) expect(l).toMatch(/^\{"result":\{("header":\{[^}]*\},)?("remaining_bytes":"\d+",)?"blob":"[A-Za-z0-9+/=]+"\}\}$/);
      const last = /"blob":"([^"]+)"/.exec(lines[lines.length - 1] ?? '')?.[1] ?? '';
      expect(Buffer.from(last, 'base64')).toHaveLength(32);
    }
  });

  it('serves the seed TLS setup over HTTP/1.1 and h2, with a client certificate', async (ctx) => {
    requireTools(ctx, 'etcd', 'curl', 'openssl');
    const pki: TestPki = await makeTestPki();
    const tls = await startMember({ target: targetFromEnv(), pki, name: 'gw-tls' });
    const args = ['--cacert', pki.caCert, '--cert', pki.cert, '--key', pki.key];
    for (const proto of ['--http1.1', '--http2']) {
      const out = await curlStream(tls, '/v3/kv/put', `{"key":"${b64('tls')}","value":"${b64(proto)}"}`, 1, undefined, [...args, proto]);
      expect(out[0], proto).toMatch(/^\{"header":\{"cluster_id":"<cluster_id>","member_id":"<member_id>","revision":"\d+","raft_term":"\d+"\}\}$/);
    }
    const without = await curlStream(tls, '/v3/kv/range', '{}', 1, undefined, ['--cacert', pki.caCert]);
    expect(without).toEqual([]);
  });

  it('Auth: users, roles, enable, authenticate, the Authorization header, errors, disable', async (ctx) => {
    requireTools(ctx, 'etcd', 'curl');
    const tokens = new Map<Member, string>();
    const withToken = async (path: string, body: string, token: 'good' | 'bad' | 'none'): Promise<void> => {
      const go = async (m: Member): Promise<Answer> => {
        const headers: Record<string, string> = token === 'none' ? {} : { authorization: token === 'good' ? (tokens.get(m) ?? '') : 'bad.1' };
        const res = await fetch(`${m.clientUrl}${path}`, { method: 'POST', body, headers, signal: AbortSignal.timeout(CURL_TIMEOUT_MS) });
        return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: idsOf(m).normalise(await res.text()) };
      };
      const [a, b] = [await go(ours), await go(etcd)];
      expect({ path, token, ...a }).toEqual({ path, token, ...b });
    };
    await same('/v3/auth/user/add', '{"name":"root","password":"pw"}');
    await same('/v3/auth/user/add', '{"name":"alice","password":"pa"}');
    await same('/v3/auth/user/add', '{"name":"alice","password":"pa"}');
    await same('/v3/auth/role/add', '{"name":"reader"}');
    await same('/v3/auth/role/grant', `{"name":"reader","perm":{"permType":"READ","key":"${b64('a')}","range_end":"${b64('b')}"}}`);
    await same('/v3/auth/role/get', '{"role":"reader"}');
    await same('/v3/auth/user/grant', '{"user":"root","role":"root"}');
    await same('/v3/auth/user/grant', '{"user":"alice","role":"reader"}');
    await same('/v3/auth/user/get', '{"name":"alice"}');
    await same('/v3/auth/user/list', '{}');
    await same('/v3/auth/role/list', '{}');
    await same('/v3/auth/role/get', '{"role":"nope"}');
    await same('/v3/auth/enable', '{}');
    await same('/v3/kv/range', `{"key":"${b64('a')}"}`);
    await same('/v3/auth/authenticate', '{"name":"root","password":"wrong"}');
    for (const m of [ours, etcd]) {
      const a = await post(m, '/v3/auth/authenticate', '{"name":"root","password":"pw"}');
      const token = /"token":"([^"]+)"/.exec(a.body)?.[1];
      expect(token, a.body).toBeDefined();
      tokens.set(m, token ?? '');
    }
    await withToken('/v3/kv/put', `{"key":"${b64('a1')}","value":"${b64('v')}"}`, 'good');
    await withToken('/v3/kv/range', `{"key":"${b64('a1')}"}`, 'good');
    await withToken('/v3/kv/range', `{"key":"${b64('a1')}"}`, 'bad');
    await withToken('/v3/auth/user/list', '{}', 'good');
    await withToken('/v3/auth/user/revoke', '{"name":"alice","role":"reader"}', 'good');
    await withToken('/v3/auth/role/revoke', `{"role":"reader","key":"${b64('a')}","range_end":"${b64('b')}"}`, 'good');
    await withToken('/v3/auth/user/changepw', '{"name":"alice","password":"pb"}', 'good');
    await withToken('/v3/auth/user/delete', '{"name":"alice"}', 'good');
    await withToken('/v3/auth/role/delete', '{"role":"reader"}', 'good');
    await withToken('/v3/auth/disable', '{}', 'good');
    await same('/v3/kv/range', `{"key":"${b64('a1')}"}`);
  });

  it("etcdctl 3.4's scheme-in-:authority case fails as docs/troubleshooting.md says, and its workaround works", async (ctx) => {
    requireTools(ctx, 'etcdctl');
    const withScheme = await runEtcdctl(['endpoint', 'status'], { endpoints: [ours.clientUrl] });
    expect(withScheme.code, withScheme.stderr).not.toBe(0);
    expect(withScheme.stderr).toContain('RST_STREAM with error code: PROTOCOL_ERROR');
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'troubleshooting.md'), 'utf8');
    const shown = /```sh\n(etcdctl --endpoints 127\.0\.0\.1:2379 endpoint status)\n```/.exec(doc)?.[1];
    expect(shown).toBeDefined();
    const args = (shown ?? '').replace('127.0.0.1:2379', ours.clientAddress).split(' ').slice(1);
    const plain = await runEtcdctl(args.slice(2), { endpoints: [args[1] ?? ''] });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain(`${ours.clientAddress}, `);
  });

  it("docs/operations.md's gateway example prints what the doc shows", async (ctx) => {
    requireTools(ctx, 'curl');
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## JSON gateway'));
    const blocks = [...section.matchAll(/```(sh)?\n([\s\S]*?)```/g)];
    const script = blocks[0]?.[2] ?? '';
    const shown = blocks[1]?.[2] ?? '';
    expect(script).toContain('curl');
    const fresh = await startMember({ target: targetFromEnv(), name: 'gw-doc' });
    const { stdout } = await promisify(execFile)('bash', ['-c', script.replaceAll('http://127.0.0.1:2379', fresh.clientUrl)], {
      timeout: 20_000,
    });
    // Ids and the lease differ per run; everything else is as shown.
    const digits = (t: string): string => t.replace(/\d+/g, 'N').trim();
    expect(digits(stdout)).toBe(digits(shown));
  });
});
