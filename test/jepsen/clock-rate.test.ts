/**
 * The clock-rate fault bites (test/jepsen/README.md "Clock rate"): on a 3-member cluster
 * whose members run under libfaketime with the monotonic clock faked too, the leader's
 * clocks are set to 2x. A client then sees the remaining TTL of a lease shrink about
 * twice as fast as its own clock, a lease's key vanishes before its TTL has passed on the
 * client's clock (but not before half of it), and the leader's HTTP Date runs ahead. Back
 * at 1x the TTL shrinks at the client's pace again, without a jump, and every member
 * still agrees on the revision.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/shared/rng.js';
import { requireTools } from '../helpers/require-tool.js';
import type { ClusterMember } from './cluster/cluster.js';
import { Cluster, destroyLiveClusters, libfaketimePath, sleep } from './cluster/cluster.js';
import { findLeader, statuses } from './cluster/status.js';
import { startClockRate } from './nemesis/faults.js';
import { bytes } from './workloads/context.js';

afterEach(destroyLiveClusters);

async function ttlOf(m: ClusterMember, id: number): Promise<number> {
  const r = await m.admin().unary<{ TTL?: string | number }>('Lease', 'LeaseTimeToLive', { ID: id }, { deadlineMs: 3000 });
  if (!r.ok) throw new Error(`LeaseTimeToLive ${id}: ${r.error.details}`);
  return Number(r.value.TTL ?? -1);
}

async function grant(m: ClusterMember, id: number, ttl: number): Promise<void> {
  const r = await m.admin().unary('Lease', 'LeaseGrant', { ID: id, TTL: ttl }, { deadlineMs: 3000 });
  if (!r.ok) throw new Error(`LeaseGrant ${id}: ${r.error.details}`);
}

/** The TTL lost over `ms` of the client's time. */
async function ttlDrop(m: ClusterMember, id: number, ms: number): Promise<number> {
  const before = await ttlOf(m, id);
  await sleep(ms);
  return before - (await ttlOf(m, id));
}

describe('clock rate', () => {
  it('a leader clock at 2x makes lease TTLs shrink twice as fast, safely', async (ctx) => {
    requireTools(ctx, 'root', 'ip', 'iptables');
    libfaketimePath();
    const cluster = await Cluster.start({
      size: 3,
      heartbeatMs: 100,
      electionMs: 1000,
      snapshotCount: 100_000,
      faketime: true,
      fakeMonotonic: true,
    });
    try {
      const found = await findLeader(cluster, 10_000);
      expect(found).toBeDefined();
      const leader = found?.member as ClusterMember;
      await grant(leader, 1001, 60);
      // Real clocks: about 3 s lost in 3 s (TTLs are whole seconds).
      const real = await ttlDrop(leader, 1001, 3000);
      expect(real).toBeGreaterThanOrEqual(2);
      expect(real).toBeLessThanOrEqual(4);

      const fault = await startClockRate(
        { cluster, rng: new SeededRng(5), target: 'leader', note: () => undefined, now: () => 0 },
        'leader',
        2,
      );
      expect(fault.targets).toEqual([leader.name]);
      await grant(leader, 1002, 8);
      const put = await leader.admin().put({ key: bytes('clock/k'), value: bytes('v'), lease: 1002 });
      expect(put.ok).toBe(true);
      const putAt = Date.now();
      // 2x: about 6 s of lease lost in 3 s of the client's time.
      const fast = await ttlDrop(leader, 1001, 3000);
      expect(fast).toBeGreaterThanOrEqual(5);
      expect(fast).toBeLessThanOrEqual(8);
      const wallAhead = await leader.wallClockOffsetS();
      expect(wallAhead ?? 0).toBeGreaterThanOrEqual(2);
      // The 8 s lease ends after about 4 s of the client's time: before its TTL, and
      // never before half of it (a committed revoke from the 2x leader).
      let goneAfterMs: number | undefined;
      while (Date.now() - putAt < 7500) {
        const r = await leader.admin().range({ key: bytes('clock/k') });
        if (r.ok && (r.value.kvs ?? []).length === 0) {
          goneAfterMs = Date.now() - putAt;
          break;
        }
        await sleep(100);
      }
      expect(goneAfterMs).toBeDefined();
      expect(goneAfterMs ?? 0).toBeGreaterThanOrEqual(3500);
      expect(goneAfterMs ?? 0).toBeLessThan(7500);

      await fault.heal();
      expect(leader.clockRate).toBe(1);
      const back = await ttlDrop(leader, 1001, 3000);
      expect(back).toBeGreaterThanOrEqual(2);
      expect(back).toBeLessThanOrEqual(4);
      const ss = await statuses(cluster);
      expect(ss.length).toBe(3);
      expect(new Set(ss.map((s) => s.revision)).size).toBe(1);
      expect(cluster.unexpectedExits).toEqual([]);
      console.log(`clock-rate bite: TTL lost in 3 s: ${real} at 1x, ${fast} at 2x, ${back} back at 1x; 8 s lease gone after ${goneAfterMs} ms; leader's Date ${wallAhead} s ahead`);
    } finally {
      await cluster.destroy();
    }
  }, 120_000);
});
