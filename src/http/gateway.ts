/**
 * etcd's gRPC gateway on the client URLs (embed/serve.go registerGateway, grpc-gateway
 * v1): POST /v3/<service>/<call> with a JSON body, answered in JSON; `/v3beta/` is
 * the same (etcd 3.4's accessController rewrites it). docs/architecture.md §1.
 *
 * Contract:
 *  - Each route calls the gRPC handler table itself (GrpcRouter.invoke), as etcd's
 *    gateway is a gRPC client of its own member: validation, errors, auth and
 *    metrics are the gRPC ones; the JSON mapping is ./gateway-json.ts.
 *  - Unary calls answer 200 with the message, or the gRPC status as HTTP status
 *    (grpc-gateway HTTPStatusFromCode) and `{"error","message","code"}`.
 *  - Streaming calls (Watch, LeaseKeepAlive, Election Observe, Snapshot) read JSON
 *    requests one after another from the body as it arrives and answer with a
 *    chunked stream of `{"result":...}` lines; an error before any answer sets the
 *    HTTP status, after one it is a last `{"error":{grpc_code,http_code,message,
 *    http_status}}` chunk (grpc-gateway ForwardResponseStream). The client closing
 *    the request body half-closes the call; closing the connection cancels it.
 *  - The `Authorization` header goes to the handlers as the `authorization` metadata
 *    (etcd reads a token from it when `token` is absent); `hasleader` passes too.
 *  - A known path with another method answers 405, an unknown /v3/ path 404, both
 *    as grpc-gateway's text bodies.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import { StringDecoder } from 'node:string_decoder';
import { SERVICES } from '../generated/pb.js';
import type { LocalCall } from '../grpc/server.js';
import type { StreamWriter } from '../grpc/server.js';
import { Status } from '../shared/grpc-status.js';
import { fromJson, JsonMappingError, messageType, toJson } from './gateway-json.js';
import { goQuote, readValue, type JsonValue } from './go-json.js';
import type { HttpExchange } from './types.js';

/** What the gateway calls: GrpcRouter satisfies it. */
export interface GatewayDispatch {
  invoke(path: string, call: LocalCall): Promise<void>;
}

export interface GatewayOptions {
  readonly dispatch: GatewayDispatch;
  /** Largest JSON request accepted (the gRPC receive limit). */
  readonly maxRequestBytes: number;
  /** --cors: origins that get etcd's CORS headers ('*': every response). */
  readonly cors: readonly string[];
  /**
   * Whether a client certificate's CommonName is refused: true while client-cert-auth
   * is on and auth is enabled (see serve).
   */
  readonly refuseCommonName?: () => boolean;
}

/** etcd's accessController answer (embed/serve.go) to a gateway request from a CN'd certificate. */
export const GATEWAY_CN_REFUSAL =
  'CommonName of client sending a request against gateway will be ignored and not used as expected';

interface Route {
  readonly grpcPath: string;
  readonly requestType: string;
  readonly responseType: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

/**
 * HTTP path -> gRPC method, etcd's rpc.pb.gw.go, v3lock.pb.gw.go and
 * v3election.pb.gw.go patterns (3.5's additions: auth/status, maintenance/downgrade).
 * /v3/maintenance/hash is Hash (registered before HashKV, which never matches).
 */
export const GATEWAY_ROUTES: ReadonlyArray<readonly [string, string]> = [
  ['/v3/kv/range', '/etcdserverpb.KV/Range'],
  ['/v3/kv/put', '/etcdserverpb.KV/Put'],
  ['/v3/kv/deleterange', '/etcdserverpb.KV/DeleteRange'],
  ['/v3/kv/txn', '/etcdserverpb.KV/Txn'],
  ['/v3/kv/compaction', '/etcdserverpb.KV/Compact'],
  ['/v3/watch', '/etcdserverpb.Watch/Watch'],
  ['/v3/lease/grant', '/etcdserverpb.Lease/LeaseGrant'],
  ['/v3/lease/revoke', '/etcdserverpb.Lease/LeaseRevoke'],
  ['/v3/kv/lease/revoke', '/etcdserverpb.Lease/LeaseRevoke'],
  ['/v3/lease/keepalive', '/etcdserverpb.Lease/LeaseKeepAlive'],
  ['/v3/lease/timetolive', '/etcdserverpb.Lease/LeaseTimeToLive'],
  ['/v3/kv/lease/timetolive', '/etcdserverpb.Lease/LeaseTimeToLive'],
  ['/v3/lease/leases', '/etcdserverpb.Lease/LeaseLeases'],
  ['/v3/kv/lease/leases', '/etcdserverpb.Lease/LeaseLeases'],
  ['/v3/cluster/member/add', '/etcdserverpb.Cluster/MemberAdd'],
  ['/v3/cluster/member/remove', '/etcdserverpb.Cluster/MemberRemove'],
  ['/v3/cluster/member/update', '/etcdserverpb.Cluster/MemberUpdate'],
  ['/v3/cluster/member/list', '/etcdserverpb.Cluster/MemberList'],
  ['/v3/cluster/member/promote', '/etcdserverpb.Cluster/MemberPromote'],
  ['/v3/maintenance/alarm', '/etcdserverpb.Maintenance/Alarm'],
  ['/v3/maintenance/status', '/etcdserverpb.Maintenance/Status'],
  ['/v3/maintenance/defragment', '/etcdserverpb.Maintenance/Defragment'],
  ['/v3/maintenance/hash', '/etcdserverpb.Maintenance/Hash'],
  ['/v3/maintenance/snapshot', '/etcdserverpb.Maintenance/Snapshot'],
  ['/v3/maintenance/transfer-leadership', '/etcdserverpb.Maintenance/MoveLeader'],
  ['/v3/maintenance/downgrade', '/etcdserverpb.Maintenance/Downgrade'],
  ['/v3/auth/enable', '/etcdserverpb.Auth/AuthEnable'],
  ['/v3/auth/disable', '/etcdserverpb.Auth/AuthDisable'],
  ['/v3/auth/status', '/etcdserverpb.Auth/AuthStatus'],
  ['/v3/auth/authenticate', '/etcdserverpb.Auth/Authenticate'],
  ['/v3/auth/user/add', '/etcdserverpb.Auth/UserAdd'],
  ['/v3/auth/user/get', '/etcdserverpb.Auth/UserGet'],
  ['/v3/auth/user/list', '/etcdserverpb.Auth/UserList'],
  ['/v3/auth/user/delete', '/etcdserverpb.Auth/UserDelete'],
  ['/v3/auth/user/changepw', '/etcdserverpb.Auth/UserChangePassword'],
  ['/v3/auth/user/grant', '/etcdserverpb.Auth/UserGrantRole'],
  ['/v3/auth/user/revoke', '/etcdserverpb.Auth/UserRevokeRole'],
  ['/v3/auth/role/add', '/etcdserverpb.Auth/RoleAdd'],
  ['/v3/auth/role/get', '/etcdserverpb.Auth/RoleGet'],
  ['/v3/auth/role/list', '/etcdserverpb.Auth/RoleList'],
  ['/v3/auth/role/delete', '/etcdserverpb.Auth/RoleDelete'],
  ['/v3/auth/role/grant', '/etcdserverpb.Auth/RoleGrantPermission'],
  ['/v3/auth/role/revoke', '/etcdserverpb.Auth/RoleRevokePermission'],
  ['/v3/lock/lock', '/v3lockpb.Lock/Lock'],
  ['/v3/lock/unlock', '/v3lockpb.Lock/Unlock'],
  ['/v3/election/campaign', '/v3electionpb.Election/Campaign'],
  ['/v3/election/proclaim', '/v3electionpb.Election/Proclaim'],
  ['/v3/election/leader', '/v3electionpb.Election/Leader'],
  ['/v3/election/observe', '/v3electionpb.Election/Observe'],
  ['/v3/election/resign', '/v3electionpb.Election/Resign'],
];

function buildRoutes(): Map<string, Route> {
  const byGrpc = new Map<string, Route>();
  for (const svc of Object.values(SERVICES)) {
    for (const m of Object.values(svc.methods)) byGrpc.set(m.path, { grpcPath: m.path, ...m });
  }
  const out = new Map<string, Route>();
  for (const [http, grpc] of GATEWAY_ROUTES) {
    const r = byGrpc.get(grpc);
    if (r === undefined) throw new Error(`gateway route ${http}: no RPC ${grpc}`);
    out.set(http, r);
  }
  return out;
}

/** grpc-gateway's HTTPStatusFromCode. */
export function httpStatusFromCode(code: number): number {
  const table: Record<number, number> = {
    [Status.OK]: 200,
    [Status.CANCELLED]: 408,
    [Status.UNKNOWN]: 500,
    [Status.INVALID_ARGUMENT]: 400,
    [Status.DEADLINE_EXCEEDED]: 504,
    [Status.NOT_FOUND]: 404,
    [Status.ALREADY_EXISTS]: 409,
    [Status.PERMISSION_DENIED]: 403,
    [Status.UNAUTHENTICATED]: 401,
    [Status.RESOURCE_EXHAUSTED]: 429,
    [Status.FAILED_PRECONDITION]: 412,
    [Status.ABORTED]: 409,
    [Status.OUT_OF_RANGE]: 400,
    [Status.UNIMPLEMENTED]: 501,
    [Status.INTERNAL]: 500,
    [Status.UNAVAILABLE]: 503,
    [Status.DATA_LOSS]: 500,
  };
  return table[code] ?? 500;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

interface StatusLike {
  readonly code: number;
  readonly message: string;
}

function asStatus(err: unknown): StatusLike {
  if (err instanceof JsonMappingError) return { code: Status.INVALID_ARGUMENT, message: err.message };
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'number' && err instanceof Error) {
    return { code: err.code, message: err.message };
  }
  return { code: Status.UNKNOWN, message: err instanceof Error ? err.message : String(err) };
}

const JSON_HEADERS = { 'content-type': 'application/json', 'grpc-metadata-content-type': 'application/grpc' };

export class Gateway {
  private readonly routes = buildRoutes();

  constructor(private readonly opts: GatewayOptions) {}

  /** Whether this request is the gateway's (everything under /v3/ and /v3beta/). */
  owns(url: string): boolean {
    return /^\/v3(beta)?\//.test(pathOf(url));
  }

  async serve(exchange: HttpExchange): Promise<void> {
    // etcd's gateway calls its member over a connection of its own, so a client's
    // certificate never becomes the caller's identity; with client-cert-auth and auth on,
    // etcd refuses a certificate with a CN outright (400, before CORS and routing) rather
    // than silently ignore it.
    const cn = exchange.verifiedCommonName;
    if (cn !== undefined && cn !== '' && this.opts.refuseCommonName?.() === true) {
      return textError(exchange, 400, GATEWAY_CN_REFUSAL);
    }
    const ex = withCors(exchange, this.opts.cors);
    const path = pathOf(ex.url).replace(/^\/v3beta\//, '/v3/');
    const route = this.routes.get(path);
    if (route === undefined) return textError(ex, 404, 'Not Found');
    if (ex.method !== 'POST') return textError(ex, 405, 'Method Not Allowed');
    const metadata = gatewayMetadata(ex.headers);
    if (route.requestStream || route.responseStream) return this.serveStream(ex, route, metadata);
    return this.serveUnary(ex, route, metadata);
  }

  private async serveUnary(ex: HttpExchange, route: Route, metadata: IncomingHttpHeaders): Promise<void> {
    const responses: Uint8Array[] = [];
    try {
      const body = await readAll(ex.body, this.opts.maxRequestBytes);
      const first = readValue(body, 0, true);
      if (first.kind === 'error') throw new JsonMappingError(first.message);
      const value: JsonValue | undefined = first.kind === 'value' ? first.value : undefined;
      const request = fromJson(messageType(route.requestType), value);
      await this.opts.dispatch.invoke(route.grpcPath, {
        metadata,
        requests: once(request),
        signal: ex.signal,
        out: collect(responses),
      });
    } catch (err) {
      return jsonError(ex, asStatus(err));
    }
    const res = responses[0] ?? new Uint8Array(0);
    ex.respond(200, JSON_HEADERS);
    ex.end(toJson(messageType(route.responseType), res));
  }

  private async serveStream(ex: HttpExchange, route: Route, metadata: IncomingHttpHeaders): Promise<void> {
    const reqType = messageType(route.requestType);
    const resType = messageType(route.responseType);
    const requests = new RequestQueue();
    let started = false;
    const start = (): void => {
      if (started) return;
      started = true;
      ex.respond(200, { ...JSON_HEADERS, 'transfer-encoding': 'chunked' });
    };
    const out: StreamWriter<Uint8Array> = {
      write: (bytes) => {
        start();
        return ex.write(`{"result":${toJson(resType, bytes)}}\n`);
      },
      drained: () => ex.drained(),
      get closed(): boolean {
        return ex.signal.aborted;
      },
    };
    const cancel = new AbortController();
    const onAbort = (): void => cancel.abort();
    ex.signal.addEventListener('abort', onAbort, { once: true });
    // The body is read as it comes; the first request decides before the call starts
    // (grpc-gateway decodes one request first and fails the call on a bad one).
    const reading = pumpRequests(ex.body, reqType, requests, this.opts.maxRequestBytes, route.requestStream);
    const first = await requests.first();
    if (first.kind === 'error') {
      ex.signal.removeEventListener('abort', onAbort);
      cancel.abort();
      // A bad first request fails the call: InvalidArgument where grpc-gateway wraps
      // the decode error (server streams), Unknown where it passes it raw (bidi).
      const s = asStatus(first.error);
      return jsonError(ex, route.requestStream && first.error instanceof JsonMappingError ? { ...s, code: Status.UNKNOWN } : s);
    }
    // An empty body: a bidi call gets no request (only the half-close), a server
    // stream the empty one.
    const initial = first.kind === 'value' ? first.value : route.requestStream ? undefined : fromJson(reqType, undefined);
    try {
      await this.opts.dispatch.invoke(route.grpcPath, {
        metadata,
        requests: requests.iterate(initial),
        signal: cancel.signal,
        out,
      });
    } catch (err) {
      const s = asStatus(err);
      if (!started && !ex.signal.aborted) {
        const http = httpStatusFromCode(s.code);
        ex.respond(http, { ...JSON_HEADERS, 'transfer-encoding': 'chunked' });
        started = true;
      }
      if (!ex.signal.aborted) ex.write(streamErrorChunk(s));
    } finally {
      ex.signal.removeEventListener('abort', onAbort);
      cancel.abort();
    }
    start();
    ex.end();
    void reading;
  }
}

/** etcd embed/serve.go addCORSHeader, for '*' or an allowed Origin. */
function withCors(ex: HttpExchange, cors: readonly string[]): HttpExchange {
  const origin = cors.includes('*') ? '*' : headerText(ex.headers['origin']);
  if (origin === undefined || (origin !== '*' && !cors.includes(origin))) return ex;
  const extra = {
    'access-control-allow-methods': 'POST, GET, OPTIONS, PUT, DELETE',
    'access-control-allow-origin': origin,
    'access-control-allow-headers': 'accept, content-type, authorization',
  };
  return Object.assign(Object.create(ex) as HttpExchange, {
    respond: (status: number, headers: Record<string, string>) => ex.respond(status, { ...extra, ...headers }),
  });
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function gatewayMetadata(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const md: IncomingHttpHeaders = {};
  for (const name of ['authorization', 'token', 'hasleader']) {
    const v = headers[name];
    if (v !== undefined) md[name] = v;
  }
  // grpc-gateway passes Grpc-Metadata-<name> headers as <name> metadata.
  for (const [k, v] of Object.entries(headers)) {
    const m = /^grpc-metadata-(.+)$/.exec(k);
    if (m !== null && v !== undefined) md[m[1] ?? ''] = v;
  }
  return md;
}

function textError(ex: HttpExchange, status: number, text: string): void {
  ex.respond(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
  ex.end(`${text}\n`);
}

function jsonError(ex: HttpExchange, s: StatusLike): void {
  if (ex.signal.aborted) return;
  ex.respond(httpStatusFromCode(s.code), { 'content-type': 'application/json' });
  ex.end(`{"error":${goQuote(s.message)},"message":${goQuote(s.message)},"code":${s.code}}`);
}

function streamErrorChunk(s: StatusLike): string {
  const http = httpStatusFromCode(s.code);
  const parts: string[] = [];
  if (s.code !== 0) parts.push(`"grpc_code":${s.code}`);
  parts.push(`"http_code":${http}`);
  if (s.message !== '') parts.push(`"message":${goQuote(s.message)}`);
  parts.push(`"http_status":${goQuote(STATUS_TEXT[http] ?? '')}`);
  return `{"error":{${parts.join(',')}}}`;
}

async function readAll(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    size += c.length;
    if (size > limit) throw new JsonMappingError('http: request body too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

function collect(into: Uint8Array[]): StreamWriter<Uint8Array> {
  return {
    write: (b) => {
      into.push(b);
      return true;
    },
    drained: () => Promise.resolve(),
    closed: false,
  };
}

type Next = { kind: 'value'; value: Uint8Array } | { kind: 'end' } | { kind: 'error'; error: unknown };

/** Decoded requests handed from the body reader to the call, in order. */
class RequestQueue {
  private readonly items: Next[] = [];
  private wake: (() => void) | undefined;

  push(n: Next): void {
    this.items.push(n);
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async next(): Promise<Next> {
    for (;;) {
      const n = this.items.shift();
      if (n !== undefined) return n;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** The first request; an empty body is the empty request (Go: io.EOF). */
  first(): Promise<Next> {
    return this.next();
  }

  /** The first request, then the rest until the body ends or turns bad (half-close). */
  async *iterate(first: Uint8Array | undefined): AsyncGenerator<Uint8Array> {
    if (first === undefined) return;
    yield first;
    for (;;) {
      const n = await this.next();
      if (n.kind !== 'value') return;
      yield n.value;
    }
  }
}

async function pumpRequests(
  body: AsyncIterable<Buffer>,
  type: ReturnType<typeof messageType>,
  queue: RequestQueue,
  limit: number,
  many: boolean,
): Promise<void> {
  const utf8 = new StringDecoder('utf8');
  let text = '';
  let pos = 0;
  const emit = (final: boolean): boolean => {
    for (;;) {
      const r = readValue(text, pos, final);
      if (r.kind === 'incomplete') return true;
      if (r.kind === 'end') {
        if (final) queue.push({ kind: 'end' });
        return !final;
      }
      if (r.kind === 'error') {
        queue.push({ kind: 'error', error: new JsonMappingError(r.message) });
        return false;
      }
      try {
        queue.push({ kind: 'value', value: fromJson(type, r.value) });
      } catch (err) {
        queue.push({ kind: 'error', error: err });
        return false;
      }
      pos = r.end;
      if (!many) {
        queue.push({ kind: 'end' });
        return false;
      }
    }
  };
  try {
    for await (const chunk of body) {
      text = text.slice(pos) + utf8.write(chunk);
      pos = 0;
      if (text.length > limit) {
        queue.push({ kind: 'error', error: new JsonMappingError('http: request body too large') });
        return;
      }
      if (!emit(false)) return;
    }
    text = text.slice(pos) + utf8.end();
    pos = 0;
    emit(true);
  } catch (err) {
    queue.push({ kind: 'error', error: err });
  }
}
