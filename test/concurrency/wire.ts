// Streaming gRPC clients for black-box tests of watches, leases and the Election and
// Lock services (the unary etcdserverpb calls are in test/helpers/grpc-client.ts):
//
// - WatchClient: one Watch bidi stream; every response is kept in arrival order
//   (`responses`) and handed to waiters; create / cancel / progress requests; the
//   final gRPC status once the stream ends (`ended`).
// - KeepAliveClient: one LeaseKeepAlive bidi stream; `keepAlive(id)` sends one request
//   and resolves with the next response (the server answers in order).
// - RecipeClient: Election and Lock unary calls (Reply<T> like grpc-client.ts) and
//   Observe as a server stream.
//
// Decoding: as grpc-client.ts (camelCase, int64 as decimal strings, bytes as Buffers,
// defaults on), so answers of etcd and tsetcd compare with toEqual after
// normalisation. Every wait is bounded.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type * as pb from '../../src/generated/pb.js';
import type { Reply } from '../helpers/grpc-client.js';
import {
  methodDefinition,
  PROTO_ROOT,
  toGrpcError,
  withoutEmptyBytes,
} from '../helpers/grpc-client.js';

/** A decoded WatchResponse (int64 fields are decimal strings). */
export interface WireWatchResponse {
  header: { clusterId: string; memberId: string; revision: string; raftTerm: string } | null;
  watchId: string;
  created: boolean;
  canceled: boolean;
  compactRevision: string;
  cancelReason: string;
  fragment: boolean;
  events: WireEvent[];
}
export interface WireKv {
  key: Buffer;
  createRevision: string;
  modRevision: string;
  version: string;
  value: Buffer;
  lease: string;
}
export interface WireEvent {
  type: number;
  kv: WireKv | null;
  prevKv: WireKv | null;
}
export interface StreamEnd {
  readonly code: number;
  readonly details: string;
}

function channelFor(address: string, credentials = grpc.credentials.createInsecure()): grpc.Client {
  return new grpc.Client(address, credentials, {
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 500,
  });
}

export class WatchClient {
  readonly responses: WireWatchResponse[] = [];
  readonly ended: Promise<StreamEnd>;
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<object, WireWatchResponse>;
  private waiters: Array<() => void> = [];
  private end: StreamEnd | undefined;

  constructor(
    readonly address: string,
    metadata: Record<string, string> = {},
    /** TLS (with a client certificate) instead of plain h2c. */
    credentials?: grpc.ChannelCredentials,
  ) {
    this.client = channelFor(address, credentials);
    const def = methodDefinition('Watch', 'Watch');
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata)) md.set(k, v);
    this.call = this.client.makeBidiStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize as (b: Buffer) => WireWatchResponse,
      md,
      {},
    );
    this.ended = new Promise((resolve) => {
      this.call.on('status', (s: grpc.StatusObject) => {
        this.end = { code: s.code, details: s.details };
        resolve(this.end);
        this.wake();
      });
    });
    this.call.on('error', () => undefined); // the status carries it
    this.call.on('data', (r: WireWatchResponse) => {
      this.responses.push(r);
      this.wake();
    });
  }

  get closed(): StreamEnd | undefined {
    return this.end;
  }

  create(req: pb.WatchCreateRequest): void {
    this.call.write(withoutEmptyBytes({ createRequest: req }));
  }
  cancel(watchId: number | string): void {
    this.call.write({ cancelRequest: { watchId } });
  }
  progress(): void {
    this.call.write({ progressRequest: {} });
  }
  /** Sends raw request objects (bad input tests). */
  send(req: object): void {
    this.call.write(req);
  }

  /** Resolves with the first response at index >= from matching `pred` (its index too). */
  async next(
    pred: (r: WireWatchResponse) => boolean,
    timeoutMs = 5_000,
    from = 0,
  ): Promise<{ res: WireWatchResponse; index: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.responses.length; i++) {
        const r = this.responses[i] as WireWatchResponse;
        if (pred(r)) return { res: r, index: i };
      }
      if (this.end !== undefined)
        throw new Error(`watch stream ended (${this.end.code} ${this.end.details})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching watch response within ${timeoutMs} ms`);
      await this.waitAny(left);
    }
  }

  /** Waits until no response arrived for quietMs (bounded by timeoutMs). */
  async quiet(quietMs: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let seen = this.responses.length;
    for (;;) {
      await new Promise((r) => setTimeout(r, quietMs));
      if (this.responses.length === seen || Date.now() > deadline) return;
      seen = this.responses.length;
    }
  }

  private waitAny(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

export interface WireKeepAlive {
  header: { revision: string } | null;
  ID: string;
  TTL: string;
}

export class KeepAliveClient {
  readonly ended: Promise<StreamEnd>;
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<object, WireKeepAlive>;
  private readonly queue: WireKeepAlive[] = [];
  private waiters: Array<() => void> = [];
  private end: StreamEnd | undefined;

  constructor(readonly address: string) {
    this.client = channelFor(address);
    const def = methodDefinition('Lease', 'LeaseKeepAlive');
    this.call = this.client.makeBidiStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize as (b: Buffer) => WireKeepAlive,
      new grpc.Metadata(),
      {},
    );
    this.ended = new Promise((resolve) => {
      this.call.on('status', (s: grpc.StatusObject) => {
        this.end = { code: s.code, details: s.details };
        resolve(this.end);
        this.wake();
      });
    });
    this.call.on('error', () => undefined);
    this.call.on('data', (r: WireKeepAlive) => {
      this.queue.push(r);
      this.wake();
    });
  }

  get closed(): StreamEnd | undefined {
    return this.end;
  }

  /** One keep-alive; resolves with its answer, rejects if the stream ends or times out. */
  async keepAlive(id: string, timeoutMs = 10_000): Promise<WireKeepAlive> {
    this.call.write({ ID: id });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.queue.shift();
      if (r !== undefined) return r;
      if (this.end !== undefined)
        throw new Error(`keep-alive stream ended (${this.end.code} ${this.end.details})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no keep-alive answer within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

let recipeDefinition: protoLoader.PackageDefinition | undefined;

function recipeMethod(
  service: 'v3electionpb.Election' | 'v3lockpb.Lock',
  method: string,
): grpc.MethodDefinition<object, unknown> {
  recipeDefinition ??= protoLoader.loadSync(
    ['v3electionpb/v3election.proto', 'v3lockpb/v3lock.proto'],
    {
      includeDirs: [PROTO_ROOT],
      keepCase: false,
      longs: String,
      enums: Number,
      defaults: true,
      arrays: true,
      oneofs: true,
    },
  );
  const svc = recipeDefinition[service] as protoLoader.ServiceDefinition | undefined;
  const def = svc?.[method];
  if (def === undefined) throw new Error(`no method ${service}/${method}`);
  return def as grpc.MethodDefinition<object, unknown>;
}

export class RecipeClient {
  private readonly client: grpc.Client;

  constructor(readonly address: string) {
    this.client = channelFor(address);
  }

  unary<T>(
    service: 'v3electionpb.Election' | 'v3lockpb.Lock',
    method: string,
    req: object,
    options: { deadlineMs?: number; signal?: AbortSignal; metadata?: Readonly<Record<string, string>> } = {},
  ): Promise<Reply<T>> {
    const def = recipeMethod(service, method);
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(options.metadata ?? {})) md.set(k, v);
    return new Promise((resolve) => {
      const call = this.client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        withoutEmptyBytes(req),
        md,
        { deadline: Date.now() + (options.deadlineMs ?? 10_000) },
        (err, value) => {
          if (err !== null && err !== undefined) resolve({ ok: false, error: toGrpcError(err) });
          else resolve({ ok: true, value: value as T });
        },
      );
      options.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  lock(
    req: { name: Buffer; lease: string | number },
    options?: { deadlineMs?: number; signal?: AbortSignal },
  ): Promise<Reply<WireLockResponse>> {
    return this.unary('v3lockpb.Lock', 'Lock', req, options);
  }
  unlock(key: Buffer): Promise<Reply<{ header: { revision: string } }>> {
    return this.unary('v3lockpb.Lock', 'Unlock', { key });
  }
  election<T>(
    method: 'Campaign' | 'Proclaim' | 'Leader' | 'Resign',
    req: object,
    options?: { deadlineMs?: number; signal?: AbortSignal },
  ): Promise<Reply<T>> {
    return this.unary('v3electionpb.Election', method, req, options);
  }

  /** Observe: every LeaderResponse as it arrives, until cancel(). */
  observe(name: Buffer): {
    responses: WireLeaderResponse[];
    ended: Promise<StreamEnd>;
    cancel(): void;
  } {
    const def = recipeMethod('v3electionpb.Election', 'Observe');
    const responses: WireLeaderResponse[] = [];
    const call = this.client.makeServerStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize as (b: Buffer) => WireLeaderResponse,
      { name },
      new grpc.Metadata(),
      {},
    );
    call.on('data', (r: WireLeaderResponse) => responses.push(r));
    call.on('error', () => undefined);
    const ended = new Promise<StreamEnd>((resolve) =>
      call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details })),
    );
    return { responses, ended, cancel: () => call.cancel() };
  }

  close(): void {
    this.client.close();
  }
}

export interface WireLockResponse {
  header: { revision: string; memberId: string } | null;
  key: Buffer;
}
export interface WireLeaderKey {
  name: Buffer;
  key: Buffer;
  rev: string;
  lease: string;
}
export interface WireLeaderResponse {
  header: { revision: string } | null;
  kv: WireKv | null;
}
