/**
 * prev_kv of watch events as etcd sends it: the key as it was at mod_revision - 1.
 * Live events get it from apply (corrected for keys changed twice in one revision);
 * events read back from history (MvccStore.readRevisions) ask the store, and a
 * compacted revision leaves it out, as etcd omits it; so do events the event window
 * holds at the compaction revision itself (withoutCompactedPrevKvs).
 */
import { isTsetcdError } from '../shared/errors.js';
import type { KeyValue, MvccEvent } from '../mvcc/types.js';
import type { RevisionEvents, WatchStoreView } from './types.js';

const PREV_LOOKUPS_PARALLEL = 256;

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

/**
 * The window keeps each event's prev_kv as apply saw it. etcd reads prev_kv at
 * mod_revision - 1 when it sends the event (etcd v3rpc/watch.go sendLoop) and leaves it
 * out when that revision is compacted (mvcc kvstore_txn.go rangeKeys: rev <
 * compactMainRev), so an event at the compaction revision itself goes without it. Only
 * such revisions are copied; the window's own events are shared and never changed.
 */
export function withoutCompactedPrevKvs(
  revisions: readonly RevisionEvents[],
  compactRev: number,
): RevisionEvents[] {
  return revisions.map((r) => {
    if (r.revision - 1 >= compactRev || !r.events.some((e) => e.prevKv !== undefined)) return r;
    const events = r.events.map((e) => (e.prevKv === undefined ? e : { ...e, prevKv: undefined }));
    return { revision: r.revision, events };
  });
}
