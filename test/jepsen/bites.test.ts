/**
 * Proof that the suite bites (docs/architecture.md §5): each test-only safety switch of
 * tsetcd, turned on, must make the matching Jepsen run fail by a safety checker's
 * verdict, and by nothing else.
 *
 * | switch                               | run                                   | caught by                          |
 * |--------------------------------------|---------------------------------------|------------------------------------|
 * | ack-before-commit                    | register, leader isolated             | linearizability / revision order   |
 * | read-without-readindex               | register, leader isolated             | linearizability (stale reads)      |
 * | no-lease-fencing                     | lease, leader paused past the TTL     | lease safety (early expiry)        |
 * | learner-counts                       | register, member-learner              | writes acknowledged without a      |
 * |                                      |                                       | quorum of voters (criteria.ts)     |
 *
 * Only a safety verdict counts: the workload checker's `valid: false` (linearizability,
 * serializability, lease safety, and lost acknowledged writes, which the versioned
 * register rejects) or a write acknowledged inside a quorumless window: a
 * run that did not converge, a HashKV mismatch, a member that exited or refused to come
 * back are liveness or harness problems that a slow machine can produce with a switch
 * that does nothing, so they never count as catching it.
 *
 * `--unsafe-no-fsync` with a power cut of every member is not here: nothing was ever
 * fsynced, so every member loses its whole WAL segment and refuses to start ("segment
 * has no intact header batch"); no member serves, so no checker can see the lost writes
 * (measured: 3 of 3 runs, verdict valid, all members refused). The whole-server
 * simulation's negative control "WAL without fsync" (test/sim/server.test.ts) covers it.
 *
 * Before any run, a switch must prove it exists: one member started with it must log
 * `UNSAFE TEST SWITCH <name> IS ON` at start-up (a name in a comment of dist/ is not a
 * switch), so a missing switch is never mistaken for a suite that does not bite.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { destroyLiveClusters } from './cluster/cluster.js';
import { startMember } from '../helpers/processes.js';
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
  /** Switch names the server must report at start-up ("UNSAFE TEST SWITCH <name> IS ON"). */
  readonly reports: readonly string[];
  readonly env: Record<string, string>;
  readonly workload: () => Workload;
  readonly faults: readonly FaultKind[];
  readonly holdMs?: readonly [number, number];
  readonly durationMs: number;
}

const SWITCHES: readonly Switch[] = [
  {
    name: 'ack-before-commit',
    reports: ['ack-before-commit'],
    env: { TSETCD_UNSAFE_TEST_BUGS: 'ack-before-commit' },
    workload: () => registerWorkload(),
    faults: ['partition-leader'],
    durationMs: 15_000,
  },
  {
    name: 'read-without-readindex',
    reports: ['read-without-readindex'],
    env: { TSETCD_UNSAFE_TEST_BUGS: 'read-without-readindex' },
    workload: () => registerWorkload(),
    faults: ['partition-leader'],
    durationMs: 15_000,
  },
  {
    name: 'no-lease-fencing',
    reports: ['no-lease-fencing'],
    env: { TSETCD_UNSAFE_TEST_BUGS: 'no-lease-fencing' },
    workload: () => leaseWorkload({ ttlSeconds: 3 }),
    faults: ['pause'],
    holdMs: [5000, 6000],
    durationMs: 20_000,
  },
  {
    // A learner's acknowledgement counted toward commit: writes commit while one voter
    // of two runs beside the learner (nemesis/membership.ts).
    name: 'learner-counts',
    reports: ['learner-counts'],
    env: { TSETCD_UNSAFE_TEST_BUGS: 'learner-counts' },
    workload: () => registerWorkload(),
    faults: ['member-learner'],
    durationMs: 26_000,
  },
];

/** Starts one member with the switch on; the switch names it did not report. */
async function unreportedSwitches(sw: Switch): Promise<string[]> {
  const member = await startMember({
    target: 'tsetcd',
    name: 'switch-check',
    env: sw.env,
  });
  try {
    const log = readFileSync(member.logPath, 'utf8');
    return sw.reports.filter((name) => !log.includes(`UNSAFE TEST SWITCH ${name} IS ON`));
  } finally {
    await member.dispose();
  }
}

/**
 * Safety verdicts only: the workload's checker found the history invalid, or a write was
 * acknowledged with no quorum of voters running (run/criteria.ts quorumlessProblems).
 */
function caughtForSafety(r: RunResult): string | undefined {
  if (r.verdict.valid === false) return `checker: ${r.verdict.summary}`;
  return r.problems.find((p) => p.includes('acknowledged with no quorum of voters'));
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
        const missing = await unreportedSwitches(sw);
        if (missing.length > 0) {
          throw new Error(
            `switch missing: a tsetcd started with it never logged "UNSAFE TEST SWITCH ${missing.join('/')} IS ON"; add the switch, then this test shows whether the suite catches it`,
          );
        }
        // A bite depends on timing (which member a fault hits, what it was doing), so a
        // switch gets up to ATTEMPTS runs with fresh seeds; a checker must reject one.
        // Retrying cannot make a harmless switch look caught: only a safety verdict counts.
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
