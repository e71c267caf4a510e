/**
 * WAL records: the typed items inside a batch's payload (docs/architecture.md §3).
 *
 * Layout of one record, little endian:  [kind u8 | bodyLength u32 | body]
 *   1 crcSeed    seed u32 (the chained CRC the previous segment ended with)
 *   2 metadata   opaque bytes
 *   3 entry      index u64 | term u64 | type u8 | data
 *   4 hardState  term u64 | vote u64 | commit u64
 *   5 snapshot   index u64 | term u64 | hasConfState u8 | confState
 * u64 fields that hold numbers (index, term, commit) must be safe integers; `vote`
 * is a full 64-bit member id. Decoding checks every length against the payload, so a
 * payload that passed its CRC but was written by a buggy encoder still cannot make
 * the reader run off the end: it reports a RecordError with the offset.
 */
import { assert, assertSafeInteger } from '../shared/assert.js';
import type { WalEntry, WalHardState, WalSnapshot } from './types.js';

export const RecordKind = { crcSeed: 1, metadata: 2, entry: 3, hardState: 4, snapshot: 5 } as const;

export type WalRecord =
  | { readonly kind: 'crcSeed'; readonly seed: number }
  | { readonly kind: 'metadata'; readonly data: Uint8Array }
  | { readonly kind: 'entry'; readonly entry: WalEntry }
  | { readonly kind: 'hardState'; readonly hardState: WalHardState }
  | { readonly kind: 'snapshot'; readonly snapshot: WalSnapshot };

const RECORD_HEADER_BYTES = 5;

export class RecordError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

function bodyBytes(r: WalRecord): number {
  switch (r.kind) {
    case 'crcSeed':
      return 4;
    case 'metadata':
      return r.data.length;
    case 'entry':
      return 17 + r.entry.data.length;
    case 'hardState':
      return 24;
    case 'snapshot':
      return 17 + (r.snapshot.confState?.length ?? 0);
  }
}

export function encodedBytes(r: WalRecord): number {
  return RECORD_HEADER_BYTES + bodyBytes(r);
}

function putU64(buf: Buffer, off: number, n: number, what: string): void {
  assertSafeInteger(n, what);
  assert(n >= 0, `${what} is negative: ${n}`);
  buf.writeUInt32LE(n % 0x1_0000_0000, off);
  buf.writeUInt32LE(Math.floor(n / 0x1_0000_0000), off + 4);
}

function getU64(buf: Buffer, off: number, what: string): number {
  const hi = buf.readUInt32LE(off + 4);
  if (hi > 0x1f_ffff) throw new RecordError(`${what} does not fit a safe integer`, off);
  return hi * 0x1_0000_0000 + buf.readUInt32LE(off);
}

/** Writes `r` at `off` of `buf` (which has room), returns the offset after it. */
export function encodeRecord(buf: Buffer, off: number, r: WalRecord): number {
  const body = bodyBytes(r);
  buf.writeUInt8(RecordKind[r.kind], off);
  buf.writeUInt32LE(body, off + 1);
  let p = off + RECORD_HEADER_BYTES;
  switch (r.kind) {
    case 'crcSeed':
      buf.writeUInt32LE(r.seed >>> 0, p);
      break;
    case 'metadata':
      buf.set(r.data, p);
      break;
    case 'entry':
      putU64(buf, p, r.entry.index, 'entry index');
      putU64(buf, p + 8, r.entry.term, 'entry term');
      assert(r.entry.type === 0 || r.entry.type === 1, `entry type ${String(r.entry.type)}`);
      buf.writeUInt8(r.entry.type, p + 16);
      buf.set(r.entry.data, p + 17);
      break;
    case 'hardState':
      putU64(buf, p, r.hardState.term, 'hardState term');
      assert(
        r.hardState.vote >= 0n && r.hardState.vote < 1n << 64n,
        'hardState vote is not a uint64',
      );
      buf.writeBigUInt64LE(r.hardState.vote, p + 8);
      putU64(buf, p + 16, r.hardState.commit, 'hardState commit');
      break;
    case 'snapshot': {
      putU64(buf, p, r.snapshot.index, 'snapshot index');
      putU64(buf, p + 8, r.snapshot.term, 'snapshot term');
      const cs = r.snapshot.confState;
      buf.writeUInt8(cs === undefined ? 0 : 1, p + 16);
      if (cs !== undefined) buf.set(cs, p + 17);
      break;
    }
  }
  p += body;
  return p;
}

/** Encodes records into one payload. */
export function encodeRecords(records: readonly WalRecord[]): Buffer {
  let total = 0;
  for (const r of records) total += encodedBytes(r);
  const buf = Buffer.allocUnsafe(total);
  let off = 0;
  for (const r of records) off = encodeRecord(buf, off, r);
  assert(off === total, 'record encoding size mismatch');
  return buf;
}

/**
 * Decodes a payload. Entry data are views into `payload` when `viewEntries` (reading a
 * whole segment back: the entries are kept by the Raft log anyway, and a copy of each
 * would cost its allocation and page faults at every restart), copies otherwise (the
 * payload can then be freed, e.g. the last segment, mostly preallocated zeros).
 * Metadata and snapshot conf states are always copies.
 */
export function decodeRecords(payload: Buffer, viewEntries = false): WalRecord[] {
  const out: WalRecord[] = [];
  let off = 0;
  while (off < payload.length) {
    if (off + RECORD_HEADER_BYTES > payload.length)
      throw new RecordError('truncated record header', off);
    const kind = payload.readUInt8(off);
    const len = payload.readUInt32LE(off + 1);
    const p = off + RECORD_HEADER_BYTES;
    if (p + len > payload.length)
      throw new RecordError(`record of ${len} bytes runs past its batch`, off);
    out.push(decodeBody(payload, kind, p, len, off, viewEntries));
    off = p + len;
  }
  return out;
}

function decodeBody(b: Buffer, kind: number, p: number, len: number, at: number, view: boolean): WalRecord {
  const need = (n: number, exact: boolean): void => {
    if (exact ? len !== n : len < n)
      throw new RecordError(`record kind ${kind} has bad length ${len}`, at);
  };
  switch (kind) {
    case RecordKind.crcSeed:
      need(4, true);
      return { kind: 'crcSeed', seed: b.readUInt32LE(p) };
    case RecordKind.metadata:
      return { kind: 'metadata', data: Buffer.from(b.subarray(p, p + len)) };
    case RecordKind.entry: {
      need(17, false);
      const type = b.readUInt8(p + 16);
      if (type !== 0 && type !== 1) throw new RecordError(`entry type ${type}`, at);
      const entry: WalEntry = {
        index: getU64(b, p, 'entry index'),
        term: getU64(b, p + 8, 'entry term'),
        type,
        data: view ? b.subarray(p + 17, p + len) : Buffer.from(b.subarray(p + 17, p + len)),
      };
      return { kind: 'entry', entry };
    }
    case RecordKind.hardState:
      need(24, true);
      return {
        kind: 'hardState',
        hardState: {
          term: getU64(b, p, 'term'),
          vote: b.readBigUInt64LE(p + 8),
          commit: getU64(b, p + 16, 'commit'),
        },
      };
    case RecordKind.snapshot: {
      need(17, false);
      const has = b.readUInt8(p + 16);
      if (has > 1 || (has === 0 && len !== 17))
        throw new RecordError('bad snapshot confState flag', at);
      const base = {
        index: getU64(b, p, 'snapshot index'),
        term: getU64(b, p + 8, 'snapshot term'),
      };
      const snapshot: WalSnapshot =
        has === 1 ? { ...base, confState: Buffer.from(b.subarray(p + 17, p + len)) } : base;
      return { kind: 'snapshot', snapshot };
    }
    default:
      throw new RecordError(`unknown record kind ${kind}`, at);
  }
}
