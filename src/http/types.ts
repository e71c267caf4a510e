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
