/**
 * A new LevelDB written directly as table files, for a bulk load of sorted records into
 * an empty state db (`tsetcd snapshot restore`, docs/architecture.md §3). Going through
 * the database instead writes every record twice (its log, then a table at the memtable
 * flush) and pays a memtable insert and a batch per record; this writes each record
 * once, in the files LevelDB itself would end up with.
 *
 * The files follow LevelDB's documented formats (leveldb 1.20, bundled by classic-level:
 * doc/table_format.md, doc/log_format.md, db/version_edit.cc):
 * - tables `NNNNNN.ldb`: 4 KiB data blocks of prefix-compressed entries (restart every
 *   16), uncompressed (type 0, as LevelBackend opens the db), each followed by its
 *   masked CRC-32C; an empty metaindex block (no filter: LevelDB reads tables without
 *   one), an index block (one entry per data block: its last key -> its handle) and the
 *   48-byte footer with the table magic. Keys are internal keys: user key + 8 bytes
 *   (sequence 1 << 8 | kTypeValue).
 * - `MANIFEST-000001`: one VersionEdit in log records (32 KiB blocks, masked CRC-32C)
 *   naming the bytewise comparator, log number 0, the last sequence (1), the next file
 *   number and every table at the deepest level (6): the tables cover disjoint, sorted
 *   key ranges, and the deepest level is never compacted by size, so opening the db
 *   rewrites nothing.
 * - `CURRENT` naming the manifest. LevelDB's open then writes its own manifest and log.
 *
 * Contract: `add` takes user keys in strictly ascending byte order (checked) and copies
 * them; memory is bounded by two tables (one being written while the next is built).
 * Tables are fsynced a few tables behind the writing (at most 8 open), every file
 * before `finish` resolves, and the directory too; the caller
 * makes the directory itself visible (restore builds it under a temporary name). The
 * directory must be empty; on failure the caller removes it.
 */
import { join } from 'node:path';
import { assert } from '../shared/assert.js';
import { crc32c } from '../shared/crc32c.js';
import type { FileHandle, FileLayer } from './file-layer.js';

const BLOCK_BYTES = 4096;
const RESTART_INTERVAL = 16;
/** Table files of about this size (LevelDB's own are 2 MiB; fewer files, fewer fsyncs). */
const TABLE_BYTES = 8 << 20;
const DEEPEST_LEVEL = 6;
const SEQUENCE = 1;
const TYPE_VALUE = 1;
const TABLE_MAGIC = Buffer.from([0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]);
const FOOTER_BYTES = 48;
const LOG_BLOCK = 32768;
const LOG_HEADER = 7;
const MANIFEST_NUMBER = 1;
/** Tables written but not yet fsynced (open handles) at most. */
const UNSYNCED_TABLES = 8;

async function syncAndClose(fh: FileHandle | undefined): Promise<void> {
  if (fh === undefined) return;
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** LevelDB's crc32c::Mask: stored CRCs are rotated and offset. */
function masked(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** Appends bytes to a growable buffer (no per-record allocation once grown). */
class ByteBuilder {
  buf: Buffer;
  length = 0;
  constructor(initial: number | Buffer) {
    this.buf = typeof initial === 'number' ? Buffer.allocUnsafe(initial) : initial;
  }
  reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  varint(v: number): void {
    this.reserve(10);
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  u32(v: number): void {
    this.reserve(4);
    this.buf.writeUInt32LE(v >>> 0, this.length);
    this.length += 4;
  }
  byte(v: number): void {
    this.reserve(1);
    this.buf[this.length++] = v;
  }
}

/** The 8-byte internal-key trailer: (sequence << 8 | type) little-endian. */
const KEY_TRAILER = ((): Buffer => {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(SEQUENCE * 256 + TYPE_VALUE, 0);
  return b;
})();

function internalKey(userKey: Uint8Array): Buffer {
  const k = Buffer.allocUnsafe(userKey.length + 8);
  k.set(userKey, 0);
  KEY_TRAILER.copy(k, userKey.length);
  return k;
}

function sharedPrefix(a: Uint8Array, alen: number, b: Uint8Array): number {
  const n = Math.min(alen, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

interface TableMeta {
  readonly number: number;
  readonly size: number;
  readonly smallest: Buffer;
  readonly largest: Buffer;
}

/** One table being built: data blocks appended to `out`, index entries kept aside. */
class TableBuilder {
  readonly out: ByteBuilder;
  private readonly index = new ByteBuilder(64 << 10);
  private readonly indexRestarts: number[] = [];
  private blockStart = 0;
  private readonly restarts: number[] = [];
  private entriesSinceRestart = 0;
  /** The previous user key of the current block (internal keys share its trailer). */
  private prev: Buffer = Buffer.alloc(0);
  private prevLength = 0;
  private blockEntries = 0;
  first: Buffer | undefined;
  last: Uint8Array | undefined;
  entries = 0;

  constructor(buffer: Buffer) {
    this.out = new ByteBuilder(buffer);
  }

  add(userKey: Uint8Array, value: Uint8Array): void {
    const o = this.out;
    if (this.first === undefined) this.first = Buffer.from(userKey);
    let shared = 0;
    if (this.entriesSinceRestart === RESTART_INTERVAL || this.blockEntries === 0) {
      this.restarts.push(o.length - this.blockStart);
      this.entriesSinceRestart = 0;
    } else {
      shared = sharedPrefix(this.prev, this.prevLength, userKey);
    }
    const keyLength = userKey.length + 8;
    o.varint(shared);
    o.varint(keyLength - shared);
    o.varint(value.length);
    o.reserve(keyLength - shared + value.length);
    o.buf.set(shared < userKey.length ? userKey.subarray(shared) : userKey.subarray(0, 0), o.length);
    o.length += userKey.length - shared;
    KEY_TRAILER.copy(o.buf, o.length);
    o.length += 8;
    o.buf.set(value, o.length);
    o.length += value.length;
    if (this.prev.length < userKey.length) this.prev = Buffer.allocUnsafe(Math.max(64, userKey.length * 2));
    this.prev.set(userKey, 0);
    this.prevLength = userKey.length;
    this.last = this.prev.subarray(0, this.prevLength);
    this.entriesSinceRestart++;
    this.blockEntries++;
    this.entries++;
    if (o.length - this.blockStart + 4 * (this.restarts.length + 1) >= BLOCK_BYTES) this.endBlock();
  }

  get size(): number {
    return this.out.length;
  }

  /** Closes the data block in progress: restarts, trailer, and its index entry. */
  private endBlock(): void {
    if (this.blockEntries === 0) return;
    const o = this.out;
    for (const r of this.restarts) o.u32(r);
    o.u32(this.restarts.length);
    const handle = { offset: this.blockStart, size: o.length - this.blockStart };
    appendTrailer(o, this.blockStart);
    // Index: the block's last key (a valid separator: >= every key in it, < the next block's).
    const key = internalKey(this.last ?? Buffer.alloc(0));
    this.indexRestarts.push(this.index.length);
    this.index.varint(0);
    this.index.varint(key.length);
    const h = new ByteBuilder(20);
    h.varint(handle.offset);
    h.varint(handle.size);
    this.index.varint(h.length);
    this.index.bytes(key);
    this.index.bytes(h.buf.subarray(0, h.length));
    this.blockStart = o.length;
    this.restarts.length = 0;
    this.blockEntries = 0;
    this.entriesSinceRestart = 0;
  }

  /** Ends the table: metaindex, index and footer; the whole file is `out`. */
  finish(): void {
    this.endBlock();
    const o = this.out;
    const meta = { offset: o.length, size: 8 };
    o.u32(0);
    o.u32(1);
    appendTrailer(o, meta.offset);
    const index = { offset: o.length, size: 0 };
    o.bytes(this.index.buf.subarray(0, this.index.length));
    for (const r of this.indexRestarts) o.u32(r);
    o.u32(this.indexRestarts.length);
    index.size = o.length - index.offset;
    appendTrailer(o, index.offset);
    const footerStart = o.length;
    o.varint(meta.offset);
    o.varint(meta.size);
    o.varint(index.offset);
    o.varint(index.size);
    o.reserve(FOOTER_BYTES);
    o.buf.fill(0, o.length, footerStart + FOOTER_BYTES - 8);
    o.length = footerStart + FOOTER_BYTES - 8;
    o.bytes(TABLE_MAGIC);
  }
}

/** The block trailer: compression type 0 and the masked CRC-32C of the block and that byte. */
function appendTrailer(o: ByteBuilder, blockStart: number): void {
  const crc = crc32c(o.buf.subarray(blockStart, o.length));
  o.byte(0);
  o.u32(masked(crc32c(o.buf.subarray(o.length - 1, o.length), crc)));
}

export class LevelTableWriter {
  private table: TableBuilder;
  private readonly tables: TableMeta[] = [];
  private nextNumber = MANIFEST_NUMBER + 1;
  private inFlight: Promise<void> = Promise.resolve();
  private prevKey: Buffer | undefined;
  private finished = false;
  private readonly unsynced: FileHandle[] = [];
  /** The buffer of the table being written, and one free for the next table. */
  private writing: Buffer | undefined;
  private spare: Buffer | undefined;

  private constructor(
    private readonly fs: FileLayer,
    private readonly dir: string,
    private readonly tableBytes: number,
  ) {
    this.table = this.newTable();
  }

  /**
   * Starts a LevelDB in `dir` (created if missing; must hold no LevelDB). `tableBytes`
   * (default 8 MiB) is for tests that want many tables.
   */
  static async create(fs: FileLayer, dir: string, options: { readonly tableBytes?: number } = {}): Promise<LevelTableWriter> {
    await fs.mkdirp(dir);
    assert(!(await fs.exists(join(dir, 'CURRENT'))), `${dir} already holds a LevelDB`);
    return new LevelTableWriter(fs, dir, options.tableBytes ?? TABLE_BYTES);
  }

  /**
   * A builder on the buffer of the table written before the last (its write is done),
   * so a load reuses two buffers instead of touching fresh memory for every table.
   */
  private newTable(): TableBuilder {
    const spare = this.spare;
    this.spare = undefined;
    return new TableBuilder(spare ?? Buffer.allocUnsafe(Math.max(this.tableBytes, BLOCK_BYTES) + (1 << 20)));
  }

  /** Records added so far. */
  records = 0;

  /** Adds a record; keys strictly ascending. Copies what it keeps. */
  add(key: Uint8Array, value: Uint8Array): void {
    assert(!this.finished, 'LevelTableWriter: add after finish');
    const t = this.table;
    if (t.last !== undefined) {
      assert(Buffer.compare(t.last, key) < 0, 'LevelTableWriter: keys must be strictly ascending');
    } else if (this.prevKey !== undefined) {
      assert(Buffer.compare(this.prevKey, key) < 0, 'LevelTableWriter: keys must be strictly ascending');
    }
    t.add(key, value);
    this.records++;
  }

  /** True when the table in progress is full: the caller should await flush(). */
  get wantsFlush(): boolean {
    return this.table.size >= this.tableBytes;
  }

  /**
   * Closes the table in progress and starts writing it (fsync included) while the next
   * one is built; waits for the previous table's write first, so at most one is in flight.
   */
  async flush(): Promise<void> {
    const t = this.table;
    if (t.entries === 0) return;
    t.finish();
    const number = this.nextNumber++;
    const bytes = t.out.buf.subarray(0, t.out.length);
    this.tables.push({
      number,
      size: bytes.length,
      smallest: internalKey(t.first ?? Buffer.alloc(0)),
      largest: internalKey(t.last ?? Buffer.alloc(0)),
    });
    this.prevKey = Buffer.from(t.last ?? Buffer.alloc(0));
    await this.inFlight;
    this.spare = this.writing;
    this.writing = t.out.buf;
    this.inFlight = this.writeTable(tableName(number), bytes);
    // Not on this table's buffer: it is being written.
    this.table = this.newTable();
  }

  /** Writes the last table, the manifest and CURRENT, fsyncs them and the directory. */
  async finish(): Promise<{ readonly tables: number; readonly records: number }> {
    await this.flush();
    await this.inFlight;
    this.finished = true;
    await this.syncTables();
    const manifest = `MANIFEST-${String(MANIFEST_NUMBER).padStart(6, '0')}`;
    await this.writeFile(manifest, logRecords(this.versionEdit()));
    await this.writeFile('CURRENT', Buffer.from(`${manifest}\n`));
    await this.fs.syncDir(this.dir);
    return { tables: this.tables.length, records: this.records };
  }

  /** Waits for a write in flight (after a failure, before the caller removes the dir). */
  async abort(): Promise<void> {
    this.finished = true;
    await this.inFlight.catch(() => undefined);
    await this.closeTables();
  }

  private versionEdit(): Buffer {
    const e = new ByteBuilder(64 + this.tables.length * 80);
    const comparator = Buffer.from('leveldb.BytewiseComparator');
    e.varint(1); // kComparator
    e.varint(comparator.length);
    e.bytes(comparator);
    e.varint(2); // kLogNumber
    e.varint(0);
    e.varint(3); // kNextFileNumber
    e.varint(this.nextNumber);
    e.varint(4); // kLastSequence
    e.varint(SEQUENCE);
    for (const t of this.tables) {
      e.varint(7); // kNewFile
      e.varint(DEEPEST_LEVEL);
      e.varint(t.number);
      e.varint(t.size);
      e.varint(t.smallest.length);
      e.bytes(t.smallest);
      e.varint(t.largest.length);
      e.bytes(t.largest);
    }
    return e.buf.subarray(0, e.length);
  }

  private async writeFile(name: string, bytes: Uint8Array): Promise<void> {
    const fh = await this.fs.open(join(this.dir, name), 'create-exclusive');
    try {
      await fh.write(bytes, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /**
   * A table written now and fsynced later: a sync right after the write would wait for
   * the disk while the next table could be built. The oldest table is synced once
   * UNSYNCED_TABLES are open (by then the kernel has mostly written it back), the rest
   * by finish().
   */
  private async writeTable(name: string, bytes: Uint8Array): Promise<void> {
    const fh = await this.fs.open(join(this.dir, name), 'create-exclusive');
    this.unsynced.push(fh);
    await fh.write(bytes, 0);
    while (this.unsynced.length > UNSYNCED_TABLES) await syncAndClose(this.unsynced.shift());
  }

  private async syncTables(): Promise<void> {
    const open = this.unsynced.splice(0);
    await Promise.all(open.map(syncAndClose));
  }

  private async closeTables(): Promise<void> {
    const open = this.unsynced.splice(0);
    await Promise.all(open.map((fh) => fh.close().catch(() => undefined)));
  }
}

function tableName(n: number): string {
  return `${String(n).padStart(6, '0')}.ldb`;
}

/** One payload as LevelDB log records (FULL, or FIRST/MIDDLE.../LAST across 32 KiB blocks). */
function logRecords(payload: Uint8Array): Buffer {
  const out = new ByteBuilder(payload.length + 64);
  let off = 0;
  let first = true;
  do {
    const left = LOG_BLOCK - (out.length % LOG_BLOCK);
    if (left < LOG_HEADER) {
      out.reserve(left);
      out.buf.fill(0, out.length, out.length + left);
      out.length += left;
      continue;
    }
    const n = Math.min(payload.length - off, left - LOG_HEADER);
    const end = off + n === payload.length;
    const type = first && end ? 1 : first ? 2 : end ? 4 : 3;
    const fragment = payload.subarray(off, off + n);
    out.u32(masked(crc32c(fragment, crc32c(Uint8Array.of(type)))));
    out.byte(n & 0xff);
    out.byte(n >>> 8);
    out.byte(type);
    out.bytes(fragment);
    off += n;
    first = false;
  } while (off < payload.length);
  return out.buf.subarray(0, out.length);
}
