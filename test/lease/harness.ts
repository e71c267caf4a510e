// A small state machine for lease tests: an MvccStore and a Lessor over one backend,
// composed by the real Applier (src/apply/applier.ts: lease kinds through the lease
// appliers, mvcc writes report attachment changes to the lessor, a revoke deletes its
// keys in one txn), one backend batch per applied entry.
import { AlarmStore } from '../../src/apply/alarms.js';
import { Applier } from '../../src/apply/applier.js';
import { leaseToPb } from '../../src/apply/convert.js';
import { RequestKind } from '../../src/apply/request.js';
import { Membership } from '../../src/cluster/membership.js';
import type * as pb from '../../src/generated/pb.js';
import { Lessor, recoverAttachments, type LessorOptions } from '../../src/lease/index.js';
import { MvccStore, type MvccEvent } from '../../src/mvcc/index.js';
import type { TsetcdError } from '../../src/shared/errors.js';
import type { LeaseId } from '../../src/shared/ids.js';
import { nullLogger } from '../../src/shared/logger.js';
import { codec } from '../../src/shared/pb-codec.js';
import type { Backend, BackendBatch, BatchOp } from '../../src/storage/backend.js';

export type LeaseKind = 'grant' | 'revoke' | 'expire' | 'checkpoint';

const KIND: Record<LeaseKind, RequestKind> = {
  grant: RequestKind.LeaseGrant,
  revoke: RequestKind.LeaseRevoke,
  expire: RequestKind.LeaseExpire,
  checkpoint: RequestKind.LeaseCheckpoint,
};

const putCodec = codec<pb.PutRequest>('etcdserverpb.PutRequest');
const deleteCodec = codec<pb.DeleteRangeRequest>('etcdserverpb.DeleteRangeRequest');

export type Outcome =
  | { ok: true; response: object; revision: number; ops: readonly BatchOp[] }
  | { ok: false; error: TsetcdError; ops: readonly BatchOp[] };

export class LeaseHarness {
  /** Every write's events, in order (what the watch hub would receive). */
  readonly events: Array<{ events: MvccEvent[]; revision: number }> = [];
  private index = 0;

  private constructor(
    readonly backend: Backend,
    readonly store: MvccStore,
    readonly lessor: Lessor,
    private readonly applier: Applier,
  ) {
    applier.onChanges((events, revision) => this.events.push({ events: [...events], revision }));
  }

  /** Opens store and lessor and re-attaches every live key, as the member does at start. */
  static async open(backend: Backend, opts: LessorOptions): Promise<LeaseHarness> {
    const store = await MvccStore.open(backend);
    const lessor = await Lessor.open(backend, opts);
    await recoverAttachments(lessor, store, 2); // small pages: the walk crosses pages
    const membership = await Membership.load(backend);
    const applier = new Applier({ store: () => store, membership, lessor, alarms: new AlarmStore(), logger: nullLogger });
    return new LeaseHarness(backend, store, lessor, applier);
  }

  async apply(kind: LeaseKind, payload: Uint8Array, term: number): Promise<Outcome> {
    return this.applyEntry(KIND[kind], payload, term);
  }

  /** A Put through apply; throws its TsetcdError (an unknown lease) as the store does. */
  async put(key: string, value: string, lease: LeaseId): Promise<number> {
    const pbLease = leaseToPb(lease);
    const payload = putCodec.encode({
      key: Buffer.from(key),
      value: Buffer.from(value),
      ...(pbLease !== undefined ? { lease: pbLease } : {}),
    });
    const o = await this.applyEntry(RequestKind.Put, payload, 1);
    if (!o.ok) throw o.error;
    return o.revision;
  }

  async del(key: string): Promise<void> {
    const o = await this.applyEntry(RequestKind.DeleteRange, deleteCodec.encode({ key: Buffer.from(key) }), 1);
    if (!o.ok) throw o.error;
  }

  async liveKeys(): Promise<string[]> {
    const r = await this.store.range({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) });
    return r.kvs.map((kv) => kv.key.toString());
  }

  private async applyEntry(kind: RequestKind, payload: Uint8Array, term: number): Promise<Outcome> {
    const batch = this.backend.batch();
    const o = this.applier.apply({ kind, id: 0n, payload }, { index: ++this.index, term }, batch);
    await this.flush(batch);
    return o.ok
      ? { ok: true, response: o.response, revision: o.revision, ops: batch.ops }
      : { ok: false, error: o.error, ops: batch.ops };
  }

  private async flush(batch: BackendBatch): Promise<void> {
    await this.backend.write(batch, { sync: true });
    this.store.batchDurable(batch);
  }
}
