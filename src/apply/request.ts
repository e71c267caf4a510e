/**
 * The payload of a normal Raft log entry: one client or internal request.
 *
 *   [kind u8][request id u64 big-endian][payload]
 *   [kind | 0x80][request id u64 big-endian][varint n][n bytes: RequestHeader][payload]
 *
 * The payload of client requests is the protobuf encoding of etcd's own request
 * message (PutRequest, TxnRequest, ...), exactly the bytes the client sent, so a write
 * is never re-encoded between the wire and the log. The request id routes the apply
 * result back to the waiting caller on the member that proposed it (0 = nobody waits).
 *
 * The second form carries the caller as etcd's InternalRaftRequest header does
 * (etcdserverpb.RequestHeader's username = 2 and auth_revision = 3; its ID is the
 * entry's request id): every client write apply checks (Put, DeleteRange, Txn,
 * LeaseRevoke) is proposed in it, whether auth is on or off, because apply decides by
 * the auth state at the entry's position, not at the proposer's (etcdserver/
 * apply_auth.go; docs/security.md). An anonymous caller's header is empty (n = 0), so
 * the form costs one byte per write and no allocation. The first form, without a
 * header, is what the member's own machinery proposes and what WALs written before the
 * header existed hold; apply does not check it (apply/applier.ts says why).
 *
 * Request ids are generated like etcd's idutil.Generator: the low 16 bits of the
 * member id in the top 16 bits, then a millisecond timestamp and a counter, so ids
 * from different members and restarts do not collide.
 */
import protobuf from 'protobufjs';
import { AssertionError, assert } from '../shared/assert.js';
import { EMPTY } from '../shared/bytes.js';
import type { AuthInfo } from '../auth/index.js';
import { decodeRequestHeader, encodeRequestHeader } from './request-header.js';

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
/** The kind byte's flag: a RequestHeader follows the request id. */
const WITH_CALLER = 0x80;
/** An empty header with its zero length: the anonymous caller's bytes in an entry. */
const EMPTY_FRAMED = Buffer.from([0]);
export interface DecodedRequest {
  readonly kind: RequestKind;
  readonly id: bigint;
  readonly payload: Uint8Array;
  /**
   * The identity proposed with the request (etcd's RequestHeader username and
   * auth_revision); absent for entries without a header.
   */
  readonly caller?: AuthInfo;
}

/** The anonymous caller, as a header-carrying entry with an empty header decodes. */
const ANONYMOUS_CALLER: AuthInfo = Object.freeze({ username: '', revision: 0 });

/** The caller's RequestHeader bytes; none for the anonymous caller (the common case). */
function callerHeader(caller: AuthInfo): Uint8Array {
  return caller.username === '' && caller.revision === 0 ? EMPTY : encodeRequestHeader(caller);
}

/** The header with its length in front, as the entry holds it. */
function callerFramed(caller: AuthInfo): Uint8Array {
  const header = callerHeader(caller);
  return header.length === 0 ? EMPTY_FRAMED : protobuf.Writer.create().bytes(header).finish();
}

/** `caller`: carried in the entry's header (the second form above). */
/**
 * Where entry payloads are written: the Raft log keeps each one until a snapshot
 * compacts it (up to snapshot-count entries), so they are not taken from Node's 8 KiB
 * Buffer pool, where each would keep its whole pool chunk, shared with short-lived
 * request buffers, alive (measured: 30k entries of 1 KiB held 101 MiB of pool chunks).
 * They are appended to 256 KiB slabs instead, written once; the log drops entries
 * oldest first, so a slab is freed by GC soon after its last entry leaves the log.
 */
const ENTRY_SLAB_BYTES = 256 * 1024;
let entrySlab = Buffer.allocUnsafeSlow(ENTRY_SLAB_BYTES);
let entrySlabUsed = 0;

function entryBytes(size: number): Buffer {
  if (size > ENTRY_SLAB_BYTES / 8) return Buffer.allocUnsafeSlow(size);
  if (entrySlabUsed + size > ENTRY_SLAB_BYTES) {
    entrySlab = Buffer.allocUnsafeSlow(ENTRY_SLAB_BYTES);
    entrySlabUsed = 0;
  }
  const at = entrySlabUsed;
  entrySlabUsed = at + size;
  return entrySlab.subarray(at, at + size);
}

export function encodeRequest(kind: RequestKind, id: bigint, payload: Uint8Array, caller?: AuthInfo): Uint8Array {
  if (caller === undefined) {
    const out = entryBytes(HEADER_BYTES + payload.length);
    out[0] = kind;
    out.writeBigUInt64BE(BigInt.asUintN(64, id), 1);
    out.set(payload, HEADER_BYTES);
    return out;
  }
  const framed = callerFramed(caller);
  const out = entryBytes(HEADER_BYTES + framed.length + payload.length);
  out[0] = kind | WITH_CALLER;
  out.writeBigUInt64BE(BigInt.asUintN(64, id), 1);
  out.set(framed, HEADER_BYTES);
  out.set(payload, HEADER_BYTES + framed.length);
  return out;
}

export function decodeRequest(data: Uint8Array): DecodedRequest {
  assert(data.length >= HEADER_BYTES, `log entry payload too short: ${data.length} bytes`);
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const first = buf[0] ?? 0;
  const kind = (first & ~WITH_CALLER) as RequestKind;
  assert(kind >= RequestKind.Put && kind <= RequestKind.Internal, `unknown request kind ${kind}`);
  const id = buf.readBigUInt64BE(1);
  if ((first & WITH_CALLER) === 0) return { kind, id, payload: buf.subarray(HEADER_BYTES) };
  // An anonymous caller's header is empty: one zero length byte, nothing to parse.
  if (buf[HEADER_BYTES] === 0) return { kind, id, payload: buf.subarray(HEADER_BYTES + 1), caller: ANONYMOUS_CALLER };
  const r = protobuf.Reader.create(buf);
  r.pos = HEADER_BYTES;
  let caller: AuthInfo;
  try {
    caller = decodeRequestHeader(r.bytes());
  } catch (err) {
    throw new AssertionError(`log entry header is broken (${buf.length} bytes): ${(err as Error).message}`);
  }
  return { kind, id, payload: buf.subarray(r.pos), caller };
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
 * i.e. a RequestHeader{ID, username, auth_revision} in field 100 plus the request in
 * its field (etcdserver processInternalRaftRequestOnce: len(data) > MaxRequestBytes ⇒
 * "etcdserver: request is too large"). Matching it keeps the boundary where etcd has it.
 */
export function etcdRequestSize(kind: RequestKind, id: bigint, payloadBytes: number, caller?: AuthInfo): number {
  const headerBody = 1 + varintLength64(id) + (caller === undefined ? 0 : callerHeader(caller).length);
  // Already a whole InternalRaftRequest; its header lacks only the ID.
  if (kind === RequestKind.Internal) return payloadBytes + 1 + varintLength64(id);
  return fieldLength(100, headerBody) + fieldLength(ETCD_FIELD[kind], payloadBytes);
}

function fieldLength(fieldNo: number, length: number): number {
  return varintLength(fieldNo << 3) + varintLength(length) + length;
}

/**
 * Varint sizes by comparison only: this runs once per proposal, and BigInt shifts
 * allocate a heap number per step (measured 0.5 KB per put of the 40 KB a put allocates).
 */
function varintLength(v: number): number {
  let n = 1;
  for (let x = v; x >= 0x80; x = Math.floor(x / 0x80)) n++;
  return n;
}

/** 2^7, 2^14, ... 2^63: a uint64 below VARINT_LIMITS[i] takes i + 1 bytes. */
const VARINT_LIMITS: readonly bigint[] = Array.from({ length: 9 }, (_, i) => 1n << BigInt(7 * (i + 1)));

function varintLength64(v: bigint): number {
  const x = v < 0n ? BigInt.asUintN(64, v) : v;
  let n = 1;
  while (n < 10 && x >= (VARINT_LIMITS[n - 1] as bigint)) n++;
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
