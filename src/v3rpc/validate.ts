/**
 * Request validation done before anything is proposed, with etcd's rules and order
 * (etcd server/etcdserver/api/v3rpc/key.go: checkRangeRequest, checkPutRequest,
 * checkDeleteRequest, checkTxnRequest, checkRequestOp, checkIntervals). After this the
 * core trusts its inputs and only asserts them.
 */
import { TsetcdError } from '../shared/errors.js';
import type { DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from '../generated/pb.js';
import { toNumber } from '../shared/pb-codec.js';

const SORT_ORDERS = new Set([0, 1, 2]);
const SORT_TARGETS = new Set([0, 1, 2, 3, 4]);

export function checkRangeRequest(r: RangeRequest): void {
  if (isEmpty(r.key)) throw new TsetcdError('key-not-provided');
  if (!SORT_ORDERS.has(r.sortOrder ?? 0) || !SORT_TARGETS.has(r.sortTarget ?? 0)) throw new TsetcdError('invalid-sort-option');
}

export function checkPutRequest(r: PutRequest): void {
  if (isEmpty(r.key)) throw new TsetcdError('key-not-provided');
  if (r.ignoreValue === true && !isEmpty(r.value)) throw new TsetcdError('value-provided');
  if (r.ignoreLease === true && toNumber(r.lease) !== 0) throw new TsetcdError('lease-provided');
}

export function checkDeleteRequest(r: DeleteRangeRequest): void {
  if (isEmpty(r.key)) throw new TsetcdError('key-not-provided');
}

/** checkTxnRequest + the duplicate-key interval check, as the Txn handler runs them. */
export function checkTxn(r: TxnRequest, maxTxnOps: number): void {
  checkTxnRequest(r, maxTxnOps);
  // etcd checks put/delete overlaps after the cheap checks to avoid a quadratic blow-up.
  checkIntervals(r.success ?? []);
  checkIntervals(r.failure ?? []);
}

function checkTxnRequest(r: TxnRequest, maxTxnOps: number): void {
  const compare = r.compare ?? [];
  const success = r.success ?? [];
  const failure = r.failure ?? [];
  const opc = Math.max(compare.length, success.length, failure.length);
  if (opc > maxTxnOps) throw new TsetcdError('too-many-ops');
  for (const c of compare) if (isEmpty(c.key)) throw new TsetcdError('key-not-provided');
  // Nested txns get the budget that is left (etcd passes maxTxnOps - opc).
  for (const op of success) checkRequestOp(op, maxTxnOps - opc);
  for (const op of failure) checkRequestOp(op, maxTxnOps - opc);
}

function checkRequestOp(op: RequestOp, maxTxnOps: number): void {
  if (op.requestRange) return checkRangeRequest(op.requestRange);
  if (op.requestPut) return checkPutRequest(op.requestPut);
  if (op.requestDeleteRange) return checkDeleteRequest(op.requestDeleteRange);
  if (op.requestTxn) return checkTxnRequest(op.requestTxn, maxTxnOps);
  // An empty RequestOp: etcd answers "key not found".
  throw new TsetcdError('key-not-found');
}

/**
 * A half-open interval over byte strings with etcd's "string affine" order, in which
 * the empty string is +infinity (adt.StringAffineComparable). A point k is [k, k+"\0").
 */
interface Interval {
  readonly begin: Buffer;
  readonly end: Buffer;
}

function affineCompare(a: Buffer, b: Buffer): number {
  if (a.length === 0) return b.length === 0 ? 0 : 1;
  if (b.length === 0) return -1;
  return Buffer.compare(a, b);
}

function point(key: Buffer): Interval {
  return { begin: key, end: Buffer.concat([key, ZERO]) };
}

const ZERO = Buffer.from([0]);

function intersects(set: readonly Interval[], iv: Interval): boolean {
  return set.some((d) => affineCompare(d.begin, iv.end) < 0 && affineCompare(iv.begin, d.end) < 0);
}

/**
 * Within one branch: two puts of the same key, or a put inside a delete's interval
 * (including puts in nested txns), is a duplicate; overlapping deletes are fine, and
 * the same key put in both branches of one nested txn is fine (only one runs).
 * Returns this level's puts and deletes for the enclosing level.
 */
function checkIntervals(reqs: readonly RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const req of reqs) {
    const d = req.requestDeleteRange;
    if (!d) continue;
    const key = buf(d.key);
    dels.push(isEmpty(d.rangeEnd) ? point(key) : { begin: key, end: buf(d.rangeEnd) });
  }
  const puts = new Set<string>();
  for (const req of reqs) {
    const t = req.requestTxn;
    if (!t) continue;
    const thenSide = checkIntervals(t.success ?? []);
    const elseSide = checkIntervals(t.failure ?? []);
    for (const k of thenSide.puts) {
      if (puts.has(k) || intersects(dels, point(Buffer.from(k, 'latin1')))) throw new TsetcdError('duplicate-key');
      puts.add(k);
    }
    for (const k of elseSide.puts) {
      if (puts.has(k) && !thenSide.puts.has(k)) throw new TsetcdError('duplicate-key');
      if (intersects(dels, point(Buffer.from(k, 'latin1')))) throw new TsetcdError('duplicate-key');
      puts.add(k);
    }
    dels.push(...thenSide.dels, ...elseSide.dels);
  }
  for (const req of reqs) {
    const p = req.requestPut;
    if (!p) continue;
    const k = buf(p.key).toString('latin1');
    if (puts.has(k) || intersects(dels, point(buf(p.key)))) throw new TsetcdError('duplicate-key');
    puts.add(k);
  }
  return { puts, dels };
}

function isEmpty(b: Uint8Array | undefined | null): boolean {
  return b == null || b.length === 0;
}

function buf(b: Uint8Array | undefined | null): Buffer {
  if (b == null) return Buffer.alloc(0);
  return Buffer.isBuffer(b) ? b : Buffer.from(b);
}
