/**
 * One watcher (etcd mvcc/watcher.go `watcher`): a key or range on one stream, the next
 * revision it needs, its filters and where it is in the hub.
 *
 * States and the invariants each one implies (the hub moves watchers between them):
 * - 'synced':    in the hub's synced group; every matching event up to the current
 *                revision is queued on its stream. minRev may exceed current + 1 (a
 *                watch on a future revision waits there).
 * - 'unsynced':  in the hub's unsynced set; events from minRev on are still to be read
 *                from history (catch-up).
 * - 'victim':    its stream's queue was full; it holds nothing, waits in the stream's
 *                victim set, and resumes as unsynced from minRev once the queue drains.
 * - 'compacted': canceled by compaction (the compact response is queued); it stays
 *                on its stream until the client cancels it, as etcd keeps it.
 * - 'canceled':  gone; nothing may be queued for it any more.
 */
import type { MvccEvent } from '../mvcc/types.js';
import type { WatchStream } from './stream.js';

export type WatcherState = 'synced' | 'unsynced' | 'victim' | 'compacted' | 'canceled';

export interface WatcherOptions {
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly fragment: boolean;
  readonly progressNotify: boolean;
}

export class Watcher {
  state: WatcherState = 'unsynced';
  /** Periodic progress is due: no events were queued since the last tick (etcd sws.progress). */
  progressDue = true;

  constructor(
    readonly id: number,
    /** First key (never empty). */
    readonly key: Buffer,
    /** undefined: the single key; null: every key >= key; else the exclusive end. */
    readonly end: Buffer | null | undefined,
    /** Lowest revision not yet delivered. */
    public minRev: number,
    readonly options: WatcherOptions,
    readonly stream: WatchStream,
  ) {}

  /** Whether the filters let this event through (NOPUT drops puts, NODELETE deletes). */
  accepts(e: MvccEvent): boolean {
    return e.type === 'put' ? !this.options.noPut : !this.options.noDelete;
  }

  /** Whether the key lies in this watcher's interval. */
  covers(key: Buffer): boolean {
    if (this.end === undefined) return key.equals(this.key);
    if (Buffer.compare(key, this.key) < 0) return false;
    return this.end === null || Buffer.compare(key, this.end) < 0;
  }
}
