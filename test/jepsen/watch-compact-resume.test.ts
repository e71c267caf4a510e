/**
 * Watch resumption after a compaction during a partition (test/jepsen/README.md "Watch
 * resumption after compaction"). A watcher on a follower follows every write; the
 * follower is cut off; the majority writes past the snapshot count and compacts at C;
 * once the leader has dropped its append stream to the follower (what it had sent
 * during the cut would otherwise still arrive), the follower can only catch up by
 * installing a snapshot, and must. On heal:
 * - the open watch gets etcd's compacted response (canceled, compact_revision = C: etcd's
 *   watchableStore moves its watchers to unsynced on restore and cancels those below the
 *   compaction), and before it every revision it delivered is gap-free from revision 1;
 * - resumed from its last revision + 1 (< C), the watch is canceled with compact_revision
 *   C at once, with no event;
 * - resumed from C, it delivers every acknowledged write from C on, in revision order,
 *   with no revision missing.
 */
import { readFileSync, statSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EtcdGrpcClient } from '../helpers/grpc-client.js';
import { requireTools } from '../helpers/require-tool.js';
import type { ClusterMember } from './cluster/cluster.js';
import { Cluster, destroyLiveClusters, GRPC_CHANNEL_OPTIONS, sleep } from './cluster/cluster.js';
import { findLeader, statusOf } from './cluster/status.js';
import { bytes, num } from './workloads/context.js';
import { openWatch } from './workloads/streams.js';

afterEach(destroyLiveClusters);

interface Resp {
  created?: boolean;
  canceled?: boolean;
  compactRevision?: string;
  events?: { kv?: { modRevision?: string } | null }[];
}

/** One watch over the `wc/` prefix from `from`: its events' revisions and how it ended. */
class Watch {
  readonly revisions: number[] = [];
  canceled: { compactRevision: number } | undefined;
  end: string | undefined;
  private readonly stream;

  constructor(client: EtcdGrpcClient, from: number) {
    this.stream = openWatch(
      client,
      (raw) => {
        const r = raw as Resp;
        for (const e of r.events ?? []) this.revisions.push(num(e.kv?.modRevision));
        if (r.canceled === true) this.canceled = { compactRevision: num(r.compactRevision) };
      },
      (why) => (this.end = why),
    );
    this.stream.send({ createRequest: { key: bytes('wc/'), rangeEnd: bytes('wc0'), startRevision: from } });
  }

  get last(): number {
    return this.revisions.at(-1) ?? 0;
  }

  close(): void {
    this.stream.close();
  }
}

async function until(what: string, ms: number, ok: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(100);
  }
}

/** Puts `n` values through `m`; the revisions acknowledged. */
async function puts(m: ClusterMember, n: number, tag: string): Promise<number[]> {
  const revs: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await m.admin().put({ key: bytes(`wc/${i % 4}`), value: bytes(`${tag}.${i}`) });
    if (!r.ok) throw new Error(`put ${tag}.${i} through ${m.name}: ${r.error.details}`);
    revs.push(num(r.value.header?.revision));
  }
  return revs;
}

describe('watch resumption after compaction during a partition', () => {
  it('a cut-off watcher gets the compacted response, never a gap', async (ctx) => {
    requireTools(ctx, 'root', 'ip', 'iptables');
    const cluster = await Cluster.start({
      size: 3,
      heartbeatMs: 100,
      electionMs: 1000,
      snapshotCount: 200,
      snapshotCatchupEntries: 50,
    });
    const client = (m: ClusterMember): EtcdGrpcClient =>
      new EtcdGrpcClient(m.clientAddress, { channelOptions: GRPC_CHANNEL_OPTIONS, deadlineMs: 3000 });
    const clients: EtcdGrpcClient[] = [];
    try {
      const leader = (await findLeader(cluster, 10_000))?.member as ClusterMember;
      expect(leader).toBeDefined();
      const follower = cluster.members.find((m) => m !== leader) as ClusterMember;
      const watcherClient = client(follower);
      clients.push(watcherClient);
      const w = new Watch(watcherClient, 1);
      const before = await puts(leader, 20, 'before');
      await until('the watcher saw the first writes', 10_000, () => w.last >= (before.at(-1) ?? 0));

      // Cut the watcher's member off; the majority writes past the snapshot count and compacts.
      const others = cluster.members.filter((m) => m !== follower).map((m) => m.node.index);
      const grudge = new Map<number, Set<number>>([[follower.node.index, new Set(others)]]);
      for (const o of others) grudge.set(o, new Set([follower.node.index]));
      const leaderLogAtCut = statSync(leader.logPath).size;
      await cluster.network.setGrudge(grudge);
      const cutAt = Date.now();
      const lastBeforeCut = w.last;
      const during = await puts(leader, 300, 'during');
      const c = during.at(-50) ?? 0;
      const compacted = await leader.admin().compact({ revision: c, physical: true });
      expect(compacted.ok).toBe(true);
      const after = await puts(leader, 10, 'after');
      expect(w.last).toBe(lastBeforeCut);
      // The leader saves its snapshot once the state db behind it is written (every
      // 100 ms, docs/architecture.md §4); healing before that lets the follower catch up
      // from the log, and the snapshot install this test is about never happens.
      await until('the leader compacted its raft log', 10_000, () =>
        leader.logTail(400).includes('saved a snapshot marker and compacted the log'),
      );
      // Cut off, the follower still holds the leader's append stream open: the appends
      // sent during the cut (300 single-entry MsgApps, under raft's 512 in flight and the
      // 1 MiB stream window) wait in the leader's TCP connection, and a heal before the
      // stream is declared dead lets TCP deliver them: the follower then replays the log
      // (the compaction is in it) and no snapshot is needed. Only when the stream's PING
      // goes unanswered for 5 s (cluster/transport keepalive) does the leader drop it and
      // what it held, and raft probes from the follower's last acknowledged index, which
      // the leader no longer has. etcd behaves alike (its peer connections time out after
      // 5 s of silence, rafthttp ConnReadTimeout/ConnWriteTimeout). So wait for that.
      const writtenMs = Date.now() - cutAt;
      await until("the leader dropped its append stream to the cut-off follower", 20_000, () =>
        readFileSync(leader.logPath, 'utf8').slice(leaderLogAtCut).includes('lost peer stream'),
      );
      console.log(`watch-compact-resume: writes done ${writtenMs} ms into the cut, stream dropped at ${Date.now() - cutAt} ms`);

      await cluster.network.heal();
      const target = after.at(-1) ?? 0;
      await until('the follower caught up', 30_000, async () => ((await statusOf(follower, 1000))?.revision ?? 0) >= target);
      await until('the open watch was canceled', 10_000, () => w.canceled !== undefined);
      // The leader had dropped the stream, so the catch-up must be a snapshot install.
      const installed = readFileSync(follower.logPath, 'utf8').includes('installed a snapshot from the leader');
      console.log(`watch-compact-resume: catch-up by ${installed ? 'snapshot install' : 'log replay'}`);
      expect(installed, 'the follower installed a snapshot').toBe(true);
      expect(w.canceled?.compactRevision).toBe(c);
      // Gap-free up to where it stopped: every revision from the first write's (each
      // write made one; revision 1 is the empty store).
      expect(w.revisions).toEqual(Array.from({ length: w.last - 1 }, (_, i) => i + 2));
      expect(w.last).toBeLessThan(c);
      w.close();

      // Resumed from the next revision: canceled for compaction at once, no event.
      const resumed = new Watch(watcherClient, w.last + 1);
      await until('the resumed watch was canceled', 10_000, () => resumed.canceled !== undefined);
      expect(resumed.canceled?.compactRevision).toBe(c);
      expect(resumed.revisions).toEqual([]);
      resumed.close();

      // Resumed from the compaction: every write from C on, in order, no revision missing.
      const fromC = new Watch(watcherClient, c);
      await until('the watch from the compaction reached the last write', 10_000, () => fromC.last >= target);
      const acked = [...during, ...after].filter((r) => r >= c);
      expect(fromC.revisions).toEqual(acked);
      expect(fromC.canceled).toBeUndefined();
      fromC.close();
      console.log(
        `watch resume: watcher on ${follower.name} stopped at ${lastBeforeCut}, compaction at ${c}, ` +
          `canceled with compact_revision ${w.canceled?.compactRevision}; from ${c}: ${fromC.revisions.length} events to ${target}`,
      );
    } finally {
      for (const cl of clients) cl.close();
      await cluster.destroy();
    }
  }, 120_000);
});
