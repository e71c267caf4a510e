/**
 * A leader whose WAL fsyncs fail (EIO) under the register workload, in the jepsen tier
 * (not a matrix row; about 25 s): the long profile's register-fsync-eio-long row with
 * 18 s of traffic (test/jepsen/README.md "A full disk and a failing fsync"). The leader
 * must exit by itself with code 2 and a fatal EIO line, a new leader must be elected,
 * the history must be linearizable with nothing acknowledged lost, and every matrix
 * criterion applies. The full-disk row stays in the long profile: the integration tier's
 * test/integration/disk-full.test.ts covers a full disk on real processes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { requireTools } from '../helpers/require-tool.js';
import { destroyLiveClusters } from './cluster/cluster.js';
import { longMatrix } from './run/profiles.js';
import { runJepsen } from './run/runner.js';

afterEach(destroyLiveClusters);

describe('fsync EIO on the leader', () => {
  it('the leader stops, another is elected, nothing acknowledged is lost', async (ctx) => {
    requireTools(ctx, 'root', 'ip', 'iptables');
    const row = longMatrix().find((r) => r.name === 'register-fsync-eio-long');
    expect(row).toBeDefined();
    if (row === undefined) return;
    const result = await runJepsen({ ...row, durationMs: 18_000 });
    console.log(result.report);
    expect(result.problems, result.report).toEqual([]);
    expect(result.report).toMatch(/fsync-eio-leader n\d WAL fsync EIO: exit code 2, tsetcd: fatal: .*EIO/);
    expect(result.passed).toBe(true);
  }, 120_000);
});
