/**
 * Read-only access to the revision log in the backend, for catch-up of unsynced
 * watchers (etcd watchable_store.go syncWatchers + kvsToEvents).
 *
 * The key bucket (storage/schema.ts) holds 'k' + revBytes -> marshalled KeyValue, in
 * revision order, a trailing 't' marking a tombstone. A tombstone record holds only the
 * key; its event gets mod_revision = the record's main revision, as etcd patches it.
 *
 * Contract of readHistory: one iterator snapshot; whole revisions only (a revision's
 * records all come from one batch, so a snapshot holds all of them or none); at most
 * about `maxRecords` records / `maxBytes` bytes, except that the revision in progress
 * is always finished. Revisions missing from the result are either compacted (below
 * the compact revision at or after the read) or not written yet: `contiguousEnd` tells
 * how far the result can be trusted.
 */
import { leaseId } from '../shared/ids.js';
import { isTsetcdError } from '../shared/errors.js';
import { assert } from '../shared/assert.js';
import type { Backend, BackendEntry } from '../storage/backend.js';
import { decodeKeyValue } from '../mvcc/kv-codec.js';
import { parseRecordKey, recordKeyLowerBound } from '../mvcc/revision.js';
import type { KeyValue, MvccEvent } from '../mvcc/types.js';
import type { RevisionEvents, WatchStoreView } from './types.js';

const EMPTY = Buffer.alloc(0);
const NO_LEASE = leaseId(0n);
const NEXTV_RECORDS = 1000;
const PREV_LOOKUPS_PARALLEL = 256;

export interface HistoryRead {
  /** Revisions found, ascending, each with all its events. */
  readonly revisions: RevisionEvents[];
  /** Every revision in [from, scannedTo] that the snapshot held is in `revisions`. */
  readonly scannedTo: number;
}

export interface HistoryLimits {
  readonly maxRecords: number;
  readonly maxBytes: number;
}

function recordEvent(main: number, tombstone: boolean, value: Buffer): MvccEvent {
  const kv = decodeKeyValue(value);
  if (tombstone) {
    const del: KeyValue = {
      key: kv.key,
      createRevision: 0,
      modRevision: main,
      version: 0,
      value: EMPTY,
      lease: NO_LEASE,
    };
    return { type: 'delete', kv: del, prevKv: undefined };
  }
  assert(kv.modRevision === main, `watch history: record ${main} holds revision ${kv.modRevision}`);
  return { type: 'put', kv, prevKv: undefined };
}

/** Reads the changes of revisions [from, to] from the backend (see the contract above). */
export async function readHistory(
  backend: Backend,
  from: number,
  to: number,
  limits: HistoryLimits,
): Promise<HistoryRead> {
  assert(from >= 1 && from <= to, `watch history: bad range [${from}, ${to}]`);
  const it = backend.iterator({ gte: recordKeyLowerBound(from), lt: recordKeyLowerBound(to + 1) });
  const revisions: RevisionEvents[] = [];
  let cur: { revision: number; events: MvccEvent[] } | undefined;
  let records = 0;
  let bytes = 0;
  try {
    for (;;) {
      const entries: BackendEntry[] = await it.nextv(NEXTV_RECORDS);
      if (entries.length === 0) return { revisions, scannedTo: to };
      for (const [k, v] of entries) {
        const r = parseRecordKey(k);
        if (cur === undefined || r.main !== cur.revision) {
          if (cur !== undefined && (records >= limits.maxRecords || bytes >= limits.maxBytes)) {
            // Budget spent and the previous revision is complete: stop before this one.
            return { revisions, scannedTo: cur.revision };
          }
          assert(cur === undefined || r.main > cur.revision, 'watch history: records out of order');
          cur = { revision: r.main, events: [] };
          revisions.push(cur);
        }
        assert(
          r.sub === cur.events.length,
          `watch history: revision ${r.main} misses sub ${cur.events.length}`,
        );
        cur.events.push(recordEvent(r.main, r.tombstone, v));
        records++;
        bytes += k.length + v.length;
      }
    }
  } finally {
    await it.close();
  }
}

/**
 * The last revision up to which `read` is complete: the revision before the first one
 * in [max(from, floor), scannedTo] that it lacks. Below `floor` (the compact revision
 * at or after the read, and never below 2: revision 1 has no changes) a revision may
 * be absent because compaction removed it; above, a missing revision is not written yet.
 */
export function contiguousEnd(read: HistoryRead, from: number, floor: number): number {
  let expect = Math.max(from, floor, 2);
  for (const r of read.revisions) {
    if (r.revision < expect) continue;
    if (r.revision !== expect) return expect - 1;
    expect++;
  }
  return expect > read.scannedTo ? read.scannedTo : expect - 1;
}

/**
 * etcd fills a watch event's prev_kv with the key as it was at mod_revision - 1, so a
 * key changed twice in one revision (a txn that puts then deletes it) gets, on both
 * events, the value from before that revision, never the txn's own earlier change
 * (which is what apply reports). Rewrites `events` (one revision's changes) that way.
 */
export function prevKvsAsOfRevisionStart(events: readonly MvccEvent[]): void {
  // Runs on every applied revision: only an event whose prevKv was written in this very
  // revision needs work, and it takes what the key's earlier event here saw (already
  // rewritten, so the value from before the revision). No allocation otherwise.
  for (let i = 1; i < events.length; i++) {
    const e = events[i] as MvccEvent;
    if (e.prevKv === undefined || e.prevKv.modRevision !== e.kv.modRevision) continue;
    for (let j = i - 1; j >= 0; j--) {
      const earlier = events[j] as MvccEvent;
      if (earlier.kv.key.equals(e.kv.key)) {
        e.prevKv = earlier.prevKv;
        break;
      }
    }
  }
}

/**
 * Fills prevKv of every non-create event (etcd reads the key at mod_revision - 1 for
 * each event it sends with prev_kv). Inside the chunk the previous change of a key in an
 * earlier revision is the last one seen; otherwise the store is asked, and a compacted
 * revision leaves prevKv undefined, as etcd omits it. A key's second change within one
 * revision gets the same prevKv as its first (prevKvsAsOfRevisionStart).
 */
export async function fillPrevKvs(
  revisions: readonly RevisionEvents[],
  store: WatchStoreView,
): Promise<void> {
  const last = new Map<string, KeyValue | null>();
  const lookups: MvccEvent[] = [];
  /** Later changes of a key within one revision, and the first change they follow. */
  const followers: Array<[later: MvccEvent, first: MvccEvent]> = [];
  for (const { events } of revisions) {
    const firstInRevision = new Map<string, MvccEvent>();
    for (const e of events) {
      const k = e.kv.key.toString('latin1');
      const first = firstInRevision.get(k);
      if (first !== undefined) {
        followers.push([e, first]);
        continue;
      }
      firstInRevision.set(k, e);
      const isCreate = e.type === 'put' && e.kv.createRevision === e.kv.modRevision;
      if (!isCreate) {
        const seen = last.get(k);
        if (seen === undefined) lookups.push(e);
        else e.prevKv = seen ?? undefined;
      }
    }
    for (const e of events) last.set(e.kv.key.toString('latin1'), e.type === 'put' ? e.kv : null);
  }
  for (let i = 0; i < lookups.length; i += PREV_LOOKUPS_PARALLEL) {
    await Promise.all(lookups.slice(i, i + PREV_LOOKUPS_PARALLEL).map((e) => lookupPrev(e, store)));
  }
  for (const [later, first] of followers) later.prevKv = first.prevKv;
}

async function lookupPrev(e: MvccEvent, store: WatchStoreView): Promise<void> {
  try {
    const r = await store.range({ key: e.kv.key, revision: e.kv.modRevision - 1 });
    e.prevKv = r.kvs[0];
  } catch (err) {
    if (!isTsetcdError(err, 'compacted')) throw err;
  }
}
