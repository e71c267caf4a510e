/**
 * SIGTERM of the leader (systemctl stop / restart) hands leadership to a caught-up voter
 * before the member exits, as etcd does, so that a restart under systemd does not cost
 * an election timeout.
 *
 * Two checks tell the paths apart. tsetcd's old leader logs "transferred leadership
 * before stopping". And the timing: the election timeout is raised to 10 000 ms
 * (heartbeat 100 ms), so without a handover the survivors could elect a leader only
 * after at least ~9 900 ms without heartbeats, while the handover (MsgTimeoutNow) is
 * bounded by HANDOVER_BOUND_MS. The term must grow by exactly one (one campaign, no
 * churn), and writes must succeed again through a survivor within the same bound.
 *
 * HANDOVER_BOUND_MS from measurement on the shared 2-core machine (20 SIGTERMs of the
 * leader of one 3-member cluster, restarted in between, at election timeout 3000 ms; two
 * busy loops beside the other engineers' builds, load average 23-29): new leader seen
 * 482-5551 ms after the SIGTERM (median 2.0 s, 5 over 3 s), first write 385-4831 ms.
 * Bound: 1.5x the measured new-leader tail, 8 500 ms, below the ~9 900 ms that an
 * election without handover needs at the raised timeout.
 */
import { readFileSync } from 'node:fs';
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
const ELECTION_TIMEOUT_MS = 10_000;
const HANDOVER_BOUND_MS = 8_500;
let members: Member[];

beforeAll(async () => {
  const pki = await makeTestPki();
  members = await startCluster({
    target,
    pki,
    extraConfig: { 'heartbeat-interval': 100, 'election-timeout': ELECTION_TIMEOUT_MS },
    // A handover may take up to 2 election timeouts before the member stops anyway.
    stopTimeoutMs: 30_000,
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
      waitFor('a new leader among the survivors', 2 * HANDOVER_BOUND_MS, async () => {
        const view = await leaderNow(survivors);
        return view !== undefined && view.leaderId !== before.leaderId
          ? { view, at: Date.now() }
          : undefined;
      }, 20),
      firstSuccessfulPut(survivors[0] as Member, 'sigterm/after', 2 * HANDOVER_BOUND_MS),
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
    if (target === 'tsetcd') {
      expect(readFileSync(leader.logPath, 'utf8')).toContain('transferred leadership before stopping');
    }
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
