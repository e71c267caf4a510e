/**
 * gRPC status codes and the error that carries one to the wire. Handlers throw
 * TsetcdError; server/v3rpc/errors.ts turns it into a GrpcError with etcd's exact
 * code and message. Anything else that reaches the transport becomes UNKNOWN.
 */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

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
