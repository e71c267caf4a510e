/**
 * One watch stream (etcd mvcc/watcher.go watchStream + the ordering half of
 * v3rpc/watch.go serverWatchStream): the watchers a client multiplexes on one gRPC
 * stream, their ids, and the single ordered queue of responses to send.
 *
 * Ordering: every response, control or event, goes through one FIFO queue. A create
 * queues its `created` response before the watcher is registered with the hub, so no
 * event of a watcher can precede its created response, and created responses leave
 * in request order. A requested progress (-1) is queued only when every watcher of
 * the stream is synced, i.e. every event up to the current revision is already ahead
 * of it in the queue (etcd 3.5.13 #17557 semantics; none is sent on a stream without
 * watchers, as etcd).
 *
 * Bounds: event and progress responses count against `streamQueueResponses` and
 * `streamQueueBytes`; when full, an event response is refused and the hub makes the
 * watcher a victim (it catches up later from history), a progress response is dropped
 * (etcd drops it likewise). Control responses are always queued, and the reader of
 * client requests waits on `controlRoom()` so they stay bounded too. When the consumer
 * drains the queue to half, the victims resume.
 */
import { assert } from '../shared/assert.js';
import { isOpenEnd, ZERO_BYTE } from '../shared/bytes.js';
import type { MvccEvent } from '../mvcc/types.js';
import {
  eventBytes,
  STREAM_WATCH_ID,
  type CreateRefusal,
  type WatchCreate,
  type WatchLimits,
  type WatchOut,
} from './types.js';
import { Watcher, type WatcherState } from './watcher.js';

/** What a stream needs from the hub. */
export interface StreamHost {
  currentRevision(): number;
  /** Puts a new watcher in the synced group or the unsynced set, by its minRev. */
  register(w: Watcher): void;
  /** Removes a watcher from wherever the hub holds it. */
  unregister(w: Watcher): void;
  /** The stream's queue has room again: its victims resume catching up. */
  resumeVictims(stream: WatchStream): void;
  streamClosed(stream: WatchStream): void;
}

interface Queued {
  readonly item: WatchOut;
  readonly control: boolean;
  readonly bytes: number;
}

export class WatchStream {
  /** Watchers by id, including compacted ones until the client cancels them. */
  readonly watchers = new Map<number, Watcher>();
  /** Watchers whose events were refused by a full queue; they resume when it drains. */
  readonly victims = new Set<Watcher>();
  private readonly progressWatchers = new Set<Watcher>();
  /** Watchers in `watchers` whose state is not 'synced'. */
  private notSynced = 0;
  private nextId = 0;
  private queue: Array<Queued | undefined> = [];
  private head = 0;
  private eventItems = 0;
  private eventBytesQueued = 0;
  private controlItems = 0;
  private onReadable: (() => void) | undefined;
  private onControlRoom: (() => void) | undefined;
  private isClosed = false;

  constructor(
    private readonly host: StreamHost,
    private readonly limits: WatchLimits,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  /** Responses waiting to be taken. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Whether every watcher of the stream is synced (vacuously true without watchers). */
  get allSynced(): boolean {
    return this.notSynced === 0;
  }

  /**
   * Handles a create request (etcd recvLoop + watchStream.Watch): queues `created` (or a
   * refusal with watch_id -1) and registers the watcher. Returns the id, or -1.
   */
  watch(req: WatchCreate): number {
    assert(!this.isClosed, 'watch on a closed stream');
    const revision = this.host.currentRevision();
    if (req.startRevision < 0) return this.refuse(revision, 'compacted');
    const key = req.key.length === 0 ? ZERO_BYTE : req.key;
    let end: Buffer | null | undefined;
    if (req.rangeEnd.length === 0) end = undefined;
    else if (isOpenEnd(req.rangeEnd)) end = null;
    else end = req.rangeEnd;
    if (end != null && Buffer.compare(key, end) >= 0) return this.refuse(revision, 'empty-range');
    let id = req.watchId;
    if (id === 0) {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    } else if (this.watchers.has(id)) {
      return this.refuse(revision, 'duplicate-id');
    }
    const minRev = req.startRevision === 0 ? revision + 1 : req.startRevision;
    // Copies: the request's buffers are views into a whole received frame.
    const ownEnd = end === undefined || end === null ? end : Buffer.from(end);
    const w = new Watcher(id, Buffer.from(key), ownEnd, minRev, {
      noPut: req.noPut,
      noDelete: req.noDelete,
      prevKv: req.prevKv,
      fragment: req.fragment,
      progressNotify: req.progressNotify,
    }, this);
    this.watchers.set(id, w);
    this.notSynced++; // a new watcher starts 'unsynced' until the hub places it
    if (req.progressNotify) this.progressWatchers.add(w);
    this.pushControl({ kind: 'created', watchId: id, revision });
    this.host.register(w);
    return id;
  }

  /** Handles a cancel request; an unknown id is ignored silently, as etcd does. */
  cancel(id: number): boolean {
    const w = this.watchers.get(id);
    if (w === undefined) return false;
    this.drop(w);
    this.pushControl({ kind: 'canceled', watchId: id, revision: this.host.currentRevision() });
    return true;
  }

  /** A WatchProgressRequest: one response with watch_id -1 iff every watcher is synced. */
  requestProgress(): boolean {
    if (this.watchers.size === 0 || this.notSynced > 0) return false;
    return this.pushProgress(STREAM_WATCH_ID);
  }

  /** The periodic progress tick (etcd sendLoop progressTicker). */
  progressTick(): void {
    for (const w of this.progressWatchers) {
      if (w.progressDue && w.state === 'synced') this.pushProgress(w.id);
      w.progressDue = true;
    }
  }

  get hasProgressWatchers(): boolean {
    return this.progressWatchers.size > 0;
  }

  /** Events queued and not yet taken by the sender (etcd_debugging_mvcc_pending_events_total). */
  pendingEvents(): number {
    let n = 0;
    for (let i = this.head; i < this.queue.length; i++) {
      const q = this.queue[i];
      if (q?.item.kind === 'events') n += q.item.events.length;
    }
    return n;
  }

  /** The next response to send, or undefined when the queue is empty. */
  take(): WatchOut | undefined {
    const q = this.queue[this.head];
    if (q === undefined) return undefined;
    this.queue[this.head] = undefined;
    this.head++;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (q.control) {
      this.controlItems--;
      if (this.controlItems < this.limits.controlQueueResponses) this.wakeControlRoom();
    } else {
      this.eventItems--;
      this.eventBytesQueued -= q.bytes;
      if (
        this.victims.size > 0 &&
        this.eventItems * 2 <= this.limits.streamQueueResponses &&
        this.eventBytesQueued * 2 <= this.limits.streamQueueBytes
      ) {
        this.host.resumeVictims(this);
      }
    }
    return q.item;
  }

  /** Resolves when a response is queued or the stream closes. */
  readable(): Promise<void> {
    if (this.queued > 0 || this.isClosed) return Promise.resolve();
    return new Promise((resolve) => {
      this.onReadable = resolve;
    });
  }

  /** Resolves when control responses are below their bound (or the stream closed). */
  controlRoom(): Promise<void> {
    if (this.controlItems < this.limits.controlQueueResponses || this.isClosed) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.onControlRoom = resolve;
    });
  }

  /** Ends the stream: every watcher is canceled, queued responses are discarded. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const w of [...this.watchers.values()]) this.drop(w);
    this.queue = [];
    this.head = 0;
    this.eventItems = 0;
    this.eventBytesQueued = 0;
    this.controlItems = 0;
    this.wakeReadable();
    this.wakeControlRoom();
    this.host.streamClosed(this);
  }

  // ---- used by the hub ----

  /** Queues the events of `w`; false if the queue is full (the watcher becomes a victim). */
  tryPushEvents(w: Watcher, events: readonly MvccEvent[], revision: number): boolean {
    assert(events.length > 0, 'watch: an event response without events');
    assert(w.stream === this, 'watch: events for a watcher of another stream');
    assert(w.state === 'synced' || w.state === 'unsynced', 'watch: events for a parked watcher');
    let bytes = 0;
    for (const e of events) bytes += eventBytes(e);
    if (!this.hasRoom(bytes)) return false;
    this.push({
      item: {
        kind: 'events',
        watchId: w.id,
        revision,
        events,
        prevKv: w.options.prevKv,
        fragment: w.options.fragment,
      },
      control: false,
      bytes,
    });
    w.progressDue = false;
    return true;
  }

  /** Moves a watcher to another state, keeping the stream's synced count exact. */
  setState(w: Watcher, to: WatcherState): void {
    assert(w.stream === this, 'watch: watcher of another stream');
    if (w.state === to) return;
    const counted = (s: WatcherState): boolean => s !== 'synced' && s !== 'canceled';
    if (counted(w.state)) this.notSynced--;
    w.state = to;
    if (counted(to)) this.notSynced++;
    assert(this.notSynced >= 0, 'watch: negative unsynced count');
  }

  /** Queues the compaction cancel of `w` (a control response: never refused). */
  pushCompacted(w: Watcher, compactRevision: number): void {
    this.pushControl({ kind: 'compacted', watchId: w.id, compactRevision });
  }

  /** Refuses a create the caller could not even parse (queued in request order). */
  refuseCreate(reason: CreateRefusal, detail?: string): number {
    return this.refuse(this.host.currentRevision(), reason, detail);
  }

  private refuse(revision: number, reason: CreateRefusal, detail?: string): number {
    this.pushControl({ kind: 'refused', revision, reason, ...(detail !== undefined ? { detail } : {}) });
    return STREAM_WATCH_ID;
  }

  private drop(w: Watcher): void {
    this.watchers.delete(w.id);
    this.host.unregister(w);
    this.victims.delete(w);
    this.progressWatchers.delete(w);
    this.setState(w, 'canceled');
  }

  private pushProgress(watchId: number): boolean {
    if (!this.hasRoom(0)) return false;
    const item: WatchOut = { kind: 'progress', watchId, revision: this.host.currentRevision() };
    this.push({ item, control: false, bytes: 0 });
    return true;
  }

  private hasRoom(bytes: number): boolean {
    if (this.eventItems >= this.limits.streamQueueResponses) return false;
    return this.eventItems === 0 || this.eventBytesQueued + bytes <= this.limits.streamQueueBytes;
  }

  private pushControl(item: WatchOut): void {
    this.push({ item, control: true, bytes: 0 });
  }

  private push(q: Queued): void {
    if (this.isClosed) return;
    if (q.control) {
      this.controlItems++;
    } else {
      this.eventItems++;
      this.eventBytesQueued += q.bytes;
    }
    this.queue.push(q);
    this.wakeReadable();
  }

  private wakeReadable(): void {
    const fn = this.onReadable;
    this.onReadable = undefined;
    fn?.();
  }

  private wakeControlRoom(): void {
    const fn = this.onControlRoom;
    this.onControlRoom = undefined;
    fn?.();
  }
}
