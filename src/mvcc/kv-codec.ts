/**
 * mvccpb.KeyValue marshalling, byte-identical to etcd's gogoproto output: fields in
 * number order, proto3 zero values omitted, int64 as (sign-extended) varints.
 *
 *   message KeyValue { bytes key = 1; int64 create_revision = 2; int64 mod_revision = 3;
 *                      int64 version = 4; bytes value = 5; int64 lease = 6; }
 *
 * HashKV hashes these bytes, so they must equal etcd's for the same history. Hand-written
 * (one size pass, one write pass, one allocation) because it runs once per change.
 */
import { assert } from '../shared/assert.js';
import { leaseId, type LeaseId } from '../shared/ids.js';
import type { KeyValue } from './types.js';

const TAG_KEY = 0x0a; // field 1, length-delimited
const TAG_CREATE = 0x10; // field 2, varint
const TAG_MOD = 0x18; // field 3, varint
const TAG_VERSION = 0x20; // field 4, varint
const TAG_VALUE = 0x2a; // field 5, length-delimited
const TAG_LEASE = 0x30; // field 6, varint

const EMPTY = Buffer.alloc(0);
const NO_LEASE = leaseId(0n);

function sizeUint(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeUint(b: Buffer, pos: number, n: number): number {
  while (n >= 128) {
    b[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  b[pos++] = n;
  return pos;
}

function leaseParts(lease: LeaseId): [lo: number, hi: number] {
  const u = BigInt.asUintN(64, lease);
  return [Number(u & 0xffff_ffffn), Number(u >> 32n)];
}

function sizeVarint64(lo: number, hi: number): number {
  let size = 1;
  while (hi !== 0) {
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
    size++;
  }
  while (lo > 127) {
    lo >>>= 7;
    size++;
  }
  return size;
}

function writeVarint64(b: Buffer, pos: number, lo: number, hi: number): number {
  while (hi !== 0) {
    b[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 127) {
    b[pos++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  b[pos++] = lo;
  return pos;
}

function assertRevisionField(n: number, what: string): void {
  assert(Number.isSafeInteger(n) && n >= 0, `KeyValue.${what} must be a non-negative safe integer: ${n}`);
}

export interface EncodedKeyValue {
  bytes: Buffer;
  /** Offset of the value bytes inside `bytes`, so the live value can share the buffer. */
  valueOffset: number;
}

/** Marshals a KeyValue exactly as gogoproto's (*KeyValue).Marshal does. */
export function encodeKeyValue(kv: KeyValue): EncodedKeyValue {
  // Outside the Buffer pool: a record may be long-lived.
  return encodeKeyValueInto(kv, (size) => Buffer.allocUnsafeSlow(size));
}

/**
 * encodeKeyValue into the buffer `into` returns for the record's size (exactly that
 * long), e.g. a place in the record arena.
 */
export function encodeKeyValueInto(kv: KeyValue, into: (size: number) => Buffer): EncodedKeyValue {
  assertRevisionField(kv.createRevision, 'createRevision');
  assertRevisionField(kv.modRevision, 'modRevision');
  assertRevisionField(kv.version, 'version');
  let size = 0;
  if (kv.key.length > 0) size += 1 + sizeUint(kv.key.length) + kv.key.length;
  if (kv.createRevision !== 0) size += 1 + sizeUint(kv.createRevision);
  if (kv.modRevision !== 0) size += 1 + sizeUint(kv.modRevision);
  if (kv.version !== 0) size += 1 + sizeUint(kv.version);
  if (kv.value.length > 0) size += 1 + sizeUint(kv.value.length) + kv.value.length;
  let lo = 0;
  let hi = 0;
  if (kv.lease !== 0n) {
    [lo, hi] = leaseParts(kv.lease);
    size += 1 + sizeVarint64(lo, hi);
  }
  const b = into(size);
  assert(b.length === size, 'KeyValue encoder: target of the wrong size');
  let pos = 0;
  if (kv.key.length > 0) {
    b[pos++] = TAG_KEY;
    pos = writeUint(b, pos, kv.key.length);
    pos += kv.key.copy(b, pos);
  }
  if (kv.createRevision !== 0) {
    b[pos++] = TAG_CREATE;
    pos = writeUint(b, pos, kv.createRevision);
  }
  if (kv.modRevision !== 0) {
    b[pos++] = TAG_MOD;
    pos = writeUint(b, pos, kv.modRevision);
  }
  if (kv.version !== 0) {
    b[pos++] = TAG_VERSION;
    pos = writeUint(b, pos, kv.version);
  }
  let valueOffset = pos;
  if (kv.value.length > 0) {
    b[pos++] = TAG_VALUE;
    pos = writeUint(b, pos, kv.value.length);
    valueOffset = pos;
    pos += kv.value.copy(b, pos);
  }
  if (kv.lease !== 0n) {
    b[pos++] = TAG_LEASE;
    pos = writeVarint64(b, pos, lo, hi);
  }
  assert(pos === size, `KeyValue encoder wrote ${pos} of ${size} bytes`);
  return { bytes: b, valueOffset };
}

// Scratch registers of the varint reader (avoids an allocation per field).
let varLo = 0;
let varHi = 0;

function readVarint64(b: Buffer, pos: number): number {
  varLo = 0;
  varHi = 0;
  let byte: number;
  for (let i = 0; i < 4; i++) {
    byte = byteAt(b, pos++);
    varLo = (varLo | ((byte & 0x7f) << (i * 7))) >>> 0;
    if (byte < 0x80) return pos;
  }
  byte = byteAt(b, pos++);
  varLo = (varLo | ((byte & 0x7f) << 28)) >>> 0;
  varHi = (byte & 0x7f) >>> 4;
  if (byte < 0x80) return pos;
  for (let i = 0; i < 5; i++) {
    byte = byteAt(b, pos++);
    varHi = (varHi | ((byte & 0x7f) << (i * 7 + 3))) >>> 0;
    if (byte < 0x80) return pos;
  }
  assert(false, 'KeyValue: varint longer than 10 bytes');
}

function byteAt(b: Buffer, pos: number): number {
  const v = b[pos];
  assert(v !== undefined, 'KeyValue: truncated record');
  return v;
}

function varAsRevision(what: string): number {
  // int64 fields of a KeyValue are revisions/versions: non-negative and below 2^53.
  assert(varHi < 0x20_0000, `KeyValue.${what} out of range`);
  // A small revision stays a small integer: a computed double stored into the key
  // index would turn its fields into boxed numbers (16 bytes each, per key).
  return varHi === 0 ? varLo : varHi * 0x1_0000_0000 + varLo;
}

function varAsLength(): number {
  assert(varHi === 0 && varLo <= 0x7fff_ffff, 'KeyValue: length out of range');
  return varLo;
}

/**
 * Where the fields of a marshalled KeyValue are: byte ranges of key and value inside
 * the record, and the scalar fields. scanKeyValue fills one shared instance (valid until
 * the next scan), so reading a record's revisions allocates nothing.
 */
export interface KeyValueFields {
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  valueEnd: number;
  createRevision: number;
  modRevision: number;
  version: number;
  /** The lease id's varint halves (0 and 0: no lease). */
  leaseLo: number;
  leaseHi: number;
}

const fields: KeyValueFields = {
  keyStart: 0, keyEnd: 0, valueStart: 0, valueEnd: 0,
  createRevision: 0, modRevision: 0, version: 0, leaseLo: 0, leaseHi: 0,
};

/** Parses a marshalled KeyValue into the shared KeyValueFields; unknown fields are skipped as proto3 requires. */
export function scanKeyValue(b: Buffer): KeyValueFields {
  const f = fields;
  f.keyStart = f.keyEnd = f.valueStart = f.valueEnd = 0;
  f.createRevision = f.modRevision = f.version = f.leaseLo = f.leaseHi = 0;
  let pos = 0;
  while (pos < b.length) {
    pos = readVarint64(b, pos);
    const tag = varLo;
    assert(varHi === 0, 'KeyValue: tag out of range');
    const wire = tag & 7;
    const field = tag >>> 3;
    if (wire === 2) {
      pos = readVarint64(b, pos);
      const len = varAsLength();
      assert(pos + len <= b.length, 'KeyValue: truncated bytes field');
      if (field === 1) {
        f.keyStart = pos;
        f.keyEnd = pos + len;
      } else if (field === 5) {
        f.valueStart = pos;
        f.valueEnd = pos + len;
      }
      pos += len;
    } else if (wire === 0) {
      pos = readVarint64(b, pos);
      if (field === 2) f.createRevision = varAsRevision('create_revision');
      else if (field === 3) f.modRevision = varAsRevision('mod_revision');
      else if (field === 4) f.version = varAsRevision('version');
      else if (field === 6) {
        f.leaseLo = varLo;
        f.leaseHi = varHi;
      }
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      assert(false, `KeyValue: unsupported wire type ${wire}`);
    }
  }
  assert(pos === b.length, 'KeyValue: truncated fixed-width field');
  return f;
}

/**
 * Unmarshals a KeyValue. `key` and `value` are views into `b` (no copy). `knownKey`:
 * the caller already holds the key (the key index decoding a live record), used
 * instead of a view, so a decode makes one view fewer.
 */
export function decodeKeyValue(b: Buffer, knownKey?: Buffer): KeyValue {
  const f = scanKeyValue(b);
  const key = knownKey ?? (f.keyEnd > f.keyStart ? b.subarray(f.keyStart, f.keyEnd) : EMPTY);
  const value = f.valueEnd > f.valueStart ? b.subarray(f.valueStart, f.valueEnd) : EMPTY;
  const lease = f.leaseLo === 0 && f.leaseHi === 0 ? NO_LEASE : leaseId((BigInt(f.leaseHi) << 32n) | BigInt(f.leaseLo));
  return { key, createRevision: f.createRevision, modRevision: f.modRevision, version: f.version, value, lease };
}
