/**
 * An in-memory Backend with LevelDB's semantics, for unit tests and the deterministic
 * simulator (docs/architecture.md §2: "a file layer that loses unsynced writes at a crash").
 *
 * Data: two parallel arrays kept sorted by key (binary search; inserts shift the tail,
 * fine for test-sized data). Iterators copy the references of their range when created,
 * which gives the same snapshot semantics as LevelDB's implicit iterator snapshot.
 *
 * Crash model: every write with `sync: false` is remembered with an undo record (the
 * previous value of each key it touched) until a later write with `sync: true` makes it
 * durable. `crash()` rolls the unsynced writes back, so the backend then looks like a
 * db reopened after a power loss; with an Rng it drops a random subset instead (LevelDB
 * can lose a middle unsynced batch while keeping later ones, docs/architecture.md §3). A process
 * crash (kill -9) loses nothing in LevelDB: model it by simply reopening the store.
 */
import { assert } from '../shared/assert.js';
import type { Rng } from '../shared/rng.js';
import {
  BackendBatch,
  trackedReadView,
  type Backend,
  type BackendEntry,
  type BackendIterator,
  type BackendRange,
  type BackendReadView,
  type BatchOp,
  type WriteOptions,
} from '../storage/backend.js';

interface UnsyncedWrite {
  readonly ops: readonly BatchOp[];
}

export class MemoryBackend implements Backend {
  private keys: Buffer[] = [];
  private vals: Buffer[] = [];
  private bytes = 0;
  private closed = false;
  /** Durable image for crash(): undefined while every write so far is synced. */
  private durableKeys: Buffer[] | undefined;
  private durableVals: Buffer[] | undefined;
  private unsynced: UnsyncedWrite[] = [];
  /** Number of writes applied, for tests that count I/O. */
  writeCount = 0;

  async get(key: Buffer): Promise<Buffer | undefined> {
    this.assertOpen();
    const i = this.find(key);
    return i >= 0 ? this.vals[i] : undefined;
  }

  getSync(key: Buffer): Buffer | undefined {
    this.assertOpen();
    const i = this.find(key);
    return i >= 0 ? this.vals[i] : undefined;
  }

  async getMany(keys: readonly Buffer[]): Promise<Array<Buffer | undefined>> {
    this.assertOpen();
    return keys.map((k) => {
      const i = this.find(k);
      return i >= 0 ? this.vals[i] : undefined;
    });
  }

  iterator(range: BackendRange): BackendIterator {
    this.assertOpen();
    const entries = this.snapshotRange(range);
    let pos = 0;
    let open = true;
    return {
      nextv: async (size: number): Promise<BackendEntry[]> => {
        assert(open, 'nextv on a closed iterator');
        assert(size > 0, 'nextv size must be positive');
        const out = entries.slice(pos, pos + size);
        pos += out.length;
        return out;
      },
      close: async () => {
        open = false;
      },
    };
  }

  /** A copy of the key and value arrays (the values themselves are never mutated). */
  readView(): BackendReadView {
    this.assertOpen();
    const frozen = new MemoryBackend();
    frozen.keys = this.keys.slice();
    frozen.vals = this.vals.slice();
    return trackedReadView(
      (key) => frozen.get(key),
      (range) => frozen.iterator(range),
      async () => undefined,
    );
  }

  batch(): BackendBatch {
    return new BackendBatch();
  }

  async write(batch: BackendBatch, options: WriteOptions): Promise<void> {
    this.assertOpen();
    batch.markWritten();
    this.writeCount++;
    if (!options.sync && this.durableKeys === undefined) {
      // First unsynced write since the last sync: remember the durable image.
      this.durableKeys = this.keys.slice();
      this.durableVals = this.vals.slice();
    }
    const ops = batch.ops.map(copyOp);
    this.applyOps(ops);
    if (options.sync) {
      this.durableKeys = undefined;
      this.durableVals = undefined;
      this.unsynced = [];
    } else {
      this.unsynced.push({ ops });
    }
  }

  async compactAll(): Promise<void> {
    this.assertOpen();
  }

  async sizeBytes(): Promise<number> {
    return Math.max(this.bytes, 1);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Reopens after close() (a clean restart keeps every write). */
  reopen(): void {
    this.closed = false;
  }

  /**
   * Power loss: unsynced writes are lost (all of them, or with `rng` a random subset),
   * then the backend is open again as after a restart.
   */
  crash(rng?: Rng): void {
    if (this.durableKeys !== undefined && this.durableVals !== undefined) {
      const replay = rng === undefined ? [] : this.unsynced.filter(() => rng.int(2) === 0);
      this.keys = this.durableKeys;
      this.vals = this.durableVals;
      this.bytes = 0;
      for (let i = 0; i < this.keys.length; i++) {
        this.bytes += (this.keys[i]?.length ?? 0) + (this.vals[i]?.length ?? 0);
      }
      for (const w of replay) this.applyOps(w.ops);
    }
    this.durableKeys = undefined;
    this.durableVals = undefined;
    this.unsynced = [];
    this.closed = false;
  }

  /** Number of stored entries. */
  get size(): number {
    return this.keys.length;
  }

  private applyOps(ops: readonly BatchOp[]): void {
    for (const op of ops) {
      const i = this.find(op.key);
      if (op.type === 'put') {
        if (i >= 0) {
          this.bytes += op.value.length - (this.vals[i]?.length ?? 0);
          this.vals[i] = op.value;
        } else {
          const at = -i - 1;
          this.keys.splice(at, 0, op.key);
          this.vals.splice(at, 0, op.value);
          this.bytes += op.key.length + op.value.length;
        }
      } else if (i >= 0) {
        this.bytes -= (this.keys[i]?.length ?? 0) + (this.vals[i]?.length ?? 0);
        this.keys.splice(i, 1);
        this.vals.splice(i, 1);
      }
    }
  }

  /** Index of key, or -(insertion point) - 1. */
  private find(key: Buffer): number {
    let lo = 0;
    let hi = this.keys.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = Buffer.compare(this.keys[mid] as Buffer, key);
      if (c < 0) lo = mid + 1;
      else if (c > 0) hi = mid - 1;
      else return mid;
    }
    return -lo - 1;
  }

  /** First index whose key is >= key (or > key when exclusive). */
  private lowerBound(key: Buffer, exclusive: boolean): number {
    const i = this.find(key);
    if (i >= 0) return exclusive ? i + 1 : i;
    return -i - 1;
  }

  private snapshotRange(range: BackendRange): BackendEntry[] {
    let start = 0;
    let end = this.keys.length;
    if (range.gte !== undefined) start = Math.max(start, this.lowerBound(range.gte, false));
    if (range.gt !== undefined) start = Math.max(start, this.lowerBound(range.gt, true));
    if (range.lt !== undefined) end = Math.min(end, this.lowerBound(range.lt, false));
    if (range.lte !== undefined) end = Math.min(end, this.lowerBound(range.lte, true));
    const out: BackendEntry[] = [];
    const limit = range.limit !== undefined && range.limit >= 0 ? range.limit : Infinity;
    if (range.reverse === true) {
      for (let i = end - 1; i >= start && out.length < limit; i--) {
        out.push([this.keys[i] as Buffer, this.vals[i] as Buffer]);
      }
    } else {
      for (let i = start; i < end && out.length < limit; i++) {
        out.push([this.keys[i] as Buffer, this.vals[i] as Buffer]);
      }
    }
    return out;
  }

  private assertOpen(): void {
    assert(!this.closed, 'MemoryBackend is closed');
  }
}

function copyOp(op: BatchOp): BatchOp {
  return op.type === 'put'
    ? { type: 'put', key: Buffer.from(op.key), value: Buffer.from(op.value) }
    : { type: 'del', key: Buffer.from(op.key) };
}
