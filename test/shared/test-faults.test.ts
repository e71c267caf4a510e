// The one list of test faults (src/shared/test-faults.ts): the environment of a real
// process turns on exactly the named switches, an unknown name refuses the start (a
// misspelt switch must not look like a suite that does not bite), and the names the
// Jepsen bites test sets are the ones the list accepts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { StartRefusal } from '../../src/shared/errors.js';
import { ENV_SWITCHES, faultNames, testFaultsFromEnv } from '../../src/shared/test-faults.js';

describe('test faults from the environment', () => {
  it('turns on the named switches and nothing else', () => {
    expect(testFaultsFromEnv({})).toEqual({});
    expect(testFaultsFromEnv({ TSETCD_UNSAFE_TEST_BUGS: '' })).toEqual({});
    expect(testFaultsFromEnv({ TSETCD_UNSAFE_TEST_BUGS: 'ack-before-commit' })).toEqual({ ackBeforeCommit: true });
    const two = testFaultsFromEnv({ TSETCD_UNSAFE_TEST_BUGS: ' read-without-readindex , no-lease-fencing', TSETCD_TEST_POWER_CUT: '1' });
    expect(two).toEqual({ readWithoutReadIndex: true, noLeaseFencing: true, powerCut: true });
    // The names a member reports at start ("UNSAFE TEST SWITCH <name> IS ON").
    expect(faultNames(two)).toEqual(['read-without-readindex', 'no-lease-fencing', 'power-cut']);
    expect(faultNames({})).toEqual([]);
    expect(testFaultsFromEnv({ TSETCD_UNSAFE_TEST_BUGS: 'learner-counts' })).toEqual({ learnerCountsToCommit: true });
    expect(testFaultsFromEnv({ TSETCD_TEST_POWER_CUT: '0' })).toEqual({});
    const eio = testFaultsFromEnv({ TSETCD_TEST_FSYNC_EIO: '1' });
    expect(eio).toEqual({ fsyncEio: true });
    expect(faultNames(eio)).toEqual(['fsync-eio']);
    const slow = testFaultsFromEnv({ TSETCD_TEST_SLOW_FSYNC: '1' });
    expect(slow).toEqual({ slowFsync: true });
    expect(faultNames(slow)).toEqual(['slow-fsync']);
  });

  it('refuses to start on a switch it does not know', () => {
    const start = (): unknown => testFaultsFromEnv({ TSETCD_UNSAFE_TEST_BUGS: 'ack-before-comit' });
    expect(start).toThrow(StartRefusal);
    expect(start).toThrow(/unknown switch 'ack-before-comit'/);
  });

  it('accepts every switch name the Jepsen bites test sets', () => {
    const bites = readFileSync(new URL('../jepsen/bites.test.ts', import.meta.url), 'utf8');
    const used = [...bites.matchAll(/TSETCD_UNSAFE_TEST_BUGS: '([^']+)'/g)].map((m) => m[1] ?? '');
    expect(used.length).toBeGreaterThanOrEqual(3);
    for (const name of used) expect(Object.keys(ENV_SWITCHES)).toContain(name);
  });
});
