/**
 * Rebuilding the in-memory index from the key bucket at open (etcd kvstore.go restore):
 * records are read in revision order, in chunks, and replayed into keyIndexes; the live
 * value of every key is the record of its last put. The current revision is the last
 * record's main revision, but never below the finished compaction revision (records up
 * to it may all have been compacted away).
 */
import { assert } from '../shared/assert.js';
import type { BackendEntry } from '../storage/backend.js';
import { KEY_PREFIX, META_FINISHED_COMPACT_REV, META_SCHEDULED_COMPACT_REV, decodeUint64 } from '../storage/schema.js';
import { KeyIndex } from './key-index.js';
import { scanKeyValue } from './kv-codec.js';
import { parseRecordKey } from './revision.js';
import type { StoreState } from './store-state.js';

export interface RestoreResult {
  /** A compaction that was scheduled but whose deletion did not finish; -1 if none. */
  resumeCompactRev: number;
  records: number;
}

const CHUNK = 10_000;

export async function restore(state: StoreState): Promise<RestoreResult> {
  const { backend, logger } = state;
  const [finishedBytes, scheduledBytes] = await backend.getMany([META_FINISHED_COMPACT_REV, META_SCHEDULED_COMPACT_REV]);
  state.finishedCompactRev = finishedBytes !== undefined ? decodeUint64(finishedBytes) : -1;
  state.scheduledCompactRev = scheduledBytes !== undefined ? decodeUint64(scheduledBytes) : -1;
  state.compactRev = state.finishedCompactRev;

  // Records up to this revision may have lost older revisions to an unfinished compaction.
  const compactionBound = Math.max(state.scheduledCompactRev, state.finishedCompactRev);
  let currentRev = 1;
  let records = 0;
  let cache: KeyIndex | undefined;
  const it = backend.iterator({ gte: Buffer.from([KEY_PREFIX]), lt: Buffer.from([KEY_PREFIX + 1]) });
  // Read ahead: the next chunk is read (LevelDB, in libuv's thread pool) while this one
  // is replayed on the main thread, so the two overlap on two cores.
  let ahead: Promise<BackendEntry[]> | undefined = it.nextv(CHUNK);
  try {
    for (;;) {
      const entries: BackendEntry[] = await ahead;
      if (entries.length === 0) {
        ahead = undefined;
        break;
      }
      ahead = it.nextv(CHUNK);
      for (const [k, v] of entries) {
        const r = parseRecordKey(k);
        // Scanned in place: no KeyValue or value view per record, only a key view for
        // the index lookup when the key differs from the previous record's.
        const f = scanKeyValue(v);
        if ((f.leaseLo | f.leaseHi) !== 0) state.leasedRecordSeen = true;
        const keyLen = f.keyEnd - f.keyStart;
        assert(keyLen > 0, `restore: record ${r.main}.${r.sub} without a key`);
        // Consecutive records often belong to the same key (one txn): a one-entry cache.
        // A key seen for the first time is inserted in the same descent that looks it up.
        const ki = cache !== undefined && cache.keyEquals(v, f.keyStart, f.keyEnd)
          ? cache
          : state.index.getOrInsert(v.subarray(f.keyStart, f.keyEnd), () => {
            const made = new KeyIndex();
            state.arena.ownKey(made, v, f.keyStart, f.keyEnd);
            return made;
          });
        cache = ki;
        const wasLive = ki.isLive;
        if (!ki.restoreRecord(r.main, r.sub, r.tombstone, f, v, state.arena, r.main <= compactionBound)) {
          logger.warn({ revision: r.main, sub: r.sub }, 'restore: tombstone on a deleted key skipped');
        }
        if (wasLive !== ki.isLive) state.liveKeys += ki.isLive ? 1 : -1;
        currentRev = r.main;
        records++;
        state.recordBytes += k.length + v.length;
      }
    }
  } finally {
    // A replay that failed leaves a read in flight: let it finish before closing.
    if (ahead !== undefined) await ahead.catch(() => undefined);
    await it.close();
  }
  state.currentRev = Math.max(currentRev, state.compactRev);
  state.indexRev = state.currentRev;
  logger.info({ currentRevision: state.currentRev, compactRevision: state.compactRev, records }, 'kvstore restored');
  // etcd skips a scheduled compaction at revision 0 here (its "none" value), so a
  // member restarted before finishing Compact(0) reports compact revision -1; we resume
  // it like any other, so the compact revision survives the restart.
  const resume = state.scheduledCompactRev > state.finishedCompactRev ? state.scheduledCompactRev : -1;
  return { resumeCompactRev: resume, records };
}
