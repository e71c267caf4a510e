/**
 * What a proposal fails with when there is no leader, as etcd 3.4 answers (its
 * etcdserver/server.go parseProposeCtxErr and api/v3rpc/util.go togRPCError), on the
 * simulated cluster of real member cores:
 * - raft drops a proposal on a member that knows no leader: "raft proposal dropped"
 *   (code Unknown), a definite failure, the entry is in no log;
 * - a proposal that entered an isolated leader's log and times out after it stepped
 *   down: "etcdserver: request timed out" (etcd never answers a timeout with "no
 *   leader"), its fate unknown.
 */
import { describe, expect, it } from 'vitest';
import type * as pb from '../../src/generated/pb.js';
import { RequestKind } from '../../src/apply/request.js';
import { codec } from '../../src/shared/pb-codec.js';
import { etcdStatus, TsetcdError } from '../../src/shared/errors.js';
import { ELECTION_MS, SimCluster, type SimMember } from './server/cluster.js';
import { SimWorld } from './server/world.js';

const putCodec = codec<pb.PutRequest>('etcdserverpb.PutRequest');

function isolate(cluster: SimCluster, m: SimMember): void {
  for (const o of cluster.members) {
    if (o === m) continue;
    cluster.faults.cut.add(`${m.index}>${o.index}`);
    cluster.faults.cut.add(`${o.index}>${m.index}`);
  }
}

async function started(seed: number): Promise<{ world: SimWorld; cluster: SimCluster; leader: SimMember }> {
  const world = new SimWorld();
  const cluster = new SimCluster(world, { size: 3, seed, snapshotCount: 10_000, snapshotCatchupEntries: 100 });
  for (const m of cluster.members) void m.boot();
  await world.runWhile(10 * ELECTION_MS, () => cluster.leader() === undefined);
  const leader = cluster.leader();
  if (leader === undefined) throw new Error('no leader');
  return { world, cluster, leader };
}

/** Proposes a put through `m`, runs the world until it settles, returns the error. */
async function failedPut(world: SimWorld, m: SimMember, untilMs: number): Promise<unknown> {
  const server = m.core?.server;
  if (server === undefined) throw new Error(`${m.self.name} is down`);
  let outcome: unknown = 'pending';
  server.propose(RequestKind.Put, putCodec.encode({ key: Buffer.from('k'), value: Buffer.from('v') })).then(
    (o) => (outcome = o),
    (err: unknown) => (outcome = err),
  );
  await world.runWhile(world.now + untilMs, () => outcome === 'pending');
  return outcome;
}

describe('proposals without a leader', () => {
  it('a member that knows no leader drops the proposal: "raft proposal dropped"', async () => {
    const { world, cluster, leader } = await started(11);
    const follower = cluster.members.find((m) => m !== leader) as SimMember;
    isolate(cluster, follower);
    await world.runWhile(world.now + 5 * ELECTION_MS, () => follower.core?.server.raftStatus().lead !== 0n);
    expect(follower.core?.server.raftStatus().lead).toBe(0n);
    const err = await failedPut(world, follower, 1000);
    expect(err).toBeInstanceOf(TsetcdError);
    expect((err as TsetcdError).code).toBe('proposal-dropped');
    expect(etcdStatus('proposal-dropped')[1]).toBe('raft proposal dropped');
  }, 60_000);

  it('a proposal stuck in an isolated leader times out: "request timed out", not "no leader"', async () => {
    const { world, cluster, leader } = await started(12);
    isolate(cluster, leader);
    const err = await failedPut(world, leader, 30 * ELECTION_MS);
    expect(leader.core?.server.raftStatus().lead).toBe(0n); // stepped down (CheckQuorum)
    expect(err).toBeInstanceOf(TsetcdError);
    expect((err as TsetcdError).code).toBe('timeout');
  }, 60_000);
});
