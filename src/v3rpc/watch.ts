/**
 * The Watch service (etcd api/v3rpc/watch.go): one bidi stream multiplexes many
 * watchers. This handler is the wire edge of a WatchStream (src/watch): it decodes
 * create / cancel / progress requests in arrival order, and sends the stream's ordered
 * responses with back-pressure (BidiCall.write false -> await drained()).
 *
 * Wire rules kept here (etcd api/v3rpc/watch.go and header.go):
 * - cancel reasons: negative start revision -> "etcdserver: mvcc: required revision has
 *   been compacted"; key >= range_end -> "mvcc: watcher range is empty"; id in use ->
 *   "mvcc: duplicate watch ID provided on the WatchStream"; all with watch_id -1,
 *   created and canceled.
 * - headers: created / canceled / progress carry the store revision when produced,
 *   events the event revision (catch-up batches: the store revision), the compaction
 *   cancel revision 0 (etcd builds it from an empty WatchResponse.Revision).
 * - prev_kv only for watchers that asked, never on a create event.
 * - fragment: a response of >= max-request-bytes + 512 KiB with >= 2 events is split,
 *   every part but the last with fragment=true (etcd sendFragments).
 * - progress_notify: a per-stream ticker (--watch-progress-notify-interval, >= 100 ms,
 *   +0..10% jitter) sends an empty response to each synced progress watcher that got
 *   no events since the previous tick.
 * - `hasleader: true` metadata: refused with UNAVAILABLE "etcdserver: no leader" when
 *   the member has no leader, and closed with it once the member has had no leader
 *   for 3 election timeouts (etcd v3rpc/interceptor.go monitorLeader).
 * - A client half-close keeps the stream open (etcd's recvLoop returns on EOF and the
 *   stream lives until its context ends); unknown request kinds are ignored.
 */
import Long from 'long';
import type * as pb from '../generated/pb.js';
import { toBuffer } from '../shared/bytes.js';
import type { Logger } from '../shared/logger.js';
import type { Rng } from '../shared/rng.js';
import type { Cancelable, Scheduler } from '../shared/scheduler.js';
import { codec, type Int64Like } from '../shared/pb-codec.js';
import type { MvccEvent } from '../mvcc/types.js';
import { kvToPb } from '../apply/convert.js';
import type { CreateRefusal, WatchHub, WatchOut, WatchStream } from '../watch/index.js';
import type { BidiCall, BidiHandler, CallContext } from '../grpc/server.js';
import { TsetcdError, etcdMessage } from '../shared/errors.js';
import { OPEN_GATE, watchRefusal, type AuthGate } from '../auth/index.js';
import type { HeaderFiller } from './header.js';
import type { AnyHandler } from './services.js';
import type { Observe } from '../shared/observe.js';

export const WATCH_PATH = '/etcdserverpb.Watch/Watch';
/** etcd mvcc.ErrWatcherDuplicateID / ErrEmptyWatcherRange (sent as cancel_reason). */
export const ERR_WATCHER_DUPLICATE_ID = 'mvcc: duplicate watch ID provided on the WatchStream';
export const ERR_EMPTY_WATCHER_RANGE = 'mvcc: watcher range is empty';
/** etcd MaxRequestBytesWithOverhead: the fragment threshold is max-request-bytes plus this. */
const GRPC_OVERHEAD_BYTES = 512 * 1024;
const MIN_PROGRESS_INTERVAL_MS = 100;
/** etcd maxNoLeaderCnt: election timeouts without a leader before hasleader streams close. */
const MAX_NO_LEADER_COUNT = 3;

/** What the Watch service needs from the member. */
export interface WatchBackend {
  readonly hub: WatchHub;
  /** Whether this member currently knows a leader. */
  hasLeader(): boolean;
  readonly electionTimeoutMs: number;
  /** The member's --max-request-bytes (the fragment threshold adds 512 KiB). */
  readonly maxRequestBytes: number;
  /** --watch-progress-notify-interval (config watchProgressNotifyIntervalMs). */
  readonly progressNotifyIntervalMs: number;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  /** Jitter of the progress interval; none without it. */
  readonly rng?: Rng;
  /** Events sent (shared/observe.ts). */
  readonly observe?: Observe;
}

const responseCodec = codec<pb.WatchResponse>('etcdserverpb.WatchResponse');
const eventCodec = codec<pb.Event>('mvccpb.Event');

export function watchHandlers(s: WatchBackend, h: HeaderFiller, gate: AuthGate = OPEN_GATE): Map<string, AnyHandler> {
  const monitor = new LeaderMonitor(s);
  const log = s.logger.child({ component: 'v3rpc', service: 'watch' });
  const fn: BidiHandler<pb.WatchRequest, pb.WatchResponse> = (call, ctx) =>
    serveWatch(call, ctx, s, h, monitor, log, gate);
  return new Map<string, AnyHandler>([[WATCH_PATH, { kind: 'bidi', fn }]]);
}

/**
 * Closes streams that asked for a leader once the member has had none for 3 election
 * timeouts (checked every election timeout while such streams exist). Exported so
 * other streaming services (LeaseKeepAlive) can share one monitor.
 */
export class LeaderMonitor {
  private readonly cancels = new Set<() => void>();
  private timer: Cancelable | undefined;
  private noLeaderCount = 0;

  constructor(
    private readonly deps: Pick<WatchBackend, 'hasLeader' | 'electionTimeoutMs' | 'scheduler'>,
  ) {}

  /** Registers a stream's cancel function; returns the function that unregisters it. */
  register(cancel: () => void): () => void {
    this.cancels.add(cancel);
    if (this.timer === undefined) {
      this.noLeaderCount = 0;
      this.timer = this.deps.scheduler.every(this.deps.electionTimeoutMs, () => this.tick());
    }
    return () => {
      this.cancels.delete(cancel);
      if (this.cancels.size === 0) this.stop();
    };
  }

  private tick(): void {
    this.noLeaderCount = this.deps.hasLeader() ? 0 : this.noLeaderCount + 1;
    if (this.noLeaderCount < MAX_NO_LEADER_COUNT) return;
    const all = [...this.cancels];
    this.cancels.clear();
    this.stop();
    for (const cancel of all) cancel();
  }

  private stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }
}

async function serveWatch(
  call: BidiCall<pb.WatchRequest, pb.WatchResponse>,
  ctx: CallContext,
  deps: WatchBackend,
  headers: HeaderFiller,
  monitor: LeaderMonitor,
  log: Logger,
  gate: AuthGate,
): Promise<void> {
  const requireLeader = headerText(ctx.metadata['hasleader']) === 'true';
  if (requireLeader && !deps.hasLeader()) throw new TsetcdError('no-leader');
  const stream = deps.hub.newStream();
  let outcome: { error: unknown } | undefined;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const end = (error?: unknown): void => {
    if (outcome !== undefined) return;
    outcome = { error };
    finish();
  };
  const onAbort = (): void => end();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal.aborted) end();
  const unregister = requireLeader
    ? monitor.register(() => end(new TsetcdError('no-leader')))
    : undefined;
  let ticker: Cancelable | undefined;
  const startTicker = (): void => {
    if (ticker !== undefined) return;
    const base = Math.max(MIN_PROGRESS_INTERVAL_MS, deps.progressNotifyIntervalMs);
    const jitter = deps.rng !== undefined ? deps.rng.int(Math.max(1, Math.floor(base / 10))) : 0;
    ticker = deps.scheduler.every(base + jitter, () => stream.progressTick());
  };
  const fragmentBytes = deps.maxRequestBytes + GRPC_OVERHEAD_BYTES;
  sendLoop(call, stream, headers, fragmentBytes, deps.observe).catch(end);
  recvLoop(call, stream, startTicker, gate, ctx).catch(end);
  try {
    await finished;
  } finally {
    ticker?.cancel();
    unregister?.();
    ctx.signal.removeEventListener('abort', onAbort);
    stream.close();
  }
  const error = (outcome as { error: unknown } | undefined)?.error;
  if (error !== undefined) {
    if (!(error instanceof TsetcdError)) log.warn({ err: error }, 'watch stream failed');
    throw error;
  }
}

async function recvLoop(
  call: BidiCall<pb.WatchRequest, pb.WatchResponse>,
  stream: WatchStream,
  startTicker: () => void,
  gate: AuthGate,
  ctx: CallContext,
): Promise<void> {
  for await (const req of call.messages) {
    await stream.controlRoom();
    if (stream.closed) return;
    if (req.createRequest) {
      const c = req.createRequest;
      const denied = await watchRefusal(gate, ctx, toBuffer(c.key), toBuffer(c.rangeEnd));
      if (denied !== undefined) {
        stream.refuseCreate('denied', denied);
        continue;
      }
      const filters = c.filters ?? [];
      const watchId = int64(c.watchId);
      if (watchId === undefined) {
        // Outside ±2^53: tsetcd keeps watch ids as numbers and cannot hold this one.
        stream.refuseCreate('duplicate-id');
        continue;
      }
      stream.watch({
        key: toBuffer(c.key),
        rangeEnd: toBuffer(c.rangeEnd),
        startRevision: clampRevision(c.startRevision),
        watchId,
        noPut: filters.includes(0),
        noDelete: filters.includes(1),
        prevKv: c.prevKv === true,
        fragment: c.fragment === true,
        progressNotify: c.progressNotify === true,
      });
      if (c.progressNotify === true) startTicker();
    } else if (req.cancelRequest) {
      const id = int64(req.cancelRequest.watchId);
      if (id !== undefined) stream.cancel(id);
    } else if (req.progressRequest) {
      stream.requestProgress();
    }
  }
}

async function sendLoop(
  call: BidiCall<pb.WatchRequest, pb.WatchResponse>,
  stream: WatchStream,
  headers: HeaderFiller,
  fragmentBytes: number,
  observe: Observe | undefined,
): Promise<void> {
  for (;;) {
    const out = stream.take();
    if (out === undefined) {
      if (stream.closed || call.closed) return;
      await stream.readable();
      continue;
    }
    for (const msg of toResponses(out, headers, fragmentBytes)) {
      if (call.closed) return;
      if (!call.write(msg)) await call.drained();
      // etcd_debugging_mvcc_events_total: events sent to watchers.
      if (msg.events !== undefined && msg.events.length > 0) observe?.('watch.events', msg.events.length);
    }
  }
}

function cancelReason(reason: CreateRefusal, detail: string | undefined): string {
  switch (reason) {
    case 'denied':
      return detail ?? 'rpc error: code = PermissionDenied desc = etcdserver: permission denied';
    case 'compacted':
      return etcdMessage('compacted');
    case 'duplicate-id':
      return ERR_WATCHER_DUPLICATE_ID;
    case 'empty-range':
      return ERR_EMPTY_WATCHER_RANGE;
  }
}

/** The wire responses for one queued item (more than one only when fragmented). */
export function toResponses(
  out: WatchOut,
  headers: HeaderFiller,
  fragmentBytes: number,
): pb.WatchResponse[] {
  switch (out.kind) {
    case 'created':
      return [{ header: headers.header(out.revision), watchId: out.watchId, created: true }];
    case 'refused':
      return [
        {
          header: headers.header(out.revision),
          watchId: -1,
          created: true,
          canceled: true,
          cancelReason: cancelReason(out.reason, out.detail),
        },
      ];
    case 'canceled':
      return [{ header: headers.header(out.revision), watchId: out.watchId, canceled: true }];
    case 'compacted':
      return [
        {
          header: { ...headers.header(), revision: 0 },
          watchId: out.watchId,
          canceled: true,
          compactRevision: out.compactRevision,
        },
      ];
    case 'progress':
      return [{ header: headers.header(out.revision), watchId: out.watchId }];
    case 'events': {
      const res: pb.WatchResponse = {
        header: headers.header(out.revision),
        watchId: out.watchId,
        events: out.events.map((e) => eventToPb(e, out.prevKv)),
      };
      return out.fragment ? fragmentResponse(res, fragmentBytes) : [res];
    }
  }
}

const plainEvents = new WeakMap<MvccEvent, pb.Event>();
const prevEvents = new WeakMap<MvccEvent, pb.Event>();

/** An event on the wire; the same event object converts once per flavour (fan-out). */
function eventToPb(e: MvccEvent, withPrevKv: boolean): pb.Event {
  const prev = withPrevKv && e.prevKv !== undefined && !isCreate(e) ? e.prevKv : undefined;
  const cache = prev !== undefined ? prevEvents : plainEvents;
  let p = cache.get(e);
  if (p === undefined) {
    p = { type: e.type === 'put' ? 0 : 1, kv: kvToPb(e.kv) };
    if (prev !== undefined) p.prevKv = kvToPb(prev);
    cache.set(e, p);
  }
  return p;
}

function isCreate(e: MvccEvent): boolean {
  return e.type === 'put' && e.kv.createRevision === e.kv.modRevision;
}

/** etcd sendFragments: cut before the event that makes a part reach the limit. */
export function fragmentResponse(res: pb.WatchResponse, limitBytes: number): pb.WatchResponse[] {
  const events = res.events ?? [];
  if (events.length < 2 || responseCodec.encode(res).length < limitBytes) return [res];
  const base = responseCodec.encode({ ...res, events: [], fragment: true }).length;
  const sizes = events.map((e) => {
    const n = eventCodec.encode(e).length;
    return 1 + varintSize(n) + n;
  });
  const parts: pb.WatchResponse[] = [];
  let idx = 0;
  for (;;) {
    const part: pb.Event[] = [];
    let size = base;
    while (idx < events.length) {
      size += sizes[idx] as number;
      part.push(events[idx] as pb.Event);
      if (part.length > 1 && size >= limitBytes) {
        part.pop();
        break;
      }
      idx++;
    }
    const last = idx === events.length;
    parts.push(last ? { ...res, events: part } : { ...res, events: part, fragment: true });
    if (last) return parts;
  }
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** A decoded int64 as a number, or undefined outside the safe range. */
function int64(v: Int64Like): number | undefined {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  const n = typeof v === 'string' ? Number(v) : v.toNumber();
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A start revision; beyond 2^53 it is a future revision all the same. */
function clampRevision(v: Int64Like): number {
  const n = int64(v);
  if (n !== undefined) return n;
  const negative = typeof v === 'string' ? v.startsWith('-') : Long.isLong(v) && v.isNegative();
  return negative ? -1 : Number.MAX_SAFE_INTEGER;
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
