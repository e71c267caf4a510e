/**
 * The shapes of one plain-HTTP exchange (not gRPC): what a client listener hands the
 * HTTP side and what it writes back. The listener (src/embed/client-listener.ts)
 * reads bodies up to its limit and speaks HTTP/1.1 or HTTP/2; handlers here never
 * see the protocol.
 */
import type { IncomingHttpHeaders } from 'node:http2';

export interface HttpRequest {
  readonly method: string;
  /** Path with query string. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Request body (bounded by the caller's limit). */
  readonly body: Buffer;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string | Buffer;
}

export type HttpHandler = (req: HttpRequest) => Promise<HttpResponse>;

/**
 * One HTTP exchange served as it streams (the JSON gateway): the body arrives as the
 * client sends it and the answer is written as it is produced. `signal` aborts when
 * the client goes away; the listener (src/embed/client-listener.ts) adapts HTTP/1.1
 * and HTTP/2 to it.
 */
export interface HttpExchange {
  readonly method: string;
  /** Path with query string. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: AsyncIterable<Buffer>;
  readonly signal: AbortSignal;
  /**
   * The CommonName of the client's certificate when the connection is TLS and the
   * certificate verified against the client CA ('' without a CN; undefined when there
   * is no verified certificate or no TLS).
   */
  readonly verifiedCommonName?: string;
  respond(status: number, headers: Record<string, string>): void;
  /** false: the client is slow, wait for drained(). */
  write(chunk: string | Buffer): boolean;
  drained(): Promise<void>;
  end(chunk?: string | Buffer): void;
}

/** Routes that take whole streamed exchanges instead of buffered requests. */
export interface StreamingHttpRoutes {
  owns(url: string): boolean;
  serve(ex: HttpExchange): Promise<void>;
}
