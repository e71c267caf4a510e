/**
 * The state machine: applies one committed request to the state db batch, on every
 * member, in log order, deterministically (the same entry gives the same result and
 * the same batch everywhere). It never does I/O and never awaits: the server writes the
 * batch (with the applied index in it) after a whole Ready is applied (docs/architecture.md §3).
 *
 * A request that fails a check at apply time (etcd checks leases and ignore_* against
 * the state at apply) leaves no change and yields its typed error; the proposer's
 * caller receives it. Only a broken invariant (AssertionError) escapes apply.
 */
import { isTsetcdError, TsetcdError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type * as pb from '../generated/pb.js';
import { codec, toNumber } from '../shared/pb-codec.js';
import type { BackendBatch } from '../storage/backend.js';
import type { MvccStore } from '../mvcc/index.js';
import type { WriteContext, MvccEvent, LeaseChange } from '../mvcc/types.js';
import type { LeaseId } from '../shared/ids.js';
import { memberId } from '../shared/ids.js';
import { ConfChangeType, type ConfChange } from '../raft/types.js';
import type { Member, Membership } from '../cluster/membership.js';
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

/** Receives the changes of every applied write, in order (the watch hub). */
export type ChangeListener = (events: readonly MvccEvent[], revision: number) => void;

/** What an extension's apply function gets (lease, auth, membership requests). */
export interface ApplyContext {
  readonly store: MvccStore;
  readonly batch: BackendBatch;
  /** Position of the entry being applied (lease expiry fencing compares terms). */
  readonly position: EntryPosition;
  /** Delete keys through mvcc in this same batch and notify the watch hub. */
  deleteKeys(keys: readonly Buffer[]): { revision: number; deleted: number };
}

/** Applies one request kind owned by another module; throws TsetcdError to fail it. */
export type KindApplier = (payload: Uint8Array, ctx: ApplyContext) => { response: object; revision: number };

/** The lease module's view from apply: existence checks and key attachments. */
export interface LeaseHooks {
  leaseExists(id: LeaseId): boolean;
  /** Called after every write with its lease attachment changes, in the same batch. */
  onLeaseChanges(changes: readonly LeaseChange[], batch: BackendBatch): void;
}

const putCodec = codec<pb.PutRequest>('etcdserverpb.PutRequest');
const deleteCodec = codec<pb.DeleteRangeRequest>('etcdserverpb.DeleteRangeRequest');
const txnCodec = codec<pb.TxnRequest>('etcdserverpb.TxnRequest');
const compactCodec = codec<pb.CompactionRequest>('etcdserverpb.CompactionRequest');

export class Applier {
  private readonly listeners: ChangeListener[] = [];
  private readonly extensions = new Map<RequestKind, KindApplier>();
  /** Until the lease module registers, no lease exists: a Put naming one fails with
   * "requested lease not found", as etcd answers for an unknown lease. */
  private leases: LeaseHooks = { leaseExists: () => false, onLeaseChanges: () => {} };
  private readonly writeCtx: WriteContext = { leaseExists: (id) => this.leases.leaseExists(id) };

  constructor(
    /** The store is read through this: a snapshot install replaces it. */
    private readonly storeRef: () => MvccStore,
    readonly membership: Membership,
    private readonly logger: Logger,
  ) {}

  /**
   * A committed ConfChange: the membership record changes in the same batch. Raft's
   * own configuration is changed by the server (RawNode.applyConfChange).
   */
  applyMembership(cc: ConfChange, member: Member | undefined, batch: BackendBatch): void {
    const id = memberId(cc.nodeId);
    switch (cc.type) {
      case ConfChangeType.AddNode:
        if (this.membership.get(id)?.isLearner === true) this.membership.promote(id, batch);
        else if (member !== undefined) this.membership.add({ ...member, isLearner: false }, batch);
        break;
      case ConfChangeType.AddLearnerNode:
        if (member !== undefined) this.membership.add({ ...member, isLearner: true }, batch);
        break;
      case ConfChangeType.RemoveNode:
        this.membership.remove(id, batch);
        break;
      case ConfChangeType.UpdateNode:
        if (member !== undefined) this.membership.updatePeerUrls(id, member.peerUrls, batch);
        break;
      default:
        this.logger.warn({ type: cc.type }, 'unknown ConfChange type ignored');
    }
  }

  private get store(): MvccStore {
    return this.storeRef();
  }

  currentRevision(): number {
    return this.store.currentRevision;
  }

  onChanges(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  /** Another module takes over applying one request kind (lease, auth, membership). */
  registerKind(kind: RequestKind, fn: KindApplier): void {
    this.extensions.set(kind, fn);
  }

  setLeaseHooks(hooks: LeaseHooks): void {
    this.leases = hooks;
  }

  apply(req: DecodedRequest, pos: EntryPosition, batch: BackendBatch): ApplyOutcome {
    try {
      return this.dispatch(req, pos, batch);
    } catch (err) {
      if (isTsetcdError(err)) return { ok: false, error: err };
      throw err;
    }
  }

  private dispatch(req: DecodedRequest, pos: EntryPosition, batch: BackendBatch): ApplyOutcome {
    const ext = this.extensions.get(req.kind);
    if (ext !== undefined) {
      const r = ext(req.payload, this.context(pos, batch));
      return { ok: true, response: r.response, revision: r.revision };
    }
    switch (req.kind) {
      case RequestKind.Put: {
        const r = this.store.applyPut(putFromPb(putCodec.decode(req.payload)), batch, this.writeCtx);
        this.wrote(r, batch);
        return { ok: true, response: putToPb(r.response), revision: r.revision };
      }
      case RequestKind.DeleteRange: {
        const r = this.store.applyDelete(deleteFromPb(deleteCodec.decode(req.payload)), batch, this.writeCtx);
        this.wrote(r, batch);
        return { ok: true, response: deleteToPb(r.response), revision: r.revision };
      }
      case RequestKind.Txn: {
        const r = this.store.applyTxn(txnFromPb(txnCodec.decode(req.payload)), batch, this.writeCtx);
        this.wrote(r, batch);
        return { ok: true, response: txnToPb(r.response), revision: r.revision };
      }
      case RequestKind.Compaction: {
        const c = compactCodec.decode(req.payload);
        const r = this.store.applyCompact(toNumber(c.revision), batch);
        return { ok: true, response: {}, revision: r.revision, physicalDone: r.physicalDone };
      }
      case RequestKind.MemberAttributes: {
        const a = JSON.parse(Buffer.from(req.payload).toString('utf8')) as { id: string; name: string; clientURLs: string[] };
        this.membership.setAttributes(memberId(BigInt(`0x${a.id}`)), a.name, a.clientURLs, batch);
        return { ok: true, response: {}, revision: this.store.currentRevision };
      }
      case RequestKind.Noop:
        return { ok: true, response: {}, revision: this.store.currentRevision };
      default:
        this.logger.warn({ kind: req.kind }, 'request kind not applied by this version');
        throw new TsetcdError('unimplemented', `request kind ${req.kind} is not applied yet`);
    }
  }

  private context(position: EntryPosition, batch: BackendBatch): ApplyContext {
    return {
      store: this.store,
      batch,
      position,
      deleteKeys: (keys) => {
        // One DeleteRange per key inside one txn: a single revision for all of them,
        // as etcd's lease revoke deletes every attached key at one revision.
        const ops = keys.map((key) => ({ requestDeleteRange: { key, prevKv: false } }));
        const r = this.store.applyTxn({ compare: [], success: ops, failure: [] }, batch, this.writeCtx);
        this.wrote(r, batch);
        const deleted = r.events.length;
        return { revision: r.revision, deleted };
      },
    };
  }

  private wrote(r: { events: readonly MvccEvent[]; revision: number; leaseChanges: readonly LeaseChange[] }, batch: BackendBatch): void {
    if (r.leaseChanges.length > 0) this.leases.onLeaseChanges(r.leaseChanges, batch);
    this.emit(r.events, r.revision);
  }

  private emit(events: readonly MvccEvent[], revision: number): void {
    if (events.length === 0) return;
    for (const l of this.listeners) l(events, revision);
  }
}
