/**
 * etcd's snapshot file and stream around a bbolt image (etcdserver/api/v3rpc/
 * maintenance.go Snapshot, clientv3/snapshot/v3_snapshot.go Save/Restore):
 * - the file is the image followed by sha256(image), 32 bytes; tools detect the
 *   trailer purely by size (size mod 512 == 32), since an image is a whole number of
 *   pages (snapshotImageLength);
 * - the Snapshot RPC sends the image in 32 KiB blobs, each with remaining_bytes = image
 *   bytes still to come after it, then one last blob of the 32-byte digest with
 *   remaining_bytes 0 (SnapshotChunker, a ByteSink for writeBbolt; it holds at most one
 *   32 KiB buffer plus the page being copied);
 * - restore checks the trailer against a SHA-256 of the image (verifySnapshotHash,
 *   streaming through the PageSource in 1 MiB reads).
 * node:crypto is the only Node API used: no files here.
 */
import { createHash, type Hash } from 'node:crypto';
import { BboltFormatError } from './errors.js';
import type { PageSource } from './reader.js';
import type { ByteSink } from './writer.js';

export const SNAPSHOT_CHUNK_SIZE = 32 * 1024;
export const SHA256_SIZE = 32;

/** The image length of a snapshot file of `fileSize` bytes, and whether a trailer follows. */
export function snapshotImageLength(fileSize: number): { readonly imageLength: number; readonly hasTrailer: boolean } {
  const hasTrailer = fileSize % 512 === SHA256_SIZE;
  return { imageLength: hasTrailer ? fileSize - SHA256_SIZE : fileSize, hasTrailer };
}

export interface SnapshotChunk {
  readonly remainingBytes: number;
  readonly blob: Uint8Array;
}

/**
 * Cuts a byte stream of known length into etcd's Snapshot RPC messages. write() may
 * await `send` (backpressure); end() checks that exactly `total` bytes came and sends
 * the digest. A blob may be a view of bytes handed to write() (whole chunks are not
 * copied), so a writer must not change bytes it has written.
 */
export class SnapshotChunker implements ByteSink {
  private readonly hash: Hash = createHash('sha256');
  private buf: Uint8Array;
  private fill = 0;
  private seen = 0;
  private sent = 0;

  constructor(
    private readonly total: number,
    private readonly send: (chunk: SnapshotChunk) => void | Promise<void>,
    private readonly chunkSize = SNAPSHOT_CHUNK_SIZE,
  ) {
    this.buf = new Uint8Array(chunkSize);
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.seen + bytes.length > this.total) throw new BboltFormatError(`snapshot stream longer than its ${this.total} bytes`);
    this.hash.update(bytes);
    this.seen += bytes.length;
    let off = 0;
    while (off < bytes.length) {
      if (this.fill === 0 && bytes.length - off >= this.chunkSize) {
        // A whole chunk: sent as a view of the caller's bytes, not copied.
        const blob = bytes.subarray(off, off + this.chunkSize);
        off += this.chunkSize;
        this.sent += blob.length;
        await this.send({ remainingBytes: this.total - this.sent, blob });
        continue;
      }
      const n = Math.min(this.chunkSize - this.fill, bytes.length - off);
      this.buf.set(bytes.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.chunkSize) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    if (this.fill === 0) return;
    const blob = this.buf.subarray(0, this.fill);
    this.buf = new Uint8Array(this.chunkSize);
    this.fill = 0;
    this.sent += blob.length;
    await this.send({ remainingBytes: this.total - this.sent, blob });
  }

  /** Sends what is buffered, then the SHA-256 of everything written. */
  async end(): Promise<Uint8Array> {
    if (this.seen !== this.total) throw new BboltFormatError(`snapshot stream ended after ${this.seen} of ${this.total} bytes`);
    await this.flush();
    const digest = new Uint8Array(this.hash.digest());
    await this.send({ remainingBytes: 0, blob: digest });
    return digest;
  }
}

export interface HashCheck {
  readonly ok: boolean;
  readonly expected: Uint8Array;
  readonly actual: Uint8Array;
}

/** SHA-256 of the image against the file's trailer; a file without one is an error. */
export function verifySnapshotHash(source: PageSource): HashCheck {
  const { imageLength, hasTrailer } = snapshotImageLength(source.size);
  if (!hasTrailer) throw new BboltFormatError('snapshot missing hash (file size is not image + 32 bytes)');
  const hash = createHash('sha256');
  const step = 1 << 20;
  for (let off = 0; off < imageLength; off += step) hash.update(source.read(off, Math.min(step, imageLength - off)));
  const actual = new Uint8Array(hash.digest());
  const expected = source.read(imageLength, SHA256_SIZE).slice();
  return { ok: Buffer.compare(actual, expected) === 0, expected, actual };
}
