/**
 * Length-prefixed frames: the wire unit of the raft streams (one frame = one encoded
 * raft Message, src/raft/codec.ts).
 *
 * Format: [u32 big-endian length][length bytes]. A length of 0 is reserved and never
 * written. Frames above `maxFrameBytes` are refused by the decoder (a named limit:
 * everything that grows with peer input is bounded).
 *
 * FrameDecoder is incremental and synchronous: push() each chunk as it arrives from
 * the HTTP/2 stream and get back the frames it completed.
 */
import { TsetcdError } from '../../shared/errors.js';
import { ByteQueue } from './byte-queue.js';

export const FRAME_HEADER_BYTES = 4;

/** The 4-byte prefix of a frame whose payload is `length` bytes. */
export function frameHeader(length: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h.writeUInt32BE(length, 0);
  return h;
}

/** A peer sent bytes the decoders refuse (oversized, reserved, checksum, truncated). */
export class PeerStreamCorruptError extends TsetcdError {
  override readonly name = 'PeerStreamCorruptError';
  constructor(detail: string) {
    super('corrupt', detail);
  }
}

export class FrameDecoder {
  private readonly queue = new ByteQueue();
  /** Payload length of the frame being read, or -1 while its header is incomplete. */
  private payloadBytes = -1;

  constructor(private readonly maxFrameBytes: number) {}

  /** Bytes held for a frame not yet complete. */
  get pendingBytes(): number {
    return this.queue.length;
  }

  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    this.queue.push(chunk);
    for (;;) {
      if (this.payloadBytes < 0) {
        if (this.queue.length < FRAME_HEADER_BYTES) return frames;
        const n = this.queue.take(FRAME_HEADER_BYTES).readUInt32BE(0);
        if (n === 0) throw new PeerStreamCorruptError('peer stream: empty frame');
        if (n > this.maxFrameBytes) {
          throw new PeerStreamCorruptError(
            `peer stream: frame of ${n} bytes above the limit ${this.maxFrameBytes}`,
          );
        }
        this.payloadBytes = n;
      }
      if (this.queue.length < this.payloadBytes) return frames;
      frames.push(this.queue.take(this.payloadBytes));
      this.payloadBytes = -1;
    }
  }
}
