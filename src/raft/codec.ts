/**
 * Compact binary encoding of the Raft types, for the WAL and the peer transport.
 *
 * Format: unsigned LEB128 varints for indexes, terms, counts and lengths (safe
 * integers only); node ids as 8-byte big-endian uint64; byte strings as varint length
 * + bytes. Every top-level encoding starts with a one-byte tag so a reader can reject
 * the wrong kind of record. Decoding checks bounds and throws RangeError on damage
 * (truncated input, trailing bytes, unknown enum values).
 *
 * A Message may be encoded with its snapshot's data left out (`omitSnapshotData`):
 * the transport streams large snapshot data separately and puts it back in place.
 */
import { AssertionError } from '../shared/assert.js';
import {
  ConfChangeType,
  EntryType,
  MESSAGE_TYPE_NAMES,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type MessageType,
  type NodeId,
  type Snapshot,
  type SnapshotMetadata,
} from './types.js';

const TAG_ENTRY = 0xe1;
const TAG_HARD_STATE = 0xe2;
const TAG_CONF_STATE = 0xe3;
const TAG_CONF_CHANGE = 0xe4;
const TAG_SNAPSHOT = 0xe5;
const TAG_MESSAGE = 0xe6;

const FLAG_REJECT = 1;
const FLAG_SNAPSHOT = 2;
const FLAG_SNAPSHOT_DATA = 4;

export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initial = 64) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  uvarint(v: number): void {
    if (!(Number.isSafeInteger(v) && v >= 0)) {
      throw new AssertionError(`uvarint: ${v} is not a non-negative safe integer`);
    }
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  u64(v: bigint): void {
    this.ensure(8);
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, v));
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.uvarint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

export class Reader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      const at = `${this.pos} (+${n} of ${this.buf.length})`;
      throw new RangeError(`raft codec: truncated input at ${at}`);
    }
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++] ?? 0;
  }

  uvarint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (!Number.isSafeInteger(result)) throw new RangeError('raft codec: varint beyond 2^53');
        return result;
      }
      mul *= 0x80;
    }
    throw new RangeError('raft codec: varint too long');
  }

  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(): Uint8Array {
    const n = this.uvarint();
    this.need(n);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  tag(expected: number, what: string): void {
    const t = this.u8();
    if (t !== expected) {
      throw new RangeError(`raft codec: expected ${what} (tag ${expected}), got tag ${t}`);
    }
  }

  end(): void {
    if (this.pos !== this.buf.length) {
      throw new RangeError(`raft codec: ${this.buf.length - this.pos} trailing bytes`);
    }
  }
}

function checkEnum(v: number, max: number, what: string): number {
  if (v > max) throw new RangeError(`raft codec: unknown ${what} ${v}`);
  return v;
}

// ---- field writers (no tag) ----

function writeEntry(w: Writer, e: Entry): void {
  w.uvarint(e.term);
  w.uvarint(e.index);
  w.u8(e.type);
  w.bytes(e.data);
}

function readEntry(r: Reader): Entry {
  const term = r.uvarint();
  const index = r.uvarint();
  const type = checkEnum(r.u8(), EntryType.ConfChange, 'entry type') as EntryType;
  return { term, index, type, data: r.bytes() };
}

function writeIds(w: Writer, ids: readonly NodeId[]): void {
  w.uvarint(ids.length);
  for (const id of ids) w.u64(id);
}

function readIds(r: Reader): NodeId[] {
  const n = r.uvarint();
  const out: NodeId[] = [];
  for (let i = 0; i < n; i++) out.push(r.u64());
  return out;
}

function writeConfState(w: Writer, cs: ConfState): void {
  writeIds(w, cs.voters);
  writeIds(w, cs.learners);
}

function readConfState(r: Reader): ConfState {
  const voters = readIds(r);
  return { voters, learners: readIds(r) };
}

function writeSnapshotMetadata(w: Writer, m: SnapshotMetadata): void {
  w.uvarint(m.index);
  w.uvarint(m.term);
  writeConfState(w, m.confState);
}

function readSnapshotMetadata(r: Reader): SnapshotMetadata {
  const index = r.uvarint();
  const term = r.uvarint();
  return { index, term, confState: readConfState(r) };
}

// ---- top-level records ----

function encodeWith(tag: number, size: number, fn: (w: Writer) => void): Uint8Array {
  const w = new Writer(size);
  w.u8(tag);
  fn(w);
  return w.finish();
}

function decodeWith<T>(buf: Uint8Array, tag: number, what: string, fn: (r: Reader) => T): T {
  const r = new Reader(buf);
  r.tag(tag, what);
  const v = fn(r);
  r.end();
  return v;
}

export const encodeEntry = (e: Entry): Uint8Array =>
  encodeWith(TAG_ENTRY, e.data.length + 24, (w) => writeEntry(w, e));
export const decodeEntry = (b: Uint8Array): Entry => decodeWith(b, TAG_ENTRY, 'Entry', readEntry);

export const encodeHardState = (hs: HardState): Uint8Array =>
  encodeWith(TAG_HARD_STATE, 32, (w) => {
    w.uvarint(hs.term);
    w.u64(hs.vote);
    w.uvarint(hs.commit);
  });
export const decodeHardState = (b: Uint8Array): HardState =>
  decodeWith(b, TAG_HARD_STATE, 'HardState', (r) => {
    const term = r.uvarint();
    const vote = r.u64();
    return { term, vote, commit: r.uvarint() };
  });

export const encodeConfState = (cs: ConfState): Uint8Array =>
  encodeWith(TAG_CONF_STATE, 64, (w) => writeConfState(w, cs));
export const decodeConfState = (b: Uint8Array): ConfState =>
  decodeWith(b, TAG_CONF_STATE, 'ConfState', readConfState);

export const encodeConfChange = (cc: ConfChange): Uint8Array =>
  encodeWith(TAG_CONF_CHANGE, cc.context.length + 16, (w) => {
    w.u8(cc.type);
    w.u64(cc.nodeId);
    w.bytes(cc.context);
  });
export const decodeConfChange = (b: Uint8Array): ConfChange =>
  decodeWith(b, TAG_CONF_CHANGE, 'ConfChange', (r) => {
    const max = ConfChangeType.AddLearnerNode;
    const type = checkEnum(r.u8(), max, 'conf change type') as ConfChangeType;
    const nodeId = r.u64();
    return { type, nodeId, context: r.bytes() };
  });

export interface EncodeOptions {
  /** Leave the snapshot's data out (the transport sends it separately). */
  readonly omitSnapshotData?: boolean;
}

export const encodeSnapshot = (s: Snapshot, opts: EncodeOptions = {}): Uint8Array =>
  encodeWith(
    TAG_SNAPSHOT,
    64 + (opts.omitSnapshotData === true ? 0 : s.data.length),
    (w) => writeSnapshot(w, s, opts),
  );
export const decodeSnapshot = (b: Uint8Array): Snapshot =>
  decodeWith(b, TAG_SNAPSHOT, 'Snapshot', readSnapshot);

function writeSnapshot(w: Writer, s: Snapshot, opts: EncodeOptions): void {
  writeSnapshotMetadata(w, s.metadata);
  const withData = opts.omitSnapshotData !== true;
  w.u8(withData ? 1 : 0);
  if (withData) w.bytes(s.data);
}

function readSnapshot(r: Reader): Snapshot {
  const metadata = readSnapshotMetadata(r);
  const withData = r.u8();
  if (withData > 1) throw new RangeError('raft codec: bad snapshot data flag');
  return { metadata, data: withData === 1 ? r.bytes() : new Uint8Array(0) };
}

export function encodeMessage(m: Message, opts: EncodeOptions = {}): Uint8Array {
  let size = 64 + m.context.length;
  for (const e of m.entries) size += e.data.length + 24;
  if (m.snapshot !== undefined && opts.omitSnapshotData !== true) {
    size += m.snapshot.data.length + 64;
  }
  return encodeWith(TAG_MESSAGE, size, (w) => {
    w.u8(m.type);
    let flags = m.reject ? FLAG_REJECT : 0;
    if (m.snapshot !== undefined) {
      flags |= FLAG_SNAPSHOT | (opts.omitSnapshotData === true ? 0 : FLAG_SNAPSHOT_DATA);
    }
    w.u8(flags);
    w.u64(m.to);
    w.u64(m.from);
    w.uvarint(m.term);
    w.uvarint(m.logTerm);
    w.uvarint(m.index);
    w.uvarint(m.commit);
    w.uvarint(m.rejectHint);
    w.bytes(m.context);
    w.uvarint(m.entries.length);
    for (const e of m.entries) writeEntry(w, e);
    if (m.snapshot !== undefined) {
      writeSnapshotMetadata(w, m.snapshot.metadata);
      if (opts.omitSnapshotData !== true) w.bytes(m.snapshot.data);
    }
  });
}

/** Decode a Message; if its snapshot data was omitted, `snapshot.data` is empty. */
export function decodeMessage(b: Uint8Array): Message {
  return decodeWith(b, TAG_MESSAGE, 'Message', (r) => {
    const type = checkEnum(r.u8(), MESSAGE_TYPE_NAMES.length - 1, 'message type') as MessageType;
    const flags = r.u8();
    if (flags > 7) throw new RangeError(`raft codec: bad message flags ${flags}`);
    const to = r.u64();
    const from = r.u64();
    const term = r.uvarint();
    const logTerm = r.uvarint();
    const index = r.uvarint();
    const commit = r.uvarint();
    const rejectHint = r.uvarint();
    const context = r.bytes();
    const n = r.uvarint();
    const entries: Entry[] = [];
    for (let i = 0; i < n; i++) entries.push(readEntry(r));
    const reject = (flags & FLAG_REJECT) !== 0;
    const m: Message = {
      type, to, from, term, logTerm, index, entries, commit, reject, rejectHint, context,
    };
    if ((flags & FLAG_SNAPSHOT) !== 0) {
      const metadata = readSnapshotMetadata(r);
      const data = (flags & FLAG_SNAPSHOT_DATA) !== 0 ? r.bytes() : new Uint8Array(0);
      m.snapshot = { metadata, data };
    }
    return m;
  });
}

/** Whether an encoded Message carries a snapshot whose data was left out. */
export function messageOmitsSnapshotData(b: Uint8Array): boolean {
  return b.length > 2 &&
    b[0] === TAG_MESSAGE && ((b[2] ?? 0) & (FLAG_SNAPSHOT | FLAG_SNAPSHOT_DATA)) === FLAG_SNAPSHOT;
}
