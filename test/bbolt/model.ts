// A plain model of a bbolt database for tests: nested buckets of byte keys, with the
// record stream our writer takes and the walk that turns our reader's view back into
// the same model, so a round trip compares with one toEqual.
import fc from 'fast-check';
import { BboltDb, type BboltBucket } from '../../src/bbolt/reader.js';
import type { BboltRecord } from '../../src/bbolt/stream.js';

export interface ModelBucket {
  /** hex key -> value */
  readonly values: Map<string, Uint8Array>;
  /** hex name -> sub-bucket */
  readonly buckets: Map<string, ModelBucket>;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

/** Hex of byte strings sorts like the bytes (same length per byte, order-preserving digits). */
function sortedNames(b: ModelBucket): string[] {
  return [...new Set([...b.values.keys(), ...b.buckets.keys()])].sort((x, y) => {
    const a = unhex(x);
    const c = unhex(y);
    return Buffer.compare(a, c);
  });
}

export function* records(root: ModelBucket): Generator<BboltRecord> {
  function* walk(b: ModelBucket, path: Uint8Array[]): Generator<BboltRecord> {
    yield { bucket: path };
    for (const name of sortedNames(b)) {
      const sub = b.buckets.get(name);
      if (sub !== undefined) yield* walk(sub, [...path, unhex(name)]);
      else yield { bucket: path, key: unhex(name), value: b.values.get(name) as Uint8Array };
    }
  }
  for (const name of sortedNames(root)) yield* walk(root.buckets.get(name) as ModelBucket, [unhex(name)]);
}

export function readModel(db: BboltDb): ModelBucket {
  const walk = (b: BboltBucket): ModelBucket => {
    const m: ModelBucket = { values: new Map(), buckets: new Map() };
    for (const e of b.entries()) {
      if (e.isBucket) m.buckets.set(hex(e.key), walk(b.open(e)));
      else m.values.set(hex(e.key), new Uint8Array(e.value));
    }
    return m;
  };
  return walk(db.root());
}

/** Plain-object form for readable toEqual diffs. */
export function plain(b: ModelBucket): unknown {
  return {
    values: Object.fromEntries([...b.values].map(([k, v]) => [k, hex(v)]).sort()),
    buckets: Object.fromEntries([...b.buckets].map(([k, v]) => [k, plain(v)]).sort()),
  };
}

const key = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 24 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 700 }) },
);
const valueSize = fc.oneof(
  { weight: 10, arbitrary: fc.nat(120) },
  { weight: 3, arbitrary: fc.nat(3000) },
  { weight: 1, arbitrary: fc.integer({ min: 4000, max: 30_000 }) },
);
const value = valueSize.chain((n) =>
  fc.integer({ min: 0, max: 255 }).map((seed) => Uint8Array.from({ length: n }, (_, i) => (seed + i * 31) & 0xff)),
);

function bucketArb(depth: number): fc.Arbitrary<ModelBucket> {
  const entries = fc.uniqueArray(fc.tuple(key, value), {
    maxLength: 120,
    selector: ([k]) => hex(k),
  });
  const subs =
    depth <= 0
      ? fc.constant([] as Array<[Uint8Array, ModelBucket]>)
      : fc.uniqueArray(fc.tuple(key, bucketArb(depth - 1)), { maxLength: 2, selector: ([k]) => hex(k) });
  return fc.tuple(entries, subs).map(([es, ss]) => {
    const m: ModelBucket = { values: new Map(), buckets: new Map() };
    for (const [k, b] of ss) m.buckets.set(hex(k), b);
    for (const [k, v] of es) if (!m.buckets.has(hex(k))) m.values.set(hex(k), v);
    return m;
  });
}

/** A root holding 1..5 buckets, nested up to two levels, empty ones included. */
export const dbModel: fc.Arbitrary<ModelBucket> = fc
  .uniqueArray(fc.tuple(key, bucketArb(2)), { minLength: 1, maxLength: 5, selector: ([k]) => hex(k) })
  .map((bs) => ({ values: new Map(), buckets: new Map(bs.map(([k, b]) => [hex(k), b])) }));

/** Lines in bboltcheck's format (test/bbolt/bboltcheck/main.go), from our reader. */
export function dumpLines(db: BboltDb): string[] {
  const lines = [`meta ${db.pageSize} ${db.meta.pgid} ${db.meta.txid}`];
  const walk = (b: BboltBucket, path: string[]): void => {
    lines.push(`bucket ${path.join('/')}`);
    for (const e of b.entries()) {
      if (e.isBucket) walk(b.open(e), [...path, hex(e.key)]);
      else lines.push(`kv ${path.join('/')} ${hex(e.key)} ${hex(e.value)}`);
    }
  };
  const root = db.root();
  for (const e of root.entries()) walk(root.open(e), [hex(e.key)]);
  return lines;
}

/** The records that rewrite every root bucket of `db` as it is (declaring empty ones). */
export function* recordsOf(db: BboltDb): Generator<BboltRecord> {
  const root = db.root();
  for (const b of root.entries()) {
    yield { bucket: [b.key] };
    for (const e of root.open(b).entries()) yield { bucket: [b.key], key: e.key, value: e.value };
  }
}
