// fast-check generators of KV operations over a small key alphabet (keys collide; keys
// with NUL and 0xff bytes), and etcd's request validation rules the server applies
// before proposing (so generated requests are ones etcd would accept).
import fc from 'fast-check';
import { prefixEnd } from '../../src/shared/bytes.js';
import { leaseId, type LeaseId } from '../../src/shared/ids.js';
import type { Compare, CompareResult, CompareTarget, RangeRequest, RequestOp, SortOrder, SortTarget, TxnRequest } from '../../src/mvcc/types.js';

const latin = (s: string): Buffer => Buffer.from(s, 'latin1');
export const KEYS = ['a', 'a\0', 'ab', 'b', '\0', '\xff', '\xff\xff', 'c'].map(latin);
const VALUES = ['', 'x', 'y', 'xy', '\0'].map(latin);

export const keyArb = fc.constantFrom(...KEYS);
const valueArb = fc.constantFrom(...VALUES);
/** 1n exists, 2n does not. */
const leaseArb: fc.Arbitrary<LeaseId> = fc.constantFrom(leaseId(0n), leaseId(0n), leaseId(1n), leaseId(2n));

/** range_end for key: single key, "\0" (open), a prefix end, or another key. */
const rangeEndArb = (key: Buffer): fc.Arbitrary<Buffer> =>
  fc.oneof(
    fc.constant(Buffer.alloc(0)),
    fc.constant(Buffer.from([0])),
    fc.constant(prefixEnd(key)),
    keyArb,
    fc.constant(latin('z')),
  );

/** Revisions are generated as offsets, resolved against the store at run time. */
export type RevRef = { kind: 'zero' } | { kind: 'back'; n: number } | { kind: 'abs'; n: number };
const revRefArb: fc.Arbitrary<RevRef> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<RevRef>({ kind: 'zero' }) },
  { weight: 3, arbitrary: fc.integer({ min: -1, max: 6 }).map<RevRef>((n) => ({ kind: 'back', n })) },
  { weight: 1, arbitrary: fc.integer({ min: -2, max: 3 }).map<RevRef>((n) => ({ kind: 'abs', n })) },
);

export function resolveRev(ref: RevRef, current: number): number {
  if (ref.kind === 'zero') return 0;
  if (ref.kind === 'abs') return ref.n;
  return current - ref.n; // n = -1: a future revision
}

export interface GenRange {
  req: Omit<RangeRequest, 'revision'>;
  rev: RevRef;
}

const filterArb = fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 12 }) });

export const rangeArb: fc.Arbitrary<GenRange> = keyArb.chain((key) =>
  fc.record({
    req: fc.record({
      key: fc.constant(key),
      rangeEnd: rangeEndArb(key),
      limit: fc.constantFrom(0, 0, 1, 2, 3),
      sortOrder: fc.constantFrom<SortOrder>(0, 0, 1, 2),
      sortTarget: fc.constantFrom<SortTarget>(0, 0, 1, 2, 3, 4),
      keysOnly: fc.boolean(),
      countOnly: fc.constantFrom(false, false, false, true),
      minModRevision: filterArb,
      maxModRevision: filterArb,
      minCreateRevision: filterArb,
      maxCreateRevision: filterArb,
    }),
    rev: revRefArb,
  }),
);

export const putArb = fc
  .record({
    key: keyArb,
    value: valueArb,
    lease: leaseArb,
    prevKv: fc.boolean(),
    ignoreValue: fc.constantFrom(false, false, false, true),
    ignoreLease: fc.constantFrom(false, false, false, true),
  })
  // The server refuses ignore_value with a value and ignore_lease with a lease.
  .map((p) => ({
    ...p,
    value: p.ignoreValue ? Buffer.alloc(0) : p.value,
    lease: p.ignoreLease ? leaseId(0n) : p.lease,
  }));

export const deleteArb = keyArb.chain((key) =>
  fc.record({ key: fc.constant(key), rangeEnd: rangeEndArb(key), prevKv: fc.boolean() }),
);

const compareArb: fc.Arbitrary<Compare> = keyArb.chain((key) =>
  fc
    .record({
      key: fc.constant(key),
      rangeEnd: fc.oneof(fc.constant(Buffer.alloc(0)), fc.constant(Buffer.alloc(0)), rangeEndArb(key)),
      target: fc.constantFrom<CompareTarget>(0, 1, 2, 3, 4),
      result: fc.constantFrom<CompareResult>(0, 1, 2, 3),
      n: fc.integer({ min: 0, max: 8 }),
      value: valueArb,
      lease: leaseArb,
    })
    .map((c) => {
      const out: Compare = { key: c.key, rangeEnd: c.rangeEnd, target: c.target, result: c.result };
      if (c.target === 0) out.version = c.n;
      if (c.target === 1) out.createRevision = c.n;
      if (c.target === 2) out.modRevision = c.n;
      if (c.target === 3) out.value = c.value;
      if (c.target === 4) out.lease = c.lease;
      return out;
    }),
);

/** Range requests inside generated txns carry their revision as a RevRef. */
type GenRangeRequest = RangeRequest & { revRef?: RevRef };

function opArb(depth: number): fc.Arbitrary<RequestOp> {
  const leaf: Array<fc.Arbitrary<RequestOp>> = [
    rangeArb.map((r) => ({ requestRange: { ...r.req, revRef: r.rev } as GenRangeRequest })),
    putArb.map((p) => ({ requestPut: p })),
    deleteArb.map((d) => ({ requestDeleteRange: d })),
  ];
  if (depth > 0) leaf.push(txnReqArb(depth - 1).map((t) => ({ requestTxn: t })));
  return fc.oneof(...leaf);
}

function txnReqArb(depth: number): fc.Arbitrary<TxnRequest> {
  return fc.record({
    compare: fc.array(compareArb, { maxLength: 2 }),
    success: fc.array(opArb(depth), { maxLength: 3 }),
    failure: fc.array(opArb(depth), { maxLength: 3 }),
  });
}

export const txnArb: fc.Arbitrary<TxnRequest> = txnReqArb(2).filter((t) => txnIsValid(t));

// ---- etcd's duplicate-key rule (v3rpc/key.go checkIntervals), reimplemented ----

interface DelInterval {
  key: Buffer;
  end: Buffer;
}

function intersects(dels: DelInterval[], k: Buffer): boolean {
  return dels.some((d) =>
    d.end.length === 0 ? d.key.equals(k) : Buffer.compare(d.key, k) <= 0 && Buffer.compare(k, d.end) < 0,
  );
}

class Duplicate extends Error {}

function checkIntervals(ops: RequestOp[]): { puts: Set<string>; dels: DelInterval[] } {
  const dels: DelInterval[] = [];
  for (const op of ops) {
    if ('requestDeleteRange' in op) dels.push({ key: op.requestDeleteRange.key, end: op.requestDeleteRange.rangeEnd ?? Buffer.alloc(0) });
  }
  const puts = new Set<string>();
  for (const op of ops) {
    if (!('requestTxn' in op)) continue;
    const then = checkIntervals(op.requestTxn.success);
    const els = checkIntervals(op.requestTxn.failure);
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, Buffer.from(k, 'hex'))) throw new Duplicate();
      puts.add(k);
    }
    for (const k of els.puts) {
      if (puts.has(k) && !then.puts.has(k)) throw new Duplicate();
      if (intersects(dels, Buffer.from(k, 'hex'))) throw new Duplicate();
      puts.add(k);
    }
    dels.push(...then.dels, ...els.dels);
  }
  for (const op of ops) {
    if (!('requestPut' in op)) continue;
    const k = op.requestPut.key.toString('hex');
    if (puts.has(k) || intersects(dels, op.requestPut.key)) throw new Duplicate();
    puts.add(k);
  }
  return { puts, dels };
}

export function txnIsValid(t: TxnRequest): boolean {
  try {
    checkIntervals(t.success);
    checkIntervals(t.failure);
    return true;
  } catch (e) {
    if (e instanceof Duplicate) return false;
    throw e;
  }
}

export function resolveTxn(g: TxnRequest, current: number): TxnRequest {
  const mapOps = (ops: RequestOp[]): RequestOp[] =>
    ops.map((op) => {
      if ('requestRange' in op) {
        const { revRef, ...req } = op.requestRange as GenRangeRequest;
        return { requestRange: { ...req, revision: revRef === undefined ? 0 : resolveRev(revRef, current) } };
      }
      if ('requestTxn' in op) return { requestTxn: mapTxn(op.requestTxn) };
      return op;
    });
  const mapTxn = (t: TxnRequest): TxnRequest => ({ compare: t.compare, success: mapOps(t.success), failure: mapOps(t.failure) });
  return mapTxn(g);
}
