/**
 * The watch hub of one member (etcd mvcc/watchable_store.go): fans every applied
 * revision out to synced watchers, catches unsynced watchers up from history in
 * bounded chunks, parks slow watchers as victims, and cancels watchers that
 * compaction has passed.
 *
 * Feeding: apply calls `notify(events, revision)` for every applied write, in log
 * order, synchronously (Applier.onChanges). Revisions must arrive contiguous: the
 * hub is created before the server applies anything, and after a snapshot install
 * the server calls `restore()` before applying on top of it.
 *
 * Catch-up (one pass at a time, yielding between passes): take up to
 * `watchersPerSync` unsynced watchers; cancel those whose minRev < compactRevision
 * (compact response, no reason); read revisions [minRev, minRev + chunk) from the
 * in-memory window when it holds minRev, else from the backend below the window;
 * deliver each watcher its matching events in one response (header revision = the
 * store revision); a watcher that reached the current revision becomes synced.
 *
 * Revisions applied but not yet in the backend: the state-db batch of a revision is
 * written after apply notified us. Rather than waiting for a durability signal the
 * store does not expose, the hub keeps recent revisions in an EventWindow (bounded)
 * and reads the backend only below it; a revision found in neither (evicted from the
 * window before its batch was written, only under very large Readys) stops the chunk
 * just before it, and the pass is retried after `syncRetryMs`. A revision above the
 * compact revision always has records once written, so a gap can only mean "not yet".
 *
 * Memory: per stream, at most `streamQueueResponses` event responses and
 * `streamQueueBytes` of events; a watcher whose response does not fit becomes a victim
 * holding nothing but its minRev. The window and catch-up chunks are bounded too.
 */
import { assert, AssertionError } from '../shared/assert.js';
import { nullLogger, type Logger } from '../shared/logger.js';
import type { Cancelable, Scheduler } from '../shared/scheduler.js';
import type { MvccEvent } from '../mvcc/types.js';
import { EventWindow } from './event-window.js';
import { contiguousEnd } from '../mvcc/index.js';
import { fillPrevKvs, prevKvsAsOfRevisionStart, withoutCompactedPrevKvs } from './prev-kv.js';
import { WatchStream, type StreamHost } from './stream.js';
import {
  DEFAULT_WATCH_LIMITS,
  type RevisionEvents,
  type WatchLimits,
  type WatchStoreView,
} from './types.js';
import { batchByWatcher, WatcherGroup } from './watcher-group.js';
import type { Watcher } from './watcher.js';

export interface WatchHubOptions {
  /** Read for revisions, compaction, prev_kv and history below the window. */
  readonly store: WatchStoreView;
  /** Catch-up scheduling (yields and retries). */
  readonly scheduler: Scheduler;
  readonly logger?: Logger;
  readonly limits?: Partial<WatchLimits>;
}

export interface WatchHubStats {
  readonly streams: number;
  readonly synced: number;
  readonly unsynced: number;
  readonly victims: number;
  readonly windowRevisions: number;
  readonly windowBytes: number;
  /** Events queued on streams, not yet sent. */
  readonly pendingEvents: number;
}

type PassResult = 'progress' | 'wait' | 'idle';

const ERROR_RETRY_MS = 1000;

export class WatchHub implements StreamHost {
  readonly limits: WatchLimits;
  private store: WatchStoreView;
  private readonly scheduler: Scheduler;
  private readonly logger: Logger;
  private readonly synced = new WatcherGroup();
  /** Insertion order = catch-up order; a watcher that stays unsynced goes to the back. */
  private readonly unsynced = new Set<Watcher>();
  private readonly streams = new Set<WatchStream>();
  private readonly window: EventWindow;
  private lastRevision: number;
  /** Bumped by restore(): a catch-up pass begun before it discards what it read. */
  private epoch = 0;
  private syncRunning = false;
  private wakeSync: (() => void) | undefined;
  private closed = false;

  constructor(options: WatchHubOptions) {
    this.limits = { ...DEFAULT_WATCH_LIMITS, ...options.limits };
    this.store = options.store;
    this.scheduler = options.scheduler;
    this.logger = (options.logger ?? nullLogger).child({ component: 'watch' });
    this.window = new EventWindow(this.limits.windowRevisions, this.limits.windowBytes);
    this.lastRevision = this.store.currentRevision;
  }

  /** The changes of one applied revision (Applier.onChanges listener). */
  notify(events: readonly MvccEvent[], revision: number): void {
    if (this.closed) return;
    assert(events.length > 0, 'watch: notify without events');
    assert(
      revision === this.lastRevision + 1,
      `watch: notified of revision ${revision} after ${this.lastRevision}`,
    );
    this.lastRevision = revision;
    prevKvsAsOfRevisionStart(events);
    this.window.push(revision, events);
    if (this.synced.size === 0) return;
    for (const [w, evs] of batchByWatcher(this.synced, [{ revision, events }])) {
      if (w.stream.tryPushEvents(w, evs, revision)) w.minRev = revision + 1;
      else this.makeVictim(w, revision);
    }
  }

  newStream(): WatchStream {
    assert(!this.closed, 'watch hub is closed');
    const s = new WatchStream(this, this.limits);
    this.streams.add(s);
    return s;
  }

  /**
   * The store was replaced by a snapshot (its history continues ours): every synced
   * watcher catches up again from the revision after the last one it was sent.
   */
  restore(store: WatchStoreView): void {
    const sentUpTo = this.lastRevision;
    this.store = store;
    this.epoch++;
    this.window.clear();
    this.lastRevision = store.currentRevision;
    for (const w of [...this.synced.all()]) {
      this.synced.delete(w);
      w.minRev = Math.max(w.minRev, sentUpTo + 1);
      this.unsynced.add(w);
      w.stream.setState(w, 'unsynced');
    }
    this.kick();
  }

  /** Closes every stream and stops catch-up. */
  close(): void {
    if (this.closed) return;
    for (const s of [...this.streams]) s.close();
    this.closed = true;
    this.wakeSync?.();
  }

  stats(): WatchHubStats {
    let victims = 0;
    let pendingEvents = 0;
    for (const s of this.streams) {
      victims += s.victims.size;
      pendingEvents += s.pendingEvents();
    }
    return {
      streams: this.streams.size,
      synced: this.synced.size,
      unsynced: this.unsynced.size,
      victims,
      windowRevisions: this.window.length,
      windowBytes: this.window.byteSize,
      pendingEvents,
    };
  }

  // ---- StreamHost ----

  currentRevision(): number {
    return this.store.currentRevision;
  }

  register(w: Watcher): void {
    if (w.minRev > this.store.currentRevision) {
      this.toSynced(w);
    } else {
      this.unsynced.add(w);
      w.stream.setState(w, 'unsynced');
      this.kick();
    }
  }

  unregister(w: Watcher): void {
    switch (w.state) {
      case 'synced':
        this.synced.delete(w);
        break;
      case 'unsynced':
        this.unsynced.delete(w);
        break;
      case 'victim':
        w.stream.victims.delete(w);
        break;
      default:
        break;
    }
  }

  resumeVictims(stream: WatchStream): void {
    const cur = this.store.currentRevision;
    for (const w of [...stream.victims]) {
      stream.victims.delete(w);
      if (w.minRev > cur) {
        this.toSynced(w);
      } else {
        this.unsynced.add(w);
        stream.setState(w, 'unsynced');
      }
    }
    if (this.unsynced.size > 0) this.kick();
  }

  streamClosed(stream: WatchStream): void {
    this.streams.delete(stream);
  }

  // ---- transitions ----

  private toSynced(w: Watcher): void {
    this.unsynced.delete(w);
    this.synced.add(w);
    w.stream.setState(w, 'synced');
  }

  /** `minRev` is the first revision the watcher has not been sent. */
  private makeVictim(w: Watcher, minRev: number): void {
    if (w.state === 'synced') this.synced.delete(w);
    else this.unsynced.delete(w);
    w.minRev = minRev;
    w.stream.setState(w, 'victim');
    w.stream.victims.add(w);
  }

  private compacted(w: Watcher, compactRevision: number): void {
    this.unsynced.delete(w);
    w.stream.setState(w, 'compacted');
    w.stream.pushCompacted(w, compactRevision);
  }

  // ---- catch-up ----

  private kick(): void {
    if (this.closed) return;
    if (this.syncRunning) {
      const wake = this.wakeSync;
      this.wakeSync = undefined;
      wake?.();
      return;
    }
    this.syncRunning = true;
    this.scheduler.soon(() => void this.syncLoop());
  }

  private async syncLoop(): Promise<void> {
    try {
      while (!this.closed && this.unsynced.size > 0) {
        let result: PassResult;
        try {
          result = await this.syncPass();
        } catch (err) {
          // A broken invariant is fatal (it escapes as an unhandled rejection); anything
          // else (a backend I/O error) is retried.
          if (err instanceof AssertionError) throw err;
          this.logger.error({ err }, 'watch catch-up failed; retrying');
          await this.pause(ERROR_RETRY_MS);
          continue;
        }
        if (result === 'wait') await this.pause(this.limits.syncRetryMs);
        else await this.pause(0);
      }
    } finally {
      this.syncRunning = false;
    }
  }

  /** Waits ms (0: the next event-loop turn); kick() ends the wait early. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: Cancelable | undefined;
      const done = (): void => {
        timer?.cancel();
        if (this.wakeSync === done) this.wakeSync = undefined;
        resolve();
      };
      this.wakeSync = done;
      if (ms === 0) this.scheduler.soon(done);
      else timer = this.scheduler.after(ms, done);
    });
  }

  /** One catch-up pass (etcd syncWatchers) over at most watchersPerSync watchers. */
  private async syncPass(): Promise<PassResult> {
    const epoch = this.epoch;
    const cur = this.store.currentRevision;
    const compactRev = this.store.compactRevision;
    const chosen: Watcher[] = [];
    let minRev = Number.POSITIVE_INFINITY;
    for (const w of this.unsynced) {
      if (chosen.length >= this.limits.watchersPerSync) break;
      if (w.minRev > cur) this.toSynced(w);
      else if (w.minRev < compactRev) this.compacted(w, compactRev);
      else {
        chosen.push(w);
        if (w.minRev < minRev) minRev = w.minRev;
      }
    }
    if (chosen.length === 0) return 'idle';
    const to = Math.min(minRev + this.limits.syncChunkRevisions - 1, cur);
    if (this.window.covers(minRev)) {
      assert(this.window.lastRevision === cur, 'watch: the event window lags the store');
      const revisions = withoutCompactedPrevKvs(
        this.window.slice(minRev, to, this.limits.syncChunkBytes),
        compactRev,
      );
      const end = revisions[revisions.length - 1]?.revision ?? to;
      this.deliver(chosen, revisions, end);
      return 'progress';
    }
    const first = this.window.firstRevision;
    const readTo = first === undefined ? to : Math.min(to, first - 1);
    const read = await this.store.readRevisions(minRev, readTo, {
      maxRecords: this.limits.syncChunkRecords,
      maxBytes: this.limits.syncChunkBytes,
    });
    if (epoch !== this.epoch || this.closed) return 'progress';
    const end = contiguousEnd(read, minRev, this.store.compactRevision);
    const revisions = read.revisions.filter((r) => r.revision <= end);
    if (chosen.some((w) => w.state === 'unsynced' && w.options.prevKv)) {
      await fillPrevKvs(revisions, this.store);
      if (epoch !== this.epoch || this.closed) return 'progress';
    }
    // A compaction applied during the read: its watchers are canceled, the others'
    // revisions (>= the compact revision) were untouched by it.
    const compactNow = this.store.compactRevision;
    for (const w of chosen) {
      if (w.state === 'unsynced' && w.minRev < compactNow) this.compacted(w, compactNow);
    }
    if (end < minRev) return 'wait';
    this.deliver(chosen, revisions, end);
    return 'progress';
  }

  /** Sends each chosen watcher its events in [minRev, end]; advances or parks it. */
  private deliver(
    chosen: readonly Watcher[],
    revisions: readonly RevisionEvents[],
    end: number,
  ): void {
    const group = new WatcherGroup();
    const live: Watcher[] = [];
    for (const w of chosen) {
      if (w.state !== 'unsynced' || w.minRev > end) continue;
      live.push(w);
      group.add(w);
    }
    const batches = batchByWatcher(group, revisions);
    const cur = this.store.currentRevision;
    for (const w of live) {
      const events = batches.get(w);
      if (events !== undefined && !w.stream.tryPushEvents(w, events, cur)) {
        this.makeVictim(w, w.minRev);
        continue;
      }
      w.minRev = end + 1;
      this.unsynced.delete(w);
      if (w.minRev > cur) {
        this.synced.add(w);
        w.stream.setState(w, 'synced');
      } else {
        this.unsynced.add(w); // to the back: the other unsynced watchers get their turn
      }
    }
  }
}
