/**
 * The one list of test faults: switches that each break exactly one safety rule on
 * purpose, so a test can show that its checker catches the break ("the tests bite",
 * docs/architecture.md §5). Every switch is listed here once, with what it breaks and
 * which tests turn it on. A module takes the `Pick` of TestFaults it honours, under the
 * option name `bugs`; nothing else defines a switch. Never set in production: a member
 * that has one on logs so at start.
 *
 * Real processes (the Jepsen tier) turn switches on through the environment, which only
 * the process shell reads (testFaultsFromEnv):
 *   TSETCD_UNSAFE_TEST_BUGS=name[,name]   names from ENV_SWITCHES
 *   TSETCD_TEST_POWER_CUT=1               powerCut
 *   TSETCD_TEST_FSYNC_EIO=1               fsyncEio
 *   TSETCD_TEST_SLOW_FSYNC=1              slowFsync
 * etcd's --unsafe-no-fsync is a real flag (config), not a test fault; the Jepsen bites
 * test combines it with powerCut.
 *
 * This lives in shared because production modules read it (raft, server, lease, apply,
 * embed) and production may not import src/testing.
 */
import { StartRefusal } from './errors.js';

export interface TestFaults {
  // raft: caught by the golden scenarios (test/raft/bugs.test.ts) or the Raft simulation.
  /** Count a vote response from an older term. */
  readonly acceptStaleVote?: boolean;
  /** Commit an entry of a previous term by counting its replicas (Raft paper Figure 8). */
  readonly commitPreviousTermByCount?: boolean;
  /** Answer ReadIndex with the commit index without a quorum heartbeat round. */
  readonly readIndexWithoutQuorum?: boolean;
  /** Let a read join the round already in flight instead of waiting for the next one. */
  readonly readJoinsInflightRound?: boolean;
  /** Count the leader's own entries toward commit before they are persisted. */
  readonly countUnpersistedLeaderEntries?: boolean;
  /** Let a new leader propose a membership change before earlier entries are applied. */
  readonly confChangeAtOnce?: boolean;
  /**
   * Count learners' acknowledgements toward the commit quorum as if they were voters.
   * Caught by Jepsen's member-learner fault (test/jepsen/bites.test.ts).
   */
  readonly learnerCountsToCommit?: boolean;

  // server: caught by the whole-server simulation (test/sim/server.test.ts) and Jepsen
  // (test/jepsen/bites.test.ts).
  /** A write is answered once it is in this member's WAL, before it commits. */
  readonly ackBeforeCommit?: boolean;
  /** Linearizable reads are served locally without a ReadIndex round. */
  readonly readWithoutReadIndex?: boolean;

  // lease: caught by Jepsen's lease-safety checker (test/jepsen/bites.test.ts).
  /**
   * A deposed leader keeps expiring leases (etcd #12528) and apply runs an expiry
   * whatever term proposed it, so a lease can end early.
   */
  readonly noLeaseFencing?: boolean;

  // storage, real processes only: caught with --unsafe-no-fsync by Jepsen's power cut.
  /**
   * WAL writes stay in the process's memory until their handle's sync
   * (storage/power-cut-file-layer.ts), so kill -9 loses what a power cut may lose.
   */
  readonly powerCut?: boolean;
  /**
   * Every WAL sync fails with EIO once `<data-dir>/test-fsync-eio` exists
   * (storage/sync-fault-file-layer.ts): the member must stop and acknowledge nothing
   * after it. Turned on by the Jepsen fsync-eio-leader fault (test/jepsen).
   */
  readonly fsyncEio?: boolean;
  /**
   * Every sync first waits the milliseconds written in `<data-dir>/test-slow-fsync`
   * while that file exists (storage/sync-fault-file-layer.ts): a slow disk, breaking no
   * safety rule but the fsync latency operators alert on. Turned on by the live
   * Prometheus test (test/integration/prometheus-live.test.ts, etcdHighFsyncDurations).
   */
  readonly slowFsync?: boolean;
}

/** The switches the Raft core honours (raft Config.bugs). */
export type RaftFaults = Pick<
  TestFaults,
  | 'acceptStaleVote'
  | 'commitPreviousTermByCount'
  | 'readIndexWithoutQuorum'
  | 'readJoinsInflightRound'
  | 'countUnpersistedLeaderEntries'
  | 'confChangeAtOnce'
  | 'learnerCountsToCommit'
>;

/** The switches the member core honours (EtcdServer, apply, the lease driver). */
export type MemberFaults = Pick<
  TestFaults,
  'ackBeforeCommit' | 'readWithoutReadIndex' | 'noLeaseFencing' | 'learnerCountsToCommit'
>;

/** The names TSETCD_UNSAFE_TEST_BUGS accepts, and the switch each turns on. */
export const ENV_SWITCHES = {
  'ack-before-commit': 'ackBeforeCommit',
  'read-without-readindex': 'readWithoutReadIndex',
  'no-lease-fencing': 'noLeaseFencing',
  'learner-counts': 'learnerCountsToCommit',
} as const satisfies Record<string, keyof TestFaults>;

export const UNSAFE_TEST_BUGS_ENV = 'TSETCD_UNSAFE_TEST_BUGS';
export const POWER_CUT_ENV = 'TSETCD_TEST_POWER_CUT';
export const FSYNC_EIO_ENV = 'TSETCD_TEST_FSYNC_EIO';
export const SLOW_FSYNC_ENV = 'TSETCD_TEST_SLOW_FSYNC';

/**
 * The switches a real process's environment turns on. An unknown name in
 * TSETCD_UNSAFE_TEST_BUGS is refused, so a misspelt switch never passes for a suite
 * that does not bite.
 */
export function testFaultsFromEnv(env: Readonly<Record<string, string | undefined>>): TestFaults {
  const faults: { -readonly [K in keyof TestFaults]: TestFaults[K] } = {};
  for (const raw of (env[UNSAFE_TEST_BUGS_ENV] ?? '').split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    if (!Object.hasOwn(ENV_SWITCHES, name)) {
      throw new StartRefusal(
        'test-faults',
        `${UNSAFE_TEST_BUGS_ENV}: unknown switch '${name}' (known: ${Object.keys(ENV_SWITCHES).join(', ')})`,
      );
    }
    faults[ENV_SWITCHES[name as keyof typeof ENV_SWITCHES]] = true;
  }
  if (env[POWER_CUT_ENV] === '1') faults.powerCut = true;
  if (env[FSYNC_EIO_ENV] === '1') faults.fsyncEio = true;
  if (env[SLOW_FSYNC_ENV] === '1') faults.slowFsync = true;
  return faults;
}

/**
 * The environment names of the switches that are on ('power-cut' for powerCut, 'fsync-eio'
 * for fsyncEio, 'slow-fsync' for slowFsync), in the order of ENV_SWITCHES: what a member
 * reports at start ([] when none).
 */
export function faultNames(faults: TestFaults): string[] {
  const on: string[] = Object.entries(ENV_SWITCHES)
    .filter(([, key]) => faults[key] === true)
    .map(([name]) => name);
  if (faults.powerCut === true) on.push('power-cut');
  if (faults.fsyncEio === true) on.push('fsync-eio');
  if (faults.slowFsync === true) on.push('slow-fsync');
  return on;
}
