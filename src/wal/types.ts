/**
 * The WAL's own record types. They mirror raft's Entry, HardState and snapshot
 * metadata field for field, so the server maps them 1:1 without the WAL importing
 * src/raft (docs/architecture.md §2: wal depends on storage and shared only).
 */
import type { Logger } from '../shared/logger.js';

/** 0: EntryNormal, 1: EntryConfChange (raftpb.EntryType). */
export type WalEntryType = 0 | 1;

export interface WalEntry {
  readonly index: number;
  readonly term: number;
  readonly type: WalEntryType;
  readonly data: Uint8Array;
}

export interface WalHardState {
  readonly term: number;
  /** Member id voted for in `term`, 0n for none. */
  readonly vote: bigint;
  readonly commit: number;
}

/** A snapshot marker: the log up to `index` (of `term`) lives in a snapshot now. */
export interface WalSnapshot {
  readonly index: number;
  readonly term: number;
  /** Opaque encoded ConfState, if the caller records one. */
  readonly confState?: Uint8Array;
}

/** One Ready's worth of durable state. Written in this order: snapshot, entries, hardState. */
export interface WalSaveRequest {
  readonly snapshot?: WalSnapshot;
  readonly entries?: readonly WalEntry[];
  readonly hardState?: WalHardState;
}

export interface WalRecovered {
  /** The bytes given to Wal.create (the server keeps member and cluster id there). */
  readonly metadata: Uint8Array;
  /** The last hard state saved; all zero if none was. */
  readonly hardState: WalHardState;
  /** The last snapshot marker saved, or null. */
  readonly snapshot: WalSnapshot | null;
  /** The log after the snapshot (or from index 1), contiguous, conflicts resolved. */
  readonly entries: readonly WalEntry[];
}

export interface WalOptions {
  /** Preallocated size of a segment (default 64 MiB, as etcd's SegmentSizeBytes). */
  readonly segmentBytes?: number;
  /** Saves coalesced into one write stop growing at this size (default 16 MiB). */
  readonly batchBytesMax?: number;
  /**
   * Test-only (etcd's --unsafe-no-fsync): skip every fsync. Saves resolve once
   * written to the OS, so a power cut loses acknowledged data. Jepsen proves it shows.
   */
  readonly unsafeNoFsync?: boolean;
  /** Preallocate the next segment in the background (default true). */
  readonly preallocate?: boolean;
  readonly logger?: Logger;
  /**
   * Called as each fdatasync of a batch starts; the function it returns is called when
   * that fdatasync ends (etcd's etcd_disk_wal_fsync_duration_seconds).
   */
  readonly fsyncTimer?: () => () => void;
}

export const EMPTY_HARD_STATE: WalHardState = Object.freeze({ term: 0, vote: 0n, commit: 0 });

export interface WalStats {
  /** save() calls that carried something. */
  readonly saves: number;
  /** Writes of batches to segments (each followed by one fdatasync). */
  readonly writes: number;
  /** fdatasync/fsync calls on the write path (batches and segment cuts). */
  readonly fsyncs: number;
  readonly bytesWritten: number;
  readonly segments: number;
}
