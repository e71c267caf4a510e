/**
 * MvccStore: etcd's MVCC key-value store over a Backend. See index.ts for the contract.
 */
import { assert } from '../shared/assert.js';
import { nullLogger, type Logger } from '../shared/logger.js';
import { systemScheduler, type Scheduler } from '../shared/scheduler.js';
import type { Backend, BackendBatch } from '../storage/backend.js';
import { Compactor } from './compaction.js';
import { hashKV } from './hash.js';
import { executeRange } from './range.js';
import { readRevisions, type RevisionRead, type RevisionReadLimits } from './history.js';
import { restore } from './restore.js';
import { StoreState } from './store-state.js';
import { applyDelete, applyPut, applyTxn, txnReadOnly } from './txn.js';
import type {
  CompactResult,
  DeleteRangeRequest,
  DeleteRangeResponse,
  HashKVResult,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
  WriteContext,
  WriteResult,
} from './types.js';

export interface MvccStoreOptions {
  logger?: Logger;
  /** Yield points of physical compaction (default: setImmediate). */
  scheduler?: Scheduler;
  /** Records per physical-compaction chunk (etcd's compaction-batch-limit, default 1000). */
  compactionBatchLimit?: number;
  /** Keys per index-compaction chunk (default 10,000). */
  compactionIndexChunk?: number;
}

export class MvccStore {
  private closed = false;

  private constructor(
    private readonly state: StoreState,
    private readonly compactor: Compactor,
  ) {}

  /** Opens the store: rebuilds the index from the key bucket and resumes an unfinished compaction. */
  static async open(backend: Backend, options: MvccStoreOptions = {}): Promise<MvccStore> {
    const logger = (options.logger ?? nullLogger).child({ component: 'mvcc' });
    const state = new StoreState(backend, logger);
    const compactor = new Compactor(
      state,
      options.scheduler ?? systemScheduler,
      options.compactionBatchLimit ?? 1000,
      options.compactionIndexChunk ?? 10_000,
    );
    const { resumeCompactRev } = await restore(state);
    const store = new MvccStore(state, compactor);
    if (resumeCompactRev !== -1) {
      if (resumeCompactRev > state.currentRev) {
        logger.warn({ scheduledCompactRevision: resumeCompactRev }, 'scheduled compaction is a future revision; not resumed');
      } else {
        logger.info({ scheduledCompactRevision: resumeCompactRev }, 'resume scheduled compaction');
        void compactor.apply(resumeCompactRev, undefined);
      }
    }
    return store;
  }

  /** Revision of the last completed write (1 for a fresh store). */
  get currentRevision(): number {
    return this.state.currentRev;
  }

  /** Revision of the last compaction, -1 if never compacted (etcd's compactMainRev). */
  get compactRevision(): number {
    return this.state.compactRev;
  }

  /** Key + value bytes of the records the db holds for the store (its in-use size). */
  recordBytes(): number {
    return this.state.recordBytes;
  }

  /** Number of keys that exist now (etcd_debugging_mvcc_keys_total). */
  keyCount(): number {
    return this.state.liveKeys;
  }

  /** Range at any revision not compacted; the response revision is the current one. */
  range(req: RangeRequest): Promise<RangeResponse> {
    this.assertOpen();
    try {
      const r = executeRange(this.state, req, this.state.currentRev, false);
      return r instanceof Promise ? r : Promise.resolve(r);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The changes of durable revisions [from, to], bounded by `limits` (history.ts has
   * the contract). Reads the state db directly and does not check that the store is
   * open: a watch catch-up may finish a read on a store that a snapshot install just
   * replaced, and discards it.
   */
  readRevisions(from: number, to: number, limits: RevisionReadLimits): Promise<RevisionRead> {
    return readRevisions(this.state.backend, from, to, limits);
  }

  /** A Txn whose ops are all Range (served like a Range, no batch). */
  txnReadOnly(req: TxnRequest): Promise<TxnResponse> {
    this.assertOpen();
    return txnReadOnly(this.state, req);
  }

  applyPut(req: PutRequest, batch: BackendBatch, ctx: WriteContext): WriteResult<PutResponse> {
    this.assertOpen();
    return applyPut(this.state, req, batch, ctx);
  }

  applyDelete(req: DeleteRangeRequest, batch: BackendBatch, _ctx?: WriteContext): WriteResult<DeleteRangeResponse> {
    this.assertOpen();
    return applyDelete(this.state, req, batch);
  }

  applyTxn(req: TxnRequest, batch: BackendBatch, ctx: WriteContext): WriteResult<TxnResponse> {
    this.assertOpen();
    return applyTxn(this.state, req, batch, ctx);
  }

  /**
   * Compacts at rev: reads below rev fail at once; the index and the backend are
   * compacted in the background once `batch` is reported durable. Throws compacted
   * (rev <= compact revision) or future-rev.
   */
  applyCompact(rev: number, batch: BackendBatch): CompactResult {
    this.assertOpen();
    assert(Number.isSafeInteger(rev), `compact revision ${rev}`);
    const physicalDone = this.compactor.apply(rev, batch);
    return { revision: this.state.currentRev, physicalDone };
  }

  hashKV(rev: number): Promise<HashKVResult> {
    this.assertOpen();
    try {
      return hashKV(this.state, rev);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The caller wrote `batch` (durably or not: it is in the backend and readable). */
  batchDurable(batch: BackendBatch): void {
    this.state.batchDurable(batch);
    this.compactor.batchDurable(batch);
  }

  /**
   * Stops background compaction after its current chunk (an unfinished compaction is
   * resumed by the next open). Does not close the backend, which the caller owns.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.compactor.close();
  }

  private assertOpen(): void {
    assert(!this.closed, 'mvcc store is closed');
  }
}
