/**
 * The payload of a normal Raft log entry: one client or internal request.
 *
 *   [kind u8][request id u64 big-endian][payload]
 *
 * The payload of client requests is the protobuf encoding of etcd's own request
 * message (PutRequest, TxnRequest, ...), exactly the bytes the client sent, so a write
 * is never re-encoded between the wire and the log. The request id routes the apply
 * result back to the waiting caller on the member that proposed it (0 = nobody waits).
 *
 * Request ids are generated like etcd's idutil.Generator: the low 16 bits of the
 * member id in the top 16 bits, then a millisecond timestamp and a counter, so ids
 * from different members and restarts do not collide.
 */
import { assert } from '../shared/assert.js';

export const RequestKind = {
  Put: 1,
  DeleteRange: 2,
  Txn: 3,
  Compaction: 4,
  LeaseGrant: 5,
  LeaseRevoke: 6,
  LeaseCheckpoint: 7,
  Alarm: 8,
  /** A leader's lease expiry: carries the term it was proposed in (docs/architecture.md §1). */
  LeaseExpire: 9,
  /** A member publishing its name and client URLs after it starts. */
  MemberAttributes: 10,
  /** An empty request that only exists to be committed (health checks, barriers). */
  Noop: 11,
  /**
   * etcd's InternalRaftRequest with its RequestHeader (internal-request.ts): the Auth
   * service's requests, and writes checked at apply against the header's identity.
   */
  Internal: 12,
} as const;
export type RequestKind = (typeof RequestKind)[keyof typeof RequestKind];

const HEADER_BYTES = 9;

export interface DecodedRequest {
  readonly kind: RequestKind;
  readonly id: bigint;
  readonly payload: Uint8Array;
}

export function encodeRequest(kind: RequestKind, id: bigint, payload: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out[0] = kind;
  out.writeBigUInt64BE(BigInt.asUintN(64, id), 1);
  out.set(payload, HEADER_BYTES);
  return out;
}

export function decodeRequest(data: Uint8Array): DecodedRequest {
  assert(data.length >= HEADER_BYTES, `log entry payload too short: ${data.length} bytes`);
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const kind = buf[0] as RequestKind;
  assert(kind >= RequestKind.Put && kind <= RequestKind.Internal, `unknown request kind ${kind}`);
  return { kind, id: buf.readBigUInt64BE(1), payload: buf.subarray(HEADER_BYTES) };
}

/** InternalRaftRequest field numbers in etcd, for the request-size rule below. */
const ETCD_FIELD: Record<RequestKind, number> = {
  [RequestKind.Put]: 4,
  [RequestKind.DeleteRange]: 5,
  [RequestKind.Txn]: 6,
  [RequestKind.Compaction]: 7,
  [RequestKind.LeaseGrant]: 8,
  [RequestKind.LeaseRevoke]: 9,
  [RequestKind.Alarm]: 10,
  [RequestKind.LeaseCheckpoint]: 11,
  [RequestKind.LeaseExpire]: 9,
  [RequestKind.MemberAttributes]: 13,
  [RequestKind.Noop]: 4,
  [RequestKind.Internal]: 0,
};

/**
 * The size etcd compares with max-request-bytes: its marshalled InternalRaftRequest,
 * i.e. a RequestHeader{ID} in field 100 plus the request in its field
 * (etcdserver processInternalRaftRequestOnce: len(data) > MaxRequestBytes ⇒
 * "etcdserver: request is too large"). Matching it keeps the boundary where etcd has it.
 */
export function etcdRequestSize(kind: RequestKind, id: bigint, payloadBytes: number): number {
  const headerBody = 1 + varintLength(id);
  // Already a whole InternalRaftRequest; its header lacks only the ID.
  if (kind === RequestKind.Internal) return payloadBytes + 1 + varintLength(id);
  return fieldLength(100, headerBody) + fieldLength(ETCD_FIELD[kind], payloadBytes);
}

function fieldLength(fieldNo: number, length: number): number {
  return varintLength(BigInt(fieldNo << 3)) + varintLength(BigInt(length)) + length;
}

function varintLength(v: bigint): number {
  let n = 1;
  let x = BigInt.asUintN(64, v);
  while (x >= 0x80n) {
    x >>= 7n;
    n++;
  }
  return n;
}

/** etcd's idutil.Generator layout: 16 bits of member id, 40 bits of ms time, 8-bit counter. */
export class RequestIdGenerator {
  private next: bigint;

  constructor(memberId: bigint, nowMs: number) {
    const prefix = (BigInt.asUintN(64, memberId) & 0xffffn) << 48n;
    const suffix = (BigInt(Math.trunc(nowMs)) & 0xff_ffff_ffffn) << 8n;
    this.next = prefix | suffix;
  }

  nextId(): bigint {
    this.next = BigInt.asUintN(64, this.next + 1n);
    if (this.next === 0n) this.next = 1n;
    return this.next;
  }
}
