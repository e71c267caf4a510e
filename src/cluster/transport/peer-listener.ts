/**
 * The HTTP/2 listeners on listen-peer-urls: https:// is TLS with ALPN h2 and the
 * client-certificate rule of tls.ts, http:// is h2c (prior knowledge). Only HTTP/2 is
 * spoken (peers are tsetcd members; curl needs --http2-prior-knowledge on http://).
 *
 * Owns the sockets: it tracks every session so stop() can close them, pings each one
 * (a dead inbound link is dropped rather than held open), re-reads rotated
 * certificates before a handshake, and runs the post-handshake peer checks once per
 * connection, before any request on it is handled. Requests go to `onStream`.
 */
import {
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Scheduler } from '../../shared/scheduler.js';
import { StartRefusal } from '../../shared/errors.js';
import {
  keepalive,
  MAX_SESSION_MEMORY_MB,
  SESSION_WINDOW_BYTES,
  STREAM_WINDOW_BYTES,
} from './dial.js';
import { remoteHost, verifyPeer, type PeerTlsSource } from './tls.js';
import type { TransportTimings } from './types.js';

export interface ListenerDeps {
  readonly tls: PeerTlsSource | undefined;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly timings: TransportTimings;
  readonly logger: Logger;
  /** A request on a verified connection. */
  onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void;
  /** A request on a connection whose peer checks failed (answer 403). */
  onRejected(stream: ServerHttp2Stream, reason: string): void;
}

type AnyServer = Http2Server | Http2SecureServer;

export class PeerListeners {
  private readonly servers: AnyServer[] = [];
  private readonly sessions = new Set<Http2Session>();
  /** Every accepted TCP socket, so close() ends connections that never became sessions. */
  private readonly sockets = new Set<Socket>();
  private closing = false;
  private readonly verdicts = new WeakMap<Http2Session, Promise<string | undefined>>();
  private readonly bound: string[] = [];

  constructor(private readonly deps: ListenerDeps) {}

  /** The URLs actually bound (port 0 resolved), in listen order. */
  get urls(): readonly string[] {
    return this.bound;
  }

  async listen(url: string): Promise<void> {
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    if (!secure && u.protocol !== 'http:')
      throw new StartRefusal('listen', `listen-peer-urls: ${url}: scheme must be http or https`);
    const tls = this.deps.tls;
    if (secure && tls === undefined) {
      throw new StartRefusal('listen', 
        `listen-peer-urls: ${url} is https but peer cert-file and key-file are not set`,
      );
    }
    const common = {
      settings: { initialWindowSize: STREAM_WINDOW_BYTES, enablePush: false },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
    };
    const server: AnyServer =
      secure && tls !== undefined
        ? createSecureServer({ ...tls.serverOptions(), ...common, allowHTTP1: false })
        : createServer(common);
    if (secure && tls !== undefined) this.watchRotation(server as Http2SecureServer, tls);
    server.on('connection', (socket: Socket) => this.track(socket));
    server.on('session', (s: Http2Session) => this.adopt(s));
    server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) =>
      this.dispatch(stream, headers),
    );
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      if (this.closing) return;
      this.deps.logger.warn(
        { remoteAddr: remoteHost(socket.remoteAddress), err: err.message },
        'rejected connection',
      );
    });
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    const port = u.port === '' ? (secure ? 443 : 80) : Number(u.port);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: Error) => {
      throw new StartRefusal('listen', `listen-peer-urls: cannot listen on ${url}: ${err.message}`);
    });
    server.on('error', (err: Error) =>
      this.deps.logger.error({ err: err.message, url }, 'peer listener error'),
    );
    this.servers.push(server);
    const addr = server.address() as AddressInfo;
    const shownHost = host.includes(':') ? `[${host}]` : host;
    this.bound.push(`${u.protocol}//${shownHost}:${addr.port}`);
  }

  async close(): Promise<void> {
    this.closing = true;
    const closed = this.servers.map(
      (s) => new Promise<void>((resolve) => s.close(() => resolve())),
    );
    for (const s of this.sessions) s.destroy();
    for (const s of this.sockets) s.destroy();
    this.sessions.clear();
    this.sockets.clear();
    await Promise.all(closed);
  }

  private track(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    // Raft messages are small and latency-bound: Nagle's algorithm would hold an
    // append response back until the peer's delayed ACK (up to 40 ms).
    socket.setNoDelay(true);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Certificates rotate without a restart: new handshakes use the re-read files. */
  private watchRotation(server: Http2SecureServer, tls: PeerTlsSource): void {
    let applied = tls.generation;
    // prepend: run before the TLS server wraps the socket with its current context.
    server.prependListener('connection', () => {
      tls.reloadIfChanged(this.deps.clock.nowMs());
      if (tls.generation === applied) return;
      applied = tls.generation;
      server.setSecureContext(tls.serverContext());
      this.deps.logger.info({}, 'reloaded peer TLS certificates');
    });
  }

  private adopt(session: Http2Session): void {
    if (this.closing) {
      session.destroy();
      return;
    }
    this.sessions.add(session);
    session.on('error', () => {}); // the 'close' below cleans up
    const t = this.deps.timings;
    const ping = keepalive(
      session,
      this.deps.scheduler,
      t.keepaliveIntervalMs,
      t.keepaliveTimeoutMs,
      () => session.destroy(),
    );
    session.once('close', () => {
      ping.cancel();
      this.sessions.delete(session);
    });
    session.setLocalWindowSize(SESSION_WINDOW_BYTES);
  }

  private dispatch(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => {}); // a peer resetting its stream is routine
    const tls = this.deps.tls;
    const session = stream.session;
    if (tls === undefined || session === undefined || session.encrypted !== true) {
      this.deps.onStream(stream, headers);
      return;
    }
    let verdict = this.verdicts.get(session);
    if (verdict === undefined) {
      verdict = verifyPeer(session.socket as TLSSocket, tls.options, this.deps.scheduler);
      this.verdicts.set(session, verdict);
    }
    verdict.then(
      (reason) => {
        if (reason === undefined) this.deps.onStream(stream, headers);
        else {
          this.deps.onRejected(stream, reason);
          session.close();
        }
      },
      (err: Error) => this.deps.onRejected(stream, `peer check failed: ${err.message}`),
    );
  }
}
