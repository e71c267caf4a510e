/**
 * Re-attaching keys to leases at open. Attachments are not persisted by the lease
 * module: every key in mvcc carries its lease id, so the member walks the live keys
 * once, after the lessor and the store are open and BEFORE the WAL replay (replayed
 * writes report attachment changes relative to this state), as etcd's kvstore restore
 * attaches keys to the lessor.
 *
 * The store is seen through a structural type (lease never imports mvcc, docs/architecture.md §2);
 * MvccStore fits it. Keys are read in pages at one revision, so the walk is consistent
 * and its memory bounded by the page size; a store that can visit its leased keys
 * directly (MvccStore.forEachLeasedKey: synchronous, so consistent too, and with no
 * KeyValue decoded per key) is walked that way, which keeps a restart's walk short.
 */
import { assert } from '../shared/assert.js';
import type { LeaseId } from '../shared/ids.js';
import type { Lessor } from './lessor.js';

/** The part of MvccStore.range the walk uses. */
export interface LiveKeySource {
  range(req: { key: Buffer; rangeEnd: Buffer; limit: number; revision: number }): Promise<{
    readonly revision: number;
    readonly kvs: ReadonlyArray<{ readonly key: Buffer; readonly lease: LeaseId }>;
    readonly more: boolean;
  }>;
  /** Every live key naming a lease, visited synchronously; when present, used instead of range. */
  forEachLeasedKey?(visit: (key: Buffer, lease: LeaseId) => void): void;
}

export interface RecoveredAttachments {
  readonly keys: number;
  /** Keys naming a lease the lessor does not hold (logged by the lessor, left alone). */
  readonly orphans: number;
}

export async function recoverAttachments(
  lessor: Lessor,
  store: LiveKeySource,
  pageSize = 10_000,
): Promise<RecoveredAttachments> {
  assert(pageSize > 0, 'page size must be positive');
  let keys = 0;
  let orphans = 0;
  if (store.forEachLeasedKey !== undefined) {
    store.forEachLeasedKey((key, lease) => {
      if (lessor.attach(lease, key)) keys++;
      else orphans++;
    });
    return { keys, orphans };
  }
  const all = Buffer.from([0]);
  let key = all;
  let revision = 0; // the first page pins the revision for the rest
  for (;;) {
    const page = await store.range({ key, rangeEnd: all, limit: pageSize, revision });
    if (revision === 0) revision = page.revision;
    for (const kv of page.kvs) {
      if (kv.lease === 0n) continue;
      if (lessor.attach(kv.lease, kv.key)) keys++;
      else orphans++;
    }
    const last = page.kvs[page.kvs.length - 1];
    if (!page.more || last === undefined) break;
    key = Buffer.concat([last.key, all]);
  }
  return { keys, orphans };
}
