/**
 * wal: the Raft log's durability (docs/architecture.md §3). Append-only segment files in one
 * directory hold one framed batch per save: [len | chained crc | payload crc | header
 * crc | records], records being metadata, entries, hard states, snapshot markers and a
 * crc seed at each segment's start. Only the file layer touches files.
 *
 * Order callers follow (the server's Ready loop):
 *   1. `Wal.exists(fs, dir)`; if not, `Wal.create(fs, dir, metadata, opts)`, else
 *      `Wal.open(fs, dir, opts)` -> { wal, recovered: { metadata, hardState, snapshot,
 *      entries } } (entries: the log after the snapshot, conflicts already resolved).
 *      Open refuses with WalCorruptError (one line: file, offset, what to do) on any
 *      damage a crash cannot explain; it cuts a torn last batch.
 *   2. Per Ready: `await wal.save({ snapshot?, entries, hardState? })`, then report
 *      raft.persisted(index, term), send votes/acks, apply. save() resolves only after
 *      the fdatasync that covers it; saves issued while a write is in flight are
 *      group-committed into the next write. Entries whose index is <= the last index
 *      record raft's conflict truncation. An empty save is a barrier.
 *   3. After a snapshot is durable (its marker saved), `wal.releaseTo(index)` deletes
 *      segments whose entries are all below index (never past the marker).
 *   4. `wal.close()` on shutdown (waits for queued saves).
 * Also: `Wal.readAll(fs, dir)` reads without writing (tools, Jepsen's committed-log
 * dump; a torn tail reads as absent), `wal.stats()` counts saves/writes/fsyncs,
 * `wal.lastIndex()`. `crc32c(data, seed?)` / `Crc32c` are shared with mvcc's HashKV.
 * Options: segmentBytes (64 MiB), batchBytesMax (16 MiB), preallocate (true),
 * unsafeNoFsync (false; test only, like etcd's --unsafe-no-fsync), logger.
 * Invariants: at most one write + fdatasync in flight, at explicit offsets; a batch is
 * acknowledged only after its fdatasync; segments appear via temp file + fsync +
 * rename + directory fsync; a save breaking the log rules (gap, term going down,
 * snapshot going back, vote changed within a term) is an AssertionError.
 */
export { Wal, SEGMENT_BYTES_DEFAULT, BATCH_BYTES_MAX_DEFAULT } from './wal.js';
export { WalCorruptError, WalIoError } from './errors.js';
export { crc32c, Crc32c } from '../shared/crc32c.js';
export { EMPTY_HARD_STATE } from './types.js';
export type {
  WalEntry,
  WalEntryType,
  WalHardState,
  WalSnapshot,
  WalSaveRequest,
  WalRecovered,
  WalOptions,
  WalStats,
} from './types.js';
