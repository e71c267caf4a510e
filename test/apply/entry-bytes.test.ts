// Entry payloads (src/apply/request.ts encodeRequest) are kept by the Raft log until a
// snapshot compacts it, so they must not keep Node's 8 KiB Buffer pool chunks alive:
// encoded among short-lived pool allocations, 1,000 entries of 1 KiB hold about their
// own size of ArrayBuffers, not a pool chunk each.
import { describe, expect, it } from 'vitest';
import { decodeRequest, encodeRequest, RequestKind } from '../../src/apply/request.js';

describe('entry bytes', () => {
  it('1,000 entries of 1 KiB encoded among pool allocations hold ~1 MiB of ArrayBuffers', () => {
    const entries: Uint8Array[] = [];
    const churn: Buffer[] = [];
    for (let i = 0; i < 1000; i++) {
      churn.push(Buffer.allocUnsafe(700)); // a request buffer from the pool, dropped soon
      const payload = Buffer.alloc(1024, i & 0xff);
      entries.push(encodeRequest(RequestKind.Put, BigInt(i + 1), payload, i % 2 === 0 ? { username: '', revision: 0 } : undefined));
      if (churn.length > 4) churn.shift();
    }
    const held = new Set(entries.map((e) => e.buffer));
    const heldBytes = [...held].reduce((n, b) => n + b.byteLength, 0);
    const own = entries.reduce((n, e) => n + e.length, 0);
    // A pool chunk each would be ~8 KiB per 1 KiB entry (here ~1.7 entries a chunk).
    expect(heldBytes).toBeLessThan(own * 1.3);
    entries.forEach((e, i) => {
      const d = decodeRequest(e);
      expect(d.id).toBe(BigInt(i + 1));
      expect(Buffer.from(d.payload).equals(Buffer.alloc(1024, i & 0xff))).toBe(true);
    });
  });
});
