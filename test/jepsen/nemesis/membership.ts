/**
 * `member-learner`: membership changes while members are killed and cut off
 * (test/jepsen/README.md "Membership under faults"). One fault, in steps:
 *
 * 1. A follower F is cut off from everyone (a grudge both ways), then removed through the
 *    leader while it still runs and believes it is a voter.
 * 2. Removed-never-counts window: voters are killed until the live voters of the new
 *    configuration are one short of its quorum, and F's cut is healed. Had the removal
 *    not taken, the live voters plus F would be a quorum of the old configuration.
 * 3. The killed voters restart; F is killed, wiped and added back as a learner
 *    (MemberAdd isLearner) and started with --initial-cluster-state existing.
 * 4. Learner-never-counts window: voters are killed again to one short of a quorum, while
 *    the learner runs; counted as a voter it would make the quorum.
 * 5. The voters restart; the heal promotes the learner (retrying etcd's "learner not
 *    ready" and "unhealthy cluster" refusals), so the row continues on full strength.
 *
 * Each window is returned in `quorumless` (recorder times): no write invoked inside a
 * window may be acknowledged inside it (run/criteria.ts quorumlessProblems), which is how
 * the history shows that neither a removed member nor a learner counted toward a quorum.
 * The workload's processes mostly read after their first error, so the fault also probes:
 * puts through every running member every 200 ms for the whole window, each one
 * acknowledged before the window closed being a violation (`QuorumlessWindow.acked`).
 * Invariant: every step's admin call goes to the current leader; the heal leaves every
 * member running and F a voter.
 */
import type { Cluster, ClusterMember } from '../cluster/cluster.js';
import { sleep } from '../cluster/cluster.js';
import { findLeader } from '../cluster/status.js';
import type { ActiveFault, FaultContext, QuorumlessWindow } from './faults.js';

type MemberInfo = { ID?: string; name?: string; peerURLs?: string[]; isLearner?: boolean };

/**
 * How long each window holds: two election timeouts, so a wrongful commit would show
 * (a commit needs one heartbeat round; the probes go out every 200 ms).
 */
const WINDOW_ELECTIONS = 2;

async function leaderOf(c: Cluster, timeoutMs = 15_000): Promise<ClusterMember> {
  const l = (await findLeader(c, timeoutMs))?.member;
  if (l === undefined) throw new Error(`member-learner: no leader within ${timeoutMs} ms`);
  return l;
}

/**
 * An admin call through the current leader, retried while the answer is one of `retryOn`
 * (etcd's refusals that pass: an unhealthy cluster, a learner still catching up, no leader).
 */
async function viaLeader<T>(
  c: Cluster,
  what: string,
  call: (l: ClusterMember) => Promise<{ ok: true; value: T } | { ok: false; error: { details: string } }>,
  budgetMs: number,
): Promise<T> {
  const retryOn = ['unhealthy cluster', 'learner', 'no leader', 'timed out', 'leader changed', 'Deadline', 'UNAVAILABLE', 'not ready'];
  const deadline = Date.now() + budgetMs;
  for (;;) {
    const l = (await findLeader(c, 2000))?.member;
    const r = l === undefined ? undefined : await call(l);
    if (r?.ok === true) return r.value;
    const why = r === undefined ? 'no leader' : r.error.details;
    if (Date.now() > deadline || !retryOn.some((s) => why.includes(s)))
      throw new Error(`member-learner: ${what} failed: ${why}`);
    await sleep(500);
  }
}

async function memberList(c: Cluster): Promise<MemberInfo[]> {
  const v = await viaLeader(
    c,
    'MemberList',
    (l) => l.admin().unary<{ members?: MemberInfo[] }>('Cluster', 'MemberList', {}, { deadlineMs: 3000 }),
    10_000,
  );
  return v.members ?? [];
}

/**
 * Kills voters (never `keep`) until the live voters among `voters` are one short of a
 * majority of `voters`; returns the killed.
 */
async function killToOneShort(
  voters: readonly ClusterMember[],
  keep: readonly ClusterMember[],
): Promise<ClusterMember[]> {
  const quorum = Math.floor(voters.length / 2) + 1;
  const live = voters.filter((m) => m.state === 'running');
  const killable = live.filter((m) => !keep.includes(m));
  const killed = killable.slice(0, Math.max(0, live.length - (quorum - 1)));
  await Promise.all(killed.map((m) => m.kill()));
  return killed;
}

/** Puts through every running member every 200 ms for `ms`; the acknowledged, by when. */
async function probeWindow(c: Cluster, ms: number, now: () => number): Promise<{ probes: number; acked: string[] }> {
  const until = Date.now() + ms;
  const acked: string[] = [];
  const inFlight: Promise<void>[] = [];
  let probes = 0;
  while (Date.now() < until) {
    for (const m of c.members.filter((x) => x.state === 'running')) {
      const n = ++probes;
      const budget = until - Date.now();
      if (budget < 100) break;
      inFlight.push(
        m
          .admin()
          .unary('KV', 'Put', { key: Buffer.from(`jepsen/quorumless/${n}`), value: Buffer.from(m.name) }, { deadlineMs: budget })
          .then((r) => {
            if (r.ok && Date.now() <= until) acked.push(`put ${n} through ${m.name} at ${now().toFixed(0)} ms`);
          }),
      );
    }
    await sleep(200);
  }
  await Promise.all(inFlight);
  return { probes, acked };
}

async function restart(c: Cluster, ms: readonly ClusterMember[]): Promise<void> {
  for (const m of ms) if (m.state === 'down') m.start(c.initialCluster(), 'new');
  await Promise.all(ms.map((m) => m.waitListening()));
}

/**
 * One window without a voting quorum: voters killed to one short of a majority (the
 * leader kept), `beforeProbe` run, writes probed through every running member for
 * `holdMs`, then the killed restarted.
 */
async function quorumlessWindow(
  ctx: FaultContext,
  voters: readonly ClusterMember[],
  holdMs: number,
  what: string,
  beforeProbe?: () => Promise<void>,
): Promise<QuorumlessWindow> {
  const c = ctx.cluster;
  const killed = await killToOneShort(voters, [await leaderOf(c)]);
  await beforeProbe?.();
  const from = ctx.now();
  const probe = await probeWindow(c, holdMs, () => ctx.now());
  const window: QuorumlessWindow = {
    from,
    to: ctx.now(),
    ...probe,
    why: `${what} beside ${voters.length - killed.length} of ${voters.length} voters (${killed.map((m) => m.name).join(',')} killed)`,
  };
  await restart(c, killed);
  return window;
}

export async function startLearnerChurn(ctx: FaultContext): Promise<ActiveFault> {
  const c = ctx.cluster;
  const windows: QuorumlessWindow[] = [];
  const holdMs = WINDOW_ELECTIONS * c.options.electionMs;
  const leader = await leaderOf(c);
  const followers = c.members.filter((m) => m !== leader && m.state === 'running');
  if (followers.length < 2) throw new Error('member-learner: needs two running followers');
  const f = followers[ctx.rng.int(followers.length)] as ClusterMember;
  const entry = (await memberList(c)).find((x) => x.peerURLs?.includes(f.peerUrl));
  if (entry?.ID === undefined) throw new Error(`member-learner: ${f.name} not in the member list`);
  const voters = c.members.filter((m) => m !== f);

  // 1. F cut off, then removed while it runs.
  const others = c.members.filter((m) => m !== f).map((m) => m.node.index);
  const grudge = new Map<number, Set<number>>([[f.node.index, new Set(others)]]);
  for (const o of others) grudge.set(o, new Set([f.node.index]));
  await c.network.setGrudge(grudge);
  // A removed member may learn of its removal and stop (etcd: "the member has been
  // permanently removed"): that exit is expected.
  f.expectExit();
  await viaLeader(
    c,
    `MemberRemove ${f.name}`,
    (l) => l.admin().unary('Cluster', 'MemberRemove', { ID: entry.ID }, { deadlineMs: 5000 }),
    15_000,
  );
  ctx.note(`member-learner: removed ${f.name} (${entry.ID}) while cut off and running`);

  // 2. Removed-never-counts window (F's cut is healed once the others are down).
  windows.push(await quorumlessWindow(ctx, voters, holdMs, `removed ${f.name} running`, () => c.network.heal()));

  // 3. F wiped and added back as a learner.
  await f.kill();
  f.wipe();
  const added = await viaLeader(
    c,
    `MemberAdd ${f.name} as learner`,
    (l) =>
      l
        .admin()
        .unary<{ member?: MemberInfo }>('Cluster', 'MemberAdd', { peerURLs: [f.peerUrl], isLearner: true }, { deadlineMs: 5000 }),
    20_000,
  );
  const learnerId = added.member?.ID;
  if (learnerId === undefined) throw new Error('member-learner: MemberAdd answered no member ID');
  ctx.note(`member-learner: added ${f.name} as learner ${learnerId}`);
  f.start(c.initialCluster(), 'existing');
  await f.waitListening();
  await sleep(c.options.electionMs);

  // 4. Learner-never-counts window.
  windows.push(await quorumlessWindow(ctx, voters, holdMs, `learner ${f.name} running`));

  return {
    kind: 'member-learner',
    targets: [f.name],
    expectsLeaderChange: false,
    detail: `remove ${f.name} while cut off, re-add as learner, promote; ${windows.length} quorumless windows`,
    quorumless: windows,
    async heal() {
      await restart(c, c.members);
      await viaLeader(
        c,
        `MemberPromote ${f.name}`,
        (l) => l.admin().unary('Cluster', 'MemberPromote', { ID: learnerId }, { deadlineMs: 5000 }),
        30_000,
      );
      ctx.note(`member-learner: promoted ${f.name}`);
    },
  };
}
