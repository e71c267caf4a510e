/**
 * The link faults bite on a real cluster (test/jepsen/README.md "The fault proxy"): with
 * every peer link through the fault proxies, a cluster elects and serves; delaying the
 * leader's outbound links by twice the election timeout makes the followers elect another
 * leader (a higher term with a different leader) while the delay holds.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/shared/rng.js';
import { requireTools } from '../helpers/require-tool.js';
import { Cluster, destroyLiveClusters, sleep } from './cluster/cluster.js';
import { findLeader } from './cluster/status.js';
import { startFault } from './nemesis/faults.js';
import { bytes } from './workloads/context.js';

afterEach(destroyLiveClusters);

describe('link faults', () => {
  it('a 2x election-timeout delay on the leader links changes the leader', async (ctx) => {
    requireTools(ctx, 'root', 'ip', 'iptables');
    const cluster = await Cluster.start({
      size: 3,
      heartbeatMs: 100,
      electionMs: 1000,
      snapshotCount: 100_000,
      faultProxySeed: 17,
    });
    try {
      const before = await findLeader(cluster, 10_000);
      expect(before).toBeDefined();
      const put = await before?.member.admin().put({ key: bytes('k'), value: bytes('v') });
      expect(put?.ok).toBe(true);
      const notes: string[] = [];
      const fault = await startFault('link-slow-leader-over', {
        cluster,
        rng: new SeededRng(17),
        target: 'leader',
        note: (t) => notes.push(t),
        now: () => 0,
      });
      expect(fault.targets).toEqual([before?.member.name]);
      let after: Awaited<ReturnType<typeof findLeader>>;
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        after = await findLeader(cluster, 1000);
        if (after !== undefined && after.term > (before?.term ?? 0) && after.member !== before?.member) break;
        await sleep(200);
      }
      await fault.heal();
      expect(after?.term ?? 0).toBeGreaterThan(before?.term ?? 0);
      expect(after?.member.name).not.toBe(before?.member.name);
      const stats = await cluster.network.linkStats();
      const delayed = Object.values(stats).reduce((n, s) => n + s.delayed, 0);
      expect(delayed).toBeGreaterThan(0);
    } finally {
      await cluster.destroy();
    }
  }, 90_000);
});
