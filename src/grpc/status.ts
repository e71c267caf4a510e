/**
 * The error that carries a gRPC status to the wire. Handlers throw TsetcdError;
 * v3rpc/errors.ts turns it into a GrpcError with etcd's exact code and message
 * (the table in shared/errors.ts). Anything else that reaches the transport becomes
 * UNKNOWN.
 */
import type { StatusCode } from '../shared/grpc-status.js';

export class GrpcError extends Error {
  override readonly name = 'GrpcError';
  constructor(
    readonly code: StatusCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * grpc-message is percent-encoded: bytes outside printable ASCII and '%' itself
 * (gRPC over HTTP/2 spec, "Responses").
 */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
