/**
 * Three members over mTLS on loopback: messages flow both ways, heartbeats are not
 * stuck behind a multi-MiB append stream, a restarted peer is reconnected, a full
 * queue drops and counts, and the peer HTTP API answers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fetchMembers, fetchVersion } from '../../../src/cluster/transport/index.js';
import { MessageType } from '../../../src/raft/types.js';
import {
  append,
  CLUSTER_ID,
  connectAll,
  hasLog,
  heartbeat,
  makeMember,
  mtls,
  stopAll,
  waitFor,
  type Member,
} from './helpers.js';

const HEARTBEAT_SHARE_OF_TRANSFER = 0.35;
const HEARTBEAT_FLOOR_MS = 800;

let members: (Member | undefined)[] = [];
afterEach(async () => {
  await stopAll(members);
  members = [];
});

async function three(): Promise<[Member, Member, Member]> {
  const tls = await mtls();
  const ms = await Promise.all([1n, 2n, 3n].map((id) => makeMember({ id, tls })));
  members.push(...ms);
  connectAll(ms);
  return ms as [Member, Member, Member];
}

describe('peer transport over mTLS', () => {
  it('carries messages between three members in every direction', async () => {
    const ms = await three();
    for (const a of ms) {
      for (const b of ms)
        if (a !== b) a.transport.send([heartbeat(a.id, b.id, 1), append(a.id, b.id, 2, 100)]);
    }
    await waitFor(
      () => ms.every((m) => m.received.length === 4),
      10_000,
      'every member to receive 4 messages',
    );
    for (const m of ms) {
      const froms = m.received.map((r) => r.from).sort();
      expect(froms).toEqual(
        ms
          .filter((o) => o !== m)
          .flatMap((o) => [o.id, o.id])
          .sort(),
      );
      expect(m.received.every((r) => r.to === m.id)).toBe(true);
      const app = m.received.find((r) => r.type === MessageType.App);
      expect(app?.entries[0]?.data.length).toBe(100);
    }
    const [a, b] = ms;
    await waitFor(() => a.transport.activeSince(b.id) !== undefined, 5000, 'a to see b active');
    const counters = a.transport.metrics().peers.get(b.id);
    expect(counters?.sentMessages).toBe(2);
    expect(counters?.receivedMessages).toBe(2);
    expect(counters?.sentBytes).toBeGreaterThan(100);
  });

  it('delivers heartbeats while a multi-MiB append stream is in flight', async () => {
    const [a, b] = await three();
    a.transport.send([heartbeat(a.id, b.id, 0)]);
    await waitFor(() => b.received.length === 1, 10_000, 'the first heartbeat');
    const appends = 24;
    const entryBytes = 1024 * 1024;
    const sentAt = new Map<number, number>();
    const delays: number[] = [];
    let appsDone = -1;
    let appsSeen = 0;
    let hbDuringApps = 0;
    b.received.length = 0;
    const seen = (): void => {
      for (const m of b.received.splice(0)) {
        if (m.type === MessageType.App) {
          appsSeen++;
          if (appsSeen === appends) appsDone = performance.now();
        } else if (m.type === MessageType.Heartbeat) {
          delays.push(performance.now() - (sentAt.get(m.commit) ?? Number.NaN));
          if (appsSeen < appends) hbDuringApps++;
        }
      }
    };
    const start = performance.now();
    a.transport.send(
      Array.from({ length: appends }, (_, i) => append(a.id, b.id, i + 2, entryBytes)),
    );
    let seq = 1;
    while (appsDone < 0 && performance.now() - start < 30_000) {
      sentAt.set(seq, performance.now());
      a.transport.send([heartbeat(a.id, b.id, seq++)]);
      await new Promise((r) => setTimeout(r, 5));
      seen();
    }
    await waitFor(() => (seen(), delays.length === seq - 1), 10_000, 'every heartbeat');
    const transferMs = appsDone - start;
    const sorted = [...delays].sort((x, y) => x - y);
    const p50 = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
    const max = sorted[sorted.length - 1] ?? Number.NaN;
    console.log(
      `${appends} MiB of MsgApp in ${transferMs.toFixed(0)} ms; ${delays.length} heartbeats, ` +
        `${hbDuringApps} delivered before the appends finished; ` +
        `delay p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms`,
    );
    expect(appsSeen).toBe(appends);
    // Behind the appends on one stream, a heartbeat sent at the start would wait for
    // (almost) the whole transfer; on its own stream it waits only for the event loop.
    expect(hbDuringApps).toBeGreaterThan(3);
    // Measured on the shared 2-core machine (20 runs of this test, two busy loops beside
    // the other engineers' builds, load average 14-26): the slowest heartbeat took
    // 87-553 ms, 0.05-0.14 of its 882-7896 ms transfer. Queued behind the appends it
    // would take about the whole transfer (ratio ~1). Bound: 0.35 of the transfer (2.5x
    // the measured tail ratio), never under 800 ms (1.5x the measured 553 ms tail, for a
    // transfer that happens to be quick; hbDuringApps still catches a queued heartbeat).
    expect(max).toBeLessThan(Math.max(HEARTBEAT_FLOOR_MS, transferMs * HEARTBEAT_SHARE_OF_TRANSFER));
  });

  it('reconnects to a restarted peer and reports it unreachable meanwhile', async () => {
    const tls = await mtls();
    const a = await makeMember({ id: 1n, tls });
    const b = await makeMember({ id: 2n, tls });
    members.push(a, b);
    connectAll([a, b]);
    a.transport.send([heartbeat(1n, 2n, 1)]);
    await waitFor(() => b.received.length === 1, 10_000, 'b to receive');
    const bUrl = b.url;
    await b.transport.stop();
    await waitFor(() => a.unreachable.includes(2n), 10_000, 'a to report b unreachable');
    await waitFor(() => a.transport.activeSince(2n) === undefined, 5000, 'b inactive');
    const b2 = await makeMember({ id: 2n, tls, listenUrl: bUrl });
    members.push(b2);
    let seq = 2;
    await waitFor(
      () => {
        a.transport.send([heartbeat(1n, 2n, seq++)]);
        return b2.received.length > 0;
      },
      10_000,
      'the restarted b to receive',
    );
    expect(a.transport.activeSince(2n)).toBeDefined();
    expect(a.logs.some((l) => l.level === 'warn' && l.msg.startsWith('peer became inactive'))).toBe(
      true,
    );
    expect(a.transport.metrics().peers.get(2n)?.sendFailures).toBeGreaterThan(0);
  });

  it('drops and counts messages beyond a full queue', async () => {
    const tls = await mtls();
    const a = await makeMember({ id: 1n, tls, queueLimits: { messageQueueMax: 8 } });
    const b = await makeMember({ id: 2n, tls });
    members.push(a, b);
    a.transport.addPeer(2n, [b.url]);
    // Still dialing: the queue holds 8, the rest overflows.
    a.transport.send(Array.from({ length: 100 }, (_, i) => heartbeat(1n, 2n, i)));
    expect(a.transport.metrics().peers.get(2n)?.droppedOverflow).toBe(92);
    expect(a.unreachable).toEqual([]); // reported on the next turn, once per send()
    await waitFor(() => a.unreachable.length > 0, 1000, 'the unreachable report');
    expect(a.unreachable).toEqual([2n]);
    expect(a.logs.some((l) => l.msg.includes('sending buffer is full'))).toBe(true);
    await waitFor(() => b.received.length === 8, 10_000, 'the 8 queued messages');
    expect(b.received.map((m) => m.commit)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await new Promise((r) => setTimeout(r, 100));
    expect(b.received.length).toBe(8);
  });

  it('bounds frames: drops oversized ones locally, resets a stream carrying one', async () => {
    const tls = await mtls();
    const a = await makeMember({ id: 1n, tls });
    const b = await makeMember({ id: 2n, tls, queueLimits: { maxFrameBytes: 1000 } });
    members.push(a, b);
    connectAll([a, b]);
    // b refuses a 2000-byte frame from a: the stream resets, a reconnects, later
    // messages flow again.
    a.transport.send([append(1n, 2n, 2, 2000)]);
    await waitFor(() => hasLog(b, 'warn', 'reset a malformed peer stream'), 10_000, 'the reset');
    await waitFor(
      () => (a.transport.send([heartbeat(1n, 2n, 5)]), b.received.some((m) => m.commit === 5)),
      10_000,
      'delivery after the reset',
    );
    expect(b.received.some((m) => m.type === MessageType.App)).toBe(false);
    // b itself never sends what its peer could not take under its own limit.
    b.transport.send([append(2n, 1n, 2, 2000)]);
    expect(b.transport.metrics().peers.get(1n)?.droppedOverflow).toBe(1);
    expect(hasLog(b, 'error', 'above maxFrameBytes')).toBe(true);
  });

  it('answers /members and /version, and fetchMembers rotates past a dead URL', async () => {
    const tls = await mtls();
    const listed = [
      {
        id: 'a1',
        name: 'n1',
        peerURLs: ['https://127.0.0.1:2380'],
        clientURLs: [],
        isLearner: false,
      },
      {
        id: 'ffffffffffffffff',
        name: 'n2',
        peerURLs: ['https://127.0.0.2:2380'],
        clientURLs: ['x'],
        isLearner: true,
      },
    ];
    const a = await makeMember({ id: 0xa1n, tls, members: listed });
    members.push(a);
    const got = await fetchMembers(['https://127.0.0.1:1', a.url], tls, { timeoutMs: 3000 });
    expect(got.url).toBe(a.url);
    expect(got.clusterId).toBe(CLUSTER_ID);
    expect(got.memberId).toBe(0xa1n);
    expect(got.members).toEqual([
      { ...listed[0], id: 0xa1n },
      { ...listed[1], id: 0xffff_ffff_ffff_ffffn },
    ]);
    const v = await fetchVersion([a.url], tls);
    expect(v.version).toEqual({ etcdserver: '3.5.17', etcdcluster: '3.5.0' });
    await expect(fetchMembers(['https://127.0.0.1:1'], tls, { timeoutMs: 1000 })).rejects.toThrow(
      /could not get \/members from any peer/,
    );
  });
});
