import { expect, it } from 'vitest';
import { runJepsen } from '../run/runner.js';
import { registerWorkload } from '../workloads/register.js';
import { appendWorkload } from '../workloads/append.js';
import { leaseWorkload } from '../workloads/lease.js';

it('smoke', async () => {
  const r = await runJepsen({
    name: 'smoke-register-kill',
    seed: Number(process.env['JEPSEN_SEED'] ?? 1),
    cluster: { size: 3, heartbeatMs: 100, electionMs: 1000, snapshotCount: 100000, env: { TSETCD_UNSAFE_TEST_BUGS: process.env['BUGS'] ?? '' }, unsafeNoFsync: process.env['NOFSYNC'] === '1' },
    workload: () => (process.env['WL'] === 'append' ? appendWorkload() : process.env['WL'] === 'lease' ? leaseWorkload() : registerWorkload()),
    faults: (process.env['FAULTS'] ?? 'kill').split(',') as never,
    durationMs: Number(process.env['DUR'] ?? 20000),
  });
  console.log(r.report);
  expect(r.passed).toBe(true);
});
