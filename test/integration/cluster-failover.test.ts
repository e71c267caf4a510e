/**
 * Failover: `kill -9` of the leader of a 3-member mTLS cluster at default
 * timings (heartbeat 100 ms, election timeout 1000 ms).
 * - The survivors agree on a new leader within NEW_LEADER_BOUND_MS of the kill.
 * - Writes continue through both survivors.
 * - The killed member restarts and catches up: after a short absence from the log the
 *   leader still holds; after an absence longer than snapshot-count (20) plus
 *   snapshot-catchup-entries (5), by a snapshot, which tsetcd logs as "installed a
 *   snapshot from the leader" (etcd 3.4 keeps 5000 catch-up entries and has no such
 *   setting, so that assertion is tsetcd's only).
 * - HashKV at one revision is equal on all members afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki } from '../helpers/certs.js';
import type { EtcdGrpcClient } from '../helpers/grpc-client.js';
import { connectMember, expectOk } from '../helpers/grpc-client.js';
import type { Member } from '../helpers/processes.js';
import {
  dumpMemberLogsOnFailure,
  sleep,
  stopAllMembers,
  targetFromEnv,
} from '../helpers/processes.js';
import type { LeaderView } from './cluster/cluster.js';
import {
  leaderNow,
  logSince,
  logSize,
  startCluster,
  statusOf,
  waitFor,
  waitForLeader,
} from './cluster/cluster.js';

const target = targetFromEnv();
const SNAPSHOT_COUNT = 20;
const CATCHUP_ENTRIES = 5;
/**
 * Measured on the shared 2-core machine (20 kill -9s of the leader of one 3-member
 * cluster at default timings, restarted in between; two busy loops beside the other
 * engineers' builds, load average 25-30): the survivors agreed on a new leader 1556-6653
 * ms after the kill (median 2.7 s; 10 of 20 over the former 3 s bound); 19 took one round,
 * one took two (6653 ms). Bound: 1.5x the measured tail, whatever the number of rounds
 * (a per-round allowance would excuse a run of split votes).
 */
const NEW_LEADER_BOUND_MS = 10_000;
const SNAPSHOT_LINE = 'installed a snapshot from the leader';
let members: Member[];

beforeAll(async () => {
  const pki = await makeTestPki();
  members = await startCluster({
    target,
    pki,
    extraConfig:
      target === 'tsetcd'
        ? { 'snapshot-count': SNAPSHOT_COUNT, 'snapshot-catchup-entries': CATCHUP_ENTRIES }
        : { 'snapshot-count': SNAPSHOT_COUNT },
  });
}, 120_000);
afterAll(stopAllMembers, 60_000);
dumpMemberLogsOnFailure();

/**
 * etcd's answers to a write while there is no leader: these with code UNAVAILABLE, and
 * raft's "raft proposal dropped" with code Unknown when the survivor already knows no
 * leader (etcd passes raft.ErrProposalDropped through togRPCError unmapped).
 */
const PROPOSAL_DROPPED = 'raft proposal dropped';
const LEADERLESS_ERRORS = [
  'etcdserver: no leader',
  'etcdserver: leader changed',
  'etcdserver: request timed out',
  'etcdserver: request timed out, possibly due to previous leader failure',
  'etcdserver: request timed out, possibly due to connection lost',
];

type WindowReply = { ok: boolean; codeName?: string; details?: string };

interface KillResult {
  readonly survivors: Member[];
  readonly after: LeaderView;
  readonly electedInMs: number;
  /**
   * Writes tried through a survivor while the new leader was being found. A write
   * caught in the election waits for etcd's request timeout (7 s at default timings),
   * so the test collects this later instead of waiting for it here.
   */
  readonly windowReplies: Promise<readonly WindowReply[]>;
}

/**
 * SIGKILLs the leader; resolves with the survivors' new leader and how long it took.
 * Meanwhile a survivor gets writes one after another, to see what clients get without
 * a leader (an error etcd would give, or a success once the new leader is there).
 */
async function killLeader(before: LeaderView): Promise<KillResult> {
  const victim = before.leader;
  const survivors = members.filter((m) => m !== victim);
  await victim.kill();
  const killedAt = Date.now();
  let electing = true;
  const windowReplies = (async () => {
    const replies: WindowReply[] = [];
    const client = connectMember(survivors[0] as Member, { deadlineMs: 12_000 });
    try {
      for (let i = 0; electing; i++) {
        const r = await client.put({ key: Buffer.from(`window/${i}`), value: Buffer.from('x') });
        replies.push(r.ok ? { ok: true } : { ok: false, ...r.error });
        await sleep(50);
      }
    } finally {
      client.close();
    }
    return replies;
  })();
  try {
    const after = await waitFor(
      'a new leader among the survivors',
      NEW_LEADER_BOUND_MS + 5_000,
      async () => {
        const view = await leaderNow(survivors);
        return view !== undefined && view.leaderId !== before.leaderId ? view : undefined;
      },
      25,
    );
    return { survivors, after, electedInMs: Date.now() - killedAt, windowReplies };
  } finally {
    electing = false;
  }
}

/** Every failed write of the leaderless window failed the way etcd fails it. */
async function expectEtcdLeaderlessErrors(window: KillResult['windowReplies']): Promise<void> {
  const replies = await window;
  console.log(`writes through a survivor during the election: ${JSON.stringify(replies)}`);
  for (const r of replies) {
    if (r.ok) continue;
    if (r.details === PROPOSAL_DROPPED) {
      expect(r.codeName, JSON.stringify(r)).toBe('UNKNOWN');
      continue;
    }
    expect(r.codeName, JSON.stringify(r)).toBe('UNAVAILABLE');
    expect(LEADERLESS_ERRORS, JSON.stringify(r)).toContain(r.details);
  }
}

/**
 * A new leader within NEW_LEADER_BOUND_MS of the kill. One election round is at most the
 * randomised election timeout (1000-2000 ms) plus pre-vote and vote round trips on an
 * idle machine; two survivors may still split a round (etcd 3.4 does it too on a loaded
 * machine), which shows as a term that grew by more than one and is logged.
 */
function expectElectedInTime(electedInMs: number, termBefore: number, termAfter: number): void {
  expect(termAfter).toBeGreaterThan(termBefore);
  const rounds = termAfter - termBefore;
  if (rounds > 1) console.warn(`the election took ${rounds} rounds (term ${termBefore} -> ${termAfter})`);
  expect(electedInMs).toBeLessThan(NEW_LEADER_BOUND_MS);
}

/** Puts `count` keys, alternating between the survivors; every put must succeed. */
async function writeThrough(
  survivors: readonly Member[],
  prefix: string,
  count: number,
): Promise<void> {
  const clients: EtcdGrpcClient[] = survivors.map((m) => connectMember(m, { deadlineMs: 10_000 }));
  const latenciesMs: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const client = clients[i % clients.length] as EtcdGrpcClient;
      const startedAt = Date.now();
      expectOk(
        await client.put({ key: Buffer.from(`${prefix}/${i}`), value: Buffer.from(`v${i}`) }),
        `put ${prefix}/${i} through ${client.address}`,
      );
      latenciesMs.push(Date.now() - startedAt);
    }
  } finally {
    for (const c of clients) c.close();
  }
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  console.log(
    `${count} puts under ${prefix}/: first ${latenciesMs[0]} ms, ` +
      `median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted[sorted.length - 1]} ms`,
  );
}

/** Waits until `member` applied at least what the leader had and serves `key` locally. */
async function waitCaughtUp(
  member: Member,
  leader: Member,
  key: string,
  value: string,
): Promise<void> {
  const leaderStatus = await statusOf(leader, 5_000);
  expect(leaderStatus, 'leader status').toBeDefined();
  const goal = leaderStatus?.raftIndex ?? Number.MAX_SAFE_INTEGER;
  await waitFor(`${member.name} to apply up to index ${goal}`, 20_000, async () => {
    const st = await statusOf(member);
    return st !== undefined && st.raftAppliedIndex >= goal ? st : undefined;
  });
  const client = connectMember(member);
  try {
    const got = expectOk(await client.range({ key: Buffer.from(key), serializable: true }));
    expect(got.kvs?.map((kv) => Buffer.from(kv.value ?? []).toString())).toEqual([value]);
  } finally {
    client.close();
  }
}

describe(`kill -9 of the leader of a 3-member ${target} cluster (default timings, mTLS)`, () => {
  it('a new leader within the measured bound, writes continue, the killed member catches up from the log', async () => {
    const before = await waitForLeader(members, 15_000);
    await writeThrough(members, 'before', 3);
    const victim = before.leader;
    const mark = logSize(victim);
    const { survivors, after, electedInMs, windowReplies } = await killLeader(before);
    console.log(
      `new leader ${after.leader.name} in ${electedInMs} ms, term ${before.term} -> ${after.term}`,
    );
    expectElectedInTime(electedInMs, before.term, after.term);

    await writeThrough(survivors, 'short', 3);
    await victim.start();
    await waitCaughtUp(victim, after.leader, 'short/2', 'v2');
    if (target === 'tsetcd') {
      // A few entries behind: the leader's log still holds them, no snapshot is sent.
      expect(logSince(victim, mark)).not.toContain(SNAPSHOT_LINE);
    }
    // Rejoining disrupted nobody (PreVote, and the leader's heartbeats come first):
    // same leader, same term.
    const rejoined = await waitForLeader(members, 10_000);
    expect({ leader: rejoined.leaderId, term: rejoined.term }).toEqual({
      leader: after.leaderId,
      term: after.term,
    });
    // The restarted member also serves linearizable reads and accepts writes again.
    await writeThrough([victim], 'rejoined', 1);
    await expectEtcdLeaderlessErrors(windowReplies);
  });

  it('a member that missed more than snapshot-count entries catches up by snapshot; HashKV agrees', async () => {
    const before = await waitForLeader(members, 15_000);
    const victim = before.leader;
    const mark = logSize(victim);
    const victimStatus = await statusOf(victim, 5_000);
    const { survivors, after, electedInMs, windowReplies } = await killLeader(before);
    console.log(
      `new leader ${after.leader.name} in ${electedInMs} ms, term ${before.term} -> ${after.term}`,
    );
    expectElectedInTime(electedInMs, before.term, after.term);

    const missed = 3 * (SNAPSHOT_COUNT + CATCHUP_ENTRIES);
    await writeThrough(survivors, 'long', missed);
    const leaderStatus = await statusOf(after.leader, 5_000);
    expect(
      (leaderStatus?.raftIndex ?? 0) - (victimStatus?.raftIndex ?? 0),
      'entries the killed member missed',
    ).toBeGreaterThan(SNAPSHOT_COUNT + CATCHUP_ENTRIES);

    await victim.start();
    await waitCaughtUp(victim, after.leader, `long/${missed - 1}`, `v${missed - 1}`);
    if (target === 'tsetcd') expect(logSince(victim, mark)).toContain(SNAPSHOT_LINE);

    // HashKV at one revision (every member has applied it) is the same everywhere.
    const leaderClient = connectMember(after.leader);
    const rev = Number(
      expectOk(await leaderClient.range({ key: Buffer.from('long/0') })).header?.revision ?? 0,
    );
    leaderClient.close();
    expect(rev).toBeGreaterThan(missed);
    const hashes = await Promise.all(
      members.map(async (m) => {
        await waitFor(`${m.name} at revision ${rev}`, 10_000, async () => {
          const st = await statusOf(m);
          return st !== undefined && st.revision >= rev ? st : undefined;
        });
        const client = connectMember(m);
        try {
          const h = expectOk(await client.hashKV({ revision: rev }), `HashKV on ${m.name}`);
          return {
            hash: h.hash,
            compactRevision: String(h.compactRevision),
            hashRevision: String(h.hashRevision),
          };
        } finally {
          client.close();
        }
      }),
    );
    await expectEtcdLeaderlessErrors(windowReplies);
    expect(hashes[0]?.hash).not.toBe(0);
    expect(hashes[1], JSON.stringify(hashes)).toEqual(hashes[0]);
    expect(hashes[2], JSON.stringify(hashes)).toEqual(hashes[0]);
  });
});
