/**
 * The etcd membership workflow with Debian's etcdctl against a
 * 3-member mTLS cluster from seed-style configs.
 * - `member add --learner` prints the ETCD_* settings (as etcd 3.4 does); the new
 *   member, started from a seed-style config with those settings and
 *   initial-cluster-state existing, joins as a learner and catches up.
 * - `member promote` succeeds once it is caught up (before that etcd's "in sync"
 *   refusal is the only acceptable error); it then votes and serves.
 * - `member remove` of a follower: the removed member stops by itself, the others
 *   keep serving, and member list shows the new membership.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPki } from '../helpers/certs.js';
import { makeTestPki } from '../helpers/certs.js';
import type { EtcdctlResult } from '../helpers/etcdctl.js';
import { connectMember, expectOk } from '../helpers/grpc-client.js';
import type { Member } from '../helpers/processes.js';
import {
  dumpMemberLogsOnFailure,
  sleep,
  startMember,
  stopAllMembers,
  targetFromEnv,
} from '../helpers/processes.js';
import type { ClusterSpec } from './cluster/cluster.js';
import {
  describeRun,
  etcdctlOn,
  parseEtcdctlJson,
  planCluster,
  specFor,
  startCluster,
  statusOf,
  waitFor,
  waitForLeader,
} from './cluster/cluster.js';

const target = targetFromEnv();
let pki: TestPki;
let spec: ClusterSpec;
let members: Member[];
let joiner: Member | undefined;

beforeAll(async () => {
  pki = await makeTestPki();
  spec = { target, pki };
  members = await startCluster(spec);
  await waitForLeader(members, 15_000);
}, 120_000);
afterAll(stopAllMembers, 60_000);
dumpMemberLogsOnFailure();

interface ListedMember {
  ID: string;
  name?: string;
  peerURLs?: string[];
  clientURLs?: string[];
  isLearner?: boolean;
}

async function memberList(on: readonly Member[]): Promise<ListedMember[]> {
  const r = await etcdctlOn(on, ['member', 'list', '-w', 'json']);
  expect(r.code, describeRun(r)).toBe(0);
  const parsed = parseEtcdctlJson(r.stdout) as { members?: ListedMember[] };
  return (parsed.members ?? []).map((m) => ({ ...m, ID: String(m.ID) }));
}

/** ETCD_NAME="..." lines of `member add` into a map. */
function settingsOf(stdout: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const m of stdout.matchAll(/^(ETCD_[A-Z_]+)="(.*)"$/gm)) {
    settings.set(m[1] ?? '', m[2] ?? '');
  }
  return settings;
}

/**
 * A member change through etcdctl. etcd refuses one until every voter has been
 * connected for 5 s (HealthInterval: "unhealthy cluster"), which a fresh cluster or
 * a just-promoted voter may not be yet; that refusal alone is retried, for at most 20 s.
 */
function reconfigure(on: readonly Member[], args: readonly string[]): Promise<EtcdctlResult> {
  return waitFor(`etcdctl ${args.join(' ')} to be accepted`, 20_000, async () => {
    const r = await etcdctlOn(on, args);
    if (r.code === 0) return r;
    expect(r.stderr, describeRun(r)).toContain('etcdserver: unhealthy cluster');
    return undefined;
  }, 500);
}

describe(`membership changes of a ${target} cluster with etcdctl (mTLS)`, () => {
  it('member add --learner, start with the printed settings, promote once caught up', async () => {
    const [plan] = await planCluster(1, pki, 3);
    if (plan === undefined) throw new Error('no plan');
    const add = await reconfigure(members, [
      'member',
      'add',
      plan.name,
      '--learner',
      `--peer-urls=${plan.peerUrl}`,
    ]);
    const [first, blank, ...rest] = add.stdout.trimEnd().split('\n');
    // etcdctl prints ids with %16x: shorter ids are padded with spaces.
    expect(first).toMatch(/^Member +[0-9a-f]+ added to cluster +[0-9a-f]+$/);
    expect(blank).toBe('');
    expect(rest.map((l) => l.replace(/=.*/, ''))).toEqual([
      'ETCD_NAME',
      'ETCD_INITIAL_CLUSTER',
      'ETCD_INITIAL_ADVERTISE_PEER_URLS',
      'ETCD_INITIAL_CLUSTER_STATE',
    ]);
    const newId = BigInt(`0x${/^Member +([0-9a-f]+)/.exec(first ?? '')?.[1] ?? '0'}`);
    const settings = settingsOf(add.stdout);
    expect(settings.get('ETCD_NAME')).toBe(plan.name);
    expect(settings.get('ETCD_INITIAL_ADVERTISE_PEER_URLS')).toBe(plan.peerUrl);
    expect(settings.get('ETCD_INITIAL_CLUSTER_STATE')).toBe('existing');
    const initialCluster = settings.get('ETCD_INITIAL_CLUSTER') ?? '';
    expect(initialCluster.split(',').sort()).toEqual(
      [...members.map((m) => `${m.name}=${m.peerUrl}`), `${plan.name}=${plan.peerUrl}`].sort(),
    );

    // Listed as an unstarted learner: no name and no client URLs yet.
    const listed = (await memberList(members)).find((m) => m.ID === newId.toString());
    expect(listed, 'the added member in member list').toBeDefined();
    expect(listed?.isLearner).toBe(true);
    expect(listed?.name ?? '').toBe('');
    expect(listed?.clientURLs ?? []).toEqual([]);
    expect(listed?.peerURLs).toEqual([plan.peerUrl]);

    // Start it the operator's way: the seed's config with the printed settings.
    joiner = await startMember({
      ...specFor(spec, plan, initialCluster, { 'initial-cluster-state': 'existing' }),
      // A learner serves no linearizable reads; it is up once it answers Status.
      ready: async (m) => (await statusOf(m)) !== undefined,
    });
    const joined = joiner;
    // Once it applied the log up to its own addition, it reports itself as a learner.
    const addedAt = (await statusOf(members[0] as Member, 5_000))?.raftIndex ?? 0;
    const joinedStatus = await waitFor('the learner to catch up', 20_000, async () => {
      const st = await statusOf(joined);
      return st !== undefined && st.leader !== '0' && st.raftAppliedIndex >= addedAt
        ? st
        : undefined;
    });
    expect(BigInt(joinedStatus.memberId)).toBe(newId);
    expect(joinedStatus.isLearner).toBe(true);

    // Promote, retrying only on etcd's "not in sync yet" refusal.
    const promoted = await waitFor('member promote to succeed', 30_000, async () => {
      const r = await etcdctlOn(members, ['member', 'promote', newId.toString(16)]);
      if (r.code === 0) return r;
      expect(r.stderr, describeRun(r)).toContain(
        'can only promote a learner member which is in sync with leader',
      );
      return undefined;
    }, 500);
    expect(promoted.stdout).toMatch(/^Member +[0-9a-f]+ promoted in cluster +[0-9a-f]+\n$/);

    const after = await waitFor('the promoted member listed as a voter', 15_000, async () => {
      const list = await memberList(members);
      const me = list.find((m) => m.ID === newId.toString());
      return me !== undefined && me.isLearner !== true && me.name === plan.name ? list : undefined;
    });
    expect(after).toHaveLength(4);
    expect(after.find((m) => m.ID === newId.toString())?.clientURLs).toEqual([joined.clientUrl]);
    const st = await waitFor('the promoted member to see itself as a voter', 10_000, async () => {
      const s = await statusOf(joined);
      return s !== undefined && !s.isLearner ? s : undefined;
    });
    expect(st.isLearner).toBe(false);

    // It serves linearizable reads and writes now.
    const put = await etcdctlOn([joined], ['put', 'membership/through-new', 'yes']);
    expect(put.code, describeRun(put)).toBe(0);
    const get = await etcdctlOn([members[0] as Member], ['get', 'membership/through-new']);
    expect(get.stdout).toBe('membership/through-new\nyes\n');
    const health = await etcdctlOn([...members, joined], ['endpoint', 'health']);
    expect(health.code, describeRun(health)).toBe(0);
  });

  it('member remove: the removed member stops by itself, the rest keep serving', async () => {
    if (joiner === undefined) throw new Error('the previous test did not add a member');
    const all = [...members, joiner];
    const view = await waitForLeader(all, 15_000);
    const victim = members.find((m) => m !== view.leader) as Member;
    const victimId = view.statuses.get(victim)?.memberId ?? '0';
    expect(victimId).not.toBe('0');
    const rest = all.filter((m) => m !== victim);

    const r = await reconfigure(rest, ['member', 'remove', BigInt(victimId).toString(16)]);
    expect(r.stdout).toMatch(
      new RegExp(`^Member +${BigInt(victimId).toString(16)} removed from cluster +[0-9a-f]+\\n$`),
    );
    const removedAt = Date.now();
    await waitFor(`${victim.name} to stop after its removal`, 20_000, async () =>
      victim.running ? undefined : true,
    );
    console.log(
      `${victim.name} stopped ${Date.now() - removedAt} ms after its removal ` +
        `(${victim.exitDescription()})`,
    );
    // etcd 3.4 exits 0 once it applied its own removal.
    expect(victim.exitDescription(), victim.stderrTail(15)).toBe('exit code 0');

    // systemd's Restart=always starts it again with its old data dir (etcd 3.4 learns
    // from its peers that it was removed and exits 0 within a second): it must not come
    // back into the cluster, and must stop again by itself. start() waits for a
    // readiness that never comes, so it is not awaited; dispose() ends it if needed.
    const rerunAt = Date.now();
    void victim.start().catch(() => undefined);
    await sleep(500);
    const stoppedAgain = await waitFor(`${victim.name} to stop again after a rerun`, 15_000, () =>
      Promise.resolve(victim.running ? undefined : true),
    ).catch((err: unknown) => err);
    console.log(
      `the removed member, rerun, ${victim.running ? 'still runs' : 'stopped'} after ` +
        `${Date.now() - rerunAt} ms (${victim.exitDescription()})`,
    );

    const list = await memberList(rest);
    expect(list.map((m) => m.name).sort()).toEqual(rest.map((m) => m.name).sort());
    expect(list.every((m) => m.isLearner !== true)).toBe(true);
    const health = await etcdctlOn(rest, ['endpoint', 'health']);
    expect(health.code, describeRun(health)).toBe(0);
    // Writes still commit with the remaining three.
    const client = connectMember(rest[0] as Member);
    try {
      expectOk(
        await client.put({ key: Buffer.from('membership/after-remove'), value: Buffer.from('1') }),
      );
    } finally {
      client.close();
    }
    expect(stoppedAgain, `the rerun removed member:\n${victim.stderrTail(10)}`).toBe(true);
  });
});
