/**
 * fast-check arbitraries for the KV differential test's operations (kv-ops.ts).
 *
 * Weights are tuned so that a 50-operation sequence keeps a handful of live keys,
 * reads mostly revisions that exist (offsets back from the current revision), and
 * still reaches every error etcd has for these RPCs: empty keys, unknown leases,
 * ignore_* on missing keys, future and compacted revisions, duplicate keys in txns.
 * The differential test prints the outcome counts of each run to check this.
 */
import fc from 'fast-check';
import type {
  CompareSpec,
  DeleteOp,
  EndRef,
  KeyRef,
  KvOp,
  PutOp,
  RangeOp,
  RevRef,
  TxnOp,
  TxnSubOp,
} from './kv-ops.js';
import { KEY_SUFFIXES, SORT_ORDER_MAX, SORT_TARGET_MAX, VALUES } from './kv-ops.js';

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
  {
    weight: 3,
    arbitrary: fc.integer({ min: 0, max: KEY_SUFFIXES.length - 1 }).map((key) => ({ key })),
  },
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
/** true with probability percent/100 (fc.integer leans to small values; oneof weights do not). */
const rarely = (percent: number): fc.Arbitrary<boolean> =>
  fc.oneof(
    { weight: percent, arbitrary: fc.constant(true) },
    { weight: 100 - percent, arbitrary: fc.constant(false) },
  );
/** Deletes mostly hit single keys, or every sequence would soon be empty. */
const deleteEndArb: fc.Arbitrary<EndRef> = fc.oneof(
  { weight: 5, arbitrary: fc.constant('none' as const) },
  { weight: 2, arbitrary: endArb },
);

const putArb: fc.Arbitrary<PutOp> = fc.record({
  op: fc.constant('put' as const),
  key: keyArb,
  value: fc.integer({ min: 0, max: VALUES.length - 1 }),
  prevKv: fc.boolean(),
  ignoreValue: rarely(8),
  ignoreLease: rarely(8),
  unknownLease: rarely(3),
});
const deleteArb: fc.Arbitrary<DeleteOp> = fc.record({
  op: fc.constant('delete' as const),
  key: keyArb,
  end: deleteEndArb,
  prevKv: fc.boolean(),
});
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
    limit: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: 3 }) },
      { weight: 1, arbitrary: fc.constant(-1) },
    ),
    revision: revArb,
    sortOrder: invalidSort
      ? fc.oneof(
          { weight: 40, arbitrary: sortOrder },
          { weight: 1, arbitrary: fc.constant(SORT_ORDER_MAX + 1) },
        )
      : sortOrder,
    sortTarget: invalidSort
      ? fc.oneof(
          { weight: 40, arbitrary: sortTarget },
          { weight: 1, arbitrary: fc.constant(SORT_TARGET_MAX + 1) },
        )
      : sortTarget,
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
  end: fc.oneof(
    { weight: 4, arbitrary: fc.constant('none' as const) },
    { weight: 1, arbitrary: endArb },
  ),
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
      : fc.oneof(
          { weight: 3, arbitrary: putArb },
          { weight: 2, arbitrary: deleteArb },
          { weight: 3, arbitrary: rangeArb },
          { weight: 1, arbitrary: txnArb(depth - 1) },
        );
  const ops = fc.array(sub, { maxLength: 3 });
  return fc
    .record({
      op: fc.constant('txn' as const),
      compare: fc.array(compareArb, { maxLength: 3 }),
      success: ops,
      failure: ops,
    })
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
  return {
    ...op,
    success: op.success.map(withoutIgnoreFlags),
    failure: op.failure.map(withoutIgnoreFlags),
  };
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
      at: fc.oneof(
        { weight: 3, arbitrary: backArb },
        {
          weight: 1,
          arbitrary: fc.integer({ min: 1, max: MAX_COMPACT_REL }).map((rel) => ({ rel })),
        },
      ),
      physical: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('hashkv' as const), revision: revArb }) },
);

export function sequenceArb(length: number): fc.Arbitrary<KvOp[]> {
  return fc.array(kvOpArb, { minLength: length, maxLength: length });
}
