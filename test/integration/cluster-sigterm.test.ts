/**
 * Issue 5, check 6: SIGTERM of the leader (systemctl stop / restart) hands leadership
 * to a caught-up voter before the member exits, as etcd does, so that a restart under
 * systemd does not cost an election timeout.
 *
 * The election timeout is raised to 3000 ms (heartbeat 100 ms) so that the two paths
 * cannot be confused on a loaded machine: without a handover, the survivors could
 * elect a leader only after at least 3000 ms without heartbeats (randomised up to
 * 6000 ms, plus the pre-vote round), while a handover (MsgTimeoutNow) gives a new
 * leader within a few round trips. The test asserts a new leader within 2000 ms of the
 * SIGTERM, a term that grew by exactly one (one campaign, no pre-vote/election
 * churn), and writes that succeed again through the survivors within that bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki } from '../helpers/certs.js';
import { connectMember } from '../helpers/grpc-client.js';
import type { Member } from '../helpers/processes.js';
import {
  dumpMemberLogsOnFailure,
  sleep,
  stopAllMembers,
  targetFromEnv,
} from '../helpers/processes.js';
import { leaderNow, startCluster, waitFor, waitForLeader } from './cluster/cluster.js';

const target = targetFromEnv();
const ELECTION_TIMEOUT_MS = 3_000;
const HANDOVER_BOUND_MS = 2_000;
let members: Member[];

beforeAll(async () => {
  const pki = await makeTestPki();
  members = await startCluster({
    target,
    pki,
    extraConfig: { 'heartbeat-interval': 100, 'election-timeout': ELECTION_TIMEOUT_MS },
    stopTimeoutMs: 15_000,
  });
}, 120_000);
afterAll(stopAllMembers, 60_000);
dumpMemberLogsOnFailure();

/** Puts through `member` until one succeeds; resolves with the time it succeeded. */
async function firstSuccessfulPut(member: Member, key: string, boundMs: number): Promise<number> {
  const client = connectMember(member, { deadlineMs: 500 });
  try {
    return await waitFor(`a write through ${member.name}`, boundMs, async () => {
      const r = await client.put({ key: Buffer.from(key), value: Buffer.from('after-sigterm') });
      return r.ok ? Date.now() : undefined;
    }, 20);
  } finally {
    client.close();
  }
}

describe(`SIGTERM of the leader of a 3-member ${target} cluster`, () => {
  it('moves leadership without an election timeout; writes resume quickly', async () => {
    const before = await waitForLeader(members, 20_000);
    const leader = before.leader;
    const survivors = members.filter((m) => m !== leader);
    // A settled cluster: every member has seen the leader's term.
    await sleep(300);
    const settled = await waitForLeader(members, 5_000);
    expect(settled.leaderId).toBe(before.leaderId);

    const stopped = leader.stop();
    const termAt = Date.now();
    const [after, writeAt] = await Promise.all([
      waitFor('a new leader among the survivors', 10_000, async () => {
        const view = await leaderNow(survivors);
        return view !== undefined && view.leaderId !== before.leaderId
          ? { view, at: Date.now() }
          : undefined;
      }, 20),
      firstSuccessfulPut(survivors[0] as Member, 'sigterm/after', 10_000),
    ]);
    await stopped;
    const newLeaderMs = after.at - termAt;
    const writesMs = writeAt - termAt;
    console.log(
      `${target}: new leader ${after.view.leader.name} ${newLeaderMs} ms after SIGTERM, ` +
        `a write succeeded after ${writesMs} ms, term ${settled.term} -> ${after.view.term}, ` +
        `old leader ${leader.exitDescription()}`,
    );
    expect(leader.running).toBe(false);
    expect(newLeaderMs).toBeLessThan(HANDOVER_BOUND_MS);
    expect(after.view.term).toBe(settled.term + 1);
    expect(writesMs).toBeLessThan(HANDOVER_BOUND_MS);
    // The survivors settle on that term (one campaign; nobody ran ahead). A follower's
    // Status may name the new leader a moment before it reports the new term.
    await sleep(300);
    const finalTerms = await waitFor('the survivors to agree on the term', 5_000, async () => {
      const view = await leaderNow(survivors);
      const terms = view === undefined ? [] : [...view.statuses.values()].map((s) => s.raftTerm);
      return terms.length === survivors.length && new Set(terms).size === 1 ? terms : undefined;
    });
    expect(finalTerms).toEqual(survivors.map(() => settled.term + 1));
  });
});
