/**
 * Backend over LevelDB (classic-level, keyEncoding/valueEncoding 'buffer').
 *
 * classic-level already gives what backend.ts promises: atomic batches, `sync` writes
 * that fsync the log, and iterators that read an implicit snapshot taken at creation.
 * The caller owns the LevelBackend: stores built on it (mvcc, lease, auth) never close it.
 */
import { ClassicLevel } from 'classic-level';
import { assert } from '../shared/assert.js';
import {
  BackendBatch,
  type Backend,
  type BackendEntry,
  type BackendIterator,
  type BackendRange,
  type BackendReadView,
  type WriteOptions,
  trackedReadView,
} from './backend.js';

type Db = ClassicLevel<Buffer, Buffer>;

/** Above every key we store (storage/schema.ts prefixes are letters). */
const WHOLE_RANGE_END = Buffer.from([0xff, 0xff, 0xff]);
/**
 * Below and above every key the state db stores, inside the compacted range (see
 * compactAll); these two keys are reserved.
 */
const COMPACT_MARKERS = [Buffer.from('\x00tsetcd-compact-marker', 'latin1'), Buffer.from('\xff\xff\xfetsetcd-compact-marker', 'latin1')];

export interface LevelBackendOptions {
  /** LevelDB block cache, bytes (classic-level default 8 MiB). */
  cacheSizeBytes?: number;
  /** Memtable size before a flush to a table file, bytes (default 4 MiB). */
  writeBufferSizeBytes?: number;
}

export class LevelBackend implements Backend {
  private closed = false;

  private constructor(
    private readonly db: Db,
    readonly location: string,
  ) {}

  /** Opens (creating if missing) the LevelDB at `location`. */
  static async open(location: string, options: LevelBackendOptions = {}): Promise<LevelBackend> {
    const db: Db = new ClassicLevel<Buffer, Buffer>(location, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      createIfMissing: true,
      // Tables uncompressed, as bbolt's pages: the files' size is then the data's size,
      // so quota-backend-bytes holds as much here as in etcd, and does not grow when a
      // restart or a compaction rewrites the log into compressed tables
      // (docs/architecture.md §3).
      compression: false,
      ...(options.cacheSizeBytes !== undefined ? { cacheSize: options.cacheSizeBytes } : {}),
      ...(options.writeBufferSizeBytes !== undefined
        ? { writeBufferSize: options.writeBufferSizeBytes }
        : {}),
    });
    await db.open();
    const backend = new LevelBackend(db, location);
    await backend.dropCompactMarkers();
    return backend;
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    this.assertOpen();
    return this.db.get(key);
  }

  getSync(key: Buffer): Buffer | undefined {
    this.assertOpen();
    return this.db.getSync(key);
  }

  async getMany(keys: readonly Buffer[]): Promise<Array<Buffer | undefined>> {
    this.assertOpen();
    if (keys.length === 0) return [];
    return this.db.getMany(keys as Buffer[]);
  }

  iterator(range: BackendRange): BackendIterator {
    this.assertOpen();
    return wrapIterator(this.db.iterator(toLevelRange(range)));
  }

  /** LevelDB's explicit snapshot (classic-level db.snapshot()): reads never block writes. */
  readView(): BackendReadView {
    this.assertOpen();
    const snapshot = this.db.snapshot();
    return trackedReadView(
      (key) => this.db.get(key, { snapshot }),
      (range) => wrapIterator(this.db.iterator({ ...toLevelRange(range), snapshot })),
      () => snapshot.close(),
    );
  }

  batch(): BackendBatch {
    return new BackendBatch();
  }

  async write(batch: BackendBatch, options: WriteOptions): Promise<void> {
    this.assertOpen();
    batch.markWritten();
    if (batch.length === 0) return;
    // A chained batch, not an array of op objects: abstract-level clones and checks every
    // op object of an array batch, about 3x the CPU per op of chained puts (measured
    // 15-17 against 3-8 us per 300-byte put; docs/architecture.md §4).
    const chained = this.db.batch();
    for (const op of batch.ops) {
      if (op.type === 'put') chained.put(op.key, op.value);
      else chained.del(op.key);
    }
    await chained.write({ sync: options.sync });
  }

  /**
   * Rewrites every table without deleted and overwritten records. LevelDB's
   * CompactRange only compacts each level into the next down to the deepest level that
   * held files before the memtable flush, and the flush itself may place the new table
   * straight at level 2, where nothing compacts it: data that only ever lived in the log
   * (a small db) would keep its garbage (measured: 3.6 MB of deleted values stayed).
   * So: a first pass flushes the memtable; then two marker keys spanning the whole
   * keyspace, flushed alone, overlap every table below them, and the second pass
   * merges each level with all of the next one's files. The markers are deleted again
   * at once (and at open, after a crash in between).
   */
  async compactAll(): Promise<void> {
    this.assertOpen();
    await this.db.compactRange(Buffer.alloc(0), WHOLE_RANGE_END);
    await this.db.batch(COMPACT_MARKERS.map((key) => ({ type: 'put' as const, key, value: Buffer.alloc(0) })));
    await this.db.compactRange(Buffer.alloc(0), WHOLE_RANGE_END);
    await this.dropCompactMarkers();
  }

  private async dropCompactMarkers(): Promise<void> {
    await this.db.batch(COMPACT_MARKERS.map((key) => ({ type: 'del' as const, key })));
  }

  async sizeBytes(): Promise<number> {
    this.assertOpen();
    // Whole keyspace: from the empty key to a key above every prefix we use.
    const size = await this.db.approximateSize(Buffer.alloc(0), WHOLE_RANGE_END);
    // approximateSize reports 0 until data reaches a table file; never report 0 for an
    // open db (Maintenance.Status promises dbSize > 0).
    return Math.max(size, 1);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }

  private assertOpen(): void {
    assert(!this.closed, `LevelBackend ${this.location} is closed`);
  }
}

function wrapIterator(it: { nextv(size: number): Promise<Array<[Buffer, Buffer]>>; close(): Promise<void> }): BackendIterator {
  return {
    nextv: async (size: number): Promise<BackendEntry[]> => {
      assert(size > 0, 'nextv size must be positive');
      return (await it.nextv(size)) as BackendEntry[];
    },
    close: () => it.close(),
  };
}

/**
 * Bytes one nextv() may gather before it returns (classic-level's highWaterMarkBytes,
 * default 16 KiB): with the default a scan of 1 KiB values crossed into LevelDB's thread
 * every 16 records, whatever count the caller asked for: a scan of 200k such records
 * (a snapshot save's pass) made 12,500 calls and took 0.86-1.45 CPU seconds, against
 * 207 calls and 0.81-0.87 s with 1 MiB (same db, alternating, load 24-28).
 */
const NEXTV_BYTES = 1 << 20;

function toLevelRange(range: BackendRange): {
  gte?: Buffer;
  gt?: Buffer;
  lt?: Buffer;
  lte?: Buffer;
  reverse?: boolean;
  limit?: number;
  highWaterMarkBytes: number;
} {
  const out: { gte?: Buffer; gt?: Buffer; lt?: Buffer; lte?: Buffer; reverse?: boolean; limit?: number; highWaterMarkBytes: number } = {
    highWaterMarkBytes: NEXTV_BYTES,
  };
  if (range.gte !== undefined) out.gte = range.gte;
  if (range.gt !== undefined) out.gt = range.gt;
  if (range.lt !== undefined) out.lt = range.lt;
  if (range.lte !== undefined) out.lte = range.lte;
  if (range.reverse !== undefined) out.reverse = range.reverse;
  if (range.limit !== undefined && range.limit >= 0) out.limit = range.limit;
  return out;
}
