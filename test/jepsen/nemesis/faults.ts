/**
 * The faults (Jepsen's nemeses, testing-reference §1.3 and §6), each a start that returns
 * a heal. Targets are chosen at start from the current leader or the seeded rng.
 *
 * | fault                 | what it does                                           | leader change expected |
 * |-----------------------|--------------------------------------------------------|------------------------|
 * | kill                  | SIGKILL, restart on heal                               | when the leader is hit |
 * | pause                 | SIGSTOP, SIGCONT on heal                               | when the leader is hit |
 * | partition-leader      | the leader and the rest drop each other's packets      | yes                    |
 * | partition-majority    | a minority holding the leader vs the majority          | yes                    |
 * | partition-asymmetric  | followers drop the leader's packets; it hears them     | yes                    |
 * | partition-ring        | every node sees a majority, no two the same one (5;    | no (may keep it)       |
 * |                       | a majority/minority split on fewer members)            |                        |
 * | partition-bridge      | two halves joined by one node (5)                      | no                     |
 * | power-cut             | SIGKILL every member at once (TSETCD_TEST_POWER_CUT=1) | yes                    |
 * | wall-clock            | libfaketime CLOCK_REALTIME offset of ±30..120 s (not   | no                     |
 * |                       | the monotonic clock election and lease timers read)    |                        |
 * | clock-rate-leader     | the leader's wall and monotonic clocks run at 2x, then | no                     |
 * |                       | 0.5x the next time (libfaketime rate, fakeMonotonic):  |                        |
 * |                       | its heartbeats,                                        |                        |
 * |                       | election and lease timers with them; heal: back to 1x  |                        |
 * | clock-rate-follower   | the same on a follower                                 | no                     |
 * | member                | remove a follower, wipe it, add it back, restart       | no                     |
 * | member-learner        | a cut-off follower removed while running, re-added as a| no                     |
 * |                       | learner, promoted; voters killed to one short of a     |                        |
 * |                       | quorum beside each (nemesis/membership.ts)             |                        |
 * | link-slow-leader      | the leader's outbound links delayed 0.3 x the election | no                     |
 * |                       | timeout (+0.1 x jitter): slow, still in time           |                        |
 * | link-slow-leader-over | the same at 2 x the election timeout                   | yes                    |
 * | link-flaky            | one member's links lose 5-30 % of chunks (a TCP        | no                     |
 * |                       | retransmission stall each), reset at a tenth of that,  |                        |
 * |                       | stall mid-message at 5 %                               |                        |
 * | link-starved-follower | a follower paused 2 s, then its links throttled to     | no                     |
 * |                       | 32-128 KiB/s while it catches up                       |                        |
 * | kill-in-snapshot      | a follower killed, left behind past the catch-up       | no                     |
 * |                       | entries, restarted (links throttled when proxied) and  |                        |
 * |                       | killed again once a leader logs sending it a snapshot  |                        |
 * | disk-full-follower    | a follower's data dir moved onto a small tmpfs, filled | no                     |
 * |                       | (nemesis/disk.ts): it must stay up with NOSPACE; heal  |                        |
 * |                       | grows the tmpfs and restarts it                        |                        |
 * | fsync-eio-leader      | the leader's WAL fsyncs fail with EIO (trigger file,   | yes                    |
 * |                       | TSETCD_TEST_FSYNC_EIO=1): it must stop by itself (exit |                        |
 * |                       | 2, the failed file named); restarted healthy on heal   |                        |
 *
 * The link-* faults need the fault proxies (ClusterOptions.faultProxySeed; the runner sets
 * it for rows that have one); test/jepsen/README.md "The fault proxy" says what they
 * can and cannot do to a TCP stream.
 * Invariant: a heal undoes exactly its own fault and leaves every member running.
 */
import type { SeededRng } from '../../../src/shared/rng.js';
import type { LinkFault } from '../../../src/testing/fault-proxy.js';
import type { Cluster, ClusterMember } from '../cluster/cluster.js';
import { libfaketimePath, sleep } from '../cluster/cluster.js';
import type { ClockWatch } from '../cluster/faketime-clock.js';
import { watchClock } from '../cluster/faketime-clock.js';
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FSYNC_EIO_TRIGGER } from '../../../src/storage/sync-fault-file-layer.js';
import { findLeader, statusOf } from '../cluster/status.js';
import { startDiskFull } from './disk.js';
import { startLearnerChurn } from './membership.js';

export type FaultKind =
  | 'kill'
  | 'pause'
  | 'partition-leader'
  | 'partition-majority'
  | 'partition-asymmetric'
  | 'partition-ring'
  | 'partition-bridge'
  | 'power-cut'
  | 'wall-clock'
  | 'clock-rate-leader'
  | 'clock-rate-follower'
  | 'member'
  | 'member-learner'
  | 'link-slow-leader'
  | 'link-slow-leader-over'
  | 'link-flaky'
  | 'link-starved-follower'
  | 'kill-in-snapshot'
  | 'fsync-eio-leader'
  | 'disk-full-follower';

/** Faults that need every member's monotonic clock faked (ClusterOptions.fakeMonotonic). */
export const CLOCK_RATE_FAULTS: readonly FaultKind[] = ['clock-rate-leader', 'clock-rate-follower'];

export const LINK_FAULTS: readonly FaultKind[] = [
  'link-slow-leader',
  'link-slow-leader-over',
  'link-flaky',
  'link-starved-follower',
];

export type TargetRule = 'leader' | 'random';

/** A span (recorder times) in which no write may commit: no quorum of voters ran. */
export interface QuorumlessWindow {
  readonly from: number;
  readonly to: number;
  readonly why: string;
  /** The fault's own probe writes in the window, and those acknowledged within it. */
  readonly probes: number;
  readonly acked: readonly string[];
}

export interface ActiveFault {
  readonly kind: FaultKind;
  readonly targets: readonly string[];
  readonly expectsLeaderChange: boolean;
  readonly detail: string;
  /** Windows the fault made in which a learner or a removed member alone would make a quorum. */
  readonly quorumless?: readonly QuorumlessWindow[];
  heal(): Promise<void>;
}

export interface FaultContext {
  readonly cluster: Cluster;
  readonly rng: SeededRng;
  readonly target: TargetRule;
  /** Notes into the history (member changes, errors of admin calls). */
  note(text: string): void;
  /** The history's clock (ms since the run began), for windows a fault reports. */
  now(): number;
}

function pick<T>(rng: SeededRng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)] as T;
}

async function victim(ctx: FaultContext): Promise<{ m: ClusterMember; isLeader: boolean }> {
  const leader = await findLeader(ctx.cluster);
  const running = ctx.cluster.members.filter((m) => m.state === 'running');
  if (ctx.target === 'leader' && leader !== undefined) return { m: leader.member, isLeader: true };
  const m = pick(ctx.rng, running);
  return { m, isLeader: leader?.member === m };
}

function grudgeOf(cluster: Cluster, pairs: readonly [number, number][]): Map<number, Set<number>> {
  const g = new Map<number, Set<number>>();
  for (const [a, b] of pairs) {
    let s = g.get(a);
    if (s === undefined) g.set(a, (s = new Set()));
    s.add(b);
  }
  void cluster;
  return g;
}

/** The directed links out of `from` (or into it too when `both`), all with fault `f`. */
function linksOf(
  all: readonly number[],
  from: number,
  f: LinkFault,
  both: boolean,
): Map<readonly [number, number], LinkFault> {
  const m = new Map<readonly [number, number], LinkFault>();
  for (const o of all) {
    if (o === from) continue;
    m.set([from, o], f);
    if (both) m.set([o, from], f);
  }
  return m;
}

/** Both directions between every node of `a` and every node of `b`. */
function cut(a: readonly number[], b: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const x of a) for (const y of b) out.push([x, y], [y, x]);
  return out;
}

/** How many clock-rate faults of each kind a cluster has had (their rates alternate). */
const clockRateTurns = new WeakMap<Cluster, Map<string, number>>();

export async function startFault(kind: FaultKind, ctx: FaultContext): Promise<ActiveFault> {
  const c = ctx.cluster;
  const idx = (m: ClusterMember): number => m.node.index;
  const all = c.members.map(idx);
  switch (kind) {
    case 'kill': {
      const { m, isLeader } = await victim(ctx);
      await m.kill();
      return {
        kind,
        targets: [m.name],
        expectsLeaderChange: isLeader,
        detail: `SIGKILL ${m.name}`,
        async heal() {
          m.start(c.initialCluster(), 'new');
          await m.waitListening();
        },
      };
    }
    case 'pause': {
      const { m, isLeader } = await victim(ctx);
      m.pause();
      return {
        kind,
        targets: [m.name],
        expectsLeaderChange: isLeader,
        detail: `SIGSTOP ${m.name}`,
        async heal() {
          m.resume();
        },
      };
    }
    case 'partition-leader':
    case 'partition-majority':
    case 'partition-asymmetric': {
      const leader = (await findLeader(c))?.member ?? pick(ctx.rng, c.members);
      const others = all.filter((i) => i !== idx(leader));
      let minority = [idx(leader)];
      if (kind === 'partition-majority') {
        const extra = Math.floor((all.length - 1) / 2) - 1;
        const shuffled = [...others].sort(() => ctx.rng.float() - 0.5);
        minority = [idx(leader), ...shuffled.slice(0, extra)];
      }
      const majority = all.filter((i) => !minority.includes(i));
      const pairs: [number, number][] =
        kind === 'partition-asymmetric'
          ? majority.map((f) => [f, idx(leader)])
          : cut(minority, majority);
      await c.network.setGrudge(grudgeOf(c, pairs));
      const names = (xs: number[]): string => xs.map((i) => c.members[i]?.name).join(',');
      return {
        kind,
        targets: minority.map((i) => c.members[i]?.name ?? '?'),
        expectsLeaderChange: true,
        detail:
          kind === 'partition-asymmetric'
            ? `${names(majority)} drop packets from ${leader.name}`
            : `{${names(minority)}} | {${names(majority)}}`,
        async heal() {
          await c.network.heal();
        },
      };
    }
    case 'partition-ring': {
      const n = all.length;
      // With fewer than 5 members every node is every other's neighbour: no ring exists,
      // so the fault becomes a plain majority/minority split around the leader.
      if (n < 5) return startFault('partition-majority', ctx);
      const pairs: [number, number][] = [];
      for (const i of all) for (let d = 2; d <= n - 2; d++) pairs.push([i, (i + d) % n]);
      await c.network.setGrudge(grudgeOf(c, pairs));
      return {
        kind,
        targets: c.members.map((m) => m.name),
        expectsLeaderChange: false,
        detail: 'each node sees only its ring neighbours',
        async heal() {
          await c.network.heal();
        },
      };
    }
    case 'partition-bridge': {
      const shuffled = [...all].sort(() => ctx.rng.float() - 0.5);
      const half = Math.floor(all.length / 2);
      const a = shuffled.slice(0, half);
      const bridge = shuffled[half] as number;
      const b = shuffled.slice(half + 1);
      await c.network.setGrudge(grudgeOf(c, cut(a, b)));
      return {
        kind,
        targets: [c.members[bridge]?.name ?? '?'],
        expectsLeaderChange: false,
        detail: `bridge ${c.members[bridge]?.name}`,
        async heal() {
          await c.network.heal();
        },
      };
    }
    case 'disk-full-follower': {
      const leader = await findLeader(c);
      const followers = c.members.filter((m) => m.state === 'running' && m !== leader?.member);
      if (followers.length === 0) throw new Error('no running follower to fill the disk of');
      const m = pick(ctx.rng, followers);
      const full = await startDiskFull(c, m);
      return { kind, targets: [m.name], expectsLeaderChange: false, detail: full.detail, heal: () => full.heal() };
    }
    case 'fsync-eio-leader': {
      // Aimed at the leader whatever the rule: it fsyncs every write it proposes.
      const { m } = await victim({ ...ctx, target: 'leader' });
      const trigger = join(m.dataDir, FSYNC_EIO_TRIGGER);
      writeFileSync(trigger, '');
      const how = await m.expectOwnExit(15_000);
      if (how === undefined) {
        unlinkSync(trigger);
        throw new Error(`${m.name}: still running 15 s after its WAL fsyncs began to fail`);
      }
      const line = m.logTail(20).split('\n').find((l) => l.startsWith('tsetcd: fatal:'));
      if (how !== 'exit code 2' || line === undefined || !line.includes('EIO')) {
        throw new Error(`${m.name}: expected exit code 2 with a fatal EIO line, got ${how}: ${line ?? '(no fatal line)'}`);
      }
      return {
        kind,
        targets: [m.name],
        expectsLeaderChange: true,
        detail: `${m.name} WAL fsync EIO: ${how}, ${line}`,
        async heal() {
          unlinkSync(trigger);
          m.start(c.initialCluster(), 'new');
          await m.waitListening();
        },
      };
    }
    case 'power-cut': {
      await Promise.all(c.members.map((m) => m.kill()));
      return {
        kind,
        targets: c.members.map((m) => m.name),
        expectsLeaderChange: true,
        detail: 'SIGKILL every member at once (unsynced WAL writes lost)',
        async heal() {
          for (const m of c.members) m.start(c.initialCluster(), 'new');
          await Promise.all(c.members.map((m) => m.waitListening()));
        },
      };
    }
    case 'wall-clock': {
      // Followers and the leader alike (testing-reference §7 row 8), whatever the rule.
      // Only the wall clock moves (Date.now, log times, HTTP Date): election and lease
      // timers read the monotonic clock (test/jepsen/README.md "The wall-clock fault").
      const { m } = await victim({ ...ctx, target: 'random' });
      m.assertFaketimeLoaded();
      const offset = (30 + ctx.rng.int(91)) * (ctx.rng.int(2) === 0 ? -1 : 1);
      m.setClockOffset(offset);
      await sleep(1100); // Node's HTTP server refreshes its cached Date string each second
      const seen = await m.wallClockOffsetS();
      if (seen !== undefined && Math.abs(seen - offset) > 2) {
        throw new Error(`${m.name}: wall clock offset ${offset} s set, its HTTP Date says ${seen} s`);
      }
      return {
        kind,
        targets: [m.name],
        expectsLeaderChange: false,
        detail: `${m.name} wall clock ${offset} s (seen ${seen === undefined ? 'no answer' : `${seen} s`})`,
        async heal() {
          m.setClockOffset(0);
        },
      };
    }
    case 'clock-rate-leader':
    case 'clock-rate-follower': {
      // 2x and 0.5x in turn per cluster and role, 2x first: a seeded draw left one long
      // lease row without a 2x leader.
      const n = clockRateTurns.get(c)?.get(kind) ?? 0;
      const turns = clockRateTurns.get(c) ?? new Map<string, number>();
      turns.set(kind, n + 1);
      clockRateTurns.set(c, turns);
      return startClockRate(ctx, kind === 'clock-rate-leader' ? 'leader' : 'follower', n % 2 === 0 ? 2 : 0.5);
    }
    case 'member':
      return startMemberChurn(ctx);
    case 'member-learner':
      return startLearnerChurn(ctx);
    case 'link-slow-leader':
    case 'link-slow-leader-over': {
      const leader = (await findLeader(c))?.member ?? pick(ctx.rng, c.members);
      const e = c.options.electionMs;
      const over = kind === 'link-slow-leader-over';
      const f: LinkFault = over ? { delayMs: 2 * e } : { delayMs: 0.3 * e, jitterMs: 0.1 * e };
      await c.network.setLinks(linksOf(all, idx(leader), f, false));
      return {
        kind,
        targets: [leader.name],
        expectsLeaderChange: over,
        detail: `${leader.name}'s outbound links delayed ${f.delayMs} ms${f.jitterMs === undefined ? '' : ` + up to ${f.jitterMs} ms`}`,
        async heal() {
          await c.network.healLinks();
        },
      };
    }
    case 'link-flaky': {
      const m = pick(ctx.rng, c.members);
      const loss = 0.05 + 0.25 * ctx.rng.float();
      const f: LinkFault = {
        lossRate: loss,
        resetRate: loss / 10,
        jitterMs: 20,
        stallRate: 0.05,
        stallMs: c.options.electionMs / 2,
      };
      await c.network.setLinks(linksOf(all, idx(m), f, true));
      return {
        kind,
        targets: [m.name],
        expectsLeaderChange: false,
        detail: `${m.name}'s links lose ${(100 * loss).toFixed(0)} % of chunks, reset ${(10 * loss).toFixed(1)} %`,
        async heal() {
          await c.network.healLinks();
        },
      };
    }
    case 'kill-in-snapshot':
      return startKillInSnapshot(ctx);
    case 'link-starved-follower': {
      const leader = (await findLeader(c))?.member;
      const followers = c.members.filter((m) => m !== leader && m.state === 'running');
      const m = pick(ctx.rng, followers.length > 0 ? followers : c.members);
      const bps = (32 + ctx.rng.int(97)) * 1024;
      // Behind first (paused while the others write), then catching up through a narrow link.
      m.pause();
      await sleep(2000);
      await c.network.setLinks(linksOf(all, idx(m), { bytesPerSec: bps }, true));
      m.resume();
      return {
        kind,
        targets: [m.name],
        expectsLeaderChange: false,
        detail: `${m.name} paused 2 s, then its links throttled to ${Math.round(bps / 1024)} KiB/s`,
        async heal() {
          await c.network.healLinks();
        },
      };
    }
  }
}

/**
 * One member's clocks (wall and monotonic) run at `rate` until the heal (test/jepsen/README.md
 * "Clock rate"). At 2x on the leader its leases expire in half the real time: clients see
 * TTLs shrink twice as fast, which etcd accepts (a lease assumes bounded clock drift); what
 * must hold is that expiry stays a committed revoke by the leader of the term, so every
 * member agrees and no key outlives or precedes it out of order.
 */
export async function startClockRate(
  ctx: FaultContext,
  role: 'leader' | 'follower',
  rate: number,
): Promise<ActiveFault> {
  const c = ctx.cluster;
  const leader = (await findLeader(c))?.member;
  const followers = c.members.filter((m) => m !== leader && m.state === 'running');
  const m = role === 'leader' && leader !== undefined ? leader : pick(ctx.rng, followers.length > 0 ? followers : c.members);
  if (m.state !== 'down') m.assertFaketimeLoaded();
  const seen = [await switchWatched(ctx, m, rate)];
  return {
    kind: role === 'leader' ? 'clock-rate-leader' : 'clock-rate-follower',
    targets: [m.name],
    expectsLeaderChange: false,
    detail: `${m.name}${m === leader ? ' (leader)' : ''} clocks at ${rate}x`,
    async heal() {
      seen.push(await switchWatched(ctx, m, 1));
      const back = seen.filter((s) => s !== undefined && s.backSteps > 0);
      if (back.length > 0) {
        throw new Error(`${m.name}'s faked monotonic clock stepped back at a rate switch: ${back.map((s) => `${s?.backSteps} steps, up to ${Number(s?.maxBackNs ?? 0n) / 1e6} ms`).join('; ')}`);
      }
    },
  };
}

/**
 * Switches m's clock rate while a twin under the same clock reads it (faketime-clock.ts
 * watchClock): the check that a switch never steps the member's monotonic clock back.
 */
async function switchWatched(ctx: FaultContext, m: ClusterMember, rate: number): Promise<ClockWatch | undefined> {
  const clock = m.clock;
  if (clock === undefined || m.state === 'down') {
    await m.setClockRate(rate);
    return undefined;
  }
  const twin = await watchClock(clock, libfaketimePath());
  const late = clock.lateSwitches;
  await m.setClockRate(rate, () => twin.go());
  await sleep(150);
  const seen = await twin.stop();
  ctx.note(`${m.name} clock to ${rate}x: twin read ${seen.reads} times, ${seen.backSteps} steps back${clock.lateSwitches > late ? ', switch file landed late' : ''}`);
  return seen;
}

async function startMemberChurn(ctx: FaultContext): Promise<ActiveFault> {
  const c = ctx.cluster;
  const leader = (await findLeader(c))?.member;
  if (leader === undefined) throw new Error('member fault: no leader');
  const followers = c.members.filter((m) => m !== leader && m.state === 'running');
  const m = pick(ctx.rng, followers);
  const list = await leader
    .admin()
    .unary<{ members?: { ID?: string; name?: string; peerURLs?: string[] }[] }>(
      'Cluster',
      'MemberList',
      {},
      { deadlineMs: 3000 },
    );
  if (!list.ok) throw new Error(`member fault: MemberList failed: ${list.error.details}`);
  const entry = (list.value.members ?? []).find((x) => x.peerURLs?.includes(m.peerUrl));
  if (entry?.ID === undefined) throw new Error(`member fault: ${m.name} not in the member list`);
  // Like etcd, tsetcd refuses a member change while some voter has been connected for
  // less than 5 s ("etcdserver: unhealthy cluster"), e.g. right after another fault
  // healed: that refusal alone is retried, for up to 8 s.
  for (let attempt = 0; ; attempt++) {
    const removed = await leader
      .admin()
      .unary('Cluster', 'MemberRemove', { ID: entry.ID }, { deadlineMs: 5000 });
    if (removed.ok) break;
    if (attempt >= 16 || !removed.error.details.includes('unhealthy cluster'))
      throw new Error(`member fault: MemberRemove ${m.name} failed: ${removed.error.details}`);
    await sleep(500);
  }
  ctx.note(`removed ${m.name} (${entry.ID})`);
  await m.kill();
  m.wipe();
  return {
    kind: 'member',
    targets: [m.name],
    expectsLeaderChange: false,
    detail: `remove ${m.name}, wipe, re-add`,
    async heal() {
      for (let attempt = 0; ; attempt++) {
        const l = (await findLeader(c))?.member ?? leader;
        const added = await l
          .admin()
          .unary('Cluster', 'MemberAdd', { peerURLs: [m.peerUrl] }, { deadlineMs: 5000 });
        if (added.ok) break;
        if (attempt >= 10)
          throw new Error(`member fault: MemberAdd ${m.name} failed: ${added.error.details}`);
        await sleep(500);
      }
      ctx.note(`re-added ${m.name}`);
      m.start(c.initialCluster(), 'existing');
      await m.waitListening();
    },
  };
}

const SNAPSHOT_SEND = 'sending a snapshot to a follower';

/** Bytes of each member's log so far: where to look for lines written after now. */
function logOffsets(c: Cluster): number[] {
  return c.members.map((m) => {
    try {
      return statSync(m.logPath).size;
    } catch {
      return 0;
    }
  });
}

/** Whether some member logged sending a snapshot to `toHex` after `from` (logOffsets). */
function snapshotSentTo(c: Cluster, from: readonly number[], toHex: string): boolean {
  return c.members.some((m, i) => {
    let text: string;
    try {
      text = readFileSync(m.logPath).subarray(from[i] ?? 0).toString('utf8');
    } catch {
      return false;
    }
    return text.split('\n').some((l) => l.includes(SNAPSHOT_SEND) && l.includes(`"to":"${toHex}"`));
  });
}

/**
 * A member killed in the middle of a snapshot install: it is killed, left down until the
 * leader has compacted its log past it (2 s beyond the catch-up entries at the row's write
 * rate), restarted with its links throttled (when the proxies run, so the transfer takes
 * seconds), and killed again as soon as a leader logs sending it a snapshot. The heal
 * restarts it with healthy links; it must then install the snapshot and converge.
 */
async function startKillInSnapshot(ctx: FaultContext): Promise<ActiveFault> {
  const c = ctx.cluster;
  const leader = (await findLeader(c))?.member;
  const followers = c.members.filter((m) => m !== leader && m.state === 'running');
  if (followers.length === 0) throw new Error('kill-in-snapshot: no running follower');
  const m = pick(ctx.rng, followers);
  const id = (await statusOf(m, 2000))?.memberHex;
  if (id === undefined) throw new Error(`kill-in-snapshot: ${m.name} did not answer Status`);
  await m.kill();
  await sleep(4000);
  const all = c.members.map((x) => x.node.index);
  if (c.network.proxied) {
    await c.network.setLinks(linksOf(all, m.node.index, { bytesPerSec: 16 * 1024 }, true));
  }
  const offsets = logOffsets(c);
  m.start(c.initialCluster(), 'new');
  const deadline = Date.now() + 15_000;
  let seen = false;
  while (!seen && Date.now() < deadline && m.state === 'running') {
    seen = snapshotSentTo(c, offsets, id);
    if (!seen) await sleep(50);
  }
  await sleep(ctx.rng.int(300));
  await m.kill();
  await c.network.healLinks().catch(() => undefined);
  ctx.note(`kill-in-snapshot: ${m.name} ${seen ? 'killed while a snapshot was sent to it' : 'killed, no snapshot send seen in 15 s'}`);
  return {
    kind: 'kill-in-snapshot',
    targets: [m.name],
    expectsLeaderChange: false,
    detail: `${m.name} killed ${seen ? 'during a snapshot transfer' : '(no snapshot send seen)'}`,
    async heal() {
      m.start(c.initialCluster(), 'new');
      await m.waitListening();
    },
  };
}
