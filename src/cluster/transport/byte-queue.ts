/**
 * A FIFO of received bytes that hands out exact-length pieces: the building block of
 * the frame and snapshot decoders.
 *
 * Chunks are kept as a list and joined only when a piece spans several of them, so a
 * multi-MiB frame arriving in 16 KiB HTTP/2 DATA frames costs one copy, not a
 * quadratic number. A piece inside one chunk is a zero-copy view of it.
 * Invariant: length === the sum of the lengths of the chunks held.
 */
import { assert } from '../../shared/assert.js';

export class ByteQueue {
  private readonly chunks: Buffer[] = [];
  private held = 0;

  get length(): number {
    return this.held;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.held += chunk.length;
  }

  /** Remove and return exactly n bytes; n must be <= length. */
  take(n: number): Buffer {
    assert(n >= 0 && n <= this.held, `byte queue: take(${n}) of ${this.held}`);
    const first = this.chunks[0];
    if (first === undefined) return Buffer.alloc(0);
    if (first.length >= n) {
      this.held -= n;
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const p = this.chunks[0];
      assert(p !== undefined, 'byte queue: underrun');
      const want = n - filled;
      if (p.length <= want) {
        p.copy(out, filled);
        filled += p.length;
        this.chunks.shift();
      } else {
        p.copy(out, filled, 0, want);
        filled += want;
        this.chunks[0] = p.subarray(want);
      }
    }
    this.held -= n;
    return out;
  }
}
