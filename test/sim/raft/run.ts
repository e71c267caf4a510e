/**
 * One simulation seed from start to verdict, shared by the simulation test, the
 * "tests bite" test and the paper-property tests.
 */
import type { RaftBugs } from '../../../src/raft/index.js';
import { SimCluster } from './cluster.js';
import type { Property } from './invariants.js';

export interface SeedResult {
  readonly ok: boolean;
  readonly error: string;
  readonly stats: SimCluster['stats'];
  readonly counts: Record<Property, number>;
  readonly livenessTicks: number;
}

export const LIVENESS_MAX_TICKS = 300;

export function runSeed(seed: number, events: number, bugs?: RaftBugs, checks?: ReadonlySet<Property>): SeedResult {
  const c = new SimCluster({ seed, events, ...(bugs === undefined ? {} : { bugs }), ...(checks === undefined ? {} : { checks }) });
  let livenessTicks = 0;
  try {
    c.run(events);
    livenessTicks = c.checkLiveness(LIVENESS_MAX_TICKS);
    return { ok: true, error: '', stats: c.stats, counts: c.checker.counts, livenessTicks };
  } catch (err) {
    const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return { ok: false, error: `${msg} (event ${c.eventsRun}, t=${c.now}, ${c.describe()})`, stats: c.stats, counts: c.checker.counts, livenessTicks };
  }
}
