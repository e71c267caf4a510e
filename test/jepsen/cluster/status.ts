/**
 * Who leads: Status of every running member (short deadline, so a paused member cannot
 * stall the harness), member ids mapped to names from each member's own Status header,
 * and a background monitor that records one leader sample per member every `everyMs`.
 */
import type { Recorder } from '../history/recorder.js';
import type { Cluster, ClusterMember } from './cluster.js';
import { sleep } from './cluster.js';

export interface StatusSample {
  readonly member: ClusterMember;
  readonly leaderId: string;
  readonly term: number;
  readonly revision: number;
  /** This member's id in etcd's hex form (as member logs write it). */
  readonly memberHex: string;
}

const idToName = new WeakMap<Cluster, Map<string, string>>();

export function memberNameOf(cluster: Cluster, id: string): string | null {
  return idToName.get(cluster)?.get(id) ?? null;
}

export async function statusOf(
  member: ClusterMember,
  deadlineMs = 500,
): Promise<StatusSample | undefined> {
  if (member.state !== 'running') return undefined;
  const reply = await member.admin().unary<{
    header?: { memberId?: string; revision?: string } | null;
    leader?: string;
    raftTerm?: string;
  }>('Maintenance', 'Status', {}, { deadlineMs });
  if (!reply.ok) return undefined;
  const v = reply.value;
  const own = String(v.header?.memberId ?? '0');
  let map = idToName.get(member.cluster);
  if (map === undefined) idToName.set(member.cluster, (map = new Map()));
  if (own !== '0') map.set(own, member.name);
  return {
    member,
    leaderId: String(v.leader ?? '0'),
    term: Number(v.raftTerm ?? 0),
    revision: Number(v.header?.revision ?? 0),
    memberHex: BigInt(own).toString(16),
  };
}

export async function statuses(cluster: Cluster, deadlineMs = 500): Promise<StatusSample[]> {
  const all = await Promise.all(cluster.members.map((m) => statusOf(m, deadlineMs)));
  return all.filter((s): s is StatusSample => s !== undefined);
}

/** The leader seen at the highest term by the running members, if any. */
export async function findLeader(
  cluster: Cluster,
  timeoutMs = 5000,
): Promise<{ member: ClusterMember; term: number } | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ss = (await statuses(cluster)).filter((s) => s.leaderId !== '0');
    ss.sort((a, b) => b.term - a.term);
    const top = ss[0];
    if (top !== undefined) {
      const name = memberNameOf(cluster, top.leaderId);
      const m = cluster.members.find((x) => x.name === name);
      if (m !== undefined && m.state === 'running') return { member: m, term: top.term };
    }
    if (Date.now() > deadline) return undefined;
    await sleep(100);
  }
}

/**
 * Samples every member's view of the leader until stop() resolves. stop() takes one
 * last sample after the loop ends: the runner stops the monitor right after the cluster
 * is healthy again, and a loop iteration still in flight from before the election would
 * otherwise be the last word (a leader change after a late fault went unseen).
 */
export function startMonitor(
  cluster: Cluster,
  recorder: Recorder,
  everyMs = 250,
): { stop(): Promise<void> } {
  let stopped = false;
  const sample = async (): Promise<void> => {
    const ss = await statuses(cluster, 400);
    for (const s of ss) {
      recorder.leader({
        node: s.member.name,
        leader: s.leaderId === '0' ? null : (memberNameOf(cluster, s.leaderId) ?? s.leaderId),
        term: s.term,
      });
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await sample();
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await sample();
    },
  };
}
