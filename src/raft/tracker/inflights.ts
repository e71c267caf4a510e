/**
 * Inflights: the MsgApp messages sent to one follower in StateReplicate and not yet
 * acknowledged, as a ring buffer of (last index, bytes). It bounds the pipeline by
 * count (maxInflightMsgs) and by bytes (maxInflightBytes, 0 = no byte limit).
 *
 * Invariant: indexes in the ring increase strictly from start to the end; 0 <= count <= size.
 */
import { AssertionError, assert } from '../../shared/assert.js';

export class Inflights {
  private start = 0;
  private count = 0;
  private bytes = 0;
  private readonly indexes: number[];
  private readonly sizes: number[];

  constructor(
    private readonly size: number,
    private readonly maxBytes: number,
  ) {
    assert(size > 0, 'inflights: size must be positive');
    this.indexes = new Array<number>(size).fill(0);
    this.sizes = new Array<number>(size).fill(0);
  }

  add(index: number, bytes: number): void {
    assert(!this.full(), 'inflights: add to a full window');
    if (this.count > 0) {
      const lastAt = (this.start + this.count - 1) % this.size;
      if (!((this.indexes[lastAt] ?? 0) < index)) {
        throw new AssertionError(`inflights: index ${index} not increasing`);
      }
    }
    const at = (this.start + this.count) % this.size;
    this.indexes[at] = index;
    this.sizes[at] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Free every inflight message whose last index is <= to. */
  freeLE(to: number): void {
    while (this.count > 0) {
      const idx = this.indexes[this.start] ?? 0;
      if (idx > to) break;
      this.bytes -= this.sizes[this.start] ?? 0;
      this.start = (this.start + 1) % this.size;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  /** Free the oldest inflight message (a heartbeat response proved the follower alive). */
  freeFirstOne(): void {
    if (this.count === 0) return;
    this.freeLE(this.indexes[this.start] ?? 0);
  }

  full(): boolean {
    return this.count === this.size || (this.maxBytes !== 0 && this.bytes >= this.maxBytes);
  }

  length(): number {
    return this.count;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}
