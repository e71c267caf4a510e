// etcd's snapshot framing around a bbolt image: 32 KiB blobs with remaining_bytes as
// etcd 3.4.23 sent them (observed stream for a 167 936-byte db), the SHA-256 last,
// trailer detection by size, and the restore-side hash check.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BboltFormatError } from '../../src/bbolt/errors.js';
import { bytesSource } from '../../src/bbolt/reader.js';
import { SnapshotChunker, snapshotImageLength, verifySnapshotHash, type SnapshotChunk } from '../../src/bbolt/snapshot-file.js';
import { bboltBytes, writeBbolt } from '../../src/bbolt/stream.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('snapshot framing', () => {
  it("chunks like etcd's Snapshot RPC: 32 KiB blobs, remaining_bytes after each, the digest last", async () => {
    const image = new Uint8Array(167_936).map((_, i) => (i * 7) & 0xff);
    const sent: SnapshotChunk[] = [];
    const chunker = new SnapshotChunker(image.length, (c) => void sent.push({ remainingBytes: c.remainingBytes, blob: c.blob.slice() }));
    // Fed in page-sized and odd pieces: the framing does not depend on the writes.
    for (let off = 0; off < image.length; off += 5000) await chunker.write(image.subarray(off, Math.min(off + 5000, image.length)));
    const digest = await chunker.end();
    expect(sent.map((c) => [c.blob.length, c.remainingBytes])).toEqual([
      [32768, 135168], [32768, 102400], [32768, 69632], [32768, 36864], [32768, 4096], [4096, 0], [32, 0],
    ]);
    expect(Buffer.from(digest).toString('hex')).toBe(createHash('sha256').update(image).digest('hex'));
    expect(Buffer.concat(sent.slice(0, -1).map((c) => c.blob)).equals(Buffer.from(image))).toBe(true);
  });

  it('streams a writer straight into the framing and refuses a stream of the wrong length', async () => {
    const source = (): Array<{ bucket: Uint8Array[]; key: Uint8Array; value: Uint8Array }> =>
      Array.from({ length: 300 }, (_, i) => ({ bucket: [enc('key')], key: enc(`k${String(i).padStart(4, '0')}`), value: new Uint8Array(500) }));
    const image = await bboltBytes(source);
    const blobs: Uint8Array[] = [];
    const chunker = new SnapshotChunker(image.length, (c) => void blobs.push(c.blob.slice()));
    await writeBbolt(source, chunker);
    await chunker.end();
    const file = Buffer.concat(blobs);
    expect(file.length).toBe(image.length + 32);
    expect(verifySnapshotHash(bytesSource(file)).ok).toBe(true);
    const short = new SnapshotChunker(image.length + 4096, () => undefined);
    await short.write(image);
    await expect(short.end()).rejects.toThrow(BboltFormatError);
    await expect(new SnapshotChunker(10, () => undefined).write(new Uint8Array(11))).rejects.toThrow(/longer than/);
  });

  it('detects the trailer by size and checks it', () => {
    expect(snapshotImageLength(57_376)).toEqual({ imageLength: 57_344, hasTrailer: true });
    expect(snapshotImageLength(57_344)).toEqual({ imageLength: 57_344, hasTrailer: false });
    const image = new Uint8Array(8192).fill(1);
    const file = Buffer.concat([image, createHash('sha256').update(image).digest()]);
    expect(verifySnapshotHash(bytesSource(file)).ok).toBe(true);
    file[100] = 2;
    const bad = verifySnapshotHash(bytesSource(file));
    expect(bad.ok).toBe(false);
    expect(Buffer.from(bad.expected).equals(bad.actual)).toBe(false);
    expect(() => verifySnapshotHash(bytesSource(image))).toThrow(/missing hash/);
  });
});
