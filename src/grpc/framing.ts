/**
 * gRPC message framing on an HTTP/2 stream: each message is
 * [compressed-flag u8][length u32 big-endian][message bytes].
 *
 * MessageReader accumulates DATA chunks and yields whole messages. A message longer
 * than maxRecvBytes is refused with RESOURCE_EXHAUSTED and grpc-go's wording, which
 * is what etcd's clients see from etcd (its MaxRecvMsgSize is
 * max-request-bytes + 512 KiB; etcd embed/config.go and v3rpc/grpc.go).
 */
import { GrpcError } from './status.js';
import { Status } from '../shared/grpc-status.js';

const HEADER_BYTES = 5;

export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxRecvBytes: number) {}

  /** Feed one chunk; returns the messages completed by it. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.buffered < HEADER_BYTES) return out;
      const head = this.peek(HEADER_BYTES);
      const compressed = head[0] ?? 0;
      const length = head.readUInt32BE(1);
      if (compressed !== 0) {
        // etcd's clients never compress; grpc-go answers an unknown encoding this way.
        throw new GrpcError(Status.UNIMPLEMENTED, 'grpc: Decompressor is not installed for grpc-encoding');
      }
      if (length > this.maxRecvBytes) {
        throw new GrpcError(
          Status.RESOURCE_EXHAUSTED,
          `grpc: received message larger than max (${length} vs. ${this.maxRecvBytes})`,
        );
      }
      if (this.buffered < HEADER_BYTES + length) return out;
      const whole = this.take(HEADER_BYTES + length);
      out.push(whole.subarray(HEADER_BYTES));
    }
  }

  /** Bytes received that do not yet form a whole message. */
  get pendingBytes(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) return first;
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const joined = this.peek(n);
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered -= n;
    return out;
  }
}

/** Frame one encoded message. */
export function frameMessage(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, HEADER_BYTES);
  return out;
}

/** Parse a grpc-timeout header ("100m", "5S", ...) into milliseconds. */
export function parseGrpcTimeoutMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'H':
      return n * 3_600_000;
    case 'M':
      return n * 60_000;
    case 'S':
      return n * 1000;
    case 'm':
      return n;
    case 'u':
      return n / 1000;
    default:
      return n / 1_000_000;
  }
}
