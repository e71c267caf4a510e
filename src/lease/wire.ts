/**
 * Byte formats the lease module owns (it does not use the shell's protobufjs codecs,
 * as mvcc's kv-codec does not): a few small protobuf messages, written and read by hand.
 *
 * - The state db record, etcd's leasepb.Lease { int64 ID = 1; int64 TTL = 2;
 *   int64 RemainingTTL = 3; } under 'l' + 8-byte big-endian id (storage/schema.ts).
 * - Log payloads of client requests, etcd's own messages: LeaseGrantRequest {TTL = 1,
 *   ID = 2}, LeaseRevokeRequest {ID = 1}, LeaseCheckpointRequest {repeated
 *   LeaseCheckpoint {ID = 1, remaining_TTL = 2} checkpoints = 1}.
 * - Fenced payloads of the leader's own entries (LeaseExpire, LeaseCheckpoint):
 *   [proposer term u64 big-endian][protobuf body]. Apply runs them only when that term
 *   equals the entry's log term (docs/architecture.md §1), so a deposed leader's entry, forwarded
 *   to and appended by a newer leader, does nothing on every member.
 *
 * int64 fields are bigints (ids are 64-bit); proto3 zero values are omitted on write.
 * Unknown fields are skipped on read, as protobuf requires. A malformed payload in the
 * log is a broken invariant (we wrote it, or protobufjs decoded it before proposing).
 */
import { assert } from '../shared/assert.js';
import { leaseId, type LeaseId } from '../shared/ids.js';
import { LEASE_PREFIX } from '../storage/schema.js';

/** etcd's leasepb.Lease, as persisted. */
export interface LeaseRecord {
  readonly id: LeaseId;
  readonly ttlSeconds: number;
  /** The last checkpointed remaining TTL; 0 = none (promotion uses the full TTL). */
  readonly remainingTtlSeconds: number;
}

export interface CheckpointEntry {
  readonly id: LeaseId;
  readonly remainingTtlSeconds: number;
}

// ---- varints ----

class Writer {
  private readonly bytes: number[] = [];

  varint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.bytes.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.bytes.push(Number(x));
  }

  /** An int64/bool field; omitted when zero (proto3). */
  int64Field(fieldNo: number, v: bigint): void {
    if (v === 0n) return;
    this.varint(BigInt((fieldNo << 3) | 0));
    this.varint(v);
  }

  bytesField(fieldNo: number, body: Uint8Array): void {
    this.varint(BigInt((fieldNo << 3) | 2));
    this.varint(BigInt(body.length));
    for (const b of body) this.bytes.push(b);
  }

  finish(): Buffer {
    return Buffer.from(this.bytes);
  }
}

type Field =
  | { readonly no: number; readonly varint: bigint }
  | { readonly no: number; readonly bytes: Uint8Array };

function readFields(buf: Uint8Array, what: string): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      assert(pos < buf.length, `${what}: truncated varint`);
      const b = buf[pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
      shift += 7n;
      assert(shift < 70n, `${what}: varint too long`);
    }
  };
  while (pos < buf.length) {
    const tag = varint();
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    assert(no > 0, `${what}: field number 0`);
    if (wire === 0) out.push({ no, varint: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      assert(pos + len <= buf.length, `${what}: truncated field ${no}`);
      out.push({ no, bytes: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else assert(false, `${what}: unsupported wire type ${wire}`);
    assert(pos <= buf.length, `${what}: truncated fixed field ${no}`);
  }
  return out;
}

function int64Of(fields: readonly Field[], no: number): bigint {
  let v = 0n;
  // The last occurrence wins, as protobuf requires.
  for (const f of fields) if (f.no === no && 'varint' in f) v = BigInt.asIntN(64, f.varint);
  return v;
}

/** A TTL in seconds as a number; leasepb values come from our own checked writes. */
function seconds(v: bigint, what: string): number {
  const n = Number(v);
  assert(Number.isSafeInteger(n), `${what}: ${v} seconds is not a safe integer`);
  return n;
}

// ---- state db record ----

export function leaseRecordKey(id: LeaseId): Buffer {
  const k = Buffer.allocUnsafe(9);
  k[0] = LEASE_PREFIX;
  k.writeBigUInt64BE(BigInt.asUintN(64, id), 1);
  return k;
}

export function leaseIdFromRecordKey(key: Buffer): LeaseId {
  assert(
    key.length === 9 && key[0] === LEASE_PREFIX,
    `not a lease record key (${key.length} bytes)`,
  );
  return leaseId(key.readBigUInt64BE(1));
}

export function encodeLeaseRecord(r: LeaseRecord): Buffer {
  const w = new Writer();
  w.int64Field(1, r.id);
  w.int64Field(2, BigInt(r.ttlSeconds));
  w.int64Field(3, BigInt(r.remainingTtlSeconds));
  return w.finish();
}

export function decodeLeaseRecord(buf: Uint8Array): LeaseRecord {
  const f = readFields(buf, 'lease record');
  return {
    id: leaseId(int64Of(f, 1)),
    ttlSeconds: seconds(int64Of(f, 2), 'lease record TTL'),
    remainingTtlSeconds: seconds(int64Of(f, 3), 'lease record RemainingTTL'),
  };
}

// ---- client request payloads ----

/** LeaseGrantRequest; TTL stays a bigint so a huge one is refused, not rounded. */
export function decodeGrantRequest(buf: Uint8Array): { id: LeaseId; ttlSeconds: bigint } {
  const f = readFields(buf, 'LeaseGrantRequest');
  return { id: leaseId(int64Of(f, 2)), ttlSeconds: int64Of(f, 1) };
}

export function encodeGrantRequest(id: LeaseId, ttlSeconds: bigint): Buffer {
  const w = new Writer();
  w.int64Field(1, ttlSeconds);
  w.int64Field(2, id);
  return w.finish();
}

export function decodeRevokeRequest(buf: Uint8Array): LeaseId {
  return leaseId(int64Of(readFields(buf, 'LeaseRevokeRequest'), 1));
}

export function encodeRevokeRequest(id: LeaseId): Buffer {
  const w = new Writer();
  w.int64Field(1, id);
  return w.finish();
}

export function encodeCheckpointRequest(cps: readonly CheckpointEntry[]): Buffer {
  const w = new Writer();
  for (const cp of cps) {
    const inner = new Writer();
    inner.int64Field(1, cp.id);
    inner.int64Field(2, BigInt(cp.remainingTtlSeconds));
    w.bytesField(1, inner.finish());
  }
  return w.finish();
}

export function decodeCheckpointRequest(buf: Uint8Array): CheckpointEntry[] {
  const out: CheckpointEntry[] = [];
  for (const f of readFields(buf, 'LeaseCheckpointRequest')) {
    if (f.no !== 1 || !('bytes' in f)) continue;
    const inner = readFields(f.bytes, 'LeaseCheckpoint');
    out.push({
      id: leaseId(int64Of(inner, 1)),
      remainingTtlSeconds: seconds(int64Of(inner, 2), 'LeaseCheckpoint remaining_TTL'),
    });
  }
  return out;
}

// ---- fenced leader entries ----

const TERM_BYTES = 8;

export function encodeFenced(term: number, body: Uint8Array): Buffer {
  assert(Number.isSafeInteger(term) && term > 0, `fenced payload: bad term ${term}`);
  const out = Buffer.allocUnsafe(TERM_BYTES + body.length);
  out.writeBigUInt64BE(BigInt(term), 0);
  out.set(body, TERM_BYTES);
  return out;
}

export function decodeFenced(buf: Uint8Array): { term: number; body: Uint8Array } {
  assert(buf.length >= TERM_BYTES, `fenced payload too short: ${buf.length} bytes`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const term = Number(b.readBigUInt64BE(0));
  assert(Number.isSafeInteger(term), 'fenced payload: term above 2^53');
  return { term, body: b.subarray(TERM_BYTES) };
}

/** A LeaseExpire payload: the proposer's term and etcd's LeaseRevokeRequest. */
export function encodeExpire(term: number, id: LeaseId): Buffer {
  return encodeFenced(term, encodeRevokeRequest(id));
}

/** A leader's LeaseCheckpoint payload: its term and etcd's LeaseCheckpointRequest. */
export function encodeCheckpoint(term: number, cps: readonly CheckpointEntry[]): Buffer {
  return encodeFenced(term, encodeCheckpointRequest(cps));
}
