// A small state machine for lease tests: an MvccStore and a Lessor over one backend,
// composed the way src/apply/applier.ts composes them (lease kinds through the
// appliers, mvcc writes report attachment changes to the hooks, a revoke deletes its
// keys in one txn), one backend batch per applied entry.
import {
  Lessor,
  recoverAttachments,
  leaseAppliers,
  type LeaseAppliers,
  type LeaseApplyContext,
  type LessorOptions,
} from '../../src/lease/index.js';
import { MvccStore, type MvccEvent, type WriteResult } from '../../src/mvcc/index.js';
import { isTsetcdError, type TsetcdError } from '../../src/shared/errors.js';
import type { LeaseId } from '../../src/shared/ids.js';
import type { Backend, BackendBatch, BatchOp } from '../../src/storage/backend.js';

export type LeaseKind = 'grant' | 'revoke' | 'expire' | 'checkpoint';

export type Outcome =
  | { ok: true; response: object; revision: number; ops: readonly BatchOp[] }
  | { ok: false; error: TsetcdError; ops: readonly BatchOp[] };

export class LeaseHarness {
  readonly appliers: LeaseAppliers;
  /** Every write's events, in order (what the watch hub would receive). */
  readonly events: Array<{ events: MvccEvent[]; revision: number }> = [];
  private index = 0;

  private constructor(
    readonly backend: Backend,
    readonly store: MvccStore,
    readonly lessor: Lessor,
  ) {
    this.appliers = leaseAppliers(lessor);
  }

  /** Opens store and lessor and re-attaches every live key, as the member does at start. */
  static async open(backend: Backend, opts: LessorOptions): Promise<LeaseHarness> {
    const store = await MvccStore.open(backend);
    const lessor = await Lessor.open(backend, opts);
    await recoverAttachments(lessor, store, 2); // small pages: the walk crosses pages
    return new LeaseHarness(backend, store, lessor);
  }

  async apply(kind: LeaseKind, payload: Uint8Array, term: number): Promise<Outcome> {
    const batch = this.backend.batch();
    const ctx: LeaseApplyContext = {
      batch,
      position: { index: ++this.index, term },
      store: this.store,
      deleteKeys: (keys) => {
        const ops = keys.map((key) => ({ requestDeleteRange: { key, prevKv: false } }));
        const r = this.store.applyTxn(
          { compare: [], success: ops, failure: [] },
          batch,
          this.writeCtx(),
        );
        this.wrote(r, batch);
        return { revision: r.revision, deleted: r.events.length };
      },
    };
    let outcome: Outcome;
    try {
      const r = this.appliers[kind](payload, ctx);
      outcome = { ok: true, response: r.response, revision: r.revision, ops: batch.ops };
    } catch (err) {
      if (!isTsetcdError(err)) throw err;
      outcome = { ok: false, error: err, ops: batch.ops };
    }
    await this.flush(batch);
    return outcome;
  }

  async put(key: string, value: string, lease: LeaseId): Promise<number> {
    const batch = this.backend.batch();
    const r = this.store.applyPut(
      { key: Buffer.from(key), value: Buffer.from(value), lease },
      batch,
      this.writeCtx(),
    );
    this.wrote(r, batch);
    await this.flush(batch);
    return r.revision;
  }

  async del(key: string): Promise<void> {
    const batch = this.backend.batch();
    const r = this.store.applyDelete({ key: Buffer.from(key) }, batch);
    this.wrote(r, batch);
    await this.flush(batch);
  }

  async liveKeys(): Promise<string[]> {
    const r = await this.store.range({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) });
    return r.kvs.map((kv) => kv.key.toString());
  }

  private writeCtx(): { leaseExists(id: LeaseId): boolean } {
    return { leaseExists: (id) => this.appliers.hooks.leaseExists(id) };
  }

  private wrote(r: WriteResult<unknown>, batch: BackendBatch): void {
    if (r.leaseChanges.length > 0) this.appliers.hooks.onLeaseChanges(r.leaseChanges, batch);
    if (r.events.length > 0) this.events.push({ events: r.events, revision: r.revision });
  }

  private async flush(batch: BackendBatch): Promise<void> {
    await this.backend.write(batch, { sync: true });
    this.store.batchDurable(batch);
  }
}
