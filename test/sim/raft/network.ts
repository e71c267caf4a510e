/**
 * SimNetwork: the fault model of the links between simulated members. Every send
 * decides the message's fate from the seeded Rng: dropped (with the seed's drop rate,
 * 0-20%), duplicated, and delayed by a random latency (which reorders messages), a
 * few of them by a long one.
 * Partitions are a set of blocked directed links, so they can be symmetric or
 * asymmetric; a blocked link drops at delivery time (a message already in flight
 * when the partition starts is lost too).
 */
import type { Rng } from '../../../src/shared/rng.js';

export interface NetworkParams {
  dropRate: number;
  dupRate: number;
  minDelay: number;
  maxDelay: number;
  /** Share of messages delayed by 20-320 time units (several election timeouts' worth). */
  longDelayRate: number;
}

export class SimNetwork {
  private readonly blocked = new Set<string>();

  constructor(
    private readonly rng: Rng,
    public params: NetworkParams,
  ) {}

  /** Delivery delays for one send: [] when dropped, two entries when duplicated. */
  fate(): number[] {
    const p = this.params;
    if (this.rng.float() < p.dropRate) return [];
    // A few messages take the long way (a stalled connection): stale votes, acks and
    // appends then arrive in later terms, where the subtle election bugs live.
    const delay = (): number =>
      this.rng.float() < p.longDelayRate
        ? 20 + this.rng.int(300)
        : p.minDelay + this.rng.int(p.maxDelay - p.minDelay + 1);
    const out = [delay()];
    if (this.rng.float() < p.dupRate) out.push(delay());
    return out;
  }

  canDeliver(from: bigint, to: bigint): boolean {
    return !this.blocked.has(`${from}>${to}`);
  }

  /** Cut every link between the two groups (asymmetric: only a→b). */
  partition(a: readonly bigint[], b: readonly bigint[], symmetric: boolean): void {
    for (const x of a) {
      for (const y of b) {
        if (x === y) continue;
        this.blocked.add(`${x}>${y}`);
        if (symmetric) this.blocked.add(`${y}>${x}`);
      }
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  isPartitioned(): boolean {
    return this.blocked.size > 0;
  }
}
