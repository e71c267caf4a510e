// The five safety properties of the Raft paper (Figure 3), one test each. Each runs
// simulated clusters (test/sim/raft: crashes, partitions, drops, membership changes,
// snapshots) with only that property's checker on, and asserts both that it held
// after every event and that it was actually exercised (the check ran many times).
import { describe, expect, it } from 'vitest';
import { runSeed } from '../sim/raft/run.js';
import type { Property } from '../sim/raft/invariants.js';

const SEEDS = [101, 202, 303, 404, 505, 606, 707, 808];
const EVENTS = 3000;

function holds(p: Property): number {
  let checks = 0;
  for (const seed of SEEDS) {
    const r = runSeed(seed, EVENTS, undefined, new Set([p]));
    expect(r.ok, `seed=${seed}: ${r.error}`).toBe(true);
    checks += r.counts[p];
  }
  return checks;
}

describe('Raft paper, Figure 3 properties', () => {
  it('Election Safety: at most one leader can be elected in a given term (§5.2)', () => {
    expect(holds('electionSafety')).toBeGreaterThan(1000);
  });

  it('Leader Append-Only: a leader never overwrites or deletes entries in its log (§5.3)', () => {
    expect(holds('leaderAppendOnly')).toBeGreaterThan(1000);
  });

  it('Log Matching: logs with an entry of the same index and term are identical up to it (§5.3)', () => {
    expect(holds('logMatching')).toBeGreaterThan(100);
  });

  it('Leader Completeness: a committed entry is in the log of every later leader (§5.4)', () => {
    expect(holds('leaderCompleteness')).toBeGreaterThan(SEEDS.length);
  });

  it('State Machine Safety: no two members apply different entries at one index (§5.4.3)', () => {
    expect(holds('stateMachineSafety')).toBeGreaterThan(1000);
  });
});
