/**
 * MvccStore: etcd's MVCC key-value store over a Backend. See index.ts for the contract.
 */
import { assert } from '../shared/assert.js';
import { leaseId, type LeaseId } from '../shared/ids.js';
import { nullLogger, type Logger } from '../shared/logger.js';
import { systemScheduler, type Scheduler } from '../shared/scheduler.js';
import { noObserve, type Observe } from '../shared/observe.js';
import type { Backend, BackendBatch } from '../storage/backend.js';
import { Compactor } from './compaction.js';
import { hashKV } from './hash.js';
import { scanKeyValue } from './kv-codec.js';
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
  RequestOp,
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
  /** Operation counts and compaction timings for the metrics (shared/observe.ts). */
  observe?: Observe;
  /** Monotonic ms, for compaction timings only (default: none measured). */
  nowMs?: () => number;
}

export class MvccStore {
  private closed = false;
  /** Reads in flight (etcd_mvcc_db_open_read_transactions). */
  private reads = 0;

  private constructor(
    private readonly state: StoreState,
    private readonly compactor: Compactor,
    private readonly observe: Observe,
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
      options.observe ?? noObserve,
      options.nowMs,
    );
    const { resumeCompactRev } = await restore(state);
    const store = new MvccStore(state, compactor, options.observe ?? noObserve);
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

  /**
   * Visits every live key whose record names a lease, in key order, synchronously (the
   * index as it is now): the lease walk at open (lease/recover.ts) without decoding a
   * KeyValue per key; the lease id is read in place from each live record. No scan
   * when no record naming a lease was ever put or restored (StoreState.leasedRecordSeen).
   */
  forEachLeasedKey(visit: (key: Buffer, lease: LeaseId) => void): void {
    if (!this.state.leasedRecordSeen) return;
    this.state.index.scan(Buffer.alloc(0), undefined, (ki) => {
      const record = ki.liveRecord;
      if (record === undefined) return;
      const f = scanKeyValue(record);
      if (f.leaseLo === 0 && f.leaseHi === 0) return;
      visit(ki.key, leaseId((BigInt(f.leaseHi) << 32n) | BigInt(f.leaseLo)));
    });
  }

  /** Number of keys that exist now (etcd_debugging_mvcc_keys_total). */
  keyCount(): number {
    return this.state.liveKeys;
  }

  /** Reads in flight now (a range that waits for the state db counts until it ends). */
  get openReads(): number {
    return this.reads;
  }

  /** Range at any revision not compacted; the response revision is the current one. */
  range(req: RangeRequest): Promise<RangeResponse> {
    this.assertOpen();
    this.observe('mvcc.range', 1);
    try {
      const r = executeRange(this.state, req, this.state.currentRev, false);
      return r instanceof Promise ? this.counted(r) : Promise.resolve(r);
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
    return this.counted(txnReadOnly(this.state, req)).then((res) => {
      this.countTxn(req, res);
      return res;
    });
  }

  applyPut(req: PutRequest, batch: BackendBatch, ctx: WriteContext): WriteResult<PutResponse> {
    this.assertOpen();
    const r = applyPut(this.state, req, batch, ctx);
    this.observe('mvcc.put', 1);
    this.observe('mvcc.putBytes', req.key.length + (req.value?.length ?? 0));
    return r;
  }

  applyDelete(req: DeleteRangeRequest, batch: BackendBatch, _ctx?: WriteContext): WriteResult<DeleteRangeResponse> {
    this.assertOpen();
    const r = applyDelete(this.state, req, batch);
    this.observe('mvcc.delete', 1);
    return r;
  }

  applyTxn(req: TxnRequest, batch: BackendBatch, ctx: WriteContext): WriteResult<TxnResponse> {
    this.assertOpen();
    const r = applyTxn(this.state, req, batch, ctx);
    this.countTxn(req, r.response);
    return r;
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

  /**
   * etcd counts the operations a txn executed (the taken branch, nested txns included)
   * when it ends, and the txn itself only when it held more than one (metrics_txn.go).
   */
  private countTxn(req: TxnRequest, res: TxnResponse): void {
    const n = { range: 0, put: 0, delete: 0, putBytes: 0 };
    const walk = (ops: readonly RequestOp[], r: TxnResponse): void => {
      ops.forEach((op, i) => {
        if ('requestRange' in op) n.range++;
        else if ('requestPut' in op) {
          n.put++;
          n.putBytes += op.requestPut.key.length + (op.requestPut.value?.length ?? 0);
        } else if ('requestDeleteRange' in op) n.delete++;
        else {
          const sub = r.responses[i];
          if (sub !== undefined && 'responseTxn' in sub) {
            const t = sub.responseTxn;
            walk(t.succeeded ? op.requestTxn.success : op.requestTxn.failure, t);
          }
        }
      });
    };
    walk(res.succeeded ? req.success : req.failure, res);
    if (n.range > 0) this.observe('mvcc.range', n.range);
    if (n.put > 0) this.observe('mvcc.put', n.put);
    if (n.putBytes > 0) this.observe('mvcc.putBytes', n.putBytes);
    if (n.delete > 0) this.observe('mvcc.delete', n.delete);
    if (n.range + n.put + n.delete > 1) this.observe('mvcc.txn', 1);
  }

  private counted<T>(p: Promise<T>): Promise<T> {
    this.reads++;
    return p.finally(() => {
      this.reads--;
    });
  }

  private assertOpen(): void {
    assert(!this.closed, 'mvcc store is closed');
  }
}
