/**
 * The body of a snapshot request (POST /raft/snapshot): the raft MsgSnap, then the
 * state db stream in checksummed chunks, then a trailer with the checksum of all data.
 *
 *   preamble  "TSNP" | u8 version (1)
 *   header    u32 length | u32 crc32c(header) | encoded raft Message (src/raft/codec.ts)
 *   chunk*    u32 length (1..maxChunkBytes) | u32 crc32c(chunk) | chunk bytes
 *   trailer   u32 0 | u32 crc32c(all chunk bytes) | u64 total chunk bytes
 *
 * Every length is bounded before anything is allocated. The reader hands out a chunk
 * only after its checksum matched, and finishes its iteration only after the trailer
 * matched and nothing follows it, so a consumer that reads to the end has seen every
 * byte verified; any damage (bad checksum, truncation, trailing bytes, oversized
 * length) throws PeerStreamCorruptError from the iteration.
 */
import { crc32c } from '../../shared/crc32c.js';
import { PeerStreamCorruptError } from './frame.js';
import { ByteQueue } from './byte-queue.js';

const MAGIC = Buffer.from('TSNP', 'latin1');
const VERSION = 1;
const PREAMBLE_BYTES = MAGIC.length + 1;

function prefix(length: number, crc: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(length, 0);
  b.writeUInt32BE(crc, 4);
  return b;
}

/**
 * The request body as a sequence of buffers to write, chunk data split to at most
 * maxChunkBytes. Data buffers are passed through, not copied.
 */
export async function* encodeSnapshotBody(
  header: Uint8Array,
  data: AsyncIterable<Uint8Array>,
  maxChunkBytes: number,
): AsyncGenerator<Buffer> {
  yield Buffer.concat([MAGIC, Buffer.from([VERSION]), prefix(header.length, crc32c(header))]);
  yield Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  let total = 0;
  let crcAll = 0;
  for await (const piece of data) {
    for (let off = 0; off < piece.length; off += maxChunkBytes) {
      const chunk = piece.subarray(off, Math.min(piece.length, off + maxChunkBytes));
      crcAll = crc32c(chunk, crcAll);
      total += chunk.length;
      yield prefix(chunk.length, crc32c(chunk));
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
  }
  const trailer = Buffer.allocUnsafe(16);
  trailer.writeUInt32BE(0, 0);
  trailer.writeUInt32BE(crcAll, 4);
  trailer.writeBigUInt64BE(BigInt(total), 8);
  yield trailer;
}

export interface SnapshotReaderLimits {
  readonly maxHeaderBytes: number;
  readonly maxChunkBytes: number;
}

/** Reads a snapshot body from the request's byte stream. */
export class SnapshotBodyReader {
  private readonly queue = new ByteQueue();
  private readonly source: AsyncIterator<Buffer>;
  private ended = false;
  private finished = false;
  private receivedBytes = 0;
  /** Running checksum of the data handed out; state of the reader, not of one iteration. */
  private crcAll = 0;
  private chunkIndex = 0;

  constructor(
    input: AsyncIterable<Buffer>,
    private readonly limits: SnapshotReaderLimits,
  ) {
    this.source = input[Symbol.asyncIterator]();
  }

  /** Whether the trailer was read and verified (the whole body is intact). */
  get complete(): boolean {
    return this.finished;
  }

  /** Verified data bytes handed out so far. */
  get dataBytes(): number {
    return this.receivedBytes;
  }

  /** The encoded raft message; call once, before chunks(). */
  async readHeader(): Promise<Buffer> {
    const pre = await this.read(PREAMBLE_BYTES, 'preamble');
    if (!pre.subarray(0, MAGIC.length).equals(MAGIC) || pre[MAGIC.length] !== VERSION) {
      throw new PeerStreamCorruptError('snapshot: bad preamble (not a tsetcd snapshot stream v1)');
    }
    const p = await this.read(8, 'header prefix');
    const n = p.readUInt32BE(0);
    if (n === 0 || n > this.limits.maxHeaderBytes) {
      throw new PeerStreamCorruptError(
        `snapshot: header of ${n} bytes outside 1..${this.limits.maxHeaderBytes}`,
      );
    }
    const header = await this.read(n, 'header');
    if (crc32c(header) !== p.readUInt32BE(4))
      throw new PeerStreamCorruptError('snapshot: header checksum mismatch');
    return header;
  }

  /** The verified data chunks; the iteration ends only after the trailer verified. */
  async *chunks(): AsyncGenerator<Uint8Array> {
    while (!this.finished) {
      const index = this.chunkIndex;
      const p = await this.read(8, `chunk ${index} prefix`);
      const n = p.readUInt32BE(0);
      const crc = p.readUInt32BE(4);
      if (n === 0) {
        const total = (await this.read(8, 'trailer')).readBigUInt64BE(0);
        if (crc !== this.crcAll)
          throw new PeerStreamCorruptError('snapshot: checksum of the whole data mismatch');
        if (total !== BigInt(this.receivedBytes)) {
          throw new PeerStreamCorruptError(
            `snapshot: trailer says ${total} bytes, received ${this.receivedBytes}`,
          );
        }
        await this.expectEnd();
        this.finished = true;
        return;
      }
      if (n > this.limits.maxChunkBytes) {
        throw new PeerStreamCorruptError(
          `snapshot: chunk ${index} of ${n} bytes above ${this.limits.maxChunkBytes}`,
        );
      }
      const chunk = await this.read(n, `chunk ${index}`);
      if (crc32c(chunk) !== crc) {
        throw new PeerStreamCorruptError(
          `snapshot: chunk ${index} checksum mismatch at data offset ${this.receivedBytes}`,
        );
      }
      this.crcAll = crc32c(chunk, this.crcAll);
      this.receivedBytes += n;
      this.chunkIndex++;
      yield chunk;
    }
  }

  /** Read and verify whatever the consumer left unread (it must still be intact). */
  async drain(): Promise<void> {
    if (this.finished) return;
    for await (const chunk of this.chunks()) void chunk;
  }

  private async fill(n: number): Promise<boolean> {
    while (this.queue.length < n && !this.ended) {
      const r = await this.source.next();
      if (r.done === true) this.ended = true;
      else this.queue.push(r.value);
    }
    return this.queue.length >= n;
  }

  private async read(n: number, what: string): Promise<Buffer> {
    if (!(await this.fill(n)))
      throw new PeerStreamCorruptError(`snapshot: stream truncated in ${what}`);
    return this.queue.take(n);
  }

  private async expectEnd(): Promise<void> {
    if (await this.fill(1)) throw new PeerStreamCorruptError('snapshot: bytes after the trailer');
  }
}
