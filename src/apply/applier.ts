/**
 * The state machine: applies one committed request to the state db batch, on every
 * member, in log order, deterministically (the same entry gives the same result and
 * the same batch everywhere). It never does I/O and never awaits: the server writes the
 * batch (with the applied index in it) after a whole Ready is applied (docs/architecture.md §3).
 *
 * The applier knows every request kind from construction: it owns the store's writes,
 * the membership record and the lessor (apply composes lease and mvcc, which never
 * import each other; docs/architecture.md §2), as etcd's applierV3 lists every kind over
 * ApplierOptions{KV, Lessor, Cluster} (etcd server/etcdserver/apply/interface.go). There
 * is no registration after construction and no default for a kind: dispatch is an
 * exhaustive switch, so a new RequestKind does not compile until apply handles it.
 *
 * A request that fails a check at apply time (etcd checks leases and ignore_* against
 * the state at apply) leaves no change and yields its typed error; the proposer's
 * caller receives it. Only a broken invariant (AssertionError) escapes apply.
 */
import { unreachable } from '../shared/assert.js';
import { isTsetcdError, TsetcdError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { TestFaults } from '../shared/test-faults.js';
import type * as pb from '../generated/pb.js';
import { codec, toBigInt, toNumber } from '../shared/pb-codec.js';
import type { BackendBatch } from '../storage/backend.js';
import type { MvccStore } from '../mvcc/index.js';
import type { WriteContext, MvccEvent, LeaseChange } from '../mvcc/types.js';
import { leaseId, memberId } from '../shared/ids.js';
import { ConfChangeType, type ConfChange } from '../raft/types.js';
import type { Member, Membership } from '../cluster/membership.js';
import {
  leaseAppliers,
  type LeaseAppliers,
  type LeaseApplyContext,
  type LeaseKindApplier,
  type Lessor,
} from '../lease/index.js';
import {
  applyAuthRequest,
  checkDeleteRangeRequest,
  checkLeaseKeys,
  checkPutRequest,
  checkTxnRequest,
  type AuthInfo,
  type AuthRequest,
  type AuthStore,
  type LeaseKeys,
} from '../auth/index.js';
import { RequestKind, type DecodedRequest } from './request.js';
import { decodeInternal, unwrapWrite } from './internal-request.js';
import { deleteFromPb, deleteToPb, putFromPb, putToPb, txnFromPb, txnToPb } from './convert.js';
import { applyAlarmRequest, alarmRefusal, type AlarmStore } from './alarms.js';

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

export interface ApplierDeps {
  /** The store is read through this: a snapshot install replaces it. */
  readonly store: () => MvccStore;
  readonly membership: Membership;
  /**
   * The replicated leases: apply runs the lease kinds on it and reports every write's
   * attachment changes to it in the same batch. A snapshot install reloads it in place.
   */
  readonly lessor: Lessor;
  /**
   * The replicated alarms: AlarmRequests change them; while NOSPACE or CORRUPT is
   * raised, apply refuses what etcd's applierV3Capped / applierV3Corrupt refuse.
   */
  readonly alarms: AlarmStore;
  readonly logger: Logger;
  /** noLeaseFencing: run a lease expiry whatever term proposed it (shared/test-faults.ts). */
  readonly bugs?: Pick<TestFaults, 'noLeaseFencing'>;
  /**
   * The replicated auth store: Internal entries apply Auth requests to it and check
   * their writes against it. Without one, an Internal entry is refused (unit tests of
   * other kinds).
   */
  readonly auth?: AuthStore;
}

const putCodec = codec<pb.PutRequest>('etcdserverpb.PutRequest');
const deleteCodec = codec<pb.DeleteRangeRequest>('etcdserverpb.DeleteRangeRequest');
const txnCodec = codec<pb.TxnRequest>('etcdserverpb.TxnRequest');
const compactCodec = codec<pb.CompactionRequest>('etcdserverpb.CompactionRequest');
const leaseRevokeCodec = codec<pb.LeaseRevokeRequest>('etcdserverpb.LeaseRevokeRequest');

export class Applier {
  private readonly listeners: ChangeListener[] = [];
  private readonly storeRef: () => MvccStore;
  readonly membership: Membership;
  private readonly lessor: Lessor;
  private readonly alarms: AlarmStore;
  private readonly leases: LeaseAppliers;
  private readonly logger: Logger;
  private readonly writeCtx: WriteContext;
  private readonly auth: AuthStore | undefined;
  private readonly leaseKeys: LeaseKeys;

  constructor(deps: ApplierDeps) {
    this.auth = deps.auth;
    this.leaseKeys = (id) => (this.lessor.has(id) ? this.lessor.keysOf(id) : undefined);
    this.storeRef = deps.store;
    this.membership = deps.membership;
    this.lessor = deps.lessor;
    this.alarms = deps.alarms;
    this.logger = deps.logger;
    this.leases = leaseAppliers(deps.lessor, deps.bugs);
    this.writeCtx = { leaseExists: (id) => this.lessor.has(id) };
  }

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

  apply(req: DecodedRequest, pos: EntryPosition, batch: BackendBatch): ApplyOutcome {
    try {
      return this.dispatch(req, pos, batch);
    } catch (err) {
      if (isTsetcdError(err)) return { ok: false, error: err };
      throw err;
    }
  }

  /**
   * `req.caller` is the identity proposed with a client's write (the entry's header, or
   * an older Internal entry's): the write is checked against it first, as etcd's
   * authApplierV3 checks the InternalRaftRequest header (etcdserver/apply_auth.go), so
   * an empty one under auth enabled is "user name is empty" and an older auth revision
   * "revision of auth store is old", whatever the proposer's auth state was.
   *
   * An entry without a header is not checked. The member's own machinery proposes
   * those, and so did every member before the header existed, for writes received
   * while auth was off: etcd treats a header-less request as anonymous, but a WAL
   * replayed here must give the result every member already gave for it (the state
   * dbs must stay equal; the corruption check compares them), so such an entry keeps
   * the rule it was applied under.
   */
  private dispatch(req: DecodedRequest, pos: EntryPosition, batch: BackendBatch): ApplyOutcome {
    const caller = req.caller;
    const auth = caller === undefined ? undefined : this.auth;
    const refused = alarmRefusal(this.alarms, req.kind, () => txnCodec.decode(req.payload));
    if (refused !== undefined) throw new TsetcdError(refused);
    switch (req.kind) {
      case RequestKind.Put: {
        const put = putCodec.decode(req.payload);
        if (auth !== undefined && caller !== undefined) checkPutRequest(auth, caller, put, this.leaseKeys);
        const r = this.store.applyPut(putFromPb(put), batch, this.writeCtx);
        this.wrote(r);
        return { ok: true, response: putToPb(r.response), revision: r.revision };
      }
      case RequestKind.DeleteRange: {
        const del = deleteCodec.decode(req.payload);
        if (auth !== undefined && caller !== undefined) checkDeleteRangeRequest(auth, caller, del);
        const r = this.store.applyDelete(deleteFromPb(del), batch, this.writeCtx);
        this.wrote(r);
        return { ok: true, response: deleteToPb(r.response), revision: r.revision };
      }
      case RequestKind.Txn: {
        const txn = txnCodec.decode(req.payload);
        if (auth !== undefined && caller !== undefined) checkTxnRequest(auth, caller, txn, this.leaseKeys);
        const r = this.store.applyTxn(txnFromPb(txn), batch, this.writeCtx);
        this.wrote(r);
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
      case RequestKind.LeaseGrant:
        return this.leaseKind(this.leases.grant, req.payload, pos, batch);
      case RequestKind.LeaseRevoke:
        if (auth !== undefined && caller !== undefined) {
          const id = leaseId(toBigInt(leaseRevokeCodec.decode(req.payload).ID, false));
          checkLeaseKeys(auth, caller, id, this.leaseKeys);
        }
        return this.leaseKind(this.leases.revoke, req.payload, pos, batch);
      case RequestKind.LeaseExpire:
        return this.leaseKind(this.leases.expire, req.payload, pos, batch);
      case RequestKind.LeaseCheckpoint:
        return this.leaseKind(this.leases.checkpoint, req.payload, pos, batch);
      case RequestKind.Alarm:
        return {
          ok: true,
          response: applyAlarmRequest(this.alarms, req.payload, batch, this.logger),
          revision: this.store.currentRevision,
        };
      case RequestKind.Noop:
        return { ok: true, response: {}, revision: this.store.currentRevision };
      case RequestKind.Internal:
        return this.internal(req, pos, batch);
      default:
        // decodeRequest rejects unknown kinds; this line only compiles while every
        // RequestKind has its case above.
        return unreachable(req.kind, 'request kind');
    }
  }

  private internal(req: DecodedRequest, pos: EntryPosition, batch: BackendBatch): ApplyOutcome {
    if (this.auth === undefined) throw new TsetcdError('unimplemented', 'internal requests need the auth store');
    const { header, body } = decodeInternal(req.payload);
    // Writes were proposed in this form while auth was enabled, before entries had a header.
    if (body.type === 'write') return this.dispatch(unwrapWrite(req), pos, batch);
    return this.applyAuth(this.auth, body.req, { username: header.username, revision: header.authRevision }, pos, batch);
  }

  /** An Auth service request; the response carries the store revision (etcd fills the header at apply). */
  private applyAuth(auth: AuthStore, r: AuthRequest, caller: AuthInfo, pos: EntryPosition, batch: BackendBatch): ApplyOutcome {
    const response = applyAuthRequest(auth, r, caller, { batch, index: pos.index });
    return { ok: true, response, revision: this.store.currentRevision };
  }

  private leaseKind(fn: LeaseKindApplier, payload: Uint8Array, pos: EntryPosition, batch: BackendBatch): ApplyOutcome {
    const r = fn(payload, this.context(pos, batch));
    return { ok: true, response: r.response, revision: r.revision };
  }

  private context(position: EntryPosition, batch: BackendBatch): LeaseApplyContext {
    return {
      store: this.store,
      batch,
      position,
      deleteKeys: (keys) => {
        // One DeleteRange per key inside one txn: a single revision for all of them,
        // as etcd's lease revoke deletes every attached key at one revision.
        const ops = keys.map((key) => ({ requestDeleteRange: { key, prevKv: false } }));
        const r = this.store.applyTxn({ compare: [], success: ops, failure: [] }, batch, this.writeCtx);
        this.wrote(r);
        const deleted = r.events.length;
        return { revision: r.revision, deleted };
      },
    };
  }

  private wrote(r: { events: readonly MvccEvent[]; revision: number; leaseChanges: readonly LeaseChange[] }): void {
    if (r.leaseChanges.length > 0) this.lessor.onLeaseChanges(r.leaseChanges);
    this.emit(r.events, r.revision);
  }

  private emit(events: readonly MvccEvent[], revision: number): void {
    if (events.length === 0) return;
    for (const l of this.listeners) l(events, revision);
  }
}
