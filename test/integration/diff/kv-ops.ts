/**
 * The operation language of the KV differential test: abstract KV operations over a
 * tiny key alphabet, their fast-check arbitraries, and their translation to etcd v3
 * requests for one server.
 *
 * Operations are server-independent: keys are indexes into KEY_SUFFIXES (appended to
 * the sequence's own prefix), revisions are offsets from the sequence's base revision
 * (the store revision when the sequence started on that server). toRequest() turns an
 * operation into a request for one server, given that server's base, so two servers
 * whose global revision counters differ still get the "same" request.
 *
 * The alphabet is chosen so keys collide and stress etcd's byte conventions: NUL and
 * 0xff bytes, a key that is a prefix of others, and suffixes whose prefix end equals
 * the end of the whole sequence space. Ranges never leave the sequence's space, except
 * range_end "\0", which reaches later sequences' prefixes; those have not run yet.
 */
import fc from 'fast-check';
import { prefixEnd } from '../../../src/shared/bytes.js';
import type * as pb from '../../../src/shared/pb.js';

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
export const VALUES: readonly Buffer[] = [Buffer.from(''), Buffer.from('v'), Buffer.from('w'), Buffer.from('\x00\xff', 'latin1')];
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

/**
 * Revision offsets: 50 operations write about 30 revisions, so offsets up to 40 reach
 * mostly existing revisions and sometimes future ones; compactions stay lower so that
 * later operations still find uncompacted history.
 */
const MAX_REL = 40;
const MAX_COMPACT_REL = 30;

const keyArb: fc.Arbitrary<KeyRef> = fc.oneof(
  { weight: 80, arbitrary: fc.integer({ min: 0, max: KEY_SUFFIXES.length - 1 }) },
  { weight: 1, arbitrary: fc.constant('empty' as const) },
);
const endArb: fc.Arbitrary<EndRef> = fc.oneof(
  { weight: 8, arbitrary: fc.constant('none' as const) },
  { weight: 4, arbitrary: fc.constant('prefix' as const) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: KEY_SUFFIXES.length - 1 }).map((key) => ({ key })) },
  { weight: 2, arbitrary: fc.constant('open' as const) },
  { weight: 3, arbitrary: fc.constant('all' as const) },
);
const relArb = fc.integer({ min: 0, max: MAX_REL }).map((rel) => ({ rel }));
const backArb = fc.integer({ min: 0, max: 8 }).map((back) => ({ back }));
const revArb: fc.Arbitrary<RevRef> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0 as const) },
  { weight: 4, arbitrary: backArb },
  { weight: 1, arbitrary: relArb },
);
const filterArb: fc.Arbitrary<RevRef> = fc.oneof(
  { weight: 12, arbitrary: fc.constant(0 as const) },
  { weight: 2, arbitrary: backArb },
  { weight: 1, arbitrary: relArb },
);
/** true with probability percent/100 (fc.integer is biased to small values; oneof weights are not). */
const rarely = (percent: number): fc.Arbitrary<boolean> =>
  fc.oneof({ weight: percent, arbitrary: fc.constant(true) }, { weight: 100 - percent, arbitrary: fc.constant(false) });
/** Deletes mostly hit single keys, or every sequence would soon be empty. */
const deleteEndArb: fc.Arbitrary<EndRef> = fc.oneof({ weight: 5, arbitrary: fc.constant('none' as const) }, { weight: 2, arbitrary: endArb });

const putArb: fc.Arbitrary<PutOp> = fc.record({
  op: fc.constant('put' as const),
  key: keyArb,
  value: fc.integer({ min: 0, max: VALUES.length - 1 }),
  prevKv: fc.boolean(),
  ignoreValue: rarely(8),
  ignoreLease: rarely(8),
  unknownLease: rarely(3),
});
const deleteArb: fc.Arbitrary<DeleteOp> = fc.record({ op: fc.constant('delete' as const), key: keyArb, end: deleteEndArb, prevKv: fc.boolean() });
/** Sort enums etcd knows; anything else is "etcdserver: invalid sort option" in 3.5+. */
export const SORT_ORDER_MAX = 2;
export const SORT_TARGET_MAX = 4;

export function hasInvalidSort(op: RangeOp): boolean {
  return op.sortOrder < 0 || op.sortOrder > SORT_ORDER_MAX || op.sortTarget < 0 || op.sortTarget > SORT_TARGET_MAX;
}

/**
 * Ranges. Invalid sort options (order 3, target 5) appear only in top-level ranges,
 * never inside txns: etcd 3.4.23 does not validate them and crashes on an unknown
 * sort target (see KNOWN_DIFFERENCES in differential.test.ts).
 */
function rangeArbWith(invalidSort: boolean): fc.Arbitrary<RangeOp> {
  const sortOrder = fc.integer({ min: 0, max: SORT_ORDER_MAX });
  const sortTarget = fc.integer({ min: 0, max: SORT_TARGET_MAX });
  return fc.record({
    op: fc.constant('range' as const),
    key: keyArb,
    end: endArb,
    limit: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.constant(-1) }),
    revision: revArb,
    sortOrder: invalidSort ? fc.oneof({ weight: 40, arbitrary: sortOrder }, { weight: 1, arbitrary: fc.constant(SORT_ORDER_MAX + 1) }) : sortOrder,
    sortTarget: invalidSort ? fc.oneof({ weight: 40, arbitrary: sortTarget }, { weight: 1, arbitrary: fc.constant(SORT_TARGET_MAX + 1) }) : sortTarget,
    keysOnly: rarely(20),
    countOnly: rarely(15),
    minMod: filterArb,
    maxMod: filterArb,
    minCreate: filterArb,
    maxCreate: filterArb,
    serializable: rarely(20),
  });
}
const rangeArb = rangeArbWith(false);
const compareArb: fc.Arbitrary<CompareSpec> = fc.record({
  key: keyArb,
  end: fc.oneof({ weight: 4, arbitrary: fc.constant('none' as const) }, { weight: 1, arbitrary: endArb }),
  target: fc.integer({ min: 0, max: 4 }),
  result: fc.integer({ min: 0, max: 3 }),
  version: fc.integer({ min: 0, max: 3 }),
  revision: fc.oneof(fc.constant(0 as const), backArb, relArb),
  value: fc.integer({ min: 0, max: VALUES.length - 1 }),
  unknownLease: rarely(20),
});

function txnArb(depth: number): fc.Arbitrary<TxnOp> {
  const sub: fc.Arbitrary<TxnSubOp> =
    depth <= 1
      ? fc.oneof(putArb, deleteArb, rangeArb)
      : fc.oneof({ weight: 3, arbitrary: putArb }, { weight: 2, arbitrary: deleteArb }, { weight: 3, arbitrary: rangeArb }, { weight: 1, arbitrary: txnArb(depth - 1) });
  const ops = fc.array(sub, { maxLength: 3 });
  return fc
    .record({ op: fc.constant('txn' as const), compare: fc.array(compareArb, { maxLength: 3 }), success: ops, failure: ops })
    .map((txn) => (containsDelete(txn) ? withoutIgnoreFlags(txn) : txn));
}

function containsDelete(op: TxnSubOp): boolean {
  if (op.op === 'delete') return true;
  return op.op === 'txn' && [...op.success, ...op.failure].some(containsDelete);
}

/**
 * etcd (3.4.23, and 3.5's applyTxn the same way) checks ignore_value / ignore_lease
 * puts of a txn against the store before the txn, then panics ("unexpected error
 * during txn") if an earlier delete of the same txn removed the key. Such txns crash
 * the oracle, so a txn that deletes anything carries no ignore_* puts.
 */
function withoutIgnoreFlags<T extends TxnSubOp>(op: T): T {
  if (op.op === 'put') return { ...op, ignoreValue: false, ignoreLease: false };
  if (op.op !== 'txn') return op;
  return { ...op, success: op.success.map(withoutIgnoreFlags), failure: op.failure.map(withoutIgnoreFlags) };
}

export const kvOpArb: fc.Arbitrary<KvOp> = fc.oneof(
  { weight: 30, arbitrary: putArb },
  { weight: 25, arbitrary: rangeArbWith(true) },
  { weight: 12, arbitrary: deleteArb },
  { weight: 20, arbitrary: txnArb(3) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('compact' as const),
      at: fc.oneof({ weight: 3, arbitrary: backArb }, { weight: 1, arbitrary: fc.integer({ min: 1, max: MAX_COMPACT_REL }).map((rel) => ({ rel })) }),
      physical: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('hashkv' as const), revision: revArb }) },
);

export function sequenceArb(length: number): fc.Arbitrary<KvOp[]> {
  return fc.array(kvOpArb, { minLength: length, maxLength: length });
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
  return ref === 'empty' ? Buffer.alloc(0) : Buffer.concat([f.prefix, KEY_SUFFIXES[ref] ?? Buffer.alloc(0)]);
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
