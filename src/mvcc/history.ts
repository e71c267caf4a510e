/**
 * The revision log as a reader of history sees it: the changes of revisions [from, to]
 * read back from the key bucket, for catch-up of unsynced watchers (etcd
 * watchable_store.go syncWatchers + kvsToEvents). mvcc alone decodes its records; the
 * watch hub reads history only through MvccStore.readRevisions (docs/architecture.md §3).
 *
 * The key bucket (storage/schema.ts) holds 'k' + revBytes -> marshalled KeyValue, in
 * revision order, a trailing 't' marking a tombstone. A tombstone record holds only the
 * key; its event gets mod_revision = the record's main revision, as etcd patches it.
 *
 * Contract of readRevisions: one iterator snapshot of the state db; whole revisions
 * only (a revision's records all come from one batch, so a snapshot holds all of them
 * or none); at most about `maxRecords` records / `maxBytes` bytes, except that the
 * revision in progress is always finished. It sees only durable revisions: an applied
 * revision whose batch is not written yet is absent (the hub keeps those in memory).
 * Revisions missing from the result are either compacted (below the compact revision
 * at or after the read) or not written yet: `contiguousEnd` tells how far the result
 * can be trusted. Events come without prevKv (a reader asks Range at revision - 1).
 */
import { assert } from '../shared/assert.js';
import { leaseId } from '../shared/ids.js';
import type { Backend, BackendEntry } from '../storage/backend.js';
import { decodeKeyValue } from './kv-codec.js';
import { parseRecordKey, recordKeyLowerBound } from './revision.js';
import type { KeyValue, MvccEvent } from './types.js';

const EMPTY = Buffer.alloc(0);
const NO_LEASE = leaseId(0n);
const NEXTV_RECORDS = 1000;

/** The changes of one revision, in sub-revision order. */
export interface RevisionEvents {
  readonly revision: number;
  readonly events: readonly MvccEvent[];
}

export interface RevisionRead {
  /** Revisions found, ascending, each with all its events. */
  readonly revisions: RevisionEvents[];
  /** Every revision in [from, scannedTo] that the snapshot held is in `revisions`. */
  readonly scannedTo: number;
}

/** The bound of one read (a whole revision is always finished). */
export interface RevisionReadLimits {
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
  assert(kv.modRevision === main, `mvcc history: record ${main} holds revision ${kv.modRevision}`);
  return { type: 'put', kv, prevKv: undefined };
}

/** Reads the changes of revisions [from, to] from the backend (see the contract above). */
export async function readRevisions(
  backend: Backend,
  from: number,
  to: number,
  limits: RevisionReadLimits,
): Promise<RevisionRead> {
  assert(from >= 1 && from <= to, `mvcc history: bad range [${from}, ${to}]`);
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
          assert(cur === undefined || r.main > cur.revision, 'mvcc history: records out of order');
          cur = { revision: r.main, events: [] };
          revisions.push(cur);
        }
        assert(
          r.sub === cur.events.length,
          `mvcc history: revision ${r.main} misses sub ${cur.events.length}`,
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
export function contiguousEnd(read: RevisionRead, from: number, floor: number): number {
  let expect = Math.max(from, floor, 2);
  for (const r of read.revisions) {
    if (r.revision < expect) continue;
    if (r.revision !== expect) return expect - 1;
    expect++;
  }
  return expect > read.scannedTo ? read.scannedTo : expect - 1;
}
