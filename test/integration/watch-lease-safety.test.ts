/**
 * Lease safety across leader changes. A 3-member cluster (election
 * timeout 1 s) holds leases of TTL 5 s with two keys each. Some leases are kept alive
 * for the whole run by clients that send a keep-alive every TTL/3 to a random member
 * (followers forward to the leader) and move to another member when theirs fails;
 * others stop being kept alive at chosen moments: in quiet time, just before the leader
 * is killed (SIGKILL), and just before leadership is moved (MoveLeader). The leader is
 * killed twice (and restarted) and moved once; the leader is sampled every 100 ms to
 * timestamp promotions.
 *
 * Checked (docs/architecture.md §1, "Watch and leases"):
 * - a key under a lease that is still kept alive is never deleted, its keep-alives are
 *   never answered with TTL 0, and at the end it is still there with a positive TTL;
 * - every deletion of a lease's keys is one revision holding exactly that lease's keys
 *   (a committed revoke or expiry of that lease), never a partial or mixed one;
 * - no keep-alive is answered with a positive TTL after the lease's keys were seen
 *   deleted, and keys are not deleted before TTL after the last successful keep-alive
 *   was sent (less 0.5 s for clock granularity);
 * - after keep-alives stop, the keys are gone no later than
 *   max(last acknowledged keep-alive, last leader promotion) + TTL + election timeout
 *   + 1 s (remaining TTL <= TTL; promotions extend leases by the election timeout).
 * Deletions are timestamped by a prefix watch (resumed across member failures) when
 * its events arrive, which is never earlier than the deletion itself.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { EtcdGrpcClient } from '../helpers/grpc-client.js';
import { connectMember } from '../helpers/grpc-client.js';
import type { Member } from '../helpers/processes.js';
import {
  dumpMemberLogsOnFailure,
  sleep,
  stopAllMembers,
  targetFromEnv,
} from '../helpers/processes.js';
import { leaderNow, startCluster, waitForLeader } from './cluster/cluster.js';
import { KeepAliveClient } from '../concurrency/wire.js';
import { WatchRunner } from '../concurrency/watch-runner.js';
import type { ObservedResponse } from '../concurrency/watch-check.js';

const target = targetFromEnv();
const TTL_S = 5;
const ELECTION_TIMEOUT_MS = 1_000;
const KEEPALIVE_EVERY_MS = (TTL_S * 1000) / 3;

let members: Member[];
const down = new Set<Member>();
const live = (): Member[] => members.filter((m) => !down.has(m) && m.running);
const clients = new Map<Member, EtcdGrpcClient>();

beforeAll(async () => {
  members = await startCluster({
    target,
    size: 3,
    extraConfig: { 'election-timeout': ELECTION_TIMEOUT_MS, 'heartbeat-interval': 100 },
  });
  for (const m of members) clients.set(m, connect(m));
}, 90_000);
afterAll(async () => {
  for (const c of clients.values()) c.close();
  await stopAllMembers();
}, 30_000);
dumpMemberLogsOnFailure();

function connect(m: Member): EtcdGrpcClient {
  return connectMember(m, {
    deadlineMs: 3_000,
    channelOptions: {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 500,
    },
  });
}

async function anyClient<T>(
  fn: (c: EtcdGrpcClient) => Promise<{ ok: boolean; value?: T }>,
): Promise<T> {
  for (let i = 0; i < 60; i++) {
    for (const m of live()) {
      const c = clients.get(m);
      if (c === undefined) continue;
      const r = await fn(c);
      if (r.ok) return r.value as T;
    }
    await sleep(100);
  }
  throw new Error('no member answered');
}

interface LeaseRun {
  readonly name: string;
  readonly id: string;
  readonly keys: string[];
  /** Keep alive until this time (ms since epoch); Infinity: the whole run. */
  stopAt: number;
  acks: Array<{ sentAt: number; recvAt: number; ttl: number }>;
  zeroAnswers: number;
  deletedAt?: number;
  deletedRev?: number;
}

/** Keeps one lease alive every TTL/3 until its stopAt, moving between members on failure. */
async function keepAlive(l: LeaseRun, runUntil: () => boolean): Promise<void> {
  let stream: KeepAliveClient | undefined;
  let member: Member | undefined;
  while (runUntil() && Date.now() < l.stopAt) {
    if (stream === undefined || stream.closed !== undefined) {
      stream?.close();
      const ms = live().filter((m) => m !== member);
      member = ms[Math.floor(Math.random() * ms.length)] ?? live()[0];
      if (member === undefined) {
        await sleep(100);
        continue;
      }
      stream = new KeepAliveClient(member.clientAddress);
    }
    const sentAt = Date.now();
    try {
      const r = await stream.keepAlive(l.id, 2_500);
      const ttl = Number(r.TTL);
      if (ttl > 0) l.acks.push({ sentAt, recvAt: Date.now(), ttl });
      else l.zeroAnswers++;
    } catch {
      stream.close();
      stream = undefined; // the next round picks another member at once
      continue;
    }
    await sleep(Math.max(0, sentAt + KEEPALIVE_EVERY_MS - Date.now()));
  }
  stream?.close();
}

it(`leases survive leader changes while kept alive and expire in time after (${target})`, async () => {
  let t0 = Date.now();
  const leases: LeaseRun[] = [];
  const grant = async (name: string, stopAfterMs: number): Promise<LeaseRun> => {
    const g = await anyClient((c) =>
      c.unary<{ ID: string }>('Lease', 'LeaseGrant', { TTL: TTL_S }),
    );
    const l: LeaseRun = {
      name,
      id: g.ID,
      keys: [`ls/${name}/a`, `ls/${name}/b`],
      stopAt: t0 + stopAfterMs,
      acks: [],
      zeroAnswers: 0,
    };
    for (const k of l.keys)
      await anyClient((c) => c.put({ key: Buffer.from(k), value: Buffer.from(name), lease: l.id }));
    leases.push(l);
    return l;
  };
  const startRev =
    Number((await anyClient((c) => c.range({ key: Buffer.from('ls/') }))).header?.revision) + 1;
  for (const n of ['kept1', 'kept2', 'kept3']) await grant(n, Number.POSITIVE_INFINITY);
  await grant('quiet', 6_000); // stops in quiet time
  // These stop when the fault they are named after is about to happen (set below).
  const beforeKill = await grant('beforekill', Number.POSITIVE_INFINITY);
  const beforeMove = await grant('beforemove', Number.POSITIVE_INFINITY);
  const beforeKill2 = await grant('beforekill2', Number.POSITIVE_INFINITY);
  const droppable = new Set([beforeKill, beforeMove, beforeKill2]);
  // The schedule counts from here (grants and puts may take a while on a loaded machine).
  t0 = Date.now();
  const quiet = leases.find((l) => l.name === 'quiet') as LeaseRun;
  quiet.stopAt = t0 + 6_000;

  // Deletions under ls/, timestamped on arrival.
  const byKey = new Map(leases.flatMap((l) => l.keys.map((k) => [k, l] as const)));
  const deletions: Array<{ rev: number; keys: string[]; at: number }> = [];
  const watcher = new WatchRunner(
    'ls-watch',
    { key: 'ls/', rangeEnd: 'ls0', startRev, prevKv: false, noPut: true, noDelete: false },
    {
      pickMember: (avoid) => live().find((m) => m !== avoid) ?? live()[0],
      onResponse: (o: ObservedResponse) => {
        if (o.kind !== 'events') return;
        const at = Date.now();
        for (const e of o.events) {
          let d = deletions.find((x) => x.rev === e.kv.mod);
          if (d === undefined) deletions.push((d = { rev: e.kv.mod, keys: [], at }));
          d.keys.push(e.kv.key);
        }
      },
    },
  );
  watcher.start();

  // Leader sampling: promotion times.
  const events: string[] = [];
  let running = true;
  const promotions: Array<{ at: number; leader: string }> = [];
  const sampler = (async () => {
    let last = '';
    while (running) {
      const v = await leaderNow(live());
      if (v !== undefined && v.leaderId !== last) {
        last = v.leaderId;
        promotions.push({ at: Date.now(), leader: v.leaderId });
      }
      await sleep(100);
    }
  })();

  const runUntil = (): boolean => running;
  const keepers = leases.map((l) => keepAlive(l, runUntil));

  const killLeader = async (stopping: LeaseRun): Promise<void> => {
    stopping.stopAt = Date.now();
    const v = await waitForLeader(live(), 15_000);
    down.add(v.leader);
    events.push(`kill +${Date.now() - t0}`);
    await v.leader.kill();
    await sleep(4_000);
    await v.leader.start();
    clients.get(v.leader)?.close();
    clients.set(v.leader, connect(v.leader));
    down.delete(v.leader);
  };
  await sleep(Math.max(0, t0 + 12_000 - Date.now()));
  await killLeader(beforeKill);
  await sleep(Math.max(0, t0 + 22_000 - Date.now()));
  {
    beforeMove.stopAt = Date.now();
    const v = await waitForLeader(live(), 15_000);
    const to = [...v.statuses.values()].find((s) => s.memberId !== v.leaderId);
    expect(to, 'a follower to move leadership to').toBeDefined();
    const asked = Date.now();
    const moved = await clients
      .get(v.leader)
      ?.unary('Maintenance', 'MoveLeader', { targetID: to?.memberId });
    expect(moved?.ok, JSON.stringify(moved)).toBe(true);
    events.push(`move asked +${asked - t0} answered +${Date.now() - t0}`);
  }
  await sleep(Math.max(0, t0 + 30_000 - Date.now()));
  await killLeader(beforeKill2);
  // Long enough for the last dropped lease to expire within its bound.
  await sleep((TTL_S * 1000 + ELECTION_TIMEOUT_MS) * 2);
  running = false;
  await Promise.all(keepers);
  await sampler;

  // Kept leases: still alive with their keys.
  for (const l of leases.filter(
    (x) => x.stopAt === Number.POSITIVE_INFINITY && !droppable.has(x),
  )) {
    const ttl = await anyClient((c) =>
      c.unary<{ TTL: string }>('Lease', 'LeaseTimeToLive', { ID: l.id }),
    );
    expect(Number(ttl.TTL), `${l.name} still alive`).toBeGreaterThan(0);
    const got = await anyClient((c) =>
      c.range({ key: Buffer.from(`ls/${l.name}/`), rangeEnd: Buffer.from(`ls/${l.name}0`) }),
    );
    expect(Number(got.count), `${l.name} keys still there`).toBe(2);
  }
  // Revoke one kept lease: a committed revoke is a deletion too.
  const revoked = leases.find((l) => l.name === 'kept3') as LeaseRun;
  const revokeRev = Number(
    (
      await anyClient((c) =>
        c.unary<{ header: { revision: string } }>('Lease', 'LeaseRevoke', { ID: revoked.id }),
      )
    ).header.revision,
  );
  const endWait = Date.now() + 5_000;
  while (!deletions.some((d) => d.rev === revokeRev) && Date.now() < endWait) await sleep(100);
  await watcher.stop();

  const problems: string[] = [];
  for (const d of deletions) {
    const owners = new Set(d.keys.map((k) => byKey.get(k)));
    const owner = [...owners][0];
    if (owners.size !== 1 || owner === undefined) {
      problems.push(
        `revision ${d.rev} deleted keys of several leases or unknown keys: ${d.keys.join(' ')}`,
      );
      continue;
    }
    if (d.keys.length !== owner.keys.length)
      problems.push(`revision ${d.rev} deleted only ${d.keys.join(' ')} of ${owner.name}`);
    if (owner.deletedAt !== undefined) problems.push(`${owner.name} deleted twice`);
    owner.deletedAt = d.at;
    owner.deletedRev = d.rev;
  }
  const lastPromotion = (before: number): number =>
    Math.max(0, ...promotions.filter((p) => p.at <= before).map((p) => p.at));
  for (const l of leases) {
    const kept = l.stopAt === Number.POSITIVE_INFINITY && !droppable.has(l);
    // Keep-alives are only sent before stopAt, well within the TTL: TTL 0 means lost.
    if (l.zeroAnswers > 0)
      problems.push(`${l.name}: ${l.zeroAnswers} keep-alives answered TTL 0 while kept alive`);
    if (kept && l !== revoked) {
      if (l.deletedAt !== undefined)
        problems.push(
          `${l.name} was kept alive but its keys were deleted at revision ${l.deletedRev}`,
        );
      continue;
    }
    if (l === revoked) {
      if (l.deletedRev !== revokeRev)
        problems.push(
          `the revoke at ${revokeRev} did not delete ${l.name}'s keys (seen at ${l.deletedRev})`,
        );
      continue;
    }
    const lastAck = l.acks[l.acks.length - 1];
    if (lastAck === undefined) {
      problems.push(`${l.name} never got a keep-alive answer`);
      continue;
    }
    if (l.deletedAt === undefined) {
      problems.push(`${l.name} was never deleted (keep-alives stopped at +${l.stopAt - t0} ms)`);
      continue;
    }
    if (l.acks.some((a) => a.recvAt > (l.deletedAt as number)))
      problems.push(`${l.name} had a keep-alive acknowledged after its keys were deleted`);
    const earliest = lastAck.sentAt + TTL_S * 1000 - 500;
    if (l.deletedAt < earliest)
      problems.push(
        `${l.name} deleted ${earliest - l.deletedAt} ms before TTL after its last keep-alive`,
      );
    const bound =
      Math.max(lastAck.recvAt, lastPromotion(l.deletedAt)) +
      TTL_S * 1000 +
      ELECTION_TIMEOUT_MS +
      1_000;
    if (l.deletedAt > bound)
      problems.push(`${l.name} deleted ${l.deletedAt - bound} ms after its bound`);
  }
  console.log(
    `lease safety (${target}): ${events.join(', ')}; promotions at ${promotions.map((p) => `+${p.at - t0}`).join(', ')} ms;` +
      ` deletions ${leases.map((l) => `${l.name}@${l.deletedAt === undefined ? '-' : `+${l.deletedAt - t0}`}` + ` (last ack +${(l.acks[l.acks.length - 1]?.recvAt ?? t0) - t0}, ${l.acks.length} acks)`).join(', ')}`,
  );
  expect(problems).toEqual([]);
  expect(promotions.length, 'leader changes happened').toBeGreaterThanOrEqual(4);
}, 150_000);
