/**
 * Put, DeleteRange and Txn as etcd 3.5 applies them (etcdserver/apply.go applierV3backend).
 *
 * Txn order (etcd 3.5): evaluate every compare of the whole request tree against the
 * state before the txn (compareToPath); then, if the txn has writes, check every put of
 * the executed path (ignore_value/ignore_lease need the key, a lease must exist); then
 * check every range of the executed path (revision not future, not compacted); only
 * then execute, op by op, each op seeing the earlier ones. A failed check throws before
 * anything changed. Plain Put checks the lease before the key (apply.go Put).
 *
 * One deliberate difference: etcd panics when a put with ignore_value/ignore_lease meets
 * a key that an earlier DeleteRange of the same txn removed (possible because the
 * duplicate-key check ignores "\0" range ends); we refuse the txn with key-not-found
 * before executing it instead of taking the member down.
 */
import { TsetcdError } from '../shared/errors.js';
import { assert } from '../shared/assert.js';
import { leaseId } from '../shared/ids.js';
import { inRange } from '../shared/bytes.js';
import type { BackendBatch } from '../storage/backend.js';
import { executeRange, liveKVs } from './range.js';
import type { StoreState } from './store-state.js';
import {
  CompareResult,
  CompareTarget,
  type Compare,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type KeyValue,
  type PutRequest,
  type PutResponse,
  type RangeResponse,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
  type WriteContext,
  type WriteResult,
} from './types.js';
import { WriteTxn } from './write-txn.js';

const EMPTY = Buffer.alloc(0);
const NO_LEASE = leaseId(0n);

/** The branch each (nested) txn takes, decided before executing (etcd txnPath). */
interface TxnPath {
  succeeded: boolean;
  /** Paths of the nested txns of the taken branch, in op order. */
  nested: TxnPath[];
}

function branch(req: TxnRequest, path: TxnPath): RequestOp[] {
  return path.succeeded ? req.success : req.failure;
}

function compareInt(a: number | bigint, b: number | bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareKV(c: Compare, kv: KeyValue): boolean {
  let result: number;
  switch (c.target as number) {
    case CompareTarget.VALUE:
      result = Buffer.compare(kv.value, c.value ?? EMPTY);
      break;
    case CompareTarget.CREATE:
      result = compareInt(kv.createRevision, c.createRevision ?? 0);
      break;
    case CompareTarget.MOD:
      result = compareInt(kv.modRevision, c.modRevision ?? 0);
      break;
    case CompareTarget.VERSION:
      result = compareInt(kv.version, c.version ?? 0);
      break;
    case CompareTarget.LEASE:
      result = compareInt(kv.lease, c.lease ?? NO_LEASE);
      break;
    default:
      result = 0; // etcd: an unknown target leaves result at 0
  }
  switch (c.result as number) {
    case CompareResult.EQUAL:
      return result === 0;
    case CompareResult.NOT_EQUAL:
      return result !== 0;
    case CompareResult.GREATER:
      return result > 0;
    case CompareResult.LESS:
      return result < 0;
    default:
      return true; // etcd: an unknown result compares true
  }
}

const ZERO_KV: KeyValue = { key: EMPTY, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: NO_LEASE };

/** etcd applyCompare: every key of the range must satisfy it; a missing key is the zero KV, except for VALUE. */
function applyCompare(state: StoreState, c: Compare): boolean {
  const kvs = liveKVs(state, c.key, c.rangeEnd ?? EMPTY);
  if (kvs.length === 0) {
    if ((c.target as number) === CompareTarget.VALUE) return false;
    return compareKV(c, ZERO_KV);
  }
  return kvs.every((kv) => compareKV(c, kv));
}

function compareToPath(state: StoreState, req: TxnRequest): TxnPath {
  const succeeded = req.compare.every((c) => applyCompare(state, c));
  const nested: TxnPath[] = [];
  for (const op of succeeded ? req.success : req.failure) {
    if ('requestTxn' in op) nested.push(compareToPath(state, op.requestTxn));
  }
  return { succeeded, nested };
}

/** etcd isTxnReadonly: only Range ops at the top level of both branches. */
export function isTxnReadOnly(req: TxnRequest): boolean {
  return req.success.every((op) => 'requestRange' in op) && req.failure.every((op) => 'requestRange' in op);
}

/** Visits the ops of the executed path in execution order (nested txns inline). */
function walkPath(req: TxnRequest, path: TxnPath, fn: (op: RequestOp) => void): void {
  let n = 0;
  for (const op of branch(req, path)) {
    if ('requestTxn' in op) walkPath(op.requestTxn, path.nested[n++] as TxnPath, fn);
    else fn(op);
  }
}

function checkPuts(state: StoreState, req: TxnRequest, path: TxnPath, ctx: WriteContext): void {
  // Deletes earlier in the executed path, to refuse what etcd would panic on.
  const deleted: DeleteRangeRequest[] = [];
  walkPath(req, path, (op) => {
    if ('requestDeleteRange' in op) deleted.push(op.requestDeleteRange);
    if (!('requestPut' in op)) return;
    const p = op.requestPut;
    if (p.ignoreValue === true || p.ignoreLease === true) {
      if (state.index.get(p.key)?.isLive !== true) throw new TsetcdError('key-not-found');
      if (deleted.some((d) => inRange(p.key, d.key, d.rangeEnd ?? EMPTY))) throw new TsetcdError('key-not-found');
    }
    const lease = p.lease ?? NO_LEASE;
    if (lease !== NO_LEASE && !ctx.leaseExists(lease)) throw new TsetcdError('lease-not-found');
  });
}

function checkRanges(state: StoreState, req: TxnRequest, path: TxnPath): void {
  walkPath(req, path, (op) => {
    if (!('requestRange' in op)) return;
    const rev = op.requestRange.revision ?? 0;
    if (rev === 0) return;
    if (rev > state.currentRev) throw new TsetcdError('future-rev');
    if (rev < state.compactRev) throw new TsetcdError('compacted');
  });
}

/** etcd put() inside a write txn; checks were done by the caller. */
function putOp(txn: WriteTxn, state: StoreState, p: PutRequest): PutResponse {
  const ignore = p.ignoreValue === true || p.ignoreLease === true;
  const prev = ignore || p.prevKv === true ? state.index.get(p.key)?.liveKV() : undefined;
  if (ignore && prev === undefined) throw new TsetcdError('key-not-found');
  const value = p.ignoreValue === true ? (prev as KeyValue).value : (p.value ?? EMPTY);
  const lease = p.ignoreLease === true ? (prev as KeyValue).lease : (p.lease ?? NO_LEASE);
  txn.put(p.key, value, lease);
  const resp: PutResponse = { revision: txn.rev };
  if (p.prevKv === true && prev !== undefined) resp.prevKv = prev;
  return resp;
}

function deleteOp(txn: WriteTxn, state: StoreState, d: DeleteRangeRequest): DeleteRangeResponse {
  const end = d.rangeEnd ?? EMPTY;
  const prevKvs = d.prevKv === true ? liveKVs(state, d.key, end) : [];
  const deleted = txn.deleteRange(d.key, end);
  const revision = deleted !== 0 || txn.changes > 0 ? txn.rev : txn.beginRev;
  return { revision, deleted, prevKvs };
}

function settle(resp: RangeResponse | Promise<RangeResponse>): RangeResponse {
  assert(!(resp instanceof Promise), 'a range inside an applied txn must complete synchronously');
  return resp;
}

function executeTxn(state: StoreState, txn: WriteTxn | undefined, req: TxnRequest, path: TxnPath, top: boolean,
  asyncReads: Array<Promise<void>> | undefined): TxnResponse {
  const responses: ResponseOp[] = [];
  let n = 0;
  for (const op of branch(req, path)) {
    if ('requestRange' in op) {
      const view = txn !== undefined ? txn.viewRev : state.currentRev;
      const r = executeRange(state, op.requestRange, view, asyncReads === undefined);
      if (r instanceof Promise) {
        const at = responses.length;
        responses.push({ responseRange: { revision: view, kvs: [], more: false, count: 0 } });
        (asyncReads as Array<Promise<void>>).push(r.then((done) => {
          responses[at] = { responseRange: done };
        }));
      } else {
        responses.push({ responseRange: settle(r) });
      }
    } else if ('requestPut' in op) {
      assert(txn !== undefined, 'put in a read-only txn');
      responses.push({ responsePut: putOp(txn, state, op.requestPut) });
    } else if ('requestDeleteRange' in op) {
      assert(txn !== undefined, 'delete in a read-only txn');
      responses.push({ responseDeleteRange: deleteOp(txn, state, op.requestDeleteRange) });
    } else {
      const nested = executeTxn(state, txn, op.requestTxn, path.nested[n++] as TxnPath, false, asyncReads);
      responses.push({ responseTxn: nested });
    }
  }
  const revision = top ? (txn !== undefined && txn.changes > 0 ? txn.rev : state.currentRev) : 0;
  return { revision, succeeded: path.succeeded, responses };
}

function result<R>(txn: WriteTxn, response: R): WriteResult<R> {
  const revision = txn.end();
  return { response, revision, events: txn.events, leaseChanges: txn.leaseChanges };
}

export function applyPut(state: StoreState, p: PutRequest, batch: BackendBatch, ctx: WriteContext): WriteResult<PutResponse> {
  const lease = p.lease ?? NO_LEASE;
  if (lease !== NO_LEASE && !ctx.leaseExists(lease)) throw new TsetcdError('lease-not-found');
  const txn = new WriteTxn(state, batch);
  return result(txn, putOp(txn, state, p));
}

export function applyDelete(state: StoreState, d: DeleteRangeRequest, batch: BackendBatch): WriteResult<DeleteRangeResponse> {
  const txn = new WriteTxn(state, batch);
  return result(txn, deleteOp(txn, state, d));
}

export function applyTxn(state: StoreState, req: TxnRequest, batch: BackendBatch, ctx: WriteContext): WriteResult<TxnResponse> {
  const path = compareToPath(state, req);
  if (!isTxnReadOnly(req)) checkPuts(state, req, path, ctx);
  checkRanges(state, req, path);
  const txn = new WriteTxn(state, batch);
  const response = executeTxn(state, txn, req, path, true, undefined);
  const r = result(txn, response);
  r.response.revision = r.revision;
  return r;
}

/** A txn with only Range ops, served without a batch (etcd serves it like a Range). */
export function txnReadOnly(state: StoreState, req: TxnRequest): Promise<TxnResponse> {
  assert(isTxnReadOnly(req), 'txnReadOnly: the txn has writes');
  try {
    const path = compareToPath(state, req);
    checkRanges(state, req, path);
    const reads: Array<Promise<void>> = [];
    const response = executeTxn(state, undefined, req, path, true, reads);
    if (reads.length === 0) return Promise.resolve(response);
    return Promise.all(reads).then(() => response);
  } catch (err) {
    return Promise.reject(err);
  }
}
