/**
 * A raw gRPC-over-HTTP/2 client (node:http2), for sending what no well-behaved gRPC
 * library sends: malformed protobuf bytes, broken length prefixes, odd flags.
 *
 * Contract: rawGrpcCall() sends exactly the given body bytes as the request stream
 * of one POST to `path` (the caller frames messages, see grpcFrame) and resolves with
 * the HTTP status, the grpc-status / grpc-message (from trailers, or from the headers
 * of a trailers-only answer), the raw response body, and the response messages split
 * by their 5-byte prefixes. It never rejects for a gRPC error; a transport failure
 * resolves with `transportError` set. Bounded by timeoutMs.
 */
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import type { TestPki } from './certs.js';

export interface RawGrpcResult {
  readonly httpStatus: number | undefined;
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string | undefined;
  readonly body: Buffer;
  readonly messages: readonly Buffer[];
  readonly transportError?: string;
}

/** One length-prefixed gRPC message: flag byte, 4-byte big-endian length, payload. */
export function grpcFrame(
  payload: Uint8Array,
  options: { compressed?: boolean; declaredLength?: number } = {},
): Buffer {
  const head = Buffer.alloc(5);
  head[0] = options.compressed === true ? 1 : 0;
  head.writeUInt32BE(options.declaredLength ?? payload.length, 1);
  return Buffer.concat([head, payload]);
}

function splitMessages(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + 5 <= body.length) {
    const len = body.readUInt32BE(at + 1);
    out.push(body.subarray(at + 5, at + 5 + len));
    at += 5 + len;
  }
  return out;
}

/** grpc-message is percent-encoded on the wire (gRPC spec, "Responses"). */
function decodeGrpcMessage(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export function rawGrpcCall(
  url: string,
  path: string,
  body: Buffer,
  options: { pki?: TestPki; timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<RawGrpcResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    const pki = options.pki;
    const session = http2.connect(
      url,
      pki === undefined
        ? {}
        : {
            ca: readFileSync(pki.caCert),
            cert: readFileSync(pki.cert),
            key: readFileSync(pki.key),
          },
    );
    const chunks: Buffer[] = [];
    let httpStatus: number | undefined;
    let grpcStatus: number | undefined;
    let grpcMessage: string | undefined;
    let settled = false;
    const finish = (transportError?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.close();
      session.destroy();
      const all = Buffer.concat(chunks);
      resolve({
        httpStatus,
        grpcStatus,
        grpcMessage,
        body: all,
        messages: splitMessages(all),
        ...(transportError === undefined ? {} : { transportError }),
      });
    };
    const timer = setTimeout(() => finish(`timed out after ${timeoutMs} ms`), timeoutMs);
    session.on('error', (err) => finish(String(err)));
    const takeStatus = (h: http2.IncomingHttpHeaders): void => {
      const status = h['grpc-status'];
      if (typeof status === 'string') grpcStatus = Number(status);
      const message = decodeGrpcMessage(h['grpc-message']);
      if (message !== undefined) grpcMessage = message;
    };
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...options.headers,
    });
    req.on('response', (headers) => {
      const status = headers[':status'];
      httpStatus = typeof status === 'number' ? status : Number(status);
      takeStatus(headers);
    });
    req.on('trailers', (trailers) => takeStatus(trailers));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => finish());
    req.on('close', () => finish());
    req.on('error', (err) => finish(String(err)));
    req.end(body);
  });
}
