/**
 * One client (or metrics) URL: a TCP or TLS listener whose connections are handed,
 * by protocol, to an HTTP/2 session server or an HTTP/1.1 server.
 *
 *  - https: TLS with ALPN; 'h2' goes to the HTTP/2 server, anything else to HTTP/1.1.
 *  - http: the first bytes decide; the HTTP/2 client preface ("PRI * HTTP/2.0") goes to
 *    HTTP/2 (prior knowledge, what grpc-go and etcdctl send on http:// endpoints),
 *    anything else to HTTP/1.1.
 *  - On HTTP/2, streams with content-type application/grpc* go to the gRPC router and
 *    the rest to the HTTP handler, so `curl /health` works on h2 and HTTP/1.1 alike.
 *  - Paths the streaming routes own (the JSON gateway's /v3/) get the request as it
 *    streams, on HTTP/1.1 and h2 alike; everything else is read whole first.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { createServer as createH1Server, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  createServer as createH2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
  type Http2Session,
} from 'node:http2';
import type { TlsContextSource } from '../tls/index.js';
import { whenDrained } from '../grpc/server.js';
import type { HttpExchange, HttpHandler, HttpRequest, HttpResponse, StreamingHttpRoutes } from '../http/types.js';

export type GrpcStreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

export interface ListenerOptions {
  readonly url: URL;
  readonly tls?: TlsContextSource;
  readonly onGrpc: GrpcStreamHandler;
  readonly onHttp: HttpHandler;
  /** The JSON gateway on client URLs (none on metrics URLs). */
  readonly onHttpStream?: StreamingHttpRoutes;
  /** HTTP/2 settings: etcd allows MaxUint32 concurrent streams per connection by default. */
  readonly maxConcurrentStreams: number;
  /** Largest HTTP body accepted for non-gRPC requests. */
  readonly maxHttpBodyBytes: number;
  readonly onError?: (err: Error) => void;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const MAX_H2_CONCURRENT_STREAMS = 2 ** 31 - 1;
const RELOAD_POLL_MS = 1000;

export class ClientListener {
  private readonly h2: Http2Server;
  private readonly h1;
  private readonly outer: NetServer | TlsServer;
  private readonly sessions = new Set<Http2Session>();
  private readonly sockets = new Set<Socket>();
  private reloadTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ListenerOptions) {
    this.h2 = createH2Server({
      settings: { maxConcurrentStreams: Math.min(opts.maxConcurrentStreams, MAX_H2_CONCURRENT_STREAMS) },
      maxSessionMemory: 64,
    });
    this.h2.on('session', (s: Http2Session) => {
      this.sessions.add(s);
      s.on('close', () => this.sessions.delete(s));
      s.on('error', () => {});
    });
    this.h2.on('stream', (stream, headers) => this.onStream(stream, headers));
    this.h1 = createH1Server((req, res) => void this.onH1(req, res));
    this.h1.keepAliveTimeout = 30_000;
    const tlsSource = opts.tls;
    if (tlsSource !== undefined) {
      const server = createTlsServer(tlsSource.serverOptions());
      // Certificates rotate without a restart (etcd re-reads them per handshake): the
      // files are checked every second and the context swapped for new handshakes.
      this.reloadTimer = setInterval(() => {
        const next = tlsSource.reloadIfChanged(performance.now());
        if (next !== undefined) server.setSecureContext({ ...tlsSource.serverOptions(), ...next });
      }, RELOAD_POLL_MS);
      this.reloadTimer.unref();
      server.on('secureConnection', (socket: TLSSocket) => {
        this.track(socket);
        if (socket.alpnProtocol === 'h2') this.h2.emit('connection', socket);
        else this.h1.emit('connection', socket);
      });
      server.on('tlsClientError', () => {
        /* a client without a valid certificate: the handshake fails, nothing to serve */
      });
      this.outer = server;
    } else {
      this.outer = createNetServer((socket) => this.sniff(socket));
    }
    this.outer.on('error', (err) => opts.onError?.(err));
  }

  listen(): Promise<void> {
    const raw = this.opts.url.hostname.replace(/^\[|\]$/g, '');
    // Go binds "localhost" to IPv4 first; Node could pick ::1 alone (resolver order).
    const host = raw === 'localhost' ? '127.0.0.1' : raw;
    const port = Number(this.opts.url.port || (this.opts.url.protocol === 'https:' ? 443 : 80));
    return new Promise((resolve, reject) => {
      this.outer.once('error', reject);
      this.outer.listen({ host, port }, () => {
        this.outer.off('error', reject);
        resolve();
      });
    });
  }

  /** The bound port (useful when the URL asked for port 0). */
  port(): number {
    const addr = this.outer.address();
    return typeof addr === 'object' && addr !== null ? addr.port : 0;
  }

  async close(): Promise<void> {
    if (this.reloadTimer !== undefined) clearInterval(this.reloadTimer);
    const closed = new Promise<void>((resolve) => this.outer.close(() => resolve()));
    for (const s of this.sessions) s.close();
    for (const s of this.sockets) s.destroySoon();
    const timer = setTimeout(() => {
      for (const s of this.sessions) s.destroy();
      for (const s of this.sockets) s.destroy();
    }, 1000);
    await closed;
    clearTimeout(timer);
  }

  private track(socket: Socket): void {
    // Responses are small and latency-bound: no Nagle delay behind a delayed ACK.
    socket.setNoDelay(true);
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
  }

  /** Plain TCP: route by the first bytes. */
  private sniff(socket: Socket): void {
    this.track(socket);
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, H2_PREFACE.length);
      const isH2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2 && seen.length < H2_PREFACE.length) return;
      socket.off('data', onData);
      socket.pause();
      // Hand the bytes back; both servers drain a socket's buffered bytes before
      // reading from its handle (http2's setupHandle reads socket.readableLength).
      socket.unshift(seen);
      if (isH2) {
        this.h2.emit('connection', socket);
      } else {
        this.h1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => {});
    const contentType = headers['content-type'] ?? '';
    if (contentType.startsWith('application/grpc')) {
      this.opts.onGrpc(stream, headers);
      return;
    }
    const path = headers[':path'] ?? '/';
    if (this.opts.onHttpStream?.owns(path) === true) {
      void this.serveExchange(h2Exchange(stream, headers));
      return;
    }
    void this.serveH2Http(stream, headers);
  }

  private async serveExchange(ex: HttpExchange): Promise<void> {
    try {
      await this.opts.onHttpStream?.serve(ex);
    } catch (err) {
      this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
      ex.end();
    }
  }

  private async serveH2Http(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): Promise<void> {
    const body = await readBounded(stream, this.opts.maxHttpBodyBytes);
    const res =
      body === undefined
        ? tooLarge()
        : await this.handle({
            method: headers[':method'] ?? 'GET',
            url: headers[':path'] ?? '/',
            headers,
            body,
          });
    if (stream.destroyed) return;
    stream.respond({ ':status': res.status, ...res.headers });
    stream.end(res.body);
  }

  private async onH1(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.opts.onHttpStream?.owns(req.url ?? '/') === true) {
      await this.serveExchange(h1Exchange(req, res));
      return;
    }
    const body = await readBounded(req, this.opts.maxHttpBodyBytes);
    const out =
      body === undefined
        ? tooLarge()
        : await this.handle({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body });
    if (res.destroyed) return;
    res.writeHead(out.status, out.headers);
    res.end(out.body);
  }

  private async handle(req: HttpRequest): Promise<HttpResponse> {
    try {
      return await this.opts.onHttp(req);
    } catch (err) {
      this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
      return { status: 500, headers: { 'content-type': 'text/plain' }, body: 'internal error\n' };
    }
  }
}

function closedSignal(emitter: NodeJS.EventEmitter, done: () => boolean): AbortSignal {
  const ac = new AbortController();
  emitter.once('close', () => {
    if (!done()) ac.abort();
  });
  return ac.signal;
}

/** The CN of a TLS client certificate that verified (HttpExchange.verifiedCommonName). */
function verifiedCommonName(socket: unknown): { verifiedCommonName?: string } {
  const tls = socket as Partial<TLSSocket> | null | undefined;
  if (tls?.authorized !== true || typeof tls.getPeerCertificate !== 'function') return {};
  const cert = tls.getPeerCertificate();
  if (cert === null || Object.keys(cert).length === 0) return {};
  const cn = cert.subject?.CN;
  return { verifiedCommonName: typeof cn === 'string' ? cn : '' };
}

function h1Exchange(req: IncomingMessage, res: ServerResponse): HttpExchange {
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers: req.headers,
    body: req,
    ...verifiedCommonName(req.socket),
    signal: closedSignal(res, () => res.writableFinished),
    respond: (status, headers) => {
      if (!res.headersSent && !res.destroyed) res.writeHead(status, headers);
    },
    write: (chunk) => (res.destroyed ? false : res.write(chunk)),
    drained: () => whenDrained(res),
    end: (chunk) => {
      if (!res.destroyed) res.end(chunk);
    },
  };
}

function h2Exchange(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): HttpExchange {
  return {
    method: headers[':method'] ?? 'GET',
    url: headers[':path'] ?? '/',
    headers,
    body: stream,
    ...verifiedCommonName(stream.session?.socket),
    signal: closedSignal(stream, () => stream.writableFinished),
    respond: (status, hdrs) => {
      if (stream.headersSent || stream.destroyed) return;
      const out: Record<string, string> = {};
      // HTTP/2 has no chunked transfer-encoding (RFC 9113 §8.2.2): DATA frames stream.
      for (const [k, v] of Object.entries(hdrs)) if (k !== 'transfer-encoding') out[k] = v;
      stream.respond({ ':status': status, ...out });
    },
    write: (chunk) => (stream.destroyed ? false : stream.write(chunk)),
    drained: () => whenDrained(stream),
    end: (chunk) => {
      if (!stream.destroyed) stream.end(chunk);
    },
  };
}

function tooLarge(): HttpResponse {
  return { status: 413, headers: { 'content-type': 'text/plain' }, body: 'request body too large\n' };
}

async function readBounded(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > limit) return undefined;
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
