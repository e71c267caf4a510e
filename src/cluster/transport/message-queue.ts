/**
 * The bounded queue of encoded messages waiting for one outbound stream.
 *
 * Bounded by count and by bytes (docs/architecture.md §6 rule 8). A push beyond either bound is
 * refused, and the caller drops the message and counts it: Raft retransmits what a
 * follower did not acknowledge, so dropping is safe, while buffering without bound is
 * not (etcd rafthttp does the same with streamBufSize).
 * Invariant: count === number of frames held, bytes === sum of their lengths.
 */
export class MessageQueue {
  private items: Buffer[] = [];
  private head = 0;
  private held = 0;

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {
    if (!(maxCount > 0 && maxBytes > 0))
      throw new RangeError('message queue: limits must be positive');
  }

  get count(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.held;
  }

  /**
   * Add a frame; false when it would exceed a bound. A single frame larger than
   * maxBytes is still taken into an empty queue, so one big append is never stuck.
   */
  push(frame: Buffer): boolean {
    if (this.count >= this.maxCount) return false;
    if (this.count > 0 && this.held + frame.length > this.maxBytes) return false;
    this.items.push(frame);
    this.held += frame.length;
    return true;
  }

  shift(): Buffer | undefined {
    if (this.head >= this.items.length) return undefined;
    const f = this.items[this.head];
    this.items[this.head] = EMPTY;
    this.head++;
    if (f !== undefined) this.held -= f.length;
    // Compact once the consumed prefix dominates, so memory stays O(count).
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return f;
  }

  /** Drop everything; returns how many frames were dropped. */
  clear(): number {
    const n = this.count;
    this.items = [];
    this.head = 0;
    this.held = 0;
    return n;
  }
}

const EMPTY = Buffer.alloc(0);
