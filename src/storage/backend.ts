/**
 * The state db seen by mvcc, lease, auth and apply: an ordered byte-keyed store with
 * atomic batches (docs/architecture.md §3). LevelBackend over classic-level is the production
 * implementation; src/testing holds MemoryBackend and FileLogBackend for tests and the
 * deterministic simulator.
 *
 * Contract (both implementations):
 * - Keys and values are Buffers, ordered by unsigned byte comparison.
 * - `write(batch, {sync})` applies every operation of the batch atomically, in the order
 *   the operations were added (a later put/del of the same key wins). `sync: true` makes
 *   this batch and every earlier write durable before the promise resolves; an unsynced
 *   write survives a process crash but may be lost by a power loss.
 * - `iterator(range)` reads a consistent snapshot taken when the iterator is created;
 *   writes made afterwards are not seen by it.
 * - `readView()` takes one such snapshot explicitly (LevelDB's GetSnapshot): every read
 *   and iterator of the view sees the db as it was when the view was taken, however many
 *   writes land meanwhile, until the view is closed. Writes are never blocked by a view.
 * - A batch is written at most once (asserted).
 * - The backend never retains the caller's Buffers in a way that later mutation of them
 *   could change stored data (LevelDB copies; MemoryBackend copies).
 */
import { assert } from '../shared/assert.js';

export interface BackendRange {
  /** Inclusive lower bound. */
  gte?: Buffer;
  /** Exclusive lower bound. */
  gt?: Buffer;
  /** Exclusive upper bound. */
  lt?: Buffer;
  /** Inclusive upper bound. */
  lte?: Buffer;
  reverse?: boolean;
  /** Maximum entries the iterator yields; undefined or negative = unlimited. */
  limit?: number;
}

export type BackendEntry = [key: Buffer, value: Buffer];

export interface BackendIterator {
  /** Up to `size` next entries; an empty array means the iterator is exhausted. */
  nextv(size: number): Promise<BackendEntry[]>;
  close(): Promise<void>;
}

export interface WriteOptions {
  sync: boolean;
}

/**
 * A point-in-time view of the state db (see the contract above): several reads, at any
 * pace, that all see one state. close() closes the view's open iterators first, then
 * releases the snapshot; it is idempotent, and reads after it throw.
 */
export interface BackendReadView {
  get(key: Buffer): Promise<Buffer | undefined>;
  iterator(range: BackendRange): BackendIterator;
  close(): Promise<void>;
}

export interface Backend {
  get(key: Buffer): Promise<Buffer | undefined>;
  /**
   * Synchronous point read. It blocks the event loop on a disk read, so it is only for
   * rare paths that must finish in one call (a Range at an old revision inside an
   * applied Txn); everything else uses get/getMany.
   */
  getSync(key: Buffer): Buffer | undefined;
  getMany(keys: readonly Buffer[]): Promise<Array<Buffer | undefined>>;
  iterator(range: BackendRange): BackendIterator;
  /** An explicit point-in-time view; the caller must close it. */
  readView(): BackendReadView;
  batch(): BackendBatch;
  write(batch: BackendBatch, options: WriteOptions): Promise<void>;
  /** Approximate bytes used on disk (or in memory), for Maintenance.Status dbSize. */
  sizeBytes(): Promise<number>;
  /**
   * Rewrites the stored data without deleted and overwritten records (etcd's
   * defragment): LevelDB compacts its whole key range; in-memory backends have nothing
   * to reclaim. Reads and writes keep working meanwhile.
   */
  compactAll(): Promise<void>;
  close(): Promise<void>;
}

export type BatchOp =
  | { readonly type: 'put'; readonly key: Buffer; readonly value: Buffer }
  | { readonly type: 'del'; readonly key: Buffer };

/**
 * An ordered list of puts and deletes applied atomically by Backend.write. Shared by
 * both backends so one apply batch can carry mvcc, lease, auth and meta changes.
 */
export class BackendBatch {
  private readonly opList: BatchOp[] = [];
  private bytes = 0;
  private written = false;

  put(key: Buffer, value: Buffer): this {
    assert(!this.written, 'put on a batch that was already written');
    this.opList.push({ type: 'put', key, value });
    this.bytes += key.length + value.length;
    return this;
  }

  del(key: Buffer): this {
    assert(!this.written, 'del on a batch that was already written');
    this.opList.push({ type: 'del', key });
    this.bytes += key.length;
    return this;
  }

  get length(): number {
    return this.opList.length;
  }

  /** Sum of key and value lengths, to bound batch sizes. */
  get byteLength(): number {
    return this.bytes;
  }

  get ops(): readonly BatchOp[] {
    return this.opList;
  }

  /** Called by a backend when it takes the batch; a batch is written once. */
  markWritten(): void {
    assert(!this.written, 'batch written twice');
    this.written = true;
  }

  get isWritten(): boolean {
    return this.written;
  }
}

/** The smallest key greater than every key starting with `prefix`; undefined if none. */
export function prefixUpperBound(prefix: Buffer): Buffer | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const b = prefix[i];
    if (b !== undefined && b < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = b + 1;
      return end;
    }
  }
  return undefined;
}

/** The range of every key that starts with `prefix`. */
export function prefixRange(prefix: Buffer, limit?: number): BackendRange {
  const upper = prefixUpperBound(prefix);
  const range: BackendRange = { gte: prefix };
  if (upper !== undefined) range.lt = upper;
  if (limit !== undefined) range.limit = limit;
  return range;
}

/**
 * Visits entries of `range` in order, `chunkSize` at a time (one await per chunk, so a
 * long scan yields to the event loop). `fn` returning false stops the scan. Returns the
 * number of entries visited.
 */
export async function forEachInRange(
  backend: Backend,
  range: BackendRange,
  fn: (key: Buffer, value: Buffer) => boolean | void,
  chunkSize = 1000,
): Promise<number> {
  assert(chunkSize > 0, 'chunkSize must be positive');
  const it = backend.iterator(range);
  let visited = 0;
  try {
    for (;;) {
      const entries = await it.nextv(chunkSize);
      if (entries.length === 0) return visited;
      for (const [k, v] of entries) {
        visited++;
        if (fn(k, v) === false) return visited;
      }
    }
  } finally {
    await it.close();
  }
}

/**
 * A BackendReadView over a backend's own snapshot reads: tracks the iterators it opened
 * so close() can end them before `release` frees the snapshot (LevelDB waits for a
 * snapshot's iterators before it lets the snapshot go), and refuses reads once closed.
 */
export function trackedReadView(
  get: (key: Buffer) => Promise<Buffer | undefined>,
  iterator: (range: BackendRange) => BackendIterator,
  release: () => Promise<void>,
): BackendReadView {
  const open = new Set<BackendIterator>();
  let closed: Promise<void> | undefined;
  const assertOpen = (): void => assert(closed === undefined, 'read on a closed BackendReadView');
  return {
    get: (key) => {
      assertOpen();
      return get(key);
    },
    iterator: (range) => {
      assertOpen();
      const it = iterator(range);
      let done: Promise<void> | undefined;
      const tracked: BackendIterator = {
        nextv: (size) => it.nextv(size),
        close: () => {
          open.delete(tracked);
          done ??= it.close();
          return done;
        },
      };
      open.add(tracked);
      return tracked;
    },
    close: () => {
      closed ??= (async () => {
        await Promise.all([...open].map((it) => it.close()));
        await release();
      })();
      return closed;
    },
  };
}
