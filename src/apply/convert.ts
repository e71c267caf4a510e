/**
 * Conversions between the wire messages (decoded protobufjs objects, shapes in
 * shared/pb.ts) and the MVCC store's request/response types. The store works on
 * Buffers, numbers and bigint lease ids; the wire carries Long/number int64s and
 * Uint8Array bytes. This is the only place the two meet.
 *
 * Responses follow etcd's header rules (api/v3rpc/header.go): requests inside a Txn carry a header
 * with only `revision`; nested TxnResponses carry an empty header.
 */
import Long from 'long';
import { toBuffer } from '../shared/bytes.js';
import { leaseId, type LeaseId } from '../shared/ids.js';
import type * as pb from '../generated/pb.js';
import { toBigInt, toNumber } from '../shared/pb-codec.js';
import type * as m from '../mvcc/types.js';

export function rangeFromPb(r: pb.RangeRequest): m.RangeRequest {
  return {
    key: toBuffer(r.key),
    rangeEnd: toBuffer(r.rangeEnd),
    limit: toNumber(r.limit),
    revision: toNumber(r.revision),
    sortOrder: (r.sortOrder ?? 0) as m.SortOrder,
    sortTarget: (r.sortTarget ?? 0) as m.SortTarget,
    keysOnly: r.keysOnly === true,
    countOnly: r.countOnly === true,
    minModRevision: toNumber(r.minModRevision),
    maxModRevision: toNumber(r.maxModRevision),
    minCreateRevision: toNumber(r.minCreateRevision),
    maxCreateRevision: toNumber(r.maxCreateRevision),
  };
}

export function putFromPb(r: pb.PutRequest): m.PutRequest {
  return {
    key: toBuffer(r.key),
    value: toBuffer(r.value),
    lease: leaseId(toBigInt(r.lease, false)),
    prevKv: r.prevKv === true,
    ignoreValue: r.ignoreValue === true,
    ignoreLease: r.ignoreLease === true,
  };
}

export function deleteFromPb(r: pb.DeleteRangeRequest): m.DeleteRangeRequest {
  return { key: toBuffer(r.key), rangeEnd: toBuffer(r.rangeEnd), prevKv: r.prevKv === true };
}

function compareFromPb(c: pb.Compare): m.Compare {
  const out: m.Compare = {
    result: (c.result ?? 0) as m.CompareResult,
    target: (c.target ?? 0) as m.CompareTarget,
    key: toBuffer(c.key),
    rangeEnd: toBuffer(c.rangeEnd),
  };
  // Only the member of the target_union oneof that is set is meaningful.
  switch (c.targetUnion) {
    case 'version':
      out.version = toNumber(c.version);
      break;
    case 'createRevision':
      out.createRevision = toNumber(c.createRevision);
      break;
    case 'modRevision':
      out.modRevision = toNumber(c.modRevision);
      break;
    case 'value':
      out.value = toBuffer(c.value);
      break;
    case 'lease':
      out.lease = leaseId(toBigInt(c.lease, false));
      break;
    default:
      break;
  }
  return out;
}

function opFromPb(op: pb.RequestOp): m.RequestOp {
  if (op.requestRange) return { requestRange: rangeFromPb(op.requestRange) };
  if (op.requestPut) return { requestPut: putFromPb(op.requestPut) };
  if (op.requestDeleteRange) return { requestDeleteRange: deleteFromPb(op.requestDeleteRange) };
  if (op.requestTxn) return { requestTxn: txnFromPb(op.requestTxn) };
  // Validation refuses empty ops before they are proposed.
  throw new RangeError('empty RequestOp reached apply');
}

export function txnFromPb(r: pb.TxnRequest): m.TxnRequest {
  return {
    compare: (r.compare ?? []).map(compareFromPb),
    success: (r.success ?? []).map(opFromPb),
    failure: (r.failure ?? []).map(opFromPb),
  };
}

/** A lease id for the wire: exact above 2^53, omitted when zero. */
export function leaseToPb(id: LeaseId | bigint): Long | undefined {
  return id === 0n ? undefined : Long.fromBigInt(id, false);
}

export function kvToPb(kv: m.KeyValue): pb.KeyValue {
  const out: pb.KeyValue = {
    key: kv.key,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
  };
  if (kv.value.length > 0) out.value = kv.value;
  if (kv.lease !== 0n) out.lease = Long.fromBigInt(kv.lease, false);
  return out;
}

export function rangeToPb(r: m.RangeResponse): pb.RangeResponse {
  const out: pb.RangeResponse = { kvs: r.kvs.map(kvToPb), count: r.count };
  if (r.more) out.more = true;
  return out;
}

export function putToPb(r: m.PutResponse): pb.PutResponse {
  return r.prevKv !== undefined ? { prevKv: kvToPb(r.prevKv) } : {};
}

export function deleteToPb(r: m.DeleteRangeResponse): pb.DeleteRangeResponse {
  const out: pb.DeleteRangeResponse = { deleted: r.deleted };
  if (r.prevKvs.length > 0) out.prevKvs = r.prevKvs.map(kvToPb);
  return out;
}

function opToPb(op: m.ResponseOp): pb.ResponseOp {
  if ('responseRange' in op) {
    return { responseRange: { header: { revision: op.responseRange.revision }, ...rangeToPb(op.responseRange) } };
  }
  if ('responsePut' in op) {
    return { responsePut: { header: { revision: op.responsePut.revision }, ...putToPb(op.responsePut) } };
  }
  if ('responseDeleteRange' in op) {
    const d = op.responseDeleteRange;
    return { responseDeleteRange: { header: { revision: d.revision }, ...deleteToPb(d) } };
  }
  const t = op.responseTxn;
  return { responseTxn: { header: t.revision === 0 ? {} : { revision: t.revision }, ...txnToPb(t) } };
}

export function txnToPb(r: m.TxnResponse): pb.TxnResponse {
  const out: pb.TxnResponse = { responses: r.responses.map(opToPb) };
  if (r.succeeded) out.succeeded = true;
  return out;
}

