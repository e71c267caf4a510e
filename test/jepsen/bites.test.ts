/**
 * Proof that the suite bites (issue 7): each test-only safety switch of tsetcd, turned on,
 * must make the matching Jepsen run fail, and fail for a safety reason (the checker, or a
 * member that cannot restart after losing acknowledged data), not for noise.
 *
 * | switch                               | run                                   | caught by                    |
 * |--------------------------------------|---------------------------------------|------------------------------|
 * | ack-before-commit                    | register, leader isolated             | WGL / revision order         |
 * | read-without-readindex               | register, leader isolated             | WGL (stale reads)            |
 * | --unsafe-no-fsync + power cut        | register, all members killed at once  | lost writes or refusal       |
 * | no-lease-fencing                     | lease, leader paused past the TTL     | lease safety (early expiry)  |
 *
 * A switch that tsetcd does not know makes its test fail with "switch missing" (the
 * built server is searched for the switch's name), so a missing switch is never mistaken
 * for a suite that does not bite.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { destroyLiveClusters } from './cluster/cluster.js';
import { REPO_ROOT } from '../helpers/processes.js';
import { requireTools } from '../helpers/require-tool.js';
import type { FaultKind } from './nemesis/faults.js';
import { seedFor } from './run/profiles.js';
import type { RunResult } from './run/runner.js';
import { runJepsen } from './run/runner.js';
import { leaseWorkload } from './workloads/lease.js';
import { registerWorkload } from './workloads/register.js';
import type { Workload } from './workloads/workload.js';

interface Switch {
  readonly name: string;
  /** Text that must appear in the built server for the switch to exist. */
  readonly marker: string;
  readonly env: Record<string, string>;
  readonly unsafeNoFsync?: boolean;
  readonly workload: () => Workload;
  readonly faults: readonly FaultKind[];
  readonly holdMs?: readonly [number, number];
  readonly durationMs: number;
}

const SWITCHES: readonly Switch[] = [
  {
    name: 'ack-before-commit',
    marker: 'ack-before-commit',
    env: { TSETCD_UNSAFE_TEST_BUGS: 'ack-before-commit' },
    workload: () => registerWorkload(),
    faults: ['partition-leader'],
    durationMs: 15_000,
  },
  {
    name: 'read-without-readindex',
    marker: 'read-without-readindex',
    env: { TSETCD_UNSAFE_TEST_BUGS: 'read-without-readindex' },
    workload: () => registerWorkload(),
    faults: ['partition-leader'],
    durationMs: 15_000,
  },
  {
    name: 'unsafe-no-fsync (power cut)',
    marker: 'TSETCD_TEST_POWER_CUT',
    env: {},
    unsafeNoFsync: true,
    workload: () => registerWorkload(),
    faults: ['power-cut'],
    durationMs: 15_000,
  },
  {
    name: 'no-lease-fencing',
    marker: 'no-lease-fencing',
    env: { TSETCD_UNSAFE_TEST_BUGS: 'no-lease-fencing' },
    workload: () => leaseWorkload({ ttlSeconds: 3 }),
    faults: ['pause'],
    holdMs: [5000, 6000],
    durationMs: 20_000,
  },
];

function builtServerMentions(marker: string): boolean {
  const root = join(REPO_ROOT, 'dist', 'src');
  const walk = (dir: string): boolean =>
    readdirSync(dir).some((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return walk(p);
      return name.endsWith('.js') && readFileSync(p, 'utf8').includes(marker);
    });
  return walk(root);
}

/** Safety failures only: the checker said invalid, or members could not come back. */
function caughtForSafety(r: RunResult): string | undefined {
  if (r.verdict.valid === false) return `checker: ${r.verdict.summary}`;
  const refusal = r.problems.find((p) =>
    /exited by itself|did not converge|HashKV|no member is running/.test(p),
  );
  return refusal;
}

const only = process.env['JEPSEN_ONLY']?.split(',').filter((s) => s !== '');
const selected = SWITCHES.filter((s) => only === undefined || only.some((o) => s.name.includes(o)));

afterEach(destroyLiveClusters);

const ATTEMPTS = 3;

describe('the suite bites: every unsafe switch is detected', () => {
  for (const sw of selected) {
    it(
      sw.name,
      async (ctx) => {
        requireTools(ctx, 'root', 'ip', 'iptables');
        if (!builtServerMentions(sw.marker)) {
          throw new Error(
            `switch missing: the built tsetcd (dist/src) never mentions "${sw.marker}"; add the switch, then this test shows whether the suite catches it`,
          );
        }
        // A bite depends on timing (which member a fault hits, what it was doing), so a
        // switch gets up to ATTEMPTS runs with fresh seeds; it must be caught in one.
        const reports: string[] = [];
        let caught: string | undefined;
        for (let attempt = 0; attempt < ATTEMPTS && caught === undefined; attempt++) {
          const result = await runJepsen({
            name: `bites-${sw.name.replace(/[^a-z-]/g, '')}`,
            seed: seedFor(attempt === 0 ? sw.name : `${sw.name}#${attempt}`),
            cluster: {
              size: 3,
              heartbeatMs: 100,
              electionMs: 1000,
              snapshotCount: 100_000,
              env: sw.env,
              ...(sw.unsafeNoFsync === true ? { unsafeNoFsync: true } : {}),
            },
            workload: sw.workload,
            faults: sw.faults,
            durationMs: sw.durationMs,
            ...(sw.holdMs === undefined ? {} : { holdMs: sw.holdMs }),
          });
          console.log(result.report);
          reports.push(result.report);
          caught = caughtForSafety(result);
        }
        expect(
          caught,
          `switch ${sw.name} was NOT detected by ${ATTEMPTS} Jepsen runs:\n${reports.join('\n')}`,
        ).toBeDefined();
      },
      ATTEMPTS * 150_000,
    );
  }
});
