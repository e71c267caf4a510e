/**
 * Compaction (etcd mvcc/kvstore.go Compact + kvstore_compaction.go scheduleCompaction).
 *
 * Apply (synchronous, inside the caller's batch): check the revision, move the compact
 * revision (reads below it fail from now on), record scheduledCompactRev in the batch
 * and queue a job. Nothing else happens on the apply path, so a compaction costs the
 * event loop nothing there, however many keys the store holds.
 *
 * Job (asynchronous, one at a time, FIFO), as etcd's scheduleCompaction:
 * 1. waits until the compaction's batch is durable (every record it may delete is on
 *    disk, the scheduled revision is recorded) and until reads that started before the
 *    compaction are done;
 * 2. compacts the in-memory index, `indexChunk` keys at a time with yields in between
 *    (per key: the latest revision <= rev of the generation alive at rev, a tombstone
 *    exactly at rev included, etcd #18089), collecting the revisions kept. Until a key
 *    is reached its older revisions are merely unreachable: reads at or after the
 *    compact revision never need them, and HashKV computes keep sets from doCompact;
 * 3. scans the key bucket up to rev, `batchLimit` records at a time with yields, deletes
 *    every record not kept, hashes them like etcd (kvHasher over the kept set), and
 *    writes finishedCompactRev with the last chunk; every chunk is a synced write.
 * The hash is stored for HashKV (etcd hashStorage) only if the previous compaction had
 * finished (etcd #15919). On open, a scheduled but unfinished compaction is resumed.
 */
import { assert } from '../shared/assert.js';
import { TsetcdError } from '../shared/errors.js';
import type { Scheduler } from '../shared/scheduler.js';
import { noObserve, type Observe } from '../shared/observe.js';
import { KEY_PREFIX, META_FINISHED_COMPACT_REV, META_SCHEDULED_COMPACT_REV, encodeUint64 } from '../storage/schema.js';
import type { BackendBatch } from '../storage/backend.js';
import { KvHasher, sortRevisions, type SortedRevisions } from './hash.js';
import type { KeyIndex, RevisionList } from './key-index.js';
import { parseRecordKey, recordKeyLowerBound } from './revision.js';
import type { StoreState } from './store-state.js';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface CompactionJob {
  rev: number;
  prevCompactRev: number;
  prevCompleted: boolean;
  epoch: number;
  durable: Deferred;
  done: Deferred;
}

export class Compactor {
  private readonly queue: CompactionJob[] = [];
  private readonly byBatch = new Map<BackendBatch, CompactionJob[]>();
  private running: Promise<void> | undefined;
  private closing = false;

  constructor(
    private readonly state: StoreState,
    private readonly scheduler: Scheduler,
    private readonly batchLimit: number,
    private readonly indexChunk = 10_000,
    /** Keys deleted and chunk/total timings (etcd mvcc/metrics.go compaction families). */
    private readonly observe: Observe = noObserve,
    private readonly nowMs: (() => number) | undefined = undefined,
  ) {
    assert(batchLimit > 0, 'compaction batch limit must be positive');
    assert(indexChunk > 0, 'compaction index chunk must be positive');
  }

  /** Applies a compaction at rev; the caller writes `batch`. */
  apply(rev: number, batch: BackendBatch | undefined): Promise<void> {
    const state = this.state;
    if (rev <= state.compactRev) throw new TsetcdError('compacted');
    if (rev > state.currentRev) throw new TsetcdError('future-rev');
    const prevCompleted = state.scheduledCompactRev === state.finishedCompactRev;
    const prevCompactRev = state.compactRev;
    state.compactRev = rev;
    state.scheduledCompactRev = rev;
    if (batch !== undefined) batch.put(META_SCHEDULED_COMPACT_REV, encodeUint64(rev));
    const job: CompactionJob = {
      rev,
      prevCompactRev,
      prevCompleted,
      epoch: state.fence.advance(),
      durable: deferred(),
      done: deferred(),
    };
    // Nobody may wait for physicalDone (physical=false): never leave a rejection unhandled.
    job.done.promise.catch(() => {});
    if (batch === undefined) {
      job.durable.resolve(); // resumed at open: the schedule is already on disk
    } else {
      const jobs = this.byBatch.get(batch) ?? [];
      jobs.push(job);
      this.byBatch.set(batch, jobs);
    }
    this.queue.push(job);
    this.kick();
    return job.done.promise;
  }

  batchDurable(batch: BackendBatch): void {
    const jobs = this.byBatch.get(batch);
    if (jobs === undefined) return;
    this.byBatch.delete(batch);
    for (const j of jobs) j.durable.resolve();
  }

  /** Stops after the chunk in progress; unfinished jobs reject with 'stopped'. */
  async close(): Promise<void> {
    this.closing = true;
    for (const j of this.queue) j.durable.resolve();
    await this.running;
    for (const j of this.queue.splice(0)) j.done.reject(new TsetcdError('stopped', 'mvcc store closed'));
  }

  /** Compacts the index at rev in chunks; undefined if stopped by close(). */
  private async compactIndex(rev: number): Promise<SortedRevisions | undefined> {
    const kept: RevisionList = { mains: [], subs: [] };
    let from: Buffer = Buffer.alloc(0);
    for (;;) {
      if (this.closing) return undefined;
      const chunk: KeyIndex[] = [];
      this.state.index.scan(from, undefined, (ki) => chunk.push(ki) < this.indexChunk);
      const started = this.nowMs?.();
      for (const ki of chunk) {
        if (ki.compact(rev, kept)) this.state.index.delete(ki.key);
      }
      this.timed('mvcc.indexCompactionPauseMs', started);
      if (chunk.length < this.indexChunk) return sortRevisions(kept);
      // Resume strictly after the last key of this chunk.
      from = Buffer.concat([(chunk[chunk.length - 1] as KeyIndex).key, Buffer.from([0])]);
      await this.yieldNow();
    }
  }

  private kick(): void {
    if (this.running !== undefined) return;
    this.running = this.runQueue().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0 && !this.closing) this.kick();
    });
  }

  private async runQueue(): Promise<void> {
    while (this.queue.length > 0 && !this.closing) {
      const job = this.queue[0] as CompactionJob;
      await job.durable.promise;
      if (this.closing) return;
      await this.state.fence.waitBefore(job.epoch);
      let finished: boolean;
      try {
        finished = await this.runJob(job);
      } catch (err) {
        this.state.logger.error({ err: String(err), revision: job.rev }, 'compaction failed');
        this.queue.shift();
        job.done.reject(err);
        continue;
      }
      if (!finished) return; // closing; the job stays queued and is rejected by close()
      this.queue.shift();
      job.done.resolve();
    }
  }

  private timed(what: 'mvcc.indexCompactionPauseMs' | 'mvcc.compactionPauseMs' | 'mvcc.compactionTotalMs', startedMs: number | undefined): void {
    if (startedMs !== undefined && this.nowMs !== undefined) this.observe(what, this.nowMs() - startedMs);
  }

  private yieldNow(): Promise<void> {
    return new Promise((resolve) => this.scheduler.soon(resolve));
  }

  /** Deletes the superseded records of one compaction. Returns false if stopped. */
  private async runJob(job: CompactionJob): Promise<boolean> {
    const { state } = this;
    const jobStarted = this.nowMs?.();
    const kept = await this.compactIndex(job.rev);
    if (kept === undefined) return false;
    const hasher = new KvHasher(job.prevCompactRev, job.rev, kept.size > 0);
    const keptCursor = kept.cursor();
    const end = recordKeyLowerBound(job.rev + 1);
    let last: Buffer | undefined;
    let deleted = 0;
    for (;;) {
      if (this.closing) return false;
      const it = state.backend.iterator(
        last === undefined
          ? { gte: Buffer.from([KEY_PREFIX]), lt: end, limit: this.batchLimit }
          : { gt: last, lt: end, limit: this.batchLimit },
      );
      // nextv may answer fewer entries than asked without being at the end (LevelDB
      // stops at a byte budget, about 16 KiB): only an empty answer ends the range.
      const entries: Array<[Buffer, Buffer]> = [];
      try {
        while (entries.length < this.batchLimit) {
          const got = await it.nextv(this.batchLimit - entries.length);
          if (got.length === 0) break;
          entries.push(...got);
        }
      } finally {
        await it.close();
      }
      const chunkStarted = this.nowMs?.();
      const batch = state.backend.batch();
      for (const [k, v] of entries) {
        const r = parseRecordKey(k);
        const keep = keptCursor.contains(r.main, r.sub);
        hasher.write(r.main, keep, k, v);
        if (!keep) {
          batch.del(k);
          state.recordBytes -= k.length + v.length;
          deleted++;
        }
      }
      if (entries.length < this.batchLimit) {
        batch.put(META_FINISHED_COMPACT_REV, encodeUint64(job.rev));
        await state.backend.write(batch, { sync: true });
        this.timed('mvcc.compactionPauseMs', chunkStarted);
        state.finishedCompactRev = job.rev;
        break;
      }
      // Synced like etcd's per-chunk commit: deletes then only ever miss a suffix, and
      // a power loss cannot keep a later chunk while losing an earlier one.
      await state.backend.write(batch, { sync: true });
      this.timed('mvcc.compactionPauseMs', chunkStarted);
      last = (entries[entries.length - 1] as [Buffer, Buffer])[0];
      await this.yieldNow();
    }
    this.observe('mvcc.compactionKeys', deleted);
    this.timed('mvcc.compactionTotalMs', jobStarted);
    state.logger.info({ compactRevision: job.rev, deletedRecords: deleted }, 'finished scheduled compaction');
    if (job.prevCompleted) {
      state.storeHash({ hash: hasher.sum(), compactRevision: job.prevCompactRev, revision: job.rev });
    } else {
      state.logger.info({ compactRevision: job.rev }, 'previous compaction was interrupted, skip storing compaction hash value');
    }
    return true;
  }
}
