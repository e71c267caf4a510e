/**
 * The operation language of the KV differential test: abstract KV operations over a
 * tiny key alphabet, and their translation to etcd v3 requests for one server. The
 * fast-check arbitraries that generate them are in kv-arbitraries.ts.
 *
 * Operations are server-independent: keys are indexes into KEY_SUFFIXES (appended to
 * the sequence's own prefix), revisions are offsets from the sequence's base revision
 * (the store revision when the sequence started on that server) or from its current
 * revision. The request builders turn an operation into a request for one server,
 * given that server's frame, so two servers whose global revision counters differ
 * still get the "same" request.
 *
 * The alphabet is chosen so keys collide and stress etcd's byte conventions: NUL and
 * 0xff bytes, a key that is a prefix of others, and suffixes whose prefix end equals
 * the end of the whole sequence space. Ranges never leave the sequence's space, except
 * range_end "\0", which reaches later sequences' prefixes; those have not run yet.
 */
import { prefixEnd } from '../../../src/shared/bytes.js';
import type * as pb from '../../../src/generated/pb.js';

export const KEY_SUFFIXES: readonly Buffer[] = [
  Buffer.from(''),
  Buffer.from('a'),
  Buffer.from('a\x00', 'latin1'),
  Buffer.from('a\x00\x00', 'latin1'),
  Buffer.from('a\xff', 'latin1'),
  Buffer.from('ab'),
  Buffer.from('b'),
  Buffer.from('\x00', 'latin1'),
  Buffer.from('\xff', 'latin1'),
  Buffer.from('\xff\xff', 'latin1'),
];
export const VALUES: readonly Buffer[] = [
  Buffer.from(''),
  Buffer.from('v'),
  Buffer.from('w'),
  Buffer.from('\x00\xff', 'latin1'),
];
/** A lease id no server has granted: puts with it fail with "requested lease not found". */
export const UNKNOWN_LEASE = 999;

/** An alphabet key, or the raw empty key (invalid: "key is not provided"). */
export type KeyRef = number | 'empty';
/** none = single key; prefix = prefixEnd(key); open = "\0"; all = end of the sequence space. */
export type EndRef = 'none' | 'prefix' | 'open' | 'all' | { readonly key: number };
/**
 * 0 (latest / unset); base + rel; or `back` revisions before the current one (as the
 * oracle last reported it), never below base.
 */
export type RevRef = 0 | { readonly rel: number } | { readonly back: number };

export interface PutOp {
  readonly op: 'put';
  readonly key: KeyRef;
  readonly value: number;
  readonly prevKv: boolean;
  readonly ignoreValue: boolean;
  readonly ignoreLease: boolean;
  readonly unknownLease: boolean;
}
export interface DeleteOp {
  readonly op: 'delete';
  readonly key: KeyRef;
  readonly end: EndRef;
  readonly prevKv: boolean;
}
export interface RangeOp {
  readonly op: 'range';
  readonly key: KeyRef;
  readonly end: EndRef;
  readonly limit: number;
  readonly revision: RevRef;
  readonly sortOrder: number;
  readonly sortTarget: number;
  readonly keysOnly: boolean;
  readonly countOnly: boolean;
  readonly minMod: RevRef;
  readonly maxMod: RevRef;
  readonly minCreate: RevRef;
  readonly maxCreate: RevRef;
  readonly serializable: boolean;
}
export interface CompareSpec {
  readonly key: KeyRef;
  readonly end: EndRef;
  /** VERSION, CREATE, MOD, VALUE, LEASE */
  readonly target: number;
  /** EQUAL, GREATER, LESS, NOT_EQUAL */
  readonly result: number;
  readonly version: number;
  readonly revision: RevRef;
  readonly value: number;
  readonly unknownLease: boolean;
}
export type TxnSubOp = PutOp | DeleteOp | RangeOp | TxnOp;
export interface TxnOp {
  readonly op: 'txn';
  readonly compare: readonly CompareSpec[];
  readonly success: readonly TxnSubOp[];
  readonly failure: readonly TxnSubOp[];
}
export interface CompactOp {
  readonly op: 'compact';
  /** Resolved to at least base + 1, so a sequence never compacts at or below its base. */
  readonly at: { readonly rel: number } | { readonly back: number };
  readonly physical: boolean;
}
export interface HashKVOp {
  readonly op: 'hashkv';
  readonly revision: RevRef;
}
export type KvOp = TxnSubOp | CompactOp | HashKVOp;

/** Sort enums etcd knows; anything else is "etcdserver: invalid sort option" in 3.5+. */
export const SORT_ORDER_MAX = 2;
export const SORT_TARGET_MAX = 4;

export function hasInvalidSort(op: RangeOp): boolean {
  return (
    op.sortOrder < 0 ||
    op.sortOrder > SORT_ORDER_MAX ||
    op.sortTarget < 0 ||
    op.sortTarget > SORT_TARGET_MAX
  );
}

/**
 * Where a sequence lives on one server: its key prefix, its base revision there, and
 * how many revisions the sequence has written so far (from the oracle's answers, the
 * same number for both servers so their requests stay alike).
 */
export interface SequenceFrame {
  readonly prefix: Buffer;
  readonly base: number;
  readonly currentRel: number;
}

function keyBytes(ref: KeyRef, f: SequenceFrame): Buffer {
  return ref === 'empty'
    ? Buffer.alloc(0)
    : Buffer.concat([f.prefix, KEY_SUFFIXES[ref] ?? Buffer.alloc(0)]);
}

function endBytes(end: EndRef, key: Buffer, f: SequenceFrame): Buffer {
  if (end === 'none') return Buffer.alloc(0);
  if (end === 'prefix') return prefixEnd(key);
  if (end === 'open') return Buffer.from([0]);
  if (end === 'all') return prefixEnd(f.prefix);
  return keyBytes(end.key, f);
}

function revNumber(ref: RevRef, f: SequenceFrame): number {
  if (ref === 0) return 0;
  return f.base + ('rel' in ref ? ref.rel : Math.max(0, f.currentRel - ref.back));
}

export function putRequest(op: PutOp, f: SequenceFrame): pb.PutRequest {
  return {
    key: keyBytes(op.key, f),
    value: op.ignoreValue ? Buffer.alloc(0) : (VALUES[op.value] ?? Buffer.alloc(0)),
    lease: op.unknownLease ? UNKNOWN_LEASE : 0,
    prevKv: op.prevKv,
    ignoreValue: op.ignoreValue,
    ignoreLease: op.ignoreLease,
  };
}

export function deleteRequest(op: DeleteOp, f: SequenceFrame): pb.DeleteRangeRequest {
  const key = keyBytes(op.key, f);
  return { key, rangeEnd: endBytes(op.end, key, f), prevKv: op.prevKv };
}

export function rangeRequest(op: RangeOp, f: SequenceFrame): pb.RangeRequest {
  const key = keyBytes(op.key, f);
  return {
    key,
    rangeEnd: endBytes(op.end, key, f),
    limit: op.limit,
    revision: revNumber(op.revision, f),
    sortOrder: op.sortOrder as pb.RangeRequest_SortOrder,
    sortTarget: op.sortTarget as pb.RangeRequest_SortTarget,
    serializable: op.serializable,
    keysOnly: op.keysOnly,
    countOnly: op.countOnly,
    minModRevision: revNumber(op.minMod, f),
    maxModRevision: revNumber(op.maxMod, f),
    minCreateRevision: revNumber(op.minCreate, f),
    maxCreateRevision: revNumber(op.maxCreate, f),
  };
}

function compareRequest(c: CompareSpec, f: SequenceFrame): pb.Compare {
  const key = keyBytes(c.key, f);
  const base: pb.Compare = {
    result: c.result as pb.Compare_CompareResult,
    target: c.target as pb.Compare_CompareTarget,
    key,
    rangeEnd: endBytes(c.end, key, f),
  };
  switch (c.target) {
    case 0:
      return { ...base, version: c.version };
    case 1:
      return { ...base, createRevision: revNumber(c.revision, f) };
    case 2:
      return { ...base, modRevision: revNumber(c.revision, f) };
    case 3:
      return { ...base, value: VALUES[c.value] ?? Buffer.alloc(0) };
    default:
      return { ...base, lease: c.unknownLease ? UNKNOWN_LEASE : 0 };
  }
}

function requestOp(op: TxnSubOp, f: SequenceFrame): pb.RequestOp {
  switch (op.op) {
    case 'put':
      return { requestPut: putRequest(op, f) };
    case 'delete':
      return { requestDeleteRange: deleteRequest(op, f) };
    case 'range':
      return { requestRange: rangeRequest(op, f) };
    case 'txn':
      return { requestTxn: txnRequest(op, f) };
  }
}

export function txnRequest(op: TxnOp, f: SequenceFrame): pb.TxnRequest {
  return {
    compare: op.compare.map((c) => compareRequest(c, f)),
    success: op.success.map((o) => requestOp(o, f)),
    failure: op.failure.map((o) => requestOp(o, f)),
  };
}

export function compactRequest(op: CompactOp, f: SequenceFrame): pb.CompactionRequest {
  return { revision: compactRevision(op, f), physical: op.physical };
}

export function compactRevision(op: CompactOp, f: SequenceFrame): number {
  return f.base + Math.max(1, 'rel' in op.at ? op.at.rel : f.currentRel - op.at.back);
}

export function hashKVRequest(op: HashKVOp, f: SequenceFrame): pb.HashKVRequest {
  return { revision: revNumber(op.revision, f) };
}
