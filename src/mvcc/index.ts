/**
 * mvcc: etcd's multi-version key-value store (etcd server/storage/mvcc), over a Backend.
 *
 * Owns: revisions (main.sub), the key index (a B+tree of keyIndexes with etcd's
 * generations), the live value of every key (kept in memory), Range at any revision not compacted, Put,
 * DeleteRange, Txn (compares, nested txns, reads that see earlier writes), compaction
 * (index at once, backend in chunks), HashKV equal to etcd's, and the key bucket
 * layout in the backend (storage/schema.ts: 'k' + etcd revBytes -> mvccpb.KeyValue).
 *
 * Order callers follow (the apply loop):
 *   const store = await MvccStore.open(backend, { logger });  // rebuild index, resume compaction
 *   const batch = backend.batch();
 *   const r = store.applyPut(req, batch, { leaseExists });    // synchronous, deterministic
 *   ... more applies into the same batch (each sees the previous ones) ...
 *   await backend.write(batch, { sync: true });               // the caller owns durability
 *   store.batchDurable(batch);                                // releases pending values, starts compaction deletes
 *   answer clients with r.response / r.revision; feed r.events to watch, r.leaseChanges to the lessor
 * Batches must be written in the order they were filled. Reads (range, txnReadOnly,
 * hashKV) may run at any time and see every applied write, durable or not;
 * readRevisions (history for watch catch-up) sees durable revisions only.
 * applyCompact only moves the compact revision (reads below it fail at once) and
 * records the schedule in the batch; the index and the backend are compacted by a
 * background job, in chunks with yields, once that batch is reported durable
 * (`physicalDone` resolves when it is finished; close() stops it between chunks and the
 * next open resumes it).
 *
 * Errors (TsetcdError codes): 'future-rev', 'compacted' (Range, Txn ranges, Compact,
 * HashKV), 'key-not-found' (ignore_value/ignore_lease on a missing key), 'lease-not-found'
 * (WriteContext.leaseExists said no). A write that throws changed nothing. Request
 * validation (empty key, txn size, duplicate keys, sort options) is the server's; the
 * store asserts what it relies on.
 *
 * Invariants: currentRevision only grows, by exactly 1 per write that changed
 * something; every change of a revision has a distinct sub revision; compactRevision
 * <= currentRevision; a revision visible at or after compactRevision is never deleted;
 * the index, the live values and the key bucket describe the same history (asserted
 * when records are read back).
 */
export { MvccStore, type MvccStoreOptions } from './kv-store.js';
export * from './types.js';
export { isTxnReadOnly } from './txn.js';
export { encodeKeyValue, decodeKeyValue } from './kv-codec.js';
export {
  contiguousEnd,
  type RevisionEvents,
  type RevisionRead,
  type RevisionReadLimits,
} from './history.js';
