/**
 * The few protobuf messages etcd keeps in its bbolt buckets, marshalled as gogoproto
 * does (fields in number order, proto3 zero values omitted, int64 as two's-complement
 * varints) and unmarshalled tolerantly (any field order, unknown fields skipped):
 * - mvccpb.KeyValue (mvcc/mvccpb/kv.proto): the `key` bucket's values (decode only:
 *   tsetcd already stores them marshalled);
 * - leasepb.Lease (lease/leasepb/lease.proto): ID = 1, TTL = 2, RemainingTTL = 3;
 * - etcdserverpb.AlarmMember (etcdserver/etcdserverpb/rpc.proto): memberID = 1
 *   (uint64), alarm = 2 (enum), the `alarm` bucket's keys.
 * Malformed bytes raise BboltFormatError; nothing here allocates per field beyond the
 * views it returns.
 */
import { BboltFormatError } from './errors.js';

export interface DecodedKeyValue {
  readonly key: Uint8Array;
  readonly createRevision: bigint;
  readonly modRevision: bigint;
  readonly version: bigint;
  readonly value: Uint8Array;
  readonly lease: bigint;
}

export interface LeaseRecord {
  /** int64 lease id (server-generated ids are positive). */
  readonly id: bigint;
  /** Granted TTL in seconds. */
  readonly ttl: bigint;
  /** 0 = unset (etcd restarts the full TTL). */
  readonly remainingTtl: bigint;
}

export interface AlarmRecord {
  readonly memberId: bigint;
  /** 0 NONE, 1 NOSPACE, 2 CORRUPT. */
  readonly alarm: number;
}

class Reader {
  pos = 0;
  constructor(
    readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}
  get done(): boolean {
    return this.pos >= this.bytes.length;
  }
  fail(problem: string): never {
    throw new BboltFormatError(`${this.what}: ${problem} at byte ${this.pos}`);
  }
  varint(): bigint {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.bytes.length) this.fail('truncated varint');
      const b = this.bytes[this.pos++] as number;
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asUintN(64, v);
    }
    return this.fail('varint longer than 10 bytes');
  }
  bytesField(): Uint8Array {
    const n = this.varint();
    if (n > BigInt(this.bytes.length - this.pos)) this.fail(`length ${n} runs past the end`);
    const out = this.bytes.subarray(this.pos, this.pos + Number(n));
    this.pos += Number(n);
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 2) this.bytesField();
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (this.pos + n > this.bytes.length) this.fail('truncated fixed field');
      this.pos += n;
    } else this.fail(`unsupported wire type ${wire}`);
  }
}

/** Calls `field(number, wire, reader)` per field; the callback consumes or skips it. */
function eachField(bytes: Uint8Array, what: string, field: (no: number, wire: number, r: Reader) => boolean): void {
  const r = new Reader(bytes, what);
  while (!r.done) {
    const tag = r.varint();
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (no === 0) r.fail('field number 0');
    if (!field(no, wire, r)) r.skip(wire);
  }
}

const EMPTY: Uint8Array = new Uint8Array(0);

export function decodeKeyValue(bytes: Uint8Array): DecodedKeyValue {
  let key = EMPTY;
  let value = EMPTY;
  let createRevision = 0n;
  let modRevision = 0n;
  let version = 0n;
  let lease = 0n;
  eachField(bytes, 'mvccpb.KeyValue', (no, wire, r) => {
    if ((no === 1 || no === 5) && wire === 2) {
      if (no === 1) key = r.bytesField();
      else value = r.bytesField();
      return true;
    }
    if (no >= 2 && no <= 6 && no !== 5 && wire === 0) {
      const v = BigInt.asIntN(64, r.varint());
      if (no === 2) createRevision = v;
      else if (no === 3) modRevision = v;
      else if (no === 4) version = v;
      else lease = v;
      return true;
    }
    return false;
  });
  return { key, createRevision, modRevision, version, value, lease };
}

function varintBytes(v: bigint): number[] {
  let u = BigInt.asUintN(64, v);
  const out: number[] = [];
  while (u >= 0x80n) {
    out.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  out.push(Number(u));
  return out;
}

/** Varint fields in number order, zero values omitted (proto3, gogoproto Marshal). */
function marshalVarints(fields: ReadonlyArray<readonly [number, bigint]>): Uint8Array {
  const out: number[] = [];
  for (const [no, v] of fields) {
    if (v === 0n) continue;
    out.push(...varintBytes(BigInt(no << 3)), ...varintBytes(v));
  }
  return Uint8Array.from(out);
}

export function encodeLease(l: LeaseRecord): Uint8Array {
  return marshalVarints([
    [1, l.id],
    [2, l.ttl],
    [3, l.remainingTtl],
  ]);
}

export function decodeLease(bytes: Uint8Array): LeaseRecord {
  const v = [0n, 0n, 0n];
  eachField(bytes, 'leasepb.Lease', (no, wire, r) => {
    if (no < 1 || no > 3 || wire !== 0) return false;
    v[no - 1] = BigInt.asIntN(64, r.varint());
    return true;
  });
  return { id: v[0] as bigint, ttl: v[1] as bigint, remainingTtl: v[2] as bigint };
}

export function encodeAlarm(a: AlarmRecord): Uint8Array {
  return marshalVarints([
    [1, a.memberId],
    [2, BigInt(a.alarm)],
  ]);
}

export function decodeAlarm(bytes: Uint8Array): AlarmRecord {
  let memberId = 0n;
  let alarm = 0;
  eachField(bytes, 'etcdserverpb.AlarmMember', (no, wire, r) => {
    if (wire !== 0 || (no !== 1 && no !== 2)) return false;
    const v = r.varint();
    if (no === 1) memberId = v;
    else alarm = Number(BigInt.asIntN(32, v));
    return true;
  });
  return { memberId, alarm };
}
