/**
 * The in-memory state of an MvccStore, shared by its parts (range, txn, compaction,
 * hash, restore). Not exported from the module: MvccStore is the only entry point.
 *
 * Where the value of a revision lives:
 * - the latest put of every live key: in memory (the key's record in `arena`), always;
 * - a revision whose batch is not durable yet: `pending` (main -> records by sub),
 *   dropped when the caller reports the batch durable (MvccStore.batchDurable);
 * - anything else: the backend, record key KEY_PREFIX + revBytes.
 * A read decides the source of each value synchronously when it starts, so a batch that
 * becomes durable, or a later write, during the read cannot change what it sees.
 *
 * ReadFence: physical compaction deletes only revisions invisible at and after its
 * compaction revision, but a read that started before the compaction was applied may
 * still need them. Reads register with the current fence epoch; a compaction's
 * deletion waits until every read of an earlier epoch has finished.
 */
import { assert } from '../shared/assert.js';
import type { Logger } from '../shared/logger.js';
import type { Backend, BackendBatch } from '../storage/backend.js';
import { BTree } from './btree.js';
import type { KeyIndex, KeyRevision } from './key-index.js';
import { decodeKeyValue } from './kv-codec.js';
import { RecordArena } from './record-arena.js';
import { recordKey } from './revision.js';
import type { KeyValue } from './types.js';

export interface PendingRecord {
  /** Backend key: KEY_PREFIX + revBytes. */
  readonly key: Buffer;
  /** Marshalled KeyValue. */
  readonly value: Buffer;
}

export interface StoredHash {
  hash: number;
  compactRevision: number;
  revision: number;
}

export class ReadFence {
  private epoch = 0;
  private readonly active = new Map<number, number>();
  private waiters: Array<{ epoch: number; resolve: () => void }> = [];

  /** Starts a new epoch (a compaction was applied); returns it. */
  advance(): number {
    return ++this.epoch;
  }

  enter(): number {
    this.active.set(this.epoch, (this.active.get(this.epoch) ?? 0) + 1);
    return this.epoch;
  }

  exit(epoch: number): void {
    const n = this.active.get(epoch);
    assert(n !== undefined && n > 0, 'read fence: exit without enter');
    if (n === 1) this.active.delete(epoch);
    else this.active.set(epoch, n - 1);
    if (this.waiters.length > 0) this.wake();
  }

  /** Resolves when no read of an epoch before `epoch` is in flight. */
  waitBefore(epoch: number): Promise<void> {
    if (!this.busyBefore(epoch)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ epoch, resolve }));
  }

  private busyBefore(epoch: number): boolean {
    for (const e of this.active.keys()) if (e < epoch) return true;
    return false;
  }

  private wake(): void {
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (this.busyBefore(w.epoch)) still.push(w);
      else w.resolve();
    }
    this.waiters = still;
  }
}

export class StoreState {
  readonly index = new BTree<KeyIndex>();
  /** The live record of every key in the index. */
  readonly arena = new RecordArena();
  /** Revision of the last completed write. A fresh store is at 1. */
  currentRev = 1;
  /** Highest main revision in the index (ahead of currentRev inside a txn). */
  indexRev = 1;
  /** Revision of the last applied compaction; -1 if none (as etcd's compactMainRev). */
  compactRev = -1;
  /** Persisted meta values as of the last write we made; -1 when absent. */
  scheduledCompactRev = -1;
  finishedCompactRev = -1;
  /** Keys that exist now. */
  liveKeys = 0;
  /**
   * Whether a record naming a lease was ever put or restored here: until one is, no
   * live key has a lease and the lease walk at open (forEachLeasedKey) has nothing to
   * visit, so it skips scanning every key.
   */
  leasedRecordSeen = false;
  /**
   * Key + value bytes of the key-bucket records in the db (every revision not yet
   * compacted away, tombstones included): the db's in-use size (docs/architecture.md §3).
   */
  recordBytes = 0;
  readonly pending = new Map<number, PendingRecord[]>();
  /** Main revisions written into each not-yet-durable batch. */
  readonly batchMains = new Map<BackendBatch, number[]>();
  readonly fence = new ReadFence();
  /** Hashes computed by compactions (etcd hashStorage): the last 10 by revision. */
  hashes: StoredHash[] = [];

  constructor(
    readonly backend: Backend,
    readonly logger: Logger,
  ) {}

  addPending(batch: BackendBatch, main: number, sub: number, rec: PendingRecord): void {
    let recs = this.pending.get(main);
    if (recs === undefined) {
      recs = [];
      this.pending.set(main, recs);
      let mains = this.batchMains.get(batch);
      if (mains === undefined) {
        mains = [];
        this.batchMains.set(batch, mains);
      }
      mains.push(main);
    }
    assert(recs.length === sub, `pending records of ${main} out of order`);
    recs.push(rec);
  }

  batchDurable(batch: BackendBatch): void {
    const mains = this.batchMains.get(batch);
    if (mains === undefined) return;
    for (const m of mains) this.pending.delete(m);
    this.batchMains.delete(batch);
  }

  storeHash(h: StoredHash): void {
    this.logger.info({ hash: h.hash, revision: h.revision, compactRevision: h.compactRevision }, 'storing new hash');
    this.hashes.push(h);
    this.hashes.sort((a, b) => a.revision - b.revision);
    if (this.hashes.length > 10) this.hashes = this.hashes.slice(this.hashes.length - 10);
  }
}

/**
 * Where the value of a key's revision is: the KeyValue itself when it is in memory,
 * or the backend record key to fetch.
 */
export type ValueSource = { kv: KeyValue } | { fetch: Buffer };

export function valueSource(state: StoreState, ki: KeyIndex, rev: KeyRevision): ValueSource {
  if (ki.isLiveRevision(rev.main, rev.sub)) return { kv: ki.liveKV() as KeyValue };
  const rec = state.pending.get(rev.main)?.[rev.sub];
  if (rec !== undefined) return { kv: checkedRecord(rec.value, ki, rev) };
  return { fetch: recordKey(rev.main, rev.sub, false) };
}

/** Decodes a record read back for (ki, rev) and checks it against the index. */
export function checkedRecord(value: Buffer | undefined, ki: KeyIndex, rev: KeyRevision): KeyValue {
  assert(value !== undefined, `mvcc: revision ${rev.main}.${rev.sub} of a live index entry is missing`);
  const kv = decodeKeyValue(value);
  assert(
    kv.modRevision === rev.main &&
      kv.version === rev.version &&
      kv.createRevision === rev.created &&
      kv.key.equals(ki.key),
    `mvcc: record ${rev.main}.${rev.sub} does not match the index`,
  );
  return kv;
}
