/**
 * Recovery from lost quorum with --force-new-cluster (docs/backup-restore.md), the same
 * steps on real etcd 3.4.23 and on tsetcd: a 3-member mTLS cluster takes acknowledged
 * writes, two members die for good, the survivor is restarted with force-new-cluster
 * and must come back as a one-member cluster with every acknowledged write, serve
 * writes, and take a new member back with `member add`.
 */
import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPki } from '../helpers/certs.js';
import { makeTestPki } from '../helpers/certs.js';
import type { Member, Target } from '../helpers/processes.js';
import { dumpMemberLogsOnFailure, startMember, stopAllMembers } from '../helpers/processes.js';
import { requireTools } from '../helpers/require-tool.js';
import {
  describeRun,
  etcdctlOn,
  parseEtcdctlJson,
  planCluster,
  specFor,
  startCluster,
  waitFor,
  waitForLeader,
} from './cluster/cluster.js';

let pki: TestPki;

beforeAll(async () => {
  pki = await makeTestPki();
}, 60_000);
afterAll(stopAllMembers, 60_000);
dumpMemberLogsOnFailure();

const KEYS = 20;

async function memberCount(on: readonly Member[]): Promise<number> {
  const r = await etcdctlOn(on, ['member', 'list', '-w', 'json']);
  expect(r.code, describeRun(r)).toBe(0);
  return ((parseEtcdctlJson(r.stdout) as { members?: unknown[] }).members ?? []).length;
}

describe.each<Target>(['etcd', 'tsetcd'])('--force-new-cluster after losing quorum (%s)', (target) => {
  it('the survivor comes back alone with every acknowledged write and takes a member back', async (ctx) => {
    requireTools(ctx, 'etcd', 'etcdctl', 'openssl');
    const members = await startCluster({ target, pki });
    await waitForLeader(members, 15_000);
    for (let i = 0; i < KEYS; i++) {
      const r = await etcdctlOn(members, ['put', `force/k${i}`, `v${i}`]);
      expect(r.code, describeRun(r)).toBe(0);
    }
    const [survivor, lostA, lostB] = members as [Member, Member, Member];
    await lostA.kill();
    await lostB.kill();
    // Without quorum a write cannot be acknowledged.
    const stuck = await etcdctlOn([survivor], ['--command-timeout=2s', 'put', 'force/stuck', 'x'], { timeoutMs: 15_000 });
    expect(stuck.code, describeRun(stuck)).not.toBe(0);

    await survivor.stop();
    appendFileSync(survivor.configPath, '\nforce-new-cluster: true\n');
    await survivor.start();
    await waitForLeader([survivor], 15_000);

    const got = await etcdctlOn([survivor], ['get', '--prefix', 'force/k', '-w', 'json']);
    expect(got.code, describeRun(got)).toBe(0);
    const kvs = (parseEtcdctlJson(got.stdout) as { kvs?: Array<{ key: string; value: string }> }).kvs ?? [];
    const seen = new Map(kvs.map((kv) => [Buffer.from(kv.key, 'base64').toString(), Buffer.from(kv.value, 'base64').toString()]));
    for (let i = 0; i < KEYS; i++) expect(seen.get(`force/k${i}`)).toBe(`v${i}`);
    expect(await memberCount([survivor])).toBe(1);
    const put = await etcdctlOn([survivor], ['put', 'force/after', 'yes']);
    expect(put.code, describeRun(put)).toBe(0);

    // Add a member back, the operator's way: member add, then start it with a fresh data dir.
    const [plan] = await planCluster(1, pki, 3);
    if (plan === undefined) throw new Error('no plan');
    const add = await waitFor('member add to be accepted', 20_000, async () => {
      const r = await etcdctlOn([survivor], ['member', 'add', plan.name, `--peer-urls=${plan.peerUrl}`]);
      if (r.code === 0) return r;
      expect(r.stderr, describeRun(r)).toContain('unhealthy cluster');
      return undefined;
    }, 500);
    const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]*)"/.exec(add.stdout)?.[1] ?? '';
    expect(initialCluster).toContain(plan.name);
    const joined = await startMember(specFor({ target, pki }, plan, initialCluster, { 'initial-cluster-state': 'existing' }));
    await waitForLeader([survivor, joined], 20_000);
    const read = await waitFor('the new member to serve the data', 20_000, async () => {
      const r = await etcdctlOn([joined], ['get', 'force/after', '--consistency=s']);
      return r.code === 0 && r.stdout === 'force/after\nyes\n' ? r : undefined;
    });
    expect(read.stdout).toBe('force/after\nyes\n');
    expect(await memberCount([survivor, joined])).toBe(2);
    await Promise.all([survivor.dispose(), joined.dispose(), lostA.dispose(), lostB.dispose()]);
  }, 180_000);
});
