/**
 * The transport's pure parts: frame decoding under any split of the byte stream, the
 * snapshot body format (round trip; every flipped byte, every truncation and trailing
 * bytes are detected), the bounded message queue and the reconnect backoff.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backoff } from '../../../src/cluster/transport/backoff.js';
import {
  FrameDecoder,
  frameHeader,
  PeerStreamCorruptError,
} from '../../../src/cluster/transport/frame.js';
import { MessageQueue } from '../../../src/cluster/transport/message-queue.js';
import {
  encodeSnapshotBody,
  SnapshotBodyReader,
} from '../../../src/cluster/transport/snapshot-codec.js';
import { SeededRng } from '../../../src/shared/rng.js';

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

async function* source(parts: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p;
}

async function bodyOf(
  header: Uint8Array,
  data: readonly Uint8Array[],
  chunk: number,
): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of encodeSnapshotBody(header, source(data), chunk)) out.push(Buffer.from(b));
  return Buffer.concat(out);
}

async function readBody(pieces: readonly Buffer[]): Promise<{ header: Buffer; data: Buffer }> {
  const reader = new SnapshotBodyReader(source(pieces) as AsyncIterable<Buffer>, {
    maxHeaderBytes: 1 << 20,
    maxChunkBytes: 1 << 20,
  });
  const header = await reader.readHeader();
  const data: Uint8Array[] = [];
  for await (const c of reader.chunks()) data.push(c);
  expect(reader.complete).toBe(true);
  return { header, data: Buffer.concat(data) };
}

describe('FrameDecoder', () => {
  it('returns the same frames however the stream is split', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (frames, cuts) => {
          const wire = Buffer.concat(
            frames.flatMap((f) => [frameHeader(f.length), Buffer.from(f)]),
          );
          const d = new FrameDecoder(1000);
          const got = splitAt(wire, cuts).flatMap((piece) => d.push(piece));
          expect(got.map((g) => Buffer.from(g).toString('hex'))).toEqual(
            frames.map((f) => Buffer.from(f).toString('hex')),
          );
          expect(d.pendingBytes).toBe(0);
        },
      ),
    );
  });

  it('refuses oversized and empty frames', () => {
    expect(() => new FrameDecoder(10).push(frameHeader(11))).toThrow(PeerStreamCorruptError);
    expect(() => new FrameDecoder(10).push(frameHeader(0))).toThrow(PeerStreamCorruptError);
    expect(new FrameDecoder(10).push(Buffer.concat([frameHeader(10), Buffer.alloc(9)]))).toEqual(
      [],
    );
  });
});

describe('snapshot body', () => {
  it('round-trips any data in any chunking and any split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        fc.array(fc.uint8Array({ maxLength: 500 }), { maxLength: 8 }),
        fc.integer({ min: 1, max: 600 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        async (header, data, chunk, cuts) => {
          const body = await bodyOf(header, data, chunk);
          const got = await readBody(splitAt(body, cuts));
          expect(got.header.equals(Buffer.from(header))).toBe(true);
          expect(got.data.equals(Buffer.concat(data))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('detects every flipped byte, every truncation and trailing bytes', async () => {
    const header = Buffer.from('a raft MsgSnap header');
    const data = [Buffer.from('0123456789'), Buffer.from('abcdefghijklmnopqrstuvwxyz')];
    const body = await bodyOf(header, data, 8);
    for (let i = 0; i < body.length; i++) {
      const bad = Buffer.from(body);
      bad[i] = (bad[i] ?? 0) ^ 0x10;
      await expect(readBody([bad]), `flip at ${i}`).rejects.toThrow(PeerStreamCorruptError);
    }
    for (let n = 0; n < body.length; n++) {
      await expect(readBody([body.subarray(0, n)]), `cut at ${n}`).rejects.toThrow(
        PeerStreamCorruptError,
      );
    }
    await expect(readBody([body, Buffer.from([0])])).rejects.toThrow(/after the trailer/);
    expect((await readBody([body])).data.equals(Buffer.concat(data))).toBe(true);
  });

  it('hands out no chunk before its checksum matched', async () => {
    const body = await bodyOf(
      Buffer.from('h'),
      [Buffer.from('good-chunk'), Buffer.from('bad--chunk')],
      10,
    );
    const bad = Buffer.from(body);
    const at = bad.indexOf('bad--chunk');
    bad[at] = 0x42;
    const reader = new SnapshotBodyReader(source([bad]) as AsyncIterable<Buffer>, {
      maxHeaderBytes: 100,
      maxChunkBytes: 100,
    });
    await reader.readHeader();
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const c of reader.chunks()) seen.push(Buffer.from(c).toString());
      })(),
    ).rejects.toThrow(/chunk 1 checksum mismatch/);
    expect(seen).toEqual(['good-chunk']);
  });

  it('refuses chunks above the limit before reading them', async () => {
    const body = await bodyOf(Buffer.from('h'), [Buffer.alloc(50)], 50);
    const reader = new SnapshotBodyReader(source([body]) as AsyncIterable<Buffer>, {
      maxHeaderBytes: 100,
      maxChunkBytes: 49,
    });
    await reader.readHeader();
    await expect(reader.drain()).rejects.toThrow(/above 49/);
  });
});

describe('MessageQueue', () => {
  it('bounds count and bytes, but always takes one frame into an empty queue', () => {
    const q = new MessageQueue(3, 100);
    expect(q.push(Buffer.alloc(150))).toBe(true);
    expect(q.push(Buffer.alloc(1))).toBe(false);
    expect(q.shift()?.length).toBe(150);
    expect([q.push(Buffer.alloc(40)), q.push(Buffer.alloc(40)), q.push(Buffer.alloc(40))]).toEqual([
      true,
      true,
      false,
    ]);
    expect([q.push(Buffer.alloc(20)), q.push(Buffer.alloc(1))]).toEqual([true, false]);
    expect([q.count, q.bytes]).toEqual([3, 100]);
    expect(q.clear()).toBe(3);
    expect([q.count, q.bytes, q.shift()]).toEqual([0, 0, undefined]);
  });

  it('keeps FIFO order through many pushes and shifts', () => {
    const q = new MessageQueue(5000, 1 << 30);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 100; i++) q.push(Buffer.from([next++ & 0xff]));
      for (let i = 0; i < 90; i++) expect(q.shift()?.[0]).toBe(expected++ & 0xff);
    }
    expect(q.count).toBe(next - expected);
  });
});

describe('Backoff', () => {
  it('grows exponentially with jitter within [min/2, max], and resets', () => {
    const b = new Backoff({ minMs: 50, maxMs: 1000 }, new SeededRng(7));
    const delays = Array.from({ length: 10 }, () => b.nextDelayMs());
    for (const [i, d] of delays.entries()) {
      const ceiling = Math.min(1000, 50 * 2 ** i);
      expect(d).toBeGreaterThanOrEqual(ceiling / 2);
      expect(d).toBeLessThanOrEqual(ceiling);
    }
    expect(b.failures).toBe(10);
    b.reset();
    expect(b.nextDelayMs()).toBeLessThanOrEqual(50);
    expect(() => new Backoff({ minMs: 0, maxMs: 1 }, new SeededRng(1))).toThrow(RangeError);
  });
});
