/**
 * One long-lived outbound raft stream to one peer: 'message' (heartbeats, votes,
 * ReadIndex, TimeoutNow, responses) or 'msgapp' (MsgApp). Each kind has its own TCP
 * connection, so a heartbeat is never queued behind megabytes of appends in a socket
 * buffer or an HTTP/2 connection window (etcd rafthttp: streamTypeMessage and
 * streamTypeMsgAppV2).
 *
 * Wire: POST /raft/stream/<kind> with the identity headers (headers.ts); the request
 * body is an endless sequence of frames (frame.ts); the peer answers 200 and keeps the
 * response open, or refuses with 412 / 410 / 400 and closes it.
 *
 * States: connecting -> connected -> (failure) backoff -> connecting ... ; stopped is
 * final. While connecting, messages queue (bounded); while backing off they are
 * dropped at once and the peer is reported unreachable, so Raft probes instead of
 * piling up appends for a dead link. A failure drops what is queued (Raft resends).
 * Invariant: `generation` changes whenever a connection is torn down; callbacks of an
 * older connection compare it and do nothing.
 */
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import type { Cancelable } from '../../shared/scheduler.js';
import { Backoff } from './backoff.js';
import { dialPeer, keepalive } from './dial.js';
import { frameHeader, FRAME_HEADER_BYTES } from './frame.js';
import { PATH_STREAM_MESSAGE, PATH_STREAM_MSGAPP, requestHeaders, STATUS_OK } from './headers.js';
import { MessageQueue } from './message-queue.js';
import type { PeerContext } from './peer-context.js';
import { reportRefusal } from './refusal.js';

export type StreamKind = 'message' | 'msgapp';

type State = 'idle' | 'connecting' | 'connected' | 'backoff' | 'stopped';

export type EnqueueResult = 'queued' | 'overflow' | 'unreachable';

export class OutboundStream {
  private state: State = 'idle';
  private generation = 0;
  private readonly queue: MessageQueue;
  private readonly backoff: Backoff;
  private session: ClientHttp2Session | undefined;
  private req: ClientHttp2Stream | undefined;
  private connectedUrl: string | undefined;
  private urlIndex = 0;
  private waitingDrain = false;
  private timers: Cancelable[] = [];

  constructor(
    readonly kind: StreamKind,
    private readonly ctx: PeerContext,
  ) {
    const max = kind === 'msgapp' ? ctx.limits.appQueueMax : ctx.limits.messageQueueMax;
    const maxBytes =
      kind === 'msgapp' ? ctx.limits.appQueueBytesMax : ctx.limits.messageQueueBytesMax;
    this.queue = new MessageQueue(max, maxBytes);
    this.backoff = new Backoff(
      { minMs: ctx.timings.backoffMinMs, maxMs: ctx.timings.backoffMaxMs },
      ctx.rng,
    );
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  get queuedCount(): number {
    return this.queue.count;
  }

  start(): void {
    if (this.state === 'idle') this.connect();
  }

  stop(): void {
    if (this.state === 'stopped') return;
    this.teardown();
    this.queue.clear();
    this.state = 'stopped';
  }

  /** The peer's URLs changed: drop a connection to a URL no longer listed. */
  urlsChanged(): void {
    const url = this.connectedUrl;
    if (url !== undefined && !this.ctx.urls().includes(url))
      this.fail(this.generation, 'peer URLs changed');
  }

  enqueue(frame: Buffer): EnqueueResult {
    if (this.state === 'stopped' || this.state === 'backoff' || this.state === 'idle') {
      this.ctx.counters.droppedUnreachable++;
      return 'unreachable';
    }
    if (!this.queue.push(frame)) {
      this.ctx.counters.droppedOverflow++;
      return 'overflow';
    }
    if (this.state === 'connected' && !this.waitingDrain) this.pump();
    return 'queued';
  }

  private connect(): void {
    const gen = ++this.generation;
    this.state = 'connecting';
    const urls = this.ctx.urls();
    if (urls.length === 0) {
      this.fail(gen, 'the peer has no URLs');
      return;
    }
    const url = urls[this.urlIndex % urls.length] as string;
    const timeoutMs = this.ctx.timings.dialTimeoutMs;
    this.timers.push(
      this.ctx.scheduler.after(timeoutMs, () => {
        if (this.state === 'connecting')
          this.fail(gen, `no answer from ${url} within ${timeoutMs} ms`);
      }),
    );
    dialPeer(url, { tls: this.ctx.tls, scheduler: this.ctx.scheduler, timeoutMs }).then(
      (session) => this.opened(gen, url, session),
      (err: Error) => this.fail(gen, err.message),
    );
  }

  private opened(gen: number, url: string, session: ClientHttp2Session): void {
    if (gen !== this.generation || this.state !== 'connecting') {
      session.destroy();
      return;
    }
    this.session = session;
    session.on('error', (err: Error) => this.fail(gen, `connection error: ${err.message}`));
    session.once('close', () => this.fail(gen, 'connection closed'));
    session.once('goaway', () => this.fail(gen, 'peer sent GOAWAY'));
    const path = this.kind === 'msgapp' ? PATH_STREAM_MSGAPP : PATH_STREAM_MESSAGE;
    const req = session.request(
      requestHeaders('POST', path, {
        clusterId: this.ctx.clusterId,
        from: this.ctx.localId,
        to: this.ctx.peerId,
        serverVersion: this.ctx.serverVersion(),
      }),
      { endStream: false },
    );
    this.req = req;
    req.on('error', (err: Error) => this.fail(gen, `stream error: ${err.message}`));
    req.once('close', () => this.fail(gen, 'stream closed by the peer'));
    req.once('response', (headers) => this.answered(gen, url, headers));
    req.resume(); // the response carries no body on success; drain whatever comes
  }

  private answered(gen: number, url: string, headers: IncomingHttpHeaders): void {
    if (gen !== this.generation) return;
    const status = Number(headers[':status']);
    if (status !== STATUS_OK) {
      this.refused(gen, url, status, headers);
      return;
    }
    this.state = 'connected';
    this.connectedUrl = url;
    this.backoff.reset();
    const session = this.session;
    if (session !== undefined) {
      const t = this.ctx.timings;
      this.timers.push(
        keepalive(
          session,
          this.ctx.scheduler,
          t.keepaliveIntervalMs,
          t.keepaliveTimeoutMs,
          (why) => this.fail(gen, why),
          // The message stream's PINGs measure the round trip to the peer.
          this.kind === 'message' ? (ms) => this.ctx.onRoundTrip(ms / 1000) : undefined,
        ),
      );
    }
    this.ctx.onActive(this.kind, url);
    this.pump();
  }

  private refused(gen: number, url: string, status: number, headers: IncomingHttpHeaders): void {
    reportRefusal(this.ctx, `${this.kind} stream`, url, status, headers);
    this.fail(gen, `refused with HTTP ${status}`);
  }

  /** Write queued frames while the HTTP/2 stream accepts them. */
  private pump(): void {
    const req = this.req;
    if (req === undefined || this.state !== 'connected' || this.waitingDrain) return;
    const gen = this.generation;
    const counters = this.ctx.counters;
    req.cork();
    try {
      for (let f = this.queue.shift(); f !== undefined; f = this.queue.shift()) {
        req.write(frameHeader(f.length));
        const more = req.write(f);
        counters.sentBytes += FRAME_HEADER_BYTES + f.length;
        counters.sentMessages++;
        if (!more) {
          this.waitingDrain = true;
          req.once('drain', () => {
            if (gen !== this.generation) return;
            this.waitingDrain = false;
            this.pump();
          });
          break;
        }
      }
    } finally {
      req.uncork();
    }
  }

  private fail(gen: number, reason: string): void {
    if (gen !== this.generation) return;
    if (this.state === 'stopped' || this.state === 'backoff') return;
    const wasConnected = this.state === 'connected';
    this.teardown();
    this.ctx.counters.sendFailures++;
    this.ctx.counters.droppedUnreachable += this.queue.clear();
    this.state = 'backoff';
    this.urlIndex++;
    if (wasConnected) this.ctx.onInactive(this.kind, reason);
    else
      this.ctx.logWarn(`${this.kind}:dial`, `cannot reach peer: ${reason}`, {
        attempts: this.backoff.failures + 1,
      });
    this.ctx.onUnreachable();
    const delayMs = this.backoff.nextDelayMs();
    this.timers.push(
      this.ctx.scheduler.after(delayMs, () => {
        if (this.state === 'backoff') this.connect();
      }),
    );
  }

  private teardown(): void {
    this.generation++;
    for (const t of this.timers) t.cancel();
    this.timers = [];
    this.waitingDrain = false;
    this.connectedUrl = undefined;
    const req = this.req;
    const session = this.session;
    this.req = undefined;
    this.session = undefined;
    if (req !== undefined && !req.destroyed) req.close();
    if (session !== undefined && !session.destroyed) session.destroy();
  }
}
