/**
 * The state machine: applies one committed request to the state db batch, on every
 * member, in log order, deterministically (the same entry gives the same result and
 * the same batch everywhere). It never does I/O and never awaits: the server writes the
 * batch (with the applied index in it) after a whole Ready is applied (DESIGN §3).
 *
 * A request that fails a check at apply time (etcd checks leases and ignore_* against
 * the state at apply) leaves no change and yields its typed error; the proposer's
 * caller receives it. Only a broken invariant (AssertionError) escapes apply.
 */
import { isTsetcdError, TsetcdError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type * as pb from '../shared/pb.js';
import { codec, toNumber } from '../shared/pb-codec.js';
import type { BackendBatch } from '../storage/backend.js';
import type { MvccStore } from '../mvcc/index.js';
import type { WriteContext, MvccEvent } from '../mvcc/types.js';
import { RequestKind, type DecodedRequest } from './request.js';
import { deleteFromPb, deleteToPb, putFromPb, putToPb, txnFromPb, txnToPb } from './convert.js';

export type ApplyOutcome =
  | {
      readonly ok: true;
      /** The response message without its header. */
      readonly response: object;
      /** Header revision: the store revision after this request. */
      readonly revision: number;
      /** For Compaction with physical=true: resolves when old revisions are gone. */
      readonly physicalDone?: Promise<void>;
    }
  | { readonly ok: false; readonly error: TsetcdError };

export interface EntryPosition {
  readonly index: number;
  readonly term: number;
}

/** Receives the changes of every applied write, in order (the watch hub, later). */
export type ChangeListener = (events: readonly MvccEvent[], revision: number) => void;

const putCodec = codec<pb.PutRequest>('etcdserverpb.PutRequest');
const deleteCodec = codec<pb.DeleteRangeRequest>('etcdserverpb.DeleteRangeRequest');
const txnCodec = codec<pb.TxnRequest>('etcdserverpb.TxnRequest');
const compactCodec = codec<pb.CompactionRequest>('etcdserverpb.CompactionRequest');

export class Applier {
  private readonly writeCtx: WriteContext;
  private readonly listeners: ChangeListener[] = [];

  constructor(
    private readonly store: MvccStore,
    private readonly logger: Logger,
  ) {
    // Leases arrive with the lease service; until then no lease exists, so a Put
    // naming one fails with "requested lease not found", as etcd would answer.
    this.writeCtx = { leaseExists: () => false };
  }

  onChanges(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  apply(req: DecodedRequest, _pos: EntryPosition, batch: BackendBatch): ApplyOutcome {
    try {
      return this.dispatch(req, batch);
    } catch (err) {
      if (isTsetcdError(err)) return { ok: false, error: err };
      throw err;
    }
  }

  private dispatch(req: DecodedRequest, batch: BackendBatch): ApplyOutcome {
    switch (req.kind) {
      case RequestKind.Put: {
        const r = this.store.applyPut(putFromPb(putCodec.decode(req.payload)), batch, this.writeCtx);
        this.emit(r.events, r.revision);
        return { ok: true, response: putToPb(r.response), revision: r.revision };
      }
      case RequestKind.DeleteRange: {
        const r = this.store.applyDelete(deleteFromPb(deleteCodec.decode(req.payload)), batch, this.writeCtx);
        this.emit(r.events, r.revision);
        return { ok: true, response: deleteToPb(r.response), revision: r.revision };
      }
      case RequestKind.Txn: {
        const r = this.store.applyTxn(txnFromPb(txnCodec.decode(req.payload)), batch, this.writeCtx);
        this.emit(r.events, r.revision);
        return { ok: true, response: txnToPb(r.response), revision: r.revision };
      }
      case RequestKind.Compaction: {
        const c = compactCodec.decode(req.payload);
        const r = this.store.applyCompact(toNumber(c.revision), batch);
        return { ok: true, response: {}, revision: r.revision, physicalDone: r.physicalDone };
      }
      case RequestKind.Noop:
        return { ok: true, response: {}, revision: this.store.currentRevision };
      default:
        this.logger.warn({ kind: req.kind }, 'request kind not applied by this version');
        throw new TsetcdError('unimplemented', `request kind ${req.kind} is not applied yet`);
    }
  }

  private emit(events: readonly MvccEvent[], revision: number): void {
    if (events.length === 0) return;
    for (const l of this.listeners) l(events, revision);
  }
}
