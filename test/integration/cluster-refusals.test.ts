/**
 * What a member must refuse to do, and the member-id test vector.
 * - A member whose data dir (and WAL dir) was wiped, restarted with the same seed
 *   config (initial-cluster-state: new, as the seed keeps it forever under
 *   Restart=always), exits non-zero with etcd's "member ... has already been
 *   bootstrapped"; the other two keep the cluster's data and its membership.
 * - A data dir holding etcd's own files (made by running Debian's etcd briefly, with
 *   the seed's separate wal-dir and with the default member/wal) is refused with a
 *   pointer to snapshot restore, and left untouched.
 * - `n1=http://127.0.0.1:23806` with token `tok` gives member 9942343966928181876 and
 *   cluster 13292385014601237006 (etcdctl member list -w json of a running single
 *   member so configured; also checked on the real etcd), when that port is free.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPki } from '../helpers/certs.js';
import { makeTestPki } from '../helpers/certs.js';
import { connectMember, expectOk } from '../helpers/grpc-client.js';
import { requireOrSkip } from '../helpers/require-tool.js';
import type { Member, Target } from '../helpers/processes.js';
import {
  dumpMemberLogsOnFailure,
  startMember,
  stopAllMembers,
  targetFromEnv,
} from '../helpers/processes.js';
import {
  describeRun,
  etcdctlOn,
  logSince,
  logSize,
  parseEtcdctlJson,
  portIsFree,
  startCluster,
  waitForLeader,
} from './cluster/cluster.js';

const target = targetFromEnv();
let pki: TestPki;

beforeAll(async () => {
  pki = await makeTestPki();
}, 60_000);
afterAll(stopAllMembers, 60_000);
dumpMemberLogsOnFailure();

/** The error of a start that must fail; fails the test if the member came up. */
async function startMustFail(start: () => Promise<unknown>): Promise<string> {
  try {
    await start();
  } catch (err) {
    return String(err);
  }
  throw new Error('the member started, but it should have refused to');
}

/** Relative path -> sha256 of every file under `dir`. */
function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = join(rel, e.name);
      if (e.isDirectory()) walk(p);
      else out[p] = createHash('sha256').update(readFileSync(join(dir, p))).digest('hex');
    }
  };
  walk('');
  return out;
}

describe(`refusals of ${target}`, () => {
  it('a wiped member rerun with initial-cluster-state new is refused; the cluster keeps its data', async () => {
    const members = await startCluster({ target, pki });
    await waitForLeader(members, 15_000);
    const put = await etcdctlOn(members, ['put', 'refusals/kept', 'yes']);
    expect(put.code, describeRun(put)).toBe(0);
    const before = await etcdctlOn(members, ['member', 'list', '-w', 'json']);
    expect(before.code, describeRun(before)).toBe(0);

    const wiped = members[2] as Member;
    const rest = members.slice(0, 2);
    await wiped.kill();
    rmSync(wiped.dataDir, { recursive: true, force: true });
    rmSync(wiped.walDir, { recursive: true, force: true });
    const mark = logSize(wiped);
    const error = await startMustFail(() => wiped.start());
    const log = logSince(wiped, mark);
    expect(wiped.exitDescription(), error).toMatch(/^exit code [1-9]\d*$/);
    expect(log, error).toMatch(/member [0-9a-f]+ has already been bootstrapped/);
    // Restart=always runs it again, now over whatever the refused run left behind:
    // refused again, the same way.
    const mark2 = logSize(wiped);
    const error2 = await startMustFail(() => wiped.start());
    expect(wiped.exitDescription(), error2).toMatch(/^exit code [1-9]\d*$/);
    expect(logSince(wiped, mark2), error2).toMatch(/member [0-9a-f]+ has already been bootstrapped/);

    // The others keep the data and the membership, and still commit writes.
    // The wiped member may have been the leader: the two elect a new one, and a read
    // inside that election is dropped ("raft proposal dropped", as etcd answers it).
    let get = await etcdctlOn(rest, ['get', 'refusals/kept']);
    for (const until = Date.now() + 10_000; get.code !== 0 && /proposal dropped|no leader/.test(get.stderr) && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 200));
      get = await etcdctlOn(rest, ['get', 'refusals/kept']);
    }
    expect(get.stdout, describeRun(get)).toBe('refusals/kept\nyes\n');
    const after = await etcdctlOn(rest, ['member', 'list', '-w', 'json']);
    const ids = (text: string): string[] =>
      ((parseEtcdctlJson(text) as { members: Array<{ ID: string }> }).members ?? [])
        .map((m) => String(m.ID))
        .sort();
    expect(ids(after.stdout)).toEqual(ids(before.stdout));
    const client = connectMember(rest[0] as Member);
    try {
      expectOk(await client.put({ key: Buffer.from('refusals/after'), value: Buffer.from('1') }));
    } finally {
      client.close();
    }
    await Promise.all(members.map((m) => m.dispose()));
  });

  // tsetcd's own refusal: with TSETCD_TARGET=etcd this test is not registered at all.
  if (target === 'tsetcd') {
    it(
      "a data dir holding etcd's own files is refused with the restore hint",
      async () => {
        // Real etcd data dirs: the seed's separate wal-dir, and the default member/wal.
        const [seedStyle, defaultWal] = await Promise.all([
          startMember({ target: 'etcd', pki, name: 'kube-etcd-node01' }),
          startMember({
            target: 'etcd',
            pki,
            name: 'kube-etcd-node01',
            extraConfig: { 'wal-dir': '' },
          }),
        ]);
        for (const m of [seedStyle, defaultWal]) {
          const r = await etcdctlOn([m], ['put', 'etcd/own', 'data']);
          expect(r.code, describeRun(r)).toBe(0);
          await m.stop();
          expect(existsSync(join(m.dataDir, 'member', 'snap', 'db'))).toBe(true);
        }
        expect(readdirSync(seedStyle.walDir).some((n) => n.endsWith('.wal'))).toBe(true);
        const defaultWalFiles = readdirSync(join(defaultWal.dataDir, 'member', 'wal'));
        expect(defaultWalFiles.some((n) => n.endsWith('.wal'))).toBe(true);

        for (const [etcdMember, walDir] of [
          [seedStyle, seedStyle.walDir],
          [defaultWal, join(defaultWal.dataDir, 'member', 'wal')],
        ] as const) {
          const dataBefore = fingerprint(etcdMember.dataDir);
          const walBefore = fingerprint(walDir);
          const error = await startMustFail(() =>
            startMember({
              target: 'tsetcd' satisfies Target,
              pki,
              name: 'kube-etcd-node01',
              extraConfig: { 'data-dir': etcdMember.dataDir, 'wal-dir': walDir },
            }),
          );
          expect(error).toMatch(/exited during startup \(exit code [1-9]\d*\)/);
          expect(error).toContain("holds etcd's own data files");
          expect(error).toContain('etcdctl snapshot save');
          expect(error).toContain('snapshot restore');
          expect(fingerprint(etcdMember.dataDir)).toEqual(dataBefore);
          expect(fingerprint(walDir)).toEqual(walBefore);
        }
        await Promise.all([seedStyle.dispose(), defaultWal.dispose()]);
      },
    );
  }

  it('member-id test vector: n1=http://127.0.0.1:23806, token tok', async (ctx) => {
    const VECTOR_PORT = 23806;
    const expected = { member: '9942343966928181876', cluster: '13292385014601237006' };
    const targets: Target[] = target === 'etcd' ? ['etcd'] : ['tsetcd', 'etcd'];
    for (const t of targets) {
      requireOrSkip(ctx, (await portIsFree(VECTOR_PORT)) ? undefined : `port ${VECTOR_PORT} is taken`);
      const m = await startMember({
        target: t,
        name: 'n1',
        peerPort: VECTOR_PORT,
        extraConfig: { 'initial-cluster-token': 'tok' },
      });
      expect(m.peerUrl).toBe('http://127.0.0.1:23806');
      const r = await etcdctlOn([m], ['member', 'list', '-w', 'json']);
      expect(r.code, describeRun(r)).toBe(0);
      const parsed = parseEtcdctlJson(r.stdout) as {
        header: { cluster_id: string };
        members: Array<{ ID: string; name: string; peerURLs: string[] }>;
      };
      expect(
        {
          cluster: String(parsed.header.cluster_id),
          members: parsed.members.map((x) => ({ ...x, ID: String(x.ID) })),
        },
        `${t}: ${r.stdout}`,
      ).toMatchObject({
        cluster: expected.cluster,
        members: [{ ID: expected.member, name: 'n1', peerURLs: ['http://127.0.0.1:23806'] }],
      });
      await m.dispose();
    }
  });
});
