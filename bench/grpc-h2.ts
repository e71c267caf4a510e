/**
 * A minimal gRPC client on node:http2, for the load generator only.
 *
 * Why not grpc-js: the generator must cost far less CPU per request than the server it
 * measures. grpc-js runs every call through channels, subchannels, filters and
 * interceptors; a unary gRPC call is just one HTTP/2 stream carrying one
 * length-prefixed message each way plus a `grpc-status` trailer, which is all this
 * module does. Messages are opaque bytes here; bench/etcd-client.ts encodes them.
 *
 * Contract:
 * - `GrpcConn.connect` opens one HTTP/2 session (TLS with ALPN h2 for https://, h2c
 *   prior knowledge for http://). Each `unary` or `openStream` is one HTTP/2 stream.
 * - `unary` resolves with the single response message, or rejects with a GrpcError
 *   whose `code` is the gRPC status (14 UNAVAILABLE when the connection failed).
 * - No compression, no retries, no deadlines: the caller bounds the run as a whole and
 *   closes the connection, which fails whatever is still in flight.
 */
import http2 from 'node:http2';

export const GRPC_CODE_NAMES: readonly string[] = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound',
  'AlreadyExists', 'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition',
  'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss',
  'Unauthenticated',
];

export const GRPC_UNAVAILABLE = 14;
const GRPC_INTERNAL = 13;
const GRPC_CANCELED = 1;

export class GrpcError extends Error {
  override readonly name = 'GrpcError';
  constructor(readonly code: number, readonly grpcMessage: string) {
    super(`${GRPC_CODE_NAMES[code] ?? `code ${code}`}: ${grpcMessage}`);
  }
}

export interface TlsFiles {
  readonly ca: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** gRPC message framing: 1 byte compressed flag (always 0 here), 4 bytes length, body. */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** Reassembles length-prefixed messages from HTTP/2 DATA chunks of any size. */
export class Deframer {
  private pending: Buffer = EMPTY;

  push(chunk: Buffer, onMessage: (message: Buffer) => void): void {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let off = 0;
    while (buf.length - off >= 5) {
      const len = buf.readUInt32BE(off + 1);
      if (buf.length - off - 5 < len) break;
      if (buf[off] !== 0) throw new GrpcError(GRPC_INTERNAL, 'compressed gRPC message not supported by the bench client');
      onMessage(buf.subarray(off + 5, off + 5 + len));
      off += 5 + len;
    }
    this.pending = off === buf.length ? EMPTY : buf.subarray(off);
  }
}

function statusOf(headers: http2.IncomingHttpHeaders): { code: number; message: string } | undefined {
  const raw = headers['grpc-status'];
  if (raw === undefined) return undefined;
  const code = Number(Array.isArray(raw) ? raw[0] : raw);
  const msgRaw = headers['grpc-message'];
  let message = typeof msgRaw === 'string' ? msgRaw : '';
  try {
    message = decodeURIComponent(message);
  } catch {
    // keep the raw text: a malformed escape is still informative
  }
  return { code, message };
}

const REQUEST_HEADERS_BASE = {
  ':method': 'POST',
  'content-type': 'application/grpc',
  te: 'trailers',
} as const;

/** One headers object per method path, built once (the generator sends few distinct paths). */
const HEADERS_BY_PATH = new Map<string, http2.OutgoingHttpHeaders>();

export interface BidiStream {
  send(message: Uint8Array): void;
  /** Half-close: no more messages from this side. */
  end(): void;
  /** Abort the stream (RST_STREAM CANCEL). */
  cancel(): void;
}

export class GrpcConn {
  private closed = false;
  /** The auth token sent as `token` metadata on every call (set after Authenticate). */
  private tokenHeaders: Map<string, http2.OutgoingHttpHeaders> | undefined;
  private token: string | undefined;

  private constructor(private readonly session: http2.ClientHttp2Session, readonly endpoint: string) {}

  /** Opens the session and waits for the HTTP/2 handshake (and TLS) to finish. */
  static connect(endpoint: string, tls: TlsFiles | undefined, timeoutMs = 10_000): Promise<GrpcConn> {
    return new Promise((resolve, reject) => {
      const secure = endpoint.startsWith('https://');
      const options: http2.SecureClientSessionOptions = {
        settings: { enablePush: false, initialWindowSize: 8 << 20 },
        maxSessionMemory: 256,
      };
      if (secure && tls !== undefined) {
        options.ca = tls.ca;
        if (tls.cert !== undefined) options.cert = tls.cert;
        if (tls.key !== undefined) options.key = tls.key;
      }
      const session = http2.connect(endpoint, options);
      // Exactly one outcome: a late 'connect' after the timeout destroyed the session
      // (or an 'error' after 'connect') must not touch the session or settle twice.
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        session.destroy();
        reject(new GrpcError(GRPC_UNAVAILABLE, `connect to ${endpoint} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      session.once('connect', () => {
        if (settled || session.destroyed) return;
        settled = true;
        clearTimeout(timer);
        // A large connection window keeps big list pages and watch bursts from
        // stalling on flow control, for either server alike.
        session.setLocalWindowSize(32 << 20);
        const conn = new GrpcConn(session, endpoint);
        session.on('close', () => {
          conn.closed = true;
        });
        resolve(conn);
      });
      session.on('error', (err: Error) => {
        if (settled) return; // after connect, failures surface on the streams
        settled = true;
        clearTimeout(timer);
        session.destroy();
        reject(new GrpcError(GRPC_UNAVAILABLE, `${endpoint}: ${err.message}`));
      });
    });
  }

  get isClosed(): boolean {
    return this.closed || this.session.destroyed || this.session.closed;
  }

  /** Sends `token` as metadata from now on (etcd clientv3 does the same after logging in). */
  setToken(token: string): void {
    this.token = token;
    this.tokenHeaders = new Map();
  }

  private request(path: string): http2.ClientHttp2Stream {
    if (this.isClosed) throw new GrpcError(GRPC_UNAVAILABLE, `connection to ${this.endpoint} is closed`);
    const cache = this.tokenHeaders ?? HEADERS_BY_PATH;
    let headers = cache.get(path);
    if (headers === undefined) {
      headers = { ...REQUEST_HEADERS_BASE, ':path': path, ...(this.token === undefined ? {} : { token: this.token }) };
      cache.set(path, headers);
    }
    return this.session.request(headers);
  }

  /** One request message, one response message. */
  unary(path: string, body: Uint8Array): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.request(path);
      } catch (err) {
        reject(err instanceof GrpcError ? err : new GrpcError(GRPC_UNAVAILABLE, String(err)));
        return;
      }
      let status: { code: number; message: string } | undefined;
      let reply: Buffer | undefined;
      const deframer = new Deframer();
      stream.on('response', (headers) => {
        status = statusOf(headers) ?? status; // trailers-only responses carry the status here
      });
      stream.on('trailers', (trailers) => {
        status = statusOf(trailers) ?? status;
      });
      stream.on('data', (chunk: Buffer) => {
        try {
          deframer.push(chunk, (m) => {
            reply = reply === undefined ? m : reply;
          });
        } catch (err) {
          status = { code: GRPC_INTERNAL, message: String(err) };
        }
      });
      stream.on('error', () => {
        // reported through 'close' below, with the rst code
      });
      stream.on('close', () => {
        if (status === undefined) {
          reject(new GrpcError(GRPC_UNAVAILABLE, `stream closed without status (rst ${stream.rstCode ?? '?'})`));
        } else if (status.code !== 0) {
          reject(new GrpcError(status.code, status.message));
        } else {
          resolve(reply ?? EMPTY);
        }
      });
      stream.end(frame(body));
    });
  }

  /**
   * A bidirectional stream (Watch, LeaseKeepAlive). `onMessage` gets each response;
   * `onClose` gets the final status exactly once (code 1 CANCELED after `cancel`).
   */
  openStream(
    path: string,
    onMessage: (message: Buffer) => void,
    onClose: (code: number, message: string) => void,
  ): BidiStream {
    const stream = this.request(path);
    const deframer = new Deframer();
    let status: { code: number; message: string } | undefined;
    let canceled = false;
    stream.on('response', (headers) => {
      status = statusOf(headers) ?? status;
    });
    stream.on('trailers', (trailers) => {
      status = statusOf(trailers) ?? status;
    });
    stream.on('data', (chunk: Buffer) => deframer.push(chunk, onMessage));
    stream.on('error', () => {
      // reported through 'close'
    });
    stream.on('close', () => {
      if (canceled) onClose(GRPC_CANCELED, 'canceled by the bench client');
      else if (status === undefined) onClose(GRPC_UNAVAILABLE, `stream closed without status (rst ${stream.rstCode ?? '?'})`);
      else onClose(status.code, status.message);
    });
    return {
      send: (message) => {
        if (!stream.closed && !stream.destroyed) stream.write(frame(message));
      },
      end: () => {
        if (!stream.closed && !stream.destroyed) stream.end();
      },
      cancel: () => {
        canceled = true;
        if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      },
    };
  }

  close(): void {
    if (this.session.destroyed) return;
    this.closed = true;
    this.session.destroy();
  }
}
