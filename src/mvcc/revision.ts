/**
 * Revisions and their byte encoding (etcd mvcc/revision.go).
 *
 * A revision is (main, sub): main is the store revision of a write request, sub numbers
 * the changes inside it (0, 1, ...). The record key of a change in the key bucket is
 * etcd's 17-byte revBytes: 8-byte big-endian main, '_', 8-byte big-endian sub, and an
 * 18th byte 't' when the change is a tombstone (appendMarkTombstone). Byte order of
 * revBytes is revision order, so the key bucket is a log of changes.
 */
import { assert } from '../shared/assert.js';
import { KEY_PREFIX } from '../storage/schema.js';

export const REV_BYTES_LEN = 17;
export const MARKED_REV_BYTES_LEN = 18;
const MARK_TOMBSTONE = 0x74; // 't'
const SEPARATOR = 0x5f; // '_'

function writeUint64(b: Buffer, n: number, at: number): void {
  b.writeUInt32BE(Math.floor(n / 0x1_0000_0000), at);
  b.writeUInt32BE(n >>> 0, at + 4);
}

function readUint64(b: Buffer, at: number): number {
  return b.readUInt32BE(at) * 0x1_0000_0000 + b.readUInt32BE(at + 4);
}

/**
 * The backend key of a change: KEY_PREFIX followed by revBytes (17 or 18 bytes).
 * From the Buffer pool: record keys only live until their batch is durable.
 */
export function recordKey(main: number, sub: number, tombstone: boolean): Buffer {
  assert(Number.isSafeInteger(main) && main >= 0, `revision main ${main}`);
  assert(Number.isSafeInteger(sub) && sub >= 0, `revision sub ${sub}`);
  const b = Buffer.allocUnsafe(1 + (tombstone ? MARKED_REV_BYTES_LEN : REV_BYTES_LEN));
  b[0] = KEY_PREFIX;
  writeUint64(b, main, 1);
  b[9] = SEPARATOR;
  writeUint64(b, sub, 10);
  if (tombstone) b[18] = MARK_TOMBSTONE;
  return b;
}

/** Lower bound of the key bucket for revisions >= (main, 0). */
export function recordKeyLowerBound(main: number): Buffer {
  return recordKey(main, 0, false);
}

export interface ParsedRecordKey {
  main: number;
  sub: number;
  tombstone: boolean;
}

/** Parses a backend record key (with KEY_PREFIX); asserts etcd's format. */
export function parseRecordKey(key: Buffer): ParsedRecordKey {
  assert(key[0] === KEY_PREFIX, 'record key without the key-bucket prefix');
  const len = key.length - 1;
  assert(len === REV_BYTES_LEN || len === MARKED_REV_BYTES_LEN, `record key of ${len} bytes`);
  assert(key[9] === SEPARATOR, 'record key without the revision separator');
  const tombstone = len === MARKED_REV_BYTES_LEN;
  if (tombstone) assert(key[18] === MARK_TOMBSTONE, 'record key with an unknown mark');
  const main = readUint64(key, 1);
  const sub = readUint64(key, 10);
  assert(Number.isSafeInteger(main) && Number.isSafeInteger(sub), 'record revision above 2^53');
  return { main, sub, tombstone };
}

/** etcd's revBytes of a record key (the part HashKV hashes): the key without our prefix. */
export function revBytesOf(recordKey: Buffer): Buffer {
  return recordKey.subarray(1);
}

/** Total order of revisions. */
export function compareRev(aMain: number, aSub: number, bMain: number, bSub: number): number {
  return aMain !== bMain ? aMain - bMain : aSub - bSub;
}
