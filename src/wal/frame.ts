/**
 * Batch framing. Every write to a segment is exactly one frame, so at a crash at most
 * one frame (the last) is not durable, and recovery can tell a torn tail from damage.
 *
 *   0  payloadLength u32   bytes of records (> 0), the frame is padded to 8 bytes
 *   4  chainedCrc    u32   crc32c(payloadLength ++ payloadCrc, seed = previous chainedCrc)
 *   8  payloadCrc    u32   crc32c(payload)
 *  12  headerCrc     u32   crc32c(bytes 0..12)
 *  16  payload, then zero padding to a multiple of 8
 *
 * Why three CRCs: `headerCrc` lets recovery trust the length of a frame whose payload
 * was torn (so it can check that only zeros follow); `payloadCrc` makes every frame
 * verifiable on its own (so recovery can find an intact frame *after* a damaged one,
 * which proves the damage is not a crash tail); `chainedCrc` links each frame to the
 * one before it, across segments through the crcSeed record, so a lost, duplicated or
 * reordered frame breaks the chain (etcd chains its record CRCs the same way).
 * An all-zero header is "no frame here": preallocated space is zeros.
 */
import { assert } from '../shared/assert.js';
import { crc32c } from '../shared/crc32c.js';

export const FRAME_HEADER_BYTES = 16;
export const FRAME_ALIGN_BYTES = 8;
/** A payload length above this is not a length we wrote (u32, but keep it sane). */
export const FRAME_PAYLOAD_BYTES_MAX = 1 << 30;

export function frameBytes(payloadLength: number): number {
  return FRAME_HEADER_BYTES + alignUp(payloadLength);
}

export function alignUp(n: number): number {
  return Math.ceil(n / FRAME_ALIGN_BYTES) * FRAME_ALIGN_BYTES;
}

export function chainCrc(prevCrc: number, payloadLength: number, payloadCrc: number): number {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32LE(payloadLength, 0);
  b.writeUInt32LE(payloadCrc, 4);
  return crc32c(b, prevCrc);
}

/** Frames a payload after a frame whose chained CRC was `prevCrc`. */
export function encodeFrame(payload: Uint8Array, prevCrc: number): { bytes: Buffer; crc: number } {
  assert(
    payload.length > 0 && payload.length <= FRAME_PAYLOAD_BYTES_MAX,
    `frame payload of ${payload.length} bytes`,
  );
  const bytes = Buffer.alloc(frameBytes(payload.length)); // zeroed: the padding is zeros
  const payloadCrc = crc32c(payload);
  const crc = chainCrc(prevCrc, payload.length, payloadCrc);
  bytes.writeUInt32LE(payload.length, 0);
  bytes.writeUInt32LE(crc, 4);
  bytes.writeUInt32LE(payloadCrc, 8);
  bytes.writeUInt32LE(crc32c(bytes.subarray(0, 12)), 12);
  bytes.set(payload, FRAME_HEADER_BYTES);
  return { bytes, crc };
}

export type FrameHeader =
  | { readonly kind: 'zero' }
  | { readonly kind: 'bad' }
  | {
      readonly kind: 'ok';
      readonly payloadLength: number;
      readonly chainedCrc: number;
      readonly payloadCrc: number;
    };

/** Reads the header at `off` of a segment image (`off + 16 <= buf.length`). */
export function readFrameHeader(buf: Buffer, off: number): FrameHeader {
  let zero = true;
  for (let i = 0; i < FRAME_HEADER_BYTES; i++) if (buf[off + i] !== 0) zero = false;
  if (zero) return { kind: 'zero' };
  if (crc32c(buf.subarray(off, off + 12)) !== buf.readUInt32LE(off + 12)) return { kind: 'bad' };
  const payloadLength = buf.readUInt32LE(off);
  if (payloadLength === 0 || payloadLength > FRAME_PAYLOAD_BYTES_MAX) return { kind: 'bad' };
  return {
    kind: 'ok',
    payloadLength,
    chainedCrc: buf.readUInt32LE(off + 4),
    payloadCrc: buf.readUInt32LE(off + 8),
  };
}

/** Whether an intact frame (header and payload CRCs good) starts at `off`. */
export function isIntactFrameAt(buf: Buffer, off: number): boolean {
  if (off + FRAME_HEADER_BYTES > buf.length) return false;
  const h = readFrameHeader(buf, off);
  if (h.kind !== 'ok') return false;
  const end = off + FRAME_HEADER_BYTES + h.payloadLength;
  if (end > buf.length) return false;
  return crc32c(buf.subarray(off + FRAME_HEADER_BYTES, end)) === h.payloadCrc;
}
