/**
 * Types shared by the watch hub, its streams and the gRPC handler.
 *
 * Conventions (etcd mvcc/watcher.go, v3rpc/watch.go):
 * - Revisions are numbers (safe integers). A watcher's `minRev` is the lowest revision
 *   it has not seen yet; a synced watcher has seen everything up to the current one.
 * - A watch interval is a single key (end undefined), [key, end), or every key >= key
 *   (end null; range_end "\0" on the wire). The wire's empty key means "\0".
 * - Responses leave the hub as WatchOut items, in the order the client must see them.
 */
import type { MvccEvent, RangeRequest, RangeResponse } from '../mvcc/types.js';
import type { RevisionEvents, RevisionRead, RevisionReadLimits } from '../mvcc/index.js';

export type { RevisionEvents };

/** The store as the hub reads it; MvccStore satisfies this interface. */
export interface WatchStoreView {
  readonly currentRevision: number;
  /** -1 if never compacted. */
  readonly compactRevision: number;
  range(req: RangeRequest): Promise<RangeResponse>;
  /** History of durable revisions, for catch-up below the hub's in-memory window. */
  readRevisions(from: number, to: number, limits: RevisionReadLimits): Promise<RevisionRead>;
}

/** A watch request as the client sent it (proto conventions). */
export interface WatchCreate {
  /** Empty means "\0" (the smallest key). */
  readonly key: Buffer;
  /** Empty: the single key; "\0": every key >= key; else the exclusive end. */
  readonly rangeEnd: Buffer;
  /** 0: from the current revision + 1; < 0: refused as compacted. */
  readonly startRevision: number;
  /** 0: the stream assigns the next free id (a per-stream counter from 0). */
  readonly watchId: number;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
}

/** Why a create was refused (created + canceled, watch_id -1). */
/** 'denied': the caller may not read the range (the API's auth check; `detail` is the reason text). */
export type CreateRefusal = 'compacted' | 'duplicate-id' | 'empty-range' | 'denied';

/** The id of a response that speaks for every watcher of a stream (clientv3.InvalidWatchID). */
export const STREAM_WATCH_ID = -1;

export type WatchOut =
  /** created=true; header revision = store revision when the request was handled. */
  | { readonly kind: 'created'; readonly watchId: number; readonly revision: number }
  /** created=true, canceled=true, watch_id=-1, cancel_reason by `reason`. */
  | { readonly kind: 'refused'; readonly revision: number; readonly reason: CreateRefusal; readonly detail?: string }
  /** canceled=true after the client's cancel request. */
  | { readonly kind: 'canceled'; readonly watchId: number; readonly revision: number }
  /** canceled=true, compact_revision set, no reason; header revision 0 as etcd. */
  | { readonly kind: 'compacted'; readonly watchId: number; readonly compactRevision: number }
  | {
      readonly kind: 'events';
      readonly watchId: number;
      /** Header revision: the event revision (live) or the store revision (catch-up). */
      readonly revision: number;
      /** Never empty. */
      readonly events: readonly MvccEvent[];
      readonly prevKv: boolean;
      readonly fragment: boolean;
    }
  /** An empty response: watch_id of the watcher, or -1 for a requested progress. */
  | { readonly kind: 'progress'; readonly watchId: number; readonly revision: number };

/** Named limits; every queue and read that grows with client input has one. */
export interface WatchLimits {
  /** Event and progress responses queued per stream before its watchers become
   *  victims (etcd chanBufLen = 128). */
  readonly streamQueueResponses: number;
  /** Bytes of event data queued per stream before its watchers become victims
   *  (a response is always accepted by an empty queue). */
  readonly streamQueueBytes: number;
  /** Create/cancel responses queued per stream before the stream stops reading
   *  requests (etcd ctrlStreamBufLen = 128). */
  readonly controlQueueResponses: number;
  /** Unsynced watchers caught up per pass (etcd maxWatchersPerSync = 512). */
  readonly watchersPerSync: number;
  /** Revisions per catch-up chunk (etcd watchBatchMaxRevs = 1000). */
  readonly syncChunkRevisions: number;
  /** Records and bytes per backend catch-up read (a whole revision is always read). */
  readonly syncChunkRecords: number;
  readonly syncChunkBytes: number;
  /** Recent revisions kept in memory for catch-up and for revisions not yet durable. */
  readonly windowRevisions: number;
  readonly windowBytes: number;
  /** Pause before retrying a catch-up whose next revision is not readable yet. */
  readonly syncRetryMs: number;
}

export const DEFAULT_WATCH_LIMITS: WatchLimits = {
  streamQueueResponses: 128,
  streamQueueBytes: 8 * 1024 * 1024,
  controlQueueResponses: 128,
  watchersPerSync: 512,
  syncChunkRevisions: 1000,
  syncChunkRecords: 10_000,
  syncChunkBytes: 4 * 1024 * 1024,
  windowRevisions: 10_000,
  windowBytes: 16 * 1024 * 1024,
  syncRetryMs: 10,
};

/** Approximate memory held by an event (buffers shared with the store are counted). */
export function eventBytes(e: MvccEvent): number {
  let n = 64 + e.kv.key.length + e.kv.value.length;
  if (e.prevKv !== undefined) n += 48 + e.prevKv.value.length;
  return n;
}
