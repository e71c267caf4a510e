// The peer metrics that only move on a fault, over a real 3-member tsetcd cluster
// (etcd's own peer protocol differs, so etcd 3.4.23 is not driven here; the families'
// names, types, labels, help and buckets are etcd rafthttp/metrics.go's):
// - a follower stopped while more than snapshot-count + snapshot-catchup-entries entries
//   commit catches up by snapshot: the leader's etcd_network_snapshot_send_* series for
//   it move (success 1, total_duration_seconds count 1, inflights back to 0), and the
//   follower's etcd_network_snapshot_receive_* series for the leader likewise;
// - a peer stream that carries a frame which does not decode as a raft message is reset
//   and counted in etcd_network_peer_received_failures_total{From=<sender>}.
import { connect, constants } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMember } from '../helpers/grpc-client.js';
import { dumpMemberLogsOnFailure, stopAllMembers, type Member } from '../helpers/processes.js';
import { startCluster, statusOf, waitFor, waitForLeader } from './cluster/cluster.js';

const SNAPSHOT_COUNT = 20;
const CATCHUP_ENTRIES = 5;
let members: Member[];

beforeAll(async () => {
  members = await startCluster({
    target: 'tsetcd',
    extraConfig: { 'snapshot-count': SNAPSHOT_COUNT, 'snapshot-catchup-entries': CATCHUP_ENTRIES },
  });
}, 120_000);
afterAll(stopAllMembers, 60_000);
dumpMemberLogsOnFailure();

async function scrape(m: Member): Promise<string> {
  const res = await fetch(`${m.clientUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  return res.text();
}

/** The value of one sample (`name{labels} value`, labels in any order), undefined when absent. */
function sample(text: string, name: string, labels: string): number | undefined {
  const want = labels.split(',').sort().join(',');
  const line = text.split('\n').find((l) => {
    const m = /^([^{ ]+)\{([^}]*)\} /.exec(l);
    return m?.[1] === name && (m[2] ?? '').split(',').sort().join(',') === want;
  });
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const hexId = async (m: Member): Promise<string> => BigInt((await statusOf(m, 5_000))?.memberId ?? '0').toString(16);

describe('peer failure and snapshot metrics on a real tsetcd cluster', () => {
  it('a follower that catches up by snapshot moves the snapshot send and receive series', async () => {
    const { leader } = await waitForLeader(members, 15_000);
    const follower = members.find((m) => m !== leader) as Member;
    const [leaderId, followerId] = [await hexId(leader), await hexId(follower)];
    await follower.stop();
    const client = connectMember(leader, { deadlineMs: 10_000 });
    const missed = 3 * (SNAPSHOT_COUNT + CATCHUP_ENTRIES);
    try {
      for (let i = 0; i < missed; i++) {
        const r = await client.unary('KV', 'Put', { key: Buffer.from(`snap/${i}`), value: Buffer.from(`v${i}`) });
        expect(r.ok).toBe(true);
      }
    } finally {
      client.close();
    }
    const goal = (await statusOf(leader, 5_000))?.raftIndex ?? Number.MAX_SAFE_INTEGER;
    await follower.start();
    await waitFor(`${follower.name} applied ${goal}`, 30_000, async () => {
      const st = await statusOf(follower);
      return st !== undefined && st.raftAppliedIndex >= goal ? st : undefined;
    });
    const sent = await waitFor('the leader counted the snapshot it sent', 10_000, async () => {
      const text = await scrape(leader);
      return (sample(text, 'etcd_network_snapshot_send_success', `To="${followerId}"`) ?? 0) >= 1 ? text : undefined;
    });
    expect(sample(sent, 'etcd_network_snapshot_send_total_duration_seconds_count', `To="${followerId}"`)).toBeGreaterThanOrEqual(1);
    expect(sample(sent, 'etcd_network_snapshot_send_total_duration_seconds_bucket', `To="${followerId}",le="+Inf"`)).toBeGreaterThanOrEqual(1);
    expect(sample(sent, 'etcd_network_snapshot_send_inflights_total', `To="${followerId}"`)).toBe(0);
    const got = await scrape(follower);
    expect(sample(got, 'etcd_network_snapshot_receive_success', `From="${leaderId}"`)).toBeGreaterThanOrEqual(1);
    expect(sample(got, 'etcd_network_snapshot_receive_total_duration_seconds_count', `From="${leaderId}"`)).toBeGreaterThanOrEqual(1);
    expect(sample(got, 'etcd_network_snapshot_receive_inflights_total', `From="${leaderId}"`)).toBe(0);
    expect(got).toContain('# HELP etcd_network_snapshot_receive_total_duration_seconds Total latency distributions of v3 snapshot receives');
    // etcd's buckets: 0.1 s doubling, ten of them.
    expect(sample(got, 'etcd_network_snapshot_receive_total_duration_seconds_bucket', `From="${leaderId}",le="51.2"`)).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('a peer stream carrying a frame that is not a raft message counts a receive failure', async () => {
    const { leader } = await waitForLeader(members, 15_000);
    const target = members.find((m) => m !== leader) as Member;
    const sender = members.find((m) => m !== leader && m !== target) as Member;
    const st = await statusOf(target, 5_000);
    const [senderId, targetId] = [await hexId(sender), await hexId(target)];
    const before = sample(await scrape(target), 'etcd_network_peer_received_failures_total', `From="${senderId}"`) ?? 0;
    const session = connect(target.peerUrl);
    session.on('error', () => undefined);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/raft/stream/message',
        'x-etcd-cluster-id': BigInt(st?.clusterId ?? '0').toString(16),
        'x-server-from': senderId,
        'x-raft-to': targetId,
      });
      stream.on('error', () => undefined);
      const closed = new Promise<number>((resolve) => stream.on('close', () => resolve(stream.rstCode)));
      // One frame: length 3, then bytes that do not decode as a raft Message.
      stream.write(Buffer.from([0, 0, 0, 3, 0xff, 0xff, 0xff]));
      expect(await closed).toBe(constants.NGHTTP2_PROTOCOL_ERROR);
    } finally {
      session.close();
    }
    const after = sample(await scrape(target), 'etcd_network_peer_received_failures_total', `From="${senderId}"`);
    expect(after).toBe(before + 1);
    // The real sender's stream is unaffected: the cluster still writes through the target.
    const client = connectMember(target, { deadlineMs: 10_000 });
    try {
      expect((await client.unary('KV', 'Put', { key: Buffer.from('after'), value: Buffer.from('x') })).ok).toBe(true);
    } finally {
      client.close();
    }
  }, 60_000);
});
