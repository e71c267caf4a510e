/**
 * HashKV as etcd 3.5 computes it (server/mvcc/hash.go, kvstore.go hashByRev), so that
 * the same history gives the same hash on tsetcd and etcd:
 *
 *   crc = CRC-32C("key")   // the bucket name
 *   for each record of the key bucket in revision order, revision.main <= rev:
 *     skip it if main <= compactRev and it is not in the keep set (when the set is not empty)
 *     crc = CRC-32C(revBytes ++ marshalled KeyValue, crc)
 *
 * keep = keyIndex.keep(rev) over all keys (a tombstone exactly at rev is left out).
 * etcd hashes whatever superseded records physical compaction has not deleted yet when
 * keep is empty; we hash the records that survive compaction instead, which is what
 * etcd hashes once the compaction has finished, so our result never depends on how far
 * the physical deletion got.
 *
 * HashKV(rev) first looks among the hashes stored by the last 10 compactions (etcd
 * hashStorage), then refuses rev < compactRev (3.5.10+: rev == compactRev is allowed,
 * etcd PR #16048) and rev > current; rev 0 means current.
 */
import { crc32c } from '../shared/crc32c.js';
import { TsetcdError } from '../shared/errors.js';
import { KEY_BUCKET_NAME, KEY_PREFIX } from '../storage/schema.js';
import type { BackendEntry } from '../storage/backend.js';
import type { RevisionList } from './key-index.js';
import { parseRecordKey, recordKeyLowerBound, revBytesOf } from './revision.js';
import type { StoreState } from './store-state.js';
import type { HashKVResult } from './types.js';

/** Revisions sorted by (main, sub), tested for membership by a forward-only cursor. */
export class SortedRevisions {
  constructor(
    private readonly mains: Float64Array,
    private readonly subs: Float64Array,
  ) {}

  get size(): number {
    return this.mains.length;
  }

  /** For records visited in increasing revision order. */
  cursor(): { contains(main: number, sub: number): boolean } {
    let i = 0;
    const { mains, subs } = this;
    return {
      contains(main: number, sub: number): boolean {
        while (i < mains.length) {
          const m = mains[i] as number;
          const s = subs[i] as number;
          if (m < main || (m === main && s < sub)) i++;
          else return m === main && s === sub;
        }
        return false;
      },
    };
  }
}

export function sortRevisions(list: RevisionList): SortedRevisions {
  const n = list.mains.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const { mains, subs } = list;
  order.sort((a, b) => {
    const d = (mains[a] as number) - (mains[b] as number);
    return d !== 0 ? d : (subs[a] as number) - (subs[b] as number);
  });
  const m = new Float64Array(n);
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    m[i] = mains[order[i] as number] as number;
    s[i] = subs[order[i] as number] as number;
  }
  return new SortedRevisions(m, s);
}

/**
 * etcd kvHasher. With `filtered`, records <= compactRevision are hashed only if they are
 * in the keep set (etcd filters only when its keep map is not empty).
 */
export class KvHasher {
  private crc = crc32c(KEY_BUCKET_NAME);

  constructor(
    private readonly compactRevision: number,
    private readonly revision: number,
    private readonly filtered: boolean,
  ) {}

  /** `inKeep`: whether (main, sub) is in the keep set (the caller's cursor decides). */
  write(main: number, inKeep: boolean, recordKey: Buffer, value: Buffer): void {
    if (main > this.revision) return;
    if (main <= this.compactRevision && this.filtered && !inKeep) return;
    this.crc = crc32c(value, crc32c(revBytesOf(recordKey), this.crc));
  }

  sum(): number {
    return this.crc >>> 0;
  }
}

export async function hashKV(state: StoreState, requested: number): Promise<HashKVResult> {
  const stored = state.hashes.find((h) => h.revision === requested);
  if (stored !== undefined) {
    return { hash: stored.hash, compactRevision: stored.compactRevision, hashRevision: stored.revision, revision: state.currentRev };
  }
  const compactRev = state.compactRev;
  const currentRev = state.currentRev;
  if (requested > 0 && requested < compactRev) throw new TsetcdError('compacted');
  if (requested > 0 && requested > currentRev) throw new TsetcdError('future-rev');
  const rev = requested === 0 ? currentRev : requested;

  // Everything below is decided synchronously, at one point of the history.
  const keep: RevisionList = { mains: [], subs: [] };
  state.index.scan(Buffer.alloc(0), undefined, (ki) => ki.keep(rev, keep));
  if (keep.mains.length === 0) {
    // etcd would hash every record <= compactRev still on disk: hash what compaction keeps.
    state.index.scan(Buffer.alloc(0), undefined, (ki) => ki.retainedAt(compactRev, keep));
  }
  const filter = sortRevisions(keep);
  const hasher = new KvHasher(compactRev, rev, true);
  const cursor = filter.cursor();
  const pending: BackendEntry[] = [];
  for (const recs of state.pending.values()) for (const r of recs) pending.push([r.key, r.value]);
  if (rev < 0) return { hash: hasher.sum(), compactRevision: compactRev, hashRevision: rev, revision: currentRev };

  const epoch = state.fence.enter();
  const it = state.backend.iterator({ gte: Buffer.from([KEY_PREFIX]), lt: recordKeyLowerBound(rev + 1) });
  try {
    let p = 0;
    const visit = (k: Buffer, v: Buffer): void => {
      const r = parseRecordKey(k);
      hasher.write(r.main, cursor.contains(r.main, r.sub), k, v);
    };
    for (;;) {
      const entries = await it.nextv(1000);
      for (const [k, v] of entries) {
        // Merge in records of batches not yet durable (a record may be in both).
        while (p < pending.length && Buffer.compare((pending[p] as BackendEntry)[0], k) < 0) {
          const [pk, pv] = pending[p++] as BackendEntry;
          visit(pk, pv);
        }
        if (p < pending.length && (pending[p] as BackendEntry)[0].equals(k)) p++;
        visit(k, v);
      }
      if (entries.length === 0) break;
    }
    for (; p < pending.length; p++) {
      const [pk, pv] = pending[p] as BackendEntry;
      visit(pk, pv);
    }
  } finally {
    await it.close();
    state.fence.exit(epoch);
  }
  return { hash: hasher.sum(), compactRevision: compactRev, hashRevision: rev, revision: currentRev };
}
