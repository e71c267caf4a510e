/**
 * The KV service (etcd api/v3rpc/key.go + v3_server.go): thin handlers that validate,
 * call the server, map errors (by throwing typed errors the router maps) and fill the
 * header.
 *
 * - Range: linearizable by default (ReadIndex, then wait for apply), serializable
 *   reads served locally at once. Header revision = the store's current revision.
 * - Put, DeleteRange, write Txn, Compact: proposed through the log, answered from the
 *   apply result on this member. The proposed payload is the request's own bytes.
 * - Identity and permissions (gate.ts): reads are checked here, before and after the
 *   read (etcd doSerialize); writes carry the caller to apply, which checks them.
 * - A Txn of Range operations only (etcd isTxnReadonly: a nested txn counts as a write)
 *   is served like a Range, without a log entry, as etcd does.
 */
import type * as pb from '../generated/pb.js';
import { RequestKind } from '../apply/request.js';
import { rangeFromPb, rangeToPb, txnFromPb, txnToPb } from '../apply/convert.js';
import type { ApplyOutcome } from '../apply/applier.js';
import type { CallContext } from '../grpc/server.js';
import { checkDeleteRequest, checkPutRequest, checkRangeRequest, checkTxn } from './validate.js';
import type { HeaderFiller } from './header.js';
import type { AnyHandler } from './services.js';
import { OPEN_GATE, type AuthGate, type AuthInfo } from '../auth/index.js';
import { isTxnReadOnly, type MvccStore } from '../mvcc/index.js';
import { compactText, loggableTxn } from '../apply/loggable.js';
import { codec } from '../shared/pb-codec.js';
import type { Cancelation } from '../shared/cancel.js';

/** The request and response as etcd's slow-read warning prints them. */
export interface ReadTexts {
  readonly request: string;
  readonly response: string;
}

/** What the KV handlers need from the member. */
export interface KvBackend {
  readonly store: MvccStore;
  readonly maxTxnOps: number;
  /** `caller`: the client's identity, checked at apply while auth is enabled. */
  propose(kind: RequestKind, payload: Uint8Array, signal?: Cancelation, caller?: AuthInfo): Promise<ApplyOutcome>;
  linearizableReadPoint(signal?: AbortSignal): Promise<void>;
  /**
   * Starts timing a read served without the log (a Range, a read-only Txn), from its
   * arrival as etcd's EtcdServer.Range does; the returned function logs etcd's slow-read
   * warning when the read was slow, asking for the request and response texts only then.
   */
  readTimer?(): (describe: () => ReadTexts) => void;
}

const responseSize = (type: string, msg: object, revision: number): number =>
  codec<object>(`etcdserverpb.${type}`).encode({ ...msg, header: { revision } }).length;

/** A read-only txn attaches nothing: its check never asks for a lease's keys. */
const NO_LEASE_KEYS = (): undefined => undefined;


export function kvHandlers(s: KvBackend, h: HeaderFiller, gate: AuthGate = OPEN_GATE): Map<string, AnyHandler> {
  async function write(kind: RequestKind, bytes: Uint8Array, ctx: CallContext): Promise<{ outcome: ApplyOutcome & { ok: true } }> {
    const caller = await gate.caller(ctx);
    // The call itself as the cancellation: no AbortSignal per write (shared/cancel.ts).
    const outcome = await s.propose(kind, bytes, ctx, caller);
    if (!outcome.ok) throw outcome.error;
    return { outcome };
  }

  const range = async (req: pb.RangeRequest, ctx: CallContext): Promise<pb.RangeResponse> => {
    checkRangeRequest(req);
    const timed = s.readTimer?.();
    if (req.serializable !== true) await s.linearizableReadPoint(ctx.signal);
    const caller = await gate.caller(ctx);
    gate.range(caller, req);
    const res = await s.store.range(rangeFromPb(req));
    gate.afterRead(caller);
    const body = rangeToPb(res);
    timed?.(() => ({
      request: compactText('etcdserverpb.RangeRequest', req),
      response: `range_response_count:${res.kvs.length} size:${responseSize('RangeResponse', body, res.revision)}`,
    }));
    return { header: h.header(res.revision), ...body };
  };

  const put = async (req: pb.PutRequest, ctx: CallContext, raw: Buffer): Promise<pb.PutResponse> => {
    checkPutRequest(req);
    const { outcome } = await write(RequestKind.Put, raw, ctx);
    return { header: h.header(outcome.revision), ...(outcome.response as pb.PutResponse) };
  };

  const deleteRange = async (req: pb.DeleteRangeRequest, ctx: CallContext, raw: Buffer): Promise<pb.DeleteRangeResponse> => {
    checkDeleteRequest(req);
    const { outcome } = await write(RequestKind.DeleteRange, raw, ctx);
    return { header: h.header(outcome.revision), ...(outcome.response as pb.DeleteRangeResponse) };
  };

  const txn = async (req: pb.TxnRequest, ctx: CallContext, raw: Buffer): Promise<pb.TxnResponse> => {
    checkTxn(req, s.maxTxnOps);
    const request = txnFromPb(req);
    if (isTxnReadOnly(request)) {
      const timed = s.readTimer?.();
      await s.linearizableReadPoint(ctx.signal);
      const caller = await gate.caller(ctx);
      gate.txn(caller, req, NO_LEASE_KEYS);
      const res = await s.store.txnReadOnly(request);
      gate.afterRead(caller);
      const body = txnToPb(res);
      timed?.(() => {
        const counts = (body.responses ?? []).map((r) => `range_response_count:${r.responseRange?.kvs?.length ?? 0}`);
        return { request: loggableTxn(req), response: `responses:<${counts.join(' ')}> size:${responseSize('TxnResponse', body, res.revision)}` };
      });
      return { header: h.header(res.revision), ...body };
    }
    const { outcome } = await write(RequestKind.Txn, raw, ctx);
    return { header: h.header(outcome.revision), ...(outcome.response as pb.TxnResponse) };
  };

  const compact = async (req: pb.CompactionRequest, ctx: CallContext, raw: Buffer): Promise<pb.CompactionResponse> => {
    const { outcome } = await write(RequestKind.Compaction, raw, ctx);
    if (req.physical === true && outcome.physicalDone !== undefined) await outcome.physicalDone;
    return { header: h.header(outcome.revision) };
  };

  return new Map<string, AnyHandler>([
    ['/etcdserverpb.KV/Range', { kind: 'unary', fn: range }],
    ['/etcdserverpb.KV/Put', { kind: 'unary', fn: put }],
    ['/etcdserverpb.KV/DeleteRange', { kind: 'unary', fn: deleteRange }],
    ['/etcdserverpb.KV/Txn', { kind: 'unary', fn: txn }],
    ['/etcdserverpb.KV/Compact', { kind: 'unary', fn: compact }],
  ]);
}


