/**
 * Range at a revision, with etcd 3.5's exact semantics (etcdserver/apply.go Range,
 * mvcc/kvstore_txn.go rangeKeys):
 * - revision > current -> future-rev; <= 0 -> current; < compact revision -> compacted
 *   (== compact revision is allowed), checked in that order;
 * - count = keys in [key, rangeEnd) at the revision, regardless of limit and filters;
 * - with a sort order or any min/max filter everything is fetched, then filtered, then
 *   sorted with Go's sort.Sort (go-sort.ts), then truncated to limit; otherwise limit+1
 *   keys are taken to compute `more`;
 * - sort target != KEY with order NONE sorts ASCEND; keys_only drops values;
 *   count_only returns no kvs.
 *
 * Values come from memory (live keys, pending batches) or the backend; the sources are
 * decided synchronously when the range starts (see store-state.ts).
 */
import { TsetcdError } from '../shared/errors.js';
import { isOpenEnd } from '../shared/bytes.js';
import { assert } from '../shared/assert.js';
import { goSort, goSortReverse } from './go-sort.js';
import type { KeyIndex } from './key-index.js';
import { checkedRecord, valueSource, type StoreState } from './store-state.js';
import { SortOrder, SortTarget, type KeyValue, type RangeRequest, type RangeResponse } from './types.js';

const EMPTY = Buffer.alloc(0);

interface Candidate {
  ki: KeyIndex;
  main: number;
  sub: number;
  created: number;
  version: number;
  kv: KeyValue | undefined;
}

/** Visits the KeyIndexes of [key, end) with etcd's range_end conventions. */
export function visitRange(state: StoreState, key: Buffer, end: Buffer, fn: (ki: KeyIndex) => void): void {
  if (end.length === 0) {
    const ki = state.index.get(key);
    if (ki !== undefined) fn(ki);
    return;
  }
  state.index.scan(key, isOpenEnd(end) ? undefined : end, fn);
}

/** The KeyValues of the keys in [key, end) that exist now (current txn view). */
export function liveKVs(state: StoreState, key: Buffer, end: Buffer): KeyValue[] {
  const out: KeyValue[] = [];
  visitRange(state, key, end, (ki) => {
    const kv = ki.liveKV();
    if (kv !== undefined) out.push(kv);
  });
  return out;
}

function collect(
  state: StoreState,
  key: Buffer,
  end: Buffer,
  atRev: number,
  max: number,
  countOnly: boolean,
): { count: number; cands: Candidate[] } {
  const cands: Candidate[] = [];
  let count = 0;
  // At (or after) the newest revision in the index, what exists is what is live.
  const useLive = atRev >= state.indexRev;
  visitRange(state, key, end, (ki) => {
    if (useLive) {
      if (!ki.isLive) return;
      count++;
      if (!countOnly && (max === 0 || cands.length < max)) {
        // Sorting and filtering need only the index; the value is decoded for the kept ones.
        cands.push({ ki, main: ki.liveMain, sub: ki.liveSub, created: ki.liveCreated, version: ki.liveVersion, kv: undefined });
      }
      return;
    }
    if (countOnly || (max !== 0 && cands.length >= max)) {
      if (ki.existsAt(atRev)) count++;
      return;
    }
    const r = ki.get(atRev);
    if (r === undefined) return;
    count++;
    cands.push({ ki, main: r.main, sub: r.sub, created: r.created, version: r.version, kv: undefined });
  });
  return { count, cands };
}

function metaLess(target: number): (a: Candidate, b: Candidate) => boolean {
  switch (target) {
    case SortTarget.KEY:
      return (a, b) => a.ki.compareKeyWith(b.ki) < 0;
    case SortTarget.VERSION:
      return (a, b) => a.version < b.version;
    case SortTarget.CREATE:
      return (a, b) => a.created < b.created;
    case SortTarget.MOD:
      return (a, b) => a.main < b.main;
    default:
      return assertNever(target);
  }
}

function assertNever(target: number): never {
  assert(false, `range: unexpected sort target ${target} (the server validates sort options)`);
}

function sortBy<T>(items: T[], order: number, less: (a: T, b: T) => boolean): void {
  if (order === SortOrder.ASCEND) goSort(items, less);
  else if (order === SortOrder.DESCEND) goSortReverse(items, less);
}

/**
 * Fills in the KeyValues of the candidates: synchronously (getSync) when `sync`, else
 * with one getMany. The read holds the fence until its backend reads are done.
 */
function materialize(state: StoreState, cands: Candidate[], sync: boolean): KeyValue[] | Promise<KeyValue[]> {
  const out: KeyValue[] = new Array<KeyValue>(cands.length);
  const fetchAt: number[] = [];
  const fetchKeys: Buffer[] = [];
  for (let i = 0; i < cands.length; i++) {
    const c = cands[i] as Candidate;
    if (c.kv !== undefined) {
      out[i] = c.kv;
      continue;
    }
    const src = valueSource(state, c.ki, c);
    if ('kv' in src) {
      out[i] = src.kv;
    } else {
      fetchAt.push(i);
      fetchKeys.push(src.fetch);
    }
  }
  if (fetchKeys.length === 0) return out;
  if (sync) {
    for (let j = 0; j < fetchAt.length; j++) {
      const i = fetchAt[j] as number;
      const c = cands[i] as Candidate;
      out[i] = checkedRecord(state.backend.getSync(fetchKeys[j] as Buffer), c.ki, c);
    }
    return out;
  }
  // Fetch in record (revision) order: neighbouring records share LevelDB blocks.
  const order = fetchKeys.map((_k, j) => j).sort((x, y) => Buffer.compare(fetchKeys[x] as Buffer, fetchKeys[y] as Buffer));
  const epoch = state.fence.enter();
  return state.backend.getMany(order.map((j) => fetchKeys[j] as Buffer)).then(
    (values) => {
      state.fence.exit(epoch);
      for (let n = 0; n < order.length; n++) {
        const j = order[n] as number;
        const i = fetchAt[j] as number;
        const c = cands[i] as Candidate;
        out[i] = checkedRecord(values[n], c.ki, c);
      }
      return out;
    },
    (err: unknown) => {
      state.fence.exit(epoch);
      throw err;
    },
  );
}

function then<T, U>(v: T | Promise<T>, f: (t: T) => U): U | Promise<U> {
  return v instanceof Promise ? v.then(f) : f(v);
}

/**
 * Executes a RangeRequest against a view whose current revision is `curRev` (the store's
 * current revision, or a txn's view revision). Throws future-rev / compacted
 * synchronously; the response is synchronous when every value is in memory or `sync`.
 */
export function executeRange(
  state: StoreState,
  req: RangeRequest,
  curRev: number,
  sync: boolean,
): RangeResponse | Promise<RangeResponse> {
  let rev = req.revision ?? 0;
  if (rev > curRev) throw new TsetcdError('future-rev');
  if (rev <= 0) rev = curRev;
  if (rev < state.compactRev) throw new TsetcdError('compacted');

  const limit = req.limit ?? 0;
  const requestedOrder = req.sortOrder ?? SortOrder.NONE;
  const target = req.sortTarget ?? SortTarget.KEY;
  const maxMod = req.maxModRevision ?? 0;
  const minMod = req.minModRevision ?? 0;
  const maxCreate = req.maxCreateRevision ?? 0;
  const minCreate = req.minCreateRevision ?? 0;
  const filtered = maxMod !== 0 || minMod !== 0 || maxCreate !== 0 || minCreate !== 0;
  const fetchAll = requestedOrder !== SortOrder.NONE || filtered;
  const max = fetchAll || limit <= 0 ? 0 : limit + 1;
  const countOnly = req.countOnly === true;

  const keysOnly = req.keysOnly === true;
  if (!countOnly && !fetchAll && target === SortTarget.KEY && rev >= state.indexRev && !keysOnly) {
    // The common case (a read at the current revision, key order): live values only.
    const kvs: KeyValue[] = [];
    let count = 0;
    visitRange(state, req.key, req.rangeEnd ?? EMPTY, (ki) => {
      if (!ki.isLive) return;
      count++;
      if (max === 0 || kvs.length < max) kvs.push(ki.liveKV() as KeyValue);
    });
    const more = limit > 0 && kvs.length > limit;
    if (more) kvs.length = limit;
    return { revision: curRev, kvs, more, count };
  }

  const { count, cands: all } = collect(state, req.key, req.rangeEnd ?? EMPTY, rev, max, countOnly);
  if (countOnly) return { revision: curRev, kvs: [], more: false, count };

  let cands = all;
  if (filtered) {
    cands = cands.filter(
      (c) =>
        !(maxMod !== 0 && c.main > maxMod) &&
        !(minMod !== 0 && c.main < minMod) &&
        !(maxCreate !== 0 && c.created > maxCreate) &&
        !(minCreate !== 0 && c.created < minCreate),
    );
  }
  const order = target !== SortTarget.KEY && requestedOrder === SortOrder.NONE ? SortOrder.ASCEND : requestedOrder;
  const finish = (kvs: KeyValue[], more: boolean): RangeResponse => ({
    revision: curRev,
    kvs: keysOnly ? kvs.map((kv) => (kv.value.length === 0 ? kv : { ...kv, value: EMPTY })) : kvs,
    more,
    count,
  });

  if (order !== SortOrder.NONE && target === SortTarget.VALUE) {
    // Values are needed to sort: fetch everything first.
    return then(materialize(state, cands, sync), (kvs) => {
      sortBy(kvs, order, (a, b) => Buffer.compare(a.value, b.value) < 0);
      const more = limit > 0 && kvs.length > limit;
      return finish(more ? kvs.slice(0, limit) : kvs, more);
    });
  }
  if (order !== SortOrder.NONE) sortBy(cands, order, metaLess(target));
  const more = limit > 0 && cands.length > limit;
  if (more) cands = cands.slice(0, limit);
  return then(materialize(state, cands, sync), (kvs) => finish(kvs, more));
}
