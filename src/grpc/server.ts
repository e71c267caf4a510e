/**
 * A thin gRPC server on node:http2 streams (docs/architecture.md §1).
 *
 * Why our own and not grpc-js's Server: etcd serves gRPC and plain HTTP (/health,
 * /version, /metrics) on the same port, over HTTP/2 and HTTP/1.1. grpc-js only takes
 * whole connections, so a curl h2 request for /health would reach grpc-js and get 415.
 * Dispatching per HTTP/2 stream needs the gRPC framing ourselves; it is small (framing,
 * status trailers, deadlines, cancellation) and it lets the hot path skip grpc-js's
 * per-call machinery.
 *
 * Contract:
 *  - `route(stream, headers)` takes any HTTP/2 stream whose content-type is
 *    application/grpc*. Unknown services and methods answer UNIMPLEMENTED with grpc-go's
 *    wording; a service registered without a handler for a method answers
 *    UNIMPLEMENTED naming the RPC (never a silent hang).
 *  - Handlers receive decoded requests and a CallContext whose `signal` aborts when the
 *    client cancels, the deadline passes or the server closes.
 *  - Every error leaves through `mapError` (v3rpc/errors.ts) exactly once.
 *  - Unary responses are one DATA write plus trailers; streams respect back-pressure
 *    through `writer.write()`'s return value and `writer.drained()`.
 */
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { constants as h2 } from 'node:http2';
import { getEventListeners, setMaxListeners } from 'node:events';
import type { TLSSocket, PeerCertificate } from 'node:tls';
import { MessageReader, frameMessage, parseGrpcTimeoutMs } from './framing.js';
import { GrpcError, encodeGrpcMessage } from './status.js';
import { Status } from '../shared/grpc-status.js';
import { onCancel, type CancelHook } from '../shared/cancel.js';

/**
 * The one abort reason of every ended call: `abort()` without a reason builds a
 * DOMException (a stack capture) per call, which profiles showed as a measurable share
 * of a write's CPU (docs/architecture.md §4).
 */
const CALL_ENDED = new DOMException('This operation was aborted', 'AbortError');

export interface Codec<T> {
  decode(bytes: Uint8Array): T;
  encode(message: T): Uint8Array;
}

/**
 * As a CancelHook the context cancels when `signal` would abort, without making the
 * AbortSignal: the cheap way for a handler that only stops waiting (shared/cancel.ts).
 */
export interface CallContext extends CancelHook {
  /** '/package.Service/Method' */
  readonly path: string;
  readonly metadata: IncomingHttpHeaders;
  readonly signal: AbortSignal;
  /** The client's certificate when the connection is TLS with a client certificate. */
  peerCertificate(): PeerCertificate | undefined;
}

export interface StreamWriter<Res> {
  /** Queue one message; false means the peer is slow: wait for drained(). */
  write(message: Res): boolean;
  drained(): Promise<void>;
  readonly closed: boolean;
}

export interface BidiCall<Req, Res> extends StreamWriter<Res> {
  /** Messages from the client, in order; the iterator ends when the client half-closes. */
  readonly messages: AsyncIterable<Req>;
}

/** `raw` is the request's protobuf encoding as received (writes log it as is). */
export type UnaryHandler<Req, Res> = (req: Req, ctx: CallContext, raw: Buffer) => Promise<Res> | Res;
export type ServerStreamHandler<Req, Res> = (
  req: Req,
  ctx: CallContext,
  out: StreamWriter<Res>,
) => Promise<void>;
export type BidiHandler<Req, Res> = (call: BidiCall<Req, Res>, ctx: CallContext) => Promise<void>;

/** One in-process call (GrpcRouter.invoke): protobuf bytes in and out. */
export interface LocalCall {
  /** As gRPC metadata: lower-case names (e.g. `authorization` for a token). */
  readonly metadata: IncomingHttpHeaders;
  /** Encoded requests in order; the iterator ends when the caller half-closes. */
  readonly requests: AsyncIterable<Uint8Array>;
  /** Aborts the call (the caller went away). */
  readonly signal: AbortSignal;
  /** Receives each encoded response; false means slow down until drained(). */
  readonly out: StreamWriter<Uint8Array>;
}

type Route =
  | { kind: 'unary'; req: Codec<unknown>; res: Codec<unknown>; fn: UnaryHandler<unknown, unknown> }
  | { kind: 'server'; req: Codec<unknown>; res: Codec<unknown>; fn: ServerStreamHandler<unknown, unknown> }
  | { kind: 'bidi'; req: Codec<unknown>; res: Codec<unknown>; fn: BidiHandler<unknown, unknown> };

export interface GrpcServerOptions {
  /** Largest message accepted (etcd: max-request-bytes + 512 KiB). */
  maxRecvBytes: number;
  /** Turns any thrown value into the status the client sees. */
  mapError(err: unknown, path: string): GrpcError;
  /**
   * Called when a routed call starts (metrics: grpc_server_started_total); the observer
   * it returns hears of each message received and sent, with its size in bytes, and
   * once of the status code the call ended with. `remote` gives the client's "ip:port"
   * (undefined for an in-process call).
   */
  observe?(path: string, kind: 'unary' | 'server' | 'bidi', metadata: IncomingHttpHeaders, remote?: () => string | undefined): CallObserver;
}

export interface CallObserver {
  received(bytes: number): void;
  sent(bytes: number): void;
  /** A unary call's decoded request and its handler's response, before `ended` (OK). */
  answered?(request: unknown, response: unknown): void;
  ended(code: number): void;
}

/**
 * Go's net.Addr text of a stream's peer ("ip:port", "[v6]:port"), read only when asked
 * (a slow call's log line): through the session's socket proxy it costs a string and
 * several proxy traps per call.
 */
function remoteOf(stream: ServerHttp2Stream): () => string | undefined {
  const session = stream.session;
  return () => {
    try {
      const socket = session?.socket;
      const ip = socket?.remoteAddress;
      if (ip === undefined) return undefined;
      return `${ip.includes(':') ? `[${ip}]` : ip}:${String(socket?.remotePort ?? 0)}`;
    } catch {
      return undefined; // the connection is gone
    }
  };
}

export class GrpcRouter {
  private readonly routes = new Map<string, Route>();
  /** Services known to exist (registered), to tell "unknown service" from "unknown method". */
  private readonly services = new Set<string>();
  private readonly closing = new AbortController();
  /** Calls on the wire in flight: aborted at close (a Set, not a listener per call). */
  private readonly live = new Set<Call>();

  constructor(private readonly opts: GrpcServerOptions) {
    // Every local call in flight listens for the server closing; many may be in flight.
    setMaxListeners(0, this.closing.signal);
  }

  addService(service: string): void {
    this.services.add(service);
  }

  unary<Req, Res>(path: string, req: Codec<Req>, res: Codec<Res>, fn: UnaryHandler<Req, Res>): void {
    this.add(path, { kind: 'unary', req, res, fn } as unknown as Route);
  }

  serverStream<Req, Res>(path: string, req: Codec<Req>, res: Codec<Res>, fn: ServerStreamHandler<Req, Res>): void {
    this.add(path, { kind: 'server', req, res, fn } as unknown as Route);
  }

  bidi<Req, Res>(path: string, req: Codec<Req>, res: Codec<Res>, fn: BidiHandler<Req, Res>): void {
    this.add(path, { kind: 'bidi', req, res, fn } as unknown as Route);
  }

  has(path: string): boolean {
    return this.routes.has(path);
  }

  /** Abort every call in flight (server shutdown). */
  close(): void {
    this.closing.abort();
    for (const call of [...this.live]) call.release();
  }

  route(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const path = headers[':path'] ?? '';
    const route = this.routes.get(path);
    if (route === undefined) {
      const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
      const service = m?.[1] ?? path;
      const message = this.services.has(service)
        ? `unknown method ${m?.[2] ?? ''} for service ${service}`
        : `unknown service ${service}`;
      respondTrailersOnly(stream, Status.UNIMPLEMENTED, message);
      stream.resume();
      return;
    }
    const call = new Call(stream, headers, path, route, this.opts, this.live, this.opts.observe?.(path, route.kind, headers, remoteOf(stream)));
    if (this.closing.signal.aborted) call.release();
    call.start();
  }

  /**
   * Runs one call in this process, without HTTP/2: the JSON gateway's way in
   * (src/http/gateway.ts), as etcd's gateway is a gRPC client of its own member
   * (embed/serve.go registerGateway). Same handler, codecs, error mapping and metrics
   * as a call on the wire. Requests and responses are protobuf bytes: a unary or
   * server-streaming call takes the first request (none: the empty message). Resolves
   * when the call ends OK; rejects with the GrpcError a gRPC client would see.
   */
  async invoke(path: string, call: LocalCall): Promise<void> {
    const route = this.routes.get(path);
    if (route === undefined) throw new GrpcError(Status.UNIMPLEMENTED, `unknown method for path ${path}`);
    const observer = this.opts.observe?.(path, route.kind, call.metadata);
    const abort = new AbortController();
    const onAbort = (): void => abort.abort();
    for (const s of [call.signal, this.closing.signal]) {
      if (s.aborted) abort.abort();
      else s.addEventListener('abort', onAbort, { once: true });
    }
    const ctx: CallContext = {
      path,
      metadata: call.metadata,
      signal: abort.signal,
      get aborted(): boolean {
        return abort.signal.aborted;
      },
      onAbort: (fn) => onCancel(abort.signal, fn),
      peerCertificate: () => undefined,
    };
    const out: StreamWriter<unknown> = {
      write: (m) => {
        if (abort.signal.aborted) return false;
        const bytes = route.res.encode(m);
        observer?.sent(bytes.length);
        return call.out.write(bytes);
      },
      drained: () => call.out.drained(),
      get closed(): boolean {
        return abort.signal.aborted || call.out.closed;
      },
    };
    try {
      if (route.kind === 'bidi') {
        const messages = decodeAll(call.requests, route.req, abort.signal);
        await route.fn(Object.assign(out, { messages }), ctx);
      } else {
        const first = await firstOf(call.requests);
        observer?.received(first?.length ?? 0);
        const req = route.req.decode(first ?? new Uint8Array(0));
        if (route.kind === 'unary') {
          const res = await route.fn(req, ctx, Buffer.from(first ?? new Uint8Array(0)));
          const bytes = route.res.encode(res);
          observer?.answered?.(req, res);
          observer?.sent(bytes.length);
          call.out.write(bytes);
        } else {
          await route.fn(req, ctx, out);
        }
      }
      observer?.ended(Status.OK);
    } catch (err) {
      const status = err instanceof GrpcError ? err : this.opts.mapError(err, path);
      observer?.ended(status.code);
      throw status;
    } finally {
      abort.abort();
      for (const s of [call.signal, this.closing.signal]) s.removeEventListener('abort', onAbort);
    }
  }

  private add(path: string, route: Route): void {
    const service = /^\/([^/]+)\//.exec(path)?.[1];
    if (service !== undefined) this.services.add(service);
    this.routes.set(path, route);
  }
}

function respondTrailersOnly(stream: ServerHttp2Stream, code: number, message: string): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(h2.NGHTTP2_CANCEL);
    return;
  }
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(code),
      'grpc-message': encodeGrpcMessage(message),
    },
    { endStream: true },
  );
}

/** One RPC on one HTTP/2 stream. */
class Call implements CallContext {
  /**
   * Made when a handler first reads `signal`: an AbortSignal and its abort event cost
   * tens of microseconds per call, a measurable share of a put's CPU on a loaded
   * machine (docs/architecture.md §4), and many calls never look at it.
   */
  private controller: AbortController | undefined;
  /** onAbort's callbacks: run at release, as the signal's listeners would be. */
  private cancelHooks: Array<() => void> | undefined;
  private released = false;
  private readonly reader: MessageReader;
  private finished = false;
  private timer: NodeJS.Timeout | undefined;
  /** For bidi calls: messages not yet taken by the handler, and a waiting consumer. */
  private inbox: unknown[] = [];
  private inboxEnded = false;
  private wake: (() => void) | undefined;
  private gotUnaryRequest = false;
  /** A unary call whose handler answered and whose response was sent (see release). */
  private answeredOk = false;

  constructor(
    private readonly stream: ServerHttp2Stream,
    readonly metadata: IncomingHttpHeaders,
    readonly path: string,
    private readonly route: Route,
    private readonly opts: GrpcServerOptions,
    private readonly live: Set<Call>,
    private readonly observer: CallObserver | undefined,
  ) {
    this.reader = new MessageReader(opts.maxRecvBytes);
    live.add(this);
  }

  /**
   * Aborts the call's signal (ended, canceled or the server closing); idempotent. A
   * unary call answered OK whose signal has no listener left skips the abort event:
   * its handler is done and nothing waits on the signal any more.
   */
  release(): void {
    this.live.delete(this);
    if (this.released) return;
    this.released = true;
    const hooks = this.cancelHooks;
    this.cancelHooks = undefined;
    if (hooks !== undefined) for (const fn of hooks) fn();
    const c = this.controller;
    if (c === undefined || c.signal.aborted) return;
    if (this.answeredOk && getEventListeners(c.signal, 'abort').length === 0) return;
    c.abort(CALL_ENDED);
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.released) this.controller.abort(CALL_ENDED);
    }
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.released;
  }

  onAbort(fn: () => void): () => void {
    if (this.released) return () => undefined;
    const hooks = (this.cancelHooks ??= []);
    hooks.push(fn);
    return () => {
      const i = this.cancelHooks?.indexOf(fn) ?? -1;
      if (i >= 0) this.cancelHooks?.splice(i, 1);
    };
  }

  peerCertificate(): PeerCertificate | undefined {
    const socket = this.stream.session?.socket as TLSSocket | undefined;
    if (socket === undefined || typeof socket.getPeerCertificate !== 'function') return undefined;
    const cert = socket.getPeerCertificate();
    return cert && Object.keys(cert).length > 0 ? cert : undefined;
  }

  start(): void {
    const timeoutMs = parseGrpcTimeoutMs(headerString(this.metadata['grpc-timeout']));
    if (timeoutMs !== undefined) {
      this.timer = setTimeout(() => {
        this.fail(new GrpcError(Status.DEADLINE_EXCEEDED, 'context deadline exceeded'));
      }, Math.max(1, timeoutMs));
    }
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stream.on('end', () => this.onEnd());
    this.stream.on('close', () => {
      this.clearTimer();
      // Closed before the call answered: the client canceled it (or the connection died).
      if (!this.finished) this.ended(Status.CANCELLED);
      this.finished = true;
      this.release();
      this.wakeConsumer();
    });
    this.stream.on('error', () => {
      /* the 'close' event follows; a reset by the client is not our error */
    });
    if (this.route.kind === 'bidi') this.runBidi();
  }

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    let messages: Buffer[];
    try {
      messages = this.reader.push(chunk);
    } catch (err) {
      this.fail(err);
      return;
    }
    for (const bytes of messages) this.onMessage(bytes);
  }

  private onMessage(bytes: Buffer): void {
    this.observer?.received(bytes.length);
    let decoded: unknown;
    try {
      decoded = this.route.req.decode(bytes);
    } catch (err) {
      // grpc-go's wording for an undecodable request.
      this.fail(new GrpcError(Status.INTERNAL, `grpc: error unmarshalling request: ${errorText(err)}`));
      return;
    }
    if (this.route.kind === 'bidi') {
      this.inbox.push(decoded);
      this.wakeConsumer();
      return;
    }
    if (this.gotUnaryRequest) {
      this.fail(new GrpcError(Status.INTERNAL, 'grpc: too many request messages for a unary or server-streaming RPC'));
      return;
    }
    this.gotUnaryRequest = true;
    if (this.route.kind === 'unary') void this.runUnary(this.route, decoded, bytes);
    else void this.runServerStream(this.route, decoded);
  }

  private onEnd(): void {
    if (this.route.kind === 'bidi') {
      this.inboxEnded = true;
      this.wakeConsumer();
      return;
    }
    if (!this.gotUnaryRequest && !this.finished) {
      if (this.reader.pendingBytes > 0) {
        this.fail(new GrpcError(Status.INTERNAL, 'grpc: received an incomplete message'));
      } else {
        // An empty body decodes as the empty message, as grpc-go does for proto3.
        this.onMessage(Buffer.alloc(0));
      }
    }
  }

  private async runUnary(route: Extract<Route, { kind: 'unary' }>, req: unknown, bytes: Buffer): Promise<void> {
    try {
      const res = await route.fn(req, this, bytes);
      if (this.finished) return;
      const body = frameMessage(route.res.encode(res));
      this.observer?.answered?.(req, res);
      this.observer?.sent(body.length);
      this.ended(Status.OK);
      this.answeredOk = true;
      this.respondHeaders();
      this.stream.end(body);
    } catch (err) {
      this.fail(err);
    }
  }

  private async runServerStream(route: Extract<Route, { kind: 'server' }>, req: unknown): Promise<void> {
    try {
      await route.fn(req, this, this.writer(route.res));
      this.succeed();
    } catch (err) {
      this.fail(err);
    }
  }

  private runBidi(): void {
    const route = this.route as Extract<Route, { kind: 'bidi' }>;
    const call = Object.assign(this.writer(route.res), { messages: this.inboxIterator() });
    route.fn(call, this).then(
      () => this.succeed(),
      (err: unknown) => this.fail(err),
    );
  }

  private async *inboxIterator(): AsyncGenerator<unknown> {
    for (;;) {
      if (this.inbox.length > 0) {
        const batch = this.inbox;
        this.inbox = [];
        for (const m of batch) yield m;
        continue;
      }
      if (this.inboxEnded || this.finished) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private wakeConsumer(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private writer(codec: Codec<unknown>): StreamWriter<unknown> {
    const stream = this.stream;
    const self = this;
    return {
      write(message: unknown): boolean {
        if (self.finished || stream.destroyed) return false;
        self.respondHeaders();
        const frame = frameMessage(codec.encode(message));
        self.observer?.sent(frame.length);
        return stream.write(frame);
      },
      drained(): Promise<void> {
        return self.finished ? Promise.resolve() : whenDrained(stream);
      },
      get closed(): boolean {
        return self.finished || stream.destroyed;
      },
    };
  }

  private respondHeaders(): void {
    if (this.stream.headersSent) return;
    this.stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    this.stream.once('wantTrailers', () => this.sendTrailers(Status.OK, ''));
  }

  private pendingStatus: { code: number; message: string } | undefined;

  private sendTrailers(code: number, message: string): void {
    const status = this.pendingStatus ?? { code, message };
    const trailers: Record<string, string> = { 'grpc-status': String(status.code) };
    if (status.message !== '') trailers['grpc-message'] = encodeGrpcMessage(status.message);
    if (!this.stream.destroyed) this.stream.sendTrailers(trailers);
  }

  private endedOnce = false;

  private ended(code: number): void {
    if (this.endedOnce) return;
    this.endedOnce = true;
    this.observer?.ended(code);
  }

  private succeed(): void {
    if (this.finished) return;
    this.finished = true;
    this.ended(Status.OK);
    this.clearTimer();
    if (this.stream.destroyed) return;
    this.respondHeaders();
    this.stream.end();
  }

  private fail(err: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTimer();
    this.release();
    this.wakeConsumer();
    const status = err instanceof GrpcError ? err : this.opts.mapError(err, this.path);
    this.ended(status.code);
    if (this.stream.destroyed) return;
    if (!this.stream.headersSent) {
      respondTrailersOnly(this.stream, status.code, status.message);
    } else {
      this.pendingStatus = { code: status.code, message: status.message };
      this.stream.end();
    }
    // Drain whatever the client still sends so flow control does not stall the session.
    this.stream.resume();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function firstOf(requests: AsyncIterable<Uint8Array>): Promise<Uint8Array | undefined> {
  for await (const r of requests) return r;
  return undefined;
}

/** The caller's requests decoded, ending early when the call ends. */
async function* decodeAll(requests: AsyncIterable<Uint8Array>, req: Codec<unknown>, signal: AbortSignal): AsyncGenerator<unknown> {
  for await (const bytes of requests) {
    if (signal.aborted) return;
    yield req.decode(bytes);
  }
}

/** Resolves when a writable that asked the writer to wait drains or closes. */
export function whenDrained(w: NodeJS.WritableStream & { readonly writableNeedDrain: boolean; readonly destroyed: boolean }): Promise<void> {
  if (w.destroyed || !w.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}
