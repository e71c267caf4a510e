/**
 * Integration with the real etcdctl: one member started from a
 * seed-style YAML config with mTLS (test PKI, `client-cert-auth: false` plus
 * `trusted-ca-file`, exactly as the seed), driven by Debian's etcdctl 3.4 with the
 * seed operator's flags (--cacert/--cert/--key), plus curl for /health.
 *
 * The member under test is tsetcd (TSETCD_TARGET=etcd: the real etcd). Beside it runs
 * the oracle, a real etcd 3.4.23 from the same kind of config. Every write is sent to
 * both in lockstep, so both stores hold the same history and even revisions agree;
 * outputs are asserted literally where etcd's output is deterministic, and -w json /
 * -w fields outputs are compared with the oracle's after masking cluster/member ids,
 * raft term and durations. Known 3.4-vs-3.5 differences (tsetcd targets 3.5) are
 * listed where they are normalised: the /health body and the version strings.
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPki } from '../helpers/certs.js';
import { makeTestPki } from '../helpers/certs.js';
import type { EtcdctlOptions, EtcdctlResult } from '../helpers/etcdctl.js';
import { etcdctlFor, runEtcdctl } from '../helpers/etcdctl.js';
import { connectMember, EtcdGrpcClient } from '../helpers/grpc-client.js';
import type { Member } from '../helpers/processes.js';
import {
  dumpMemberLogsOnFailure,
  startMember,
  stopAllMembers,
  targetFromEnv,
} from '../helpers/processes.js';

const target = targetFromEnv();
let pki: TestPki;
let member: Member; // under test
let oracle: Member; // real etcd 3.4.23

/** Quick failure for clients that must be refused (etcdctl defaults: 2 s dial, 5 s command). */
const FAST_FAIL = ['--dial-timeout=1s', '--command-timeout=2s'];

beforeAll(async () => {
  pki = await makeTestPki();
  [member, oracle] = await Promise.all([
    startMember({ target, pki, name: 'kube-etcd-node01' }),
    startMember({ target: 'etcd', pki, name: 'kube-etcd-node01' }),
  ]);
}, 60_000);
afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

/** The last line of etcdctl's stderr ("Error: ..."), without the client's warn logs. */
function errorLine(r: EtcdctlResult): string {
  const lines = r.stderr.trimEnd().split('\n');
  return lines[lines.length - 1] ?? '';
}

/** Masks what legitimately differs between two members: ids, term, durations, versions. */
function mask(text: string): string {
  return text
    .replace(/"(cluster_id|member_id|raft_term|leader)":\d+/g, '"$1":"<$1>"')
    .replace(/"(ClusterID|MemberID|RaftTerm)" : \d+/g, '"$1" : "<$1>"');
}

function describeRun(r: EtcdctlResult): string {
  return `${r.command}\nexit ${String(r.code)}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

/** Runs the same etcdctl command on the member and the oracle; both must answer alike. */
async function lockstep(
  args: readonly string[],
  extra: Partial<EtcdctlOptions> = {},
): Promise<EtcdctlResult> {
  const [t, o] = await Promise.all([
    etcdctlFor(member, args, extra),
    etcdctlFor(oracle, args, extra),
  ]);
  const view = (r: EtcdctlResult): unknown => ({
    code: r.code,
    stdout: mask(r.stdout),
    error: r.code === 0 ? '' : errorLine(r),
  });
  expect(
    view(t),
    `${target} vs etcd for: etcdctl ${args.join(' ')}\n${describeRun(t)}\n` +
      `--- etcd:\n${describeRun(o)}`,
  ).toEqual(view(o));
  return t;
}

async function ok(args: readonly string[], extra: Partial<EtcdctlOptions> = {}): Promise<string> {
  const r = await lockstep(args, extra);
  expect(r.code, describeRun(r)).toBe(0);
  return r.stdout;
}

async function failsWith(args: readonly string[], message: string): Promise<void> {
  const r = await lockstep(args);
  expect(r.code, describeRun(r)).toBe(1);
  expect(errorLine(r)).toBe(`Error: ${message}`);
}

/** Current store revision of the member under test (header of a get -w json). */
async function revisionNow(): Promise<number> {
  const out = await ok(['get', 'no-such-key', '-w', 'json']);
  const m = /"revision":(\d+)/.exec(out);
  expect(m, out).not.toBeNull();
  return Number(m?.[1]);
}

describe(`etcdctl against ${target} (seed-style config, mTLS)`, () => {
  // --prefix, --from-key, --limit, --rev, --keys-only, --sort-by, --order,
  // --print-value-only, -w json
  it('put and get with every etcdctl range option', async () => {
    expect(await ok(['put', 'kv/foo', 'bar'])).toBe('OK\n');
    const rev0 = await revisionNow();
    expect(await ok(['put', 'kv/foo1', 'bar1'])).toBe('OK\n');
    expect(await ok(['put', 'kv/foo2', 'bar2'])).toBe('OK\n');
    expect(await ok(['put', 'kv/fop', 'x'])).toBe('OK\n');
    expect(await ok(['put', 'kv/foo', 'baz', '--prev-kv'])).toBe('OK\nkv/foo\nbar\n');
    expect(await ok(['put', 'kv/foo1', ''])).toBe('OK\n');
    expect(await ok(['put', 'kv/foo1', '--ignore-value', '--prev-kv'])).toBe('OK\nkv/foo1\n\n');

    expect(await ok(['get', 'kv/foo'])).toBe('kv/foo\nbaz\n');
    expect(await ok(['get', 'kv/nope'])).toBe('');
    expect(await ok(['get', 'kv/foo', '--prefix'])).toBe('kv/foo\nbaz\nkv/foo1\n\nkv/foo2\nbar2\n');
    expect(await ok(['get', 'kv/foo', 'kv/foo2'])).toBe('kv/foo\nbaz\nkv/foo1\n\n');
    expect(await ok(['get', 'kv/foo1', '--from-key'])).toBe(
      'kv/foo1\n\nkv/foo2\nbar2\nkv/fop\nx\n',
    );
    expect(await ok(['get', 'kv/', '--prefix', '--limit', '2'])).toBe('kv/foo\nbaz\nkv/foo1\n\n');
    expect(await ok(['get', 'kv/foo', '--prefix', '--keys-only'])).toBe(
      'kv/foo\n\nkv/foo1\n\nkv/foo2\n\n',
    );
    expect(await ok(['get', 'kv/foo', '--prefix', '--order=DESCEND'])).toBe(
      'kv/foo2\nbar2\nkv/foo1\n\nkv/foo\nbaz\n',
    );
    expect(await ok(['get', 'kv/', '--prefix', '--sort-by=MODIFY', '--order=DESCEND'])).toBe(
      'kv/foo1\n\nkv/foo\nbaz\nkv/fop\nx\nkv/foo2\nbar2\n',
    );
    expect(
      await ok(['get', 'kv/', '--prefix', '--sort-by=CREATE', '--order=ASCEND', '--keys-only']),
    ).toBe('kv/foo\n\nkv/foo1\n\nkv/foo2\n\nkv/fop\n\n');
    expect(await ok(['get', 'kv/', '--prefix', '--sort-by=VALUE'])).toBe(
      'kv/foo1\n\nkv/foo2\nbar2\nkv/foo\nbaz\nkv/fop\nx\n',
    );
    expect(
      await ok([
        'get',
        'kv/',
        '--prefix',
        '--sort-by=VERSION',
        '--order=DESCEND',
        '--limit',
        '2',
        '--keys-only',
      ]),
    ).toBe(
      // versions: foo 2, foo1 3, foo2 1, fop 1
      'kv/foo1\n\nkv/foo\n\n',
    );
    expect(await ok(['get', 'kv/foo', '--print-value-only'])).toBe('baz\n');
    expect(await ok(['get', 'kv/foo', '--prefix', '--print-value-only'])).toBe('baz\n\nbar2\n');
    expect(await ok(['get', 'kv/foo', '--rev', String(rev0)])).toBe('kv/foo\nbar\n');
    expect(await ok(['get', 'kv/foo', '--prefix', '--rev', String(rev0 + 1), '--keys-only'])).toBe(
      'kv/foo\n\nkv/foo1\n\n',
    );

    // -w json: fields, base64 bytes, count ignoring limit, more; compared with the oracle.
    const json = await ok(['get', 'kv/foo', '--prefix', '--limit', '1', '-w', 'json']);
    const parsed = JSON.parse(mask(json)) as {
      kvs: unknown[];
      count: number;
      more: boolean;
      header: { revision: number };
    };
    expect(parsed.kvs).toEqual([
      {
        key: Buffer.from('kv/foo').toString('base64'),
        create_revision: rev0,
        mod_revision: rev0 + 4,
        version: 2,
        value: 'YmF6',
      },
    ]);
    expect(parsed.count).toBe(3);
    expect(parsed.more).toBe(true);
    expect(parsed.header.revision).toBe(rev0 + 6);
    await ok(['get', 'kv/', '--prefix', '-w', 'fields']);
    await ok(['get', 'kv/nope', '-w', 'json']);
    await ok(['put', 'kv/json', 'v', '-w', 'json']);
  });

  it('del with --prefix and --prev-kv', async () => {
    await ok(['put', 'del/a', '1']);
    await ok(['put', 'del/b', '2']);
    await ok(['put', 'del/c', '3']);
    await ok(['put', 'del/d', '4']);
    expect(await ok(['del', 'del/none'])).toBe('0\n');
    expect(await ok(['del', 'del/a', '--prev-kv'])).toBe('1\ndel/a\n1\n');
    expect(await ok(['del', 'del/', '--prefix', '--prev-kv'])).toBe(
      '3\ndel/b\n2\ndel/c\n3\ndel/d\n4\n',
    );
    expect(await ok(['get', 'del/', '--prefix'])).toBe('');
    await ok(['put', 'del/e', '5']);
    await ok(['put', 'del/f', '6']);
    expect(await ok(['del', 'del/e', 'del/f'])).toBe('1\n');
    expect(await ok(['del', 'del/', '--prefix', '-w', 'json'])).toMatch(/"deleted":1/);
  });

  it('txn in its stdin form (both branches, every compare kind, errors)', async () => {
    await ok(['put', 'txn/x', 'y']);
    const success = [
      'value("txn/x") = "y"',
      'version("txn/x") = "1"',
      'create("txn/x") > "0"',
      'mod("txn/x") < "100000"',
      '',
      'put txn/x z',
      'get txn/x',
      '',
      'put txn/q r',
      '',
      '',
    ];
    expect(await ok(['txn'], { stdin: success.join('\n') })).toBe('SUCCESS\n\nOK\n\ntxn/x\nz\n');
    const failure = [
      'value("txn/x") = "nope"',
      '',
      'put txn/x w',
      '',
      'get txn/x',
      'put txn/q r',
      'del txn/none',
      '',
      '',
    ];
    expect(await ok(['txn'], { stdin: failure.join('\n') })).toBe(
      'FAILURE\n\ntxn/x\nz\n\nOK\n\n0\n',
    );
    const missing = [
      'mod("txn/none") = "0"',
      'create("txn/none") = "0"',
      'version("txn/none") = "0"',
      '',
      '',
      '',
      '',
    ];
    expect(await ok(['txn'], { stdin: missing.join('\n') })).toBe('SUCCESS\n');
    const valueOfMissing = ['value("txn/none") != "a"', '', 'put txn/never 1', '', '', ''];
    expect(await ok(['txn'], { stdin: valueOfMissing.join('\n') })).toBe('FAILURE\n');
    await ok(['txn', '-w', 'json'], { stdin: failure.join('\n') });
    const duplicate = ['', 'put txn/d 1', 'put txn/d 2', '', '', ''];
    const dup = await lockstep(['txn'], { stdin: duplicate.join('\n') });
    expect(dup.code).toBe(1);
    expect(errorLine(dup)).toBe('Error: etcdserver: duplicate key given in txn request');
  });

  it('compaction (logical and --physical) and reads around the compacted revision', async () => {
    await ok(['put', 'cmp/k', 'v1']);
    const rev1 = await revisionNow();
    await ok(['put', 'cmp/k', 'v2']);
    await ok(['put', 'cmp/k', 'v3']);
    const rev3 = rev1 + 2;
    expect(await ok(['compaction', String(rev1 + 1)])).toBe(`compacted revision ${rev1 + 1}\n`);
    await failsWith(
      ['get', 'cmp/k', '--rev', String(rev1)],
      'etcdserver: mvcc: required revision has been compacted',
    );
    expect(await ok(['get', 'cmp/k', '--rev', String(rev1 + 1)])).toBe('cmp/k\nv2\n');
    await failsWith(
      ['compaction', String(rev1 + 1)],
      'etcdserver: mvcc: required revision has been compacted',
    );
    await failsWith(
      ['compaction', String(rev3 + 1000)],
      'etcdserver: mvcc: required revision is a future revision',
    );
    await failsWith(
      ['get', 'cmp/k', '--rev', String(rev3 + 1000)],
      'etcdserver: mvcc: required revision is a future revision',
    );
    expect(await ok(['compaction', '--physical', String(rev3)])).toBe(
      `compacted revision ${rev3}\n`,
    );
    expect(await ok(['get', 'cmp/k', '--rev', String(rev3)])).toBe('cmp/k\nv3\n');
    expect(await ok(['get', 'cmp/k'])).toBe('cmp/k\nv3\n');
  });

  it('endpoint health on both client listeners of the seed-style config', async () => {
    expect(member.clientUrls).toHaveLength(2);
    const r = await runEtcdctl(['endpoint', 'health'], {
      endpoints: member.clientUrls,
      tls: { cacert: pki.caCert, cert: pki.cert, key: pki.key },
    });
    expect(r.code, describeRun(r)).toBe(0);
    const lines = r.stderr.trimEnd().split('\n').sort();
    const expected = [...member.clientUrls].sort();
    expect(lines).toHaveLength(2);
    lines.forEach((line, i) => {
      expect(line).toMatch(
        new RegExp(
          `^${expected[i] ?? ''} is healthy: ` +
            'successfully committed proposal: took = [0-9.]+(ns|µs|ms|s)$',
        ),
      );
    });
    expect(r.stdout).toBe('');
  });

  it('endpoint status (simple and -w json)', async () => {
    const json = await etcdctlFor(member, ['endpoint', 'status', '-w', 'json']);
    expect(json.code, describeRun(json)).toBe(0);
    // uint64 ids exceed 2^53: quote long integers before JSON.parse.
    const parsed = JSON.parse(json.stdout.replace(/:(\d{16,})/g, ':"$1"')) as Array<{
      Endpoint: string;
      Status: {
        header: { member_id: string | number; revision: number };
        version: string;
        dbSize: number;
        leader: string | number;
        raftIndex: number;
        raftTerm: number;
        raftAppliedIndex: number;
      };
    }>;
    expect(parsed).toHaveLength(1);
    const st = parsed[0]?.Status;
    expect(parsed[0]?.Endpoint).toBe(member.clientUrl);
    expect(st?.version).toMatch(target === 'etcd' ? /^3\.4\.23$/ : /^3\.5\.\d+$/);
    expect(st?.dbSize).toBeGreaterThan(0);
    expect(String(st?.leader)).toBe(String(st?.header.member_id));
    expect(st?.raftTerm).toBeGreaterThan(0);
    expect(st?.raftAppliedIndex).toBeGreaterThan(0);
    expect(st?.raftAppliedIndex).toBeLessThanOrEqual(st?.raftIndex ?? 0);

    const simple = await etcdctlFor(member, ['endpoint', 'status']);
    expect(simple.code, describeRun(simple)).toBe(0);
    // endpoint, ID, version, db size, is leader, is learner, raft term, index, applied, errors
    const STATUS_LINE = new RegExp(
      '^(\\S+), ([0-9a-f]+), (\\S+), (\\d+(?:\\.\\d+)? [kMGT]?B), (true|false), (true|false), ' +
        '(\\d+), (\\d+), (\\d+), \n$',
    );
    const m = STATUS_LINE.exec(simple.stdout);
    expect(m, simple.stdout).not.toBeNull();
    expect(m?.[1]).toBe(member.clientUrl);
    expect(BigInt(`0x${m?.[2] ?? '0'}`)).toBe(BigInt(String(st?.header.member_id)));
    expect(m?.[3]).toBe(st?.version);
    expect(m?.[5]).toBe('true'); // is leader
    expect(m?.[6]).toBe('false'); // is learner
  });
});

/** curl with the given client cert flags; resolves with exit code, stdout, stderr. */
function curl(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['-sS', '--max-time', '5', ...args],
      { timeout: 10_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe(`client certificates and HTTP on the client port of ${target}`, () => {
  const refusedCases: Array<[string, (p: TestPki) => { cert?: string; key?: string }]> = [
    ['no client certificate', () => ({})],
    [
      'a client certificate from another CA',
      (p) => ({ cert: p.otherClientCert, key: p.otherClientKey }),
    ],
  ];
  for (const [what, certOf] of refusedCases) {
    it(`refuses ${what} (client-cert-auth: false + trusted-ca-file, as the seed)`, async () => {
      const creds = certOf(pki);
      const key = `refused/${what.replace(/\W+/g, '-')}`;
      const put = await runEtcdctl([...FAST_FAIL, 'put', key, 'x'], {
        endpoints: [member.clientUrl],
        tls: { cacert: pki.caCert, ...creds },
      });
      expect(put.code, describeRun(put)).not.toBe(0);
      expect(put.stdout).toBe('');
      const get = await runEtcdctl([...FAST_FAIL, 'get', key], {
        endpoints: [member.clientUrl],
        tls: { cacert: pki.caCert, ...creds },
      });
      expect(get.code, describeRun(get)).not.toBe(0);

      const grpcClient = new EtcdGrpcClient(member.clientAddress, {
        tls: { caCert: pki.caCert, ...creds },
        deadlineMs: 3_000,
      });
      const reply = await grpcClient.range({ key: Buffer.from(key) });
      grpcClient.close();
      expect(reply.ok).toBe(false);
      if (!reply.ok) expect(['UNAVAILABLE', 'DEADLINE_EXCEEDED']).toContain(reply.error.codeName);

      const certArgs =
        creds.cert === undefined ? [] : ['--cert', creds.cert, '--key', creds.key ?? ''];
      const health = await curl([
        '--cacert',
        pki.caCert,
        ...certArgs,
        `${member.clientUrl}/health`,
      ]);
      expect(health.code, health.stderr).not.toBe(0);
      expect(health.stdout).toBe('');

      // The refused put never reached the store.
      const good = connectMember(member);
      const check = await good.range({ key: Buffer.from(key) });
      good.close();
      expect(check.ok && check.value.count).toBe('0');
    });
  }

  for (const [flag, version] of [
    ['--http2', '2'],
    ['--http1.1', '1.1'],
  ] as const) {
    it(`curl gets /health and /version over ${flag} with the client certificate`, async () => {
      const tls = ['--cacert', pki.caCert, '--cert', pki.cert, '--key', pki.key];
      const fmt = ['-w', '\n%{http_version} %{http_code}'];
      const health = await curl([flag, ...tls, ...fmt, `${member.clientUrl}/health`]);
      expect(health.code, health.stderr).toBe(0);
      const [body, status] = health.stdout.split('\n');
      expect(status).toBe(`${version} 200`);
      // etcd 3.4 answers {"health":"true"}; 3.5 (tsetcd's target) adds "reason":"".
      expect(body).toBe(target === 'etcd' ? '{"health":"true"}' : '{"health":"true","reason":""}');
      const ver = await curl([flag, ...tls, ...fmt, `${member.clientUrls[1] ?? ''}/version`]);
      expect(ver.code, ver.stderr).toBe(0);
      const [verBody, verStatus] = ver.stdout.split('\n');
      expect(verStatus).toBe(`${version} 200`);
      const parsed = JSON.parse(verBody ?? '') as { etcdserver: string; etcdcluster: string };
      expect(parsed.etcdserver).toMatch(target === 'etcd' ? /^3\.4\.23$/ : /^3\.5\.\d+$/);
      expect(parsed.etcdcluster).toMatch(target === 'etcd' ? /^3\.4\.0$/ : /^3\.5\.0$/);
    });
  }
});
