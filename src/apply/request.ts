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
import { AssertionError, assert } from '../shared/assert.js';
import type { AuthInfo } from '../auth/index.js';

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
/** RequestHeader's username (2, bytes) and auth_revision (3, varint) tags. */
const USERNAME_TAG = (2 << 3) | 2;
const AUTH_REVISION_TAG = 3 << 3;

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

function callerBytes(caller: AuthInfo): number {
  const user = Buffer.byteLength(caller.username);
  const userField = user === 0 ? 0 : 1 + varintBytes(user) + user;
  return userField + (caller.revision === 0 ? 0 : 1 + varintBytes(caller.revision));
}

/** `caller`: carried in the entry's header (the second form above). */
export function encodeRequest(kind: RequestKind, id: bigint, payload: Uint8Array, caller?: AuthInfo): Uint8Array {
  if (caller === undefined) {
    const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
    out[0] = kind;
    out.writeBigUInt64BE(BigInt.asUintN(64, id), 1);
    out.set(payload, HEADER_BYTES);
    return out;
  }
  const n = callerBytes(caller);
  const out = Buffer.allocUnsafe(HEADER_BYTES + varintBytes(n) + n + payload.length);
  out[0] = kind | WITH_CALLER;
  out.writeBigUInt64BE(BigInt.asUintN(64, id), 1);
  let at = writeVarint(out, HEADER_BYTES, n);
  if (caller.username !== '') {
    out[at++] = USERNAME_TAG;
    at = writeVarint(out, at, Buffer.byteLength(caller.username));
    at += out.write(caller.username, at, 'utf8');
  }
  if (caller.revision !== 0) {
    out[at++] = AUTH_REVISION_TAG;
    at = writeVarint(out, at, caller.revision);
  }
  out.set(payload, at);
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
  const [n, start] = readVarint(buf, HEADER_BYTES);
  const end = start + n;
  assert(end <= buf.length, `log entry header runs past the entry (${end} > ${buf.length})`);
  const caller = n === 0 ? ANONYMOUS_CALLER : decodeCaller(buf, start, end);
  return { kind, id, payload: buf.subarray(end), caller };
}

/** RequestHeader's fields; ID (1) and unknown fields are skipped. */
function decodeCaller(buf: Buffer, start: number, end: number): AuthInfo {
  let username = '';
  let revision = 0;
  let at = start;
  while (at < end) {
    const [tag, next] = readVarint(buf, at);
    at = next;
    const wire = tag & 7;
    if (wire === 0) {
      const [v, after] = readVarint(buf, at);
      if (tag === AUTH_REVISION_TAG) revision = v;
      at = after;
    } else if (wire === 2) {
      const [len, after] = readVarint(buf, at);
      if (tag === USERNAME_TAG) username = buf.toString('utf8', after, after + len);
      at = after + len;
    } else if (wire === 1 || wire === 5) {
      at += wire === 1 ? 8 : 4;
    } else {
      throw new AssertionError(`log entry header: wire type ${wire}`);
    }
  }
  assert(at === end, 'log entry header: a field runs past its end');
  return { username, revision };
}

/** Unsigned varint of a safe integer (auth revisions and lengths). */
function varintBytes(v: number): number {
  let n = 1;
  for (let x = v; x >= 0x80; x = Math.floor(x / 128)) n++;
  return n;
}

function writeVarint(out: Buffer, at: number, v: number): number {
  let x = v;
  while (x >= 0x80) {
    out[at++] = (x % 128) | 0x80;
    x = Math.floor(x / 128);
  }
  out[at++] = x;
  return at;
}

function readVarint(buf: Buffer, at: number): [number, number] {
  let v = 0;
  let scale = 1;
  for (let i = at; i < buf.length && i < at + 10; i++) {
    const b = buf[i] ?? 0;
    v += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [v, i + 1];
    scale *= 128;
  }
  throw new AssertionError('log entry header: a varint runs past the entry');
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
  const headerBody = 1 + varintLength(id) + (caller === undefined ? 0 : callerBytes(caller));
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
