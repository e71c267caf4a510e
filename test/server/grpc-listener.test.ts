// The one-port listener and the gRPC router, in process: gRPC (grpc-js client), HTTP/1.1
// and HTTP/2 requests on the same plain port; etcd error mapping; UNIMPLEMENTED for RPCs
// not served; the two regimes of oversized requests; malformed protobuf; the call's
// abort signal (made only when read) and its onAbort hook on a client cancel and after an answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ClientListener } from '../../src/embed/client-listener.js';
import { GrpcRouter } from '../../src/grpc/server.js';
import { registerServices, type AnyHandler } from '../../src/v3rpc/services.js';
import { toGrpcError } from '../../src/v3rpc/errors.js';
import { TsetcdError } from '../../src/shared/errors.js';
import { nullLogger } from '../../src/shared/logger.js';
import type { CallContext } from '../../src/grpc/server.js';
import type { PutRequest, RangeRequest, RangeResponse } from '../../src/generated/pb.js';
import { PROTO_DIR, PROTO_FILES } from '../proto/protos.js';

const MAX_RECV = 64 * 1024;
let listener: ClientListener;
type DynamicClient = grpc.Client & Record<string, (...a: unknown[]) => unknown>;
let kv: DynamicClient;
let lease: DynamicClient;
let port = 0;
/** What the signal handlers below saw: the DeleteRange call's signal, the Txn listener's runs. */
const seen = {
  deleteSignal: undefined as AbortSignal | undefined,
  deleteCtx: undefined as CallContext | undefined,
  deleteHooks: 0,
  deleteStarted: () => {},
  txnAborts: 0,
};

function unary<T>(client: Record<string, (...a: unknown[]) => unknown>, method: string, req: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method]?.(req, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

beforeAll(async () => {
  const router = new GrpcRouter({ maxRecvBytes: MAX_RECV, mapError: (e, p) => toGrpcError(e, p, nullLogger) });
  const handlers = new Map<string, AnyHandler>([
    [
      '/etcdserverpb.KV/Range',
      {
        kind: 'unary',
        fn: (req: RangeRequest): RangeResponse => ({ count: req.key?.length ?? 0, more: true }),
      },
    ],
    [
      '/etcdserverpb.KV/Put',
      {
        kind: 'unary',
        fn: (_req: PutRequest) => {
          throw new TsetcdError('compacted');
        },
      },
    ],
    [
      // Never answers: the test cancels it and checks its signal.
      '/etcdserverpb.KV/DeleteRange',
      {
        kind: 'unary',
        fn: (_req: unknown, ctx: CallContext) => {
          seen.deleteSignal = ctx.signal;
          seen.deleteCtx = ctx;
          // The cheap form the write path uses: a hook unregistered is never run.
          ctx.onAbort(() => seen.deleteHooks++);
          ctx.onAbort(() => seen.deleteHooks += 100)();
          seen.deleteStarted();
          return new Promise(() => {});
        },
      },
    ],
    [
      // Answers at once but leaves a listener on its signal: the call's end must reach it.
      '/etcdserverpb.KV/Txn',
      {
        kind: 'unary',
        fn: (_req: unknown, ctx: CallContext) => {
          ctx.signal.addEventListener('abort', () => seen.txnAborts++, { once: true });
          return { succeeded: true };
        },
      },
    ],
  ]);
  registerServices(router, handlers);
  listener = new ClientListener({
    url: new URL('http://127.0.0.1:0'),
    onGrpc: (s, h) => router.route(s, h),
    onHttp: async (req) => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: `${req.method} ${req.url}` }),
    maxConcurrentStreams: 1000,
    maxHttpBodyBytes: 1024,
  });
  await listener.listen();
  port = listener.port();
  const def = protoLoader.loadSync([...PROTO_FILES], { includeDirs: [PROTO_DIR], longs: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    etcdserverpb: { KV: grpc.ServiceClientConstructor; Lease: grpc.ServiceClientConstructor };
  };
  const opts = { 'grpc.max_send_message_length': 16 * 1024 * 1024 };
  kv = new pkg.etcdserverpb.KV(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), opts) as DynamicClient;
  lease = new pkg.etcdserverpb.Lease(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), opts) as DynamicClient;
});

afterAll(async () => {
  kv?.close();
  lease?.close();
  await listener?.close();
});

describe('one port for gRPC and HTTP', () => {
  it('serves a unary RPC', async () => {
    const res = await unary<{ count: string; more: boolean }>(kv, 'Range', { key: Buffer.from('abc') });
    expect(res.count).toBe('3');
    expect(res.more).toBe(true);
  });

  it('maps typed errors to etcd code and message', async () => {
    await expect(unary(kv, 'Put', { key: Buffer.from('a') })).rejects.toMatchObject({
      code: grpc.status.OUT_OF_RANGE,
      details: 'etcdserver: mvcc: required revision has been compacted',
    });
  });

  it('answers UNIMPLEMENTED naming the RPC', async () => {
    await expect(unary(lease, 'LeaseGrant', { TTL: 5 })).rejects.toMatchObject({
      code: grpc.status.UNIMPLEMENTED,
      details: 'tsetcd: etcdserverpb.Lease/LeaseGrant is not implemented yet',
    });
  });

  it('refuses messages over the receive limit with grpc-go wording', async () => {
    const big = Buffer.alloc(MAX_RECV + 10, 1);
    const err = await unary(kv, 'Range', { key: big }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    expect((err as grpc.ServiceError).details).toMatch(/^grpc: received message larger than max \(\d+ vs\. 65536\)$/);
    // still serving
    await expect(unary(kv, 'Range', { key: Buffer.from('x') })).resolves.toMatchObject({ count: '1' });
  });

  it('answers malformed protobuf without dying', async () => {
    const session = connect(`http://127.0.0.1:${port}`);
    const frame = Buffer.from([0, 0, 0, 0, 3, 0x0a, 0xff, 0xff]); // key field with a bad length
    const status = await new Promise<string>((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': '/etcdserverpb.KV/Range',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      let grpcStatus = '';
      req.on('response', (h) => {
        if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
      });
      req.on('trailers', (h) => {
        grpcStatus = String(h['grpc-status']);
      });
      req.on('close', () => resolve(grpcStatus));
      req.on('error', reject);
      req.resume();
      req.end(frame);
    });
    session.close();
    expect(status).toBe('13');
    await expect(unary(kv, 'Range', { key: Buffer.from('yy') })).resolves.toMatchObject({ count: '2' });
  });

  it("aborts a handler's signal when the client cancels the call", async () => {
    const started = new Promise<void>((r) => (seen.deleteStarted = r));
    const call = new Promise<unknown>((resolve) => {
      const c = kv['DeleteRange']?.({ key: Buffer.from('k') }, (err: unknown) => resolve(err)) as grpc.ClientUnaryCall;
      void started.then(() => c.cancel());
    });
    await started;
    expect(seen.deleteSignal?.aborted).toBe(false);
    expect(seen.deleteCtx?.aborted).toBe(false);
    await expect(call).resolves.toMatchObject({ code: grpc.status.CANCELLED });
    await expect.poll(() => seen.deleteSignal?.aborted, { timeout: 5000 }).toBe(true);
    expect(seen.deleteCtx?.aborted).toBe(true);
    expect(seen.deleteHooks).toBe(1);
  });

  it('still tells a listener left on the signal that an answered call ended', async () => {
    const before = seen.txnAborts;
    await expect(unary(kv, 'Txn', {})).resolves.toMatchObject({ succeeded: true });
    await expect.poll(() => seen.txnAborts, { timeout: 5000 }).toBe(before + 1);
  });

  it('serves HTTP/1.1 on the same port', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('GET /health');
  });

  it('serves plain HTTP/2 requests on the same port', async () => {
    const session = connect(`http://127.0.0.1:${port}`);
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ':path': '/version' });
      let data = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (data += c));
      req.on('end', () => resolve(data));
      req.on('error', reject);
    });
    session.close();
    expect(body).toBe('GET /version');
  });
});
