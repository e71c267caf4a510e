// The Watch RPC in process: GrpcRouter + ClientListener serving watchHandlers over a
// hub fed by an in-memory store, and a grpc-js client speaking etcd's protos. Covers
// created ordering, header revisions, refusals with etcd's cancel reasons, cancel
// (known and unknown ids), prev_kv and delete events on the wire, progress requests
// (answered only when every watcher is synced), periodic progress, compaction cancel,
// fragmentation, and the hasleader stream cancellation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ClientListener } from '../../src/embed/client-listener.js';
import { GrpcRouter } from '../../src/grpc/server.js';
import { registerServices } from '../../src/v3rpc/services.js';
import { toGrpcError } from '../../src/v3rpc/errors.js';
import { HeaderFiller } from '../../src/v3rpc/header.js';
import { watchHandlers } from '../../src/v3rpc/watch.js';
import { nullLogger } from '../../src/shared/logger.js';
import { systemScheduler } from '../../src/shared/scheduler.js';
import { PROTO_DIR, PROTO_FILES } from '../proto/protos.js';
import { b, Harness } from './harness.js';

const ELECTION_TIMEOUT_MS = 40;

interface Resp {
  header: { revision: string; clusterId: string; memberId: string; raftTerm: string } | null;
  watchId: string;
  created: boolean;
  canceled: boolean;
  compactRevision: string;
  cancelReason: string;
  fragment: boolean;
  events: Array<{
    type: number;
    kv: { key: Buffer; value: Buffer; modRevision: string; createRevision: string; version: string };
    prevKv: { value: Buffer; modRevision: string } | null;
  }>;
}

type WatchCtor = new (addr: string, creds: grpc.ChannelCredentials, opts?: object) => grpc.Client & {
  Watch(md?: grpc.Metadata): grpc.ClientDuplexStream<unknown, Resp>;
};

let h: Harness;
let listener: ClientListener;
let Watch: WatchCtor;
let client: InstanceType<WatchCtor>;
let leader = true;

/** A watch stream seen from the client: responses in arrival order, and its end status. */
class Stream {
  readonly responses: Resp[] = [];
  readonly ended: Promise<grpc.ServiceError | undefined>;
  private readonly call: grpc.ClientDuplexStream<unknown, Resp>;
  private wake: (() => void) | undefined;

  constructor(md?: grpc.Metadata) {
    this.call = md === undefined ? client.Watch() : client.Watch(md);
    this.call.on('data', (r: Resp) => {
      this.responses.push(r);
      this.wake?.();
    });
    this.ended = new Promise((resolve) => {
      this.call.on('error', (e: grpc.ServiceError) => resolve(e));
      this.call.on('end', () => resolve(undefined));
    });
  }

  send(req: object): void {
    this.call.write(req);
  }

  /** Waits until `n` responses arrived (at most timeoutMs). */
  async atLeast(n: number, timeoutMs = 3000): Promise<Resp[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.responses.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`got ${this.responses.length} of ${n} responses: ${JSON.stringify(this.responses)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.responses;
  }

  close(): void {
    this.call.cancel();
  }

  pause(): void {
    this.call.pause();
  }

  resume(): void {
    this.call.resume();
  }
}

const create = (over: object): object => ({ createRequest: { ...over } });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  h = await Harness.create({ windowRevisions: 2 }, systemScheduler);
  const headers = new HeaderFiller({
    clusterId: 0x1234n,
    memberId: 0x99n,
    raftTerm: () => 3,
    currentRevision: () => h.store.currentRevision,
  });
  const router = new GrpcRouter({ maxRecvBytes: 4 << 20, mapError: (e, p) => toGrpcError(e, p, nullLogger) });
  registerServices(
    router,
    watchHandlers(
      {
        hub: h.hub,
        hasLeader: () => leader,
        electionTimeoutMs: ELECTION_TIMEOUT_MS,
        maxRequestBytes: 64 * 1024, // fragments above 64 KiB + 512 KiB
        progressNotifyIntervalMs: 100,
        scheduler: systemScheduler,
        logger: nullLogger,
      },
      headers,
    ),
  );
  listener = new ClientListener({
    url: new URL('http://127.0.0.1:0'),
    onGrpc: (s, hd) => router.route(s, hd),
    onHttp: async () => ({ status: 404, headers: {}, body: '' }),
    maxConcurrentStreams: 1000,
    maxHttpBodyBytes: 1024,
  });
  await listener.listen();
  const def = protoLoader.loadSync([...PROTO_FILES], { includeDirs: [PROTO_DIR], longs: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { etcdserverpb: { Watch: WatchCtor } };
  Watch = pkg.etcdserverpb.Watch;
  client = new Watch(`127.0.0.1:${listener.port()}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 << 20,
  });
});

afterAll(async () => {
  client?.close();
  h?.hub.close();
  await listener?.close();
});

describe('Watch RPC', () => {
  it('answers creates in request order, then events, with etcd header revisions', async () => {
    const s = new Stream();
    const rev0 = h.store.currentRevision;
    s.send(create({ key: b('o/a') }));
    s.send(create({ key: b('o/'), rangeEnd: b('o0'), prevKv: true }));
    s.send(create({ key: b('o/a'), watchId: 10 }));
    const created = await s.atLeast(3);
    expect(created.map((r) => [r.watchId, r.created, r.header?.revision])).toEqual([
      ['0', true, String(rev0)],
      ['1', true, String(rev0)],
      ['10', true, String(rev0)],
    ]);
    expect(created[0]?.header).toMatchObject({ clusterId: '4660', memberId: '153', raftTerm: '3' });
    const r1 = h.put('o/a', 'one');
    const r2 = h.put('o/a', 'two');
    const r3 = h.del('o/a');
    const all = await s.atLeast(3 + 9);
    const ev = all.slice(3).filter((r) => r.watchId === '1');
    expect(ev.map((r) => r.header?.revision)).toEqual([String(r1), String(r2), String(r3)]);
    const [put2, del] = [ev[1]?.events[0], ev[2]?.events[0]];
    expect(put2?.prevKv?.value.toString()).toBe('one');
    expect(del).toMatchObject({ type: 1, kv: { modRevision: String(r3), createRevision: '0', version: '0' } });
    expect(del?.prevKv?.value.toString()).toBe('two');
    expect(all.slice(3).filter((r) => r.watchId === '0')[0]?.events[0]?.prevKv).toBeNull(); // not asked
    s.close();
  });

  it('refuses with etcd cancel reasons and watch id -1, keeping the stream up', async () => {
    const s = new Stream();
    s.send(create({ key: b('r'), startRevision: -1 }));
    s.send(create({ key: b('r'), watchId: 5 }));
    s.send(create({ key: b('r'), watchId: 5 }));
    s.send(create({ key: b('z'), rangeEnd: b('a') }));
    s.send(create({ key: b('r') }));
    const out = await s.atLeast(5);
    expect(out.map((r) => [r.watchId, r.created, r.canceled, r.cancelReason])).toEqual([
      ['-1', true, true, 'etcdserver: mvcc: required revision has been compacted'],
      ['5', true, false, ''],
      ['-1', true, true, 'mvcc: duplicate watch ID provided on the WatchStream'],
      ['-1', true, true, 'mvcc: watcher range is empty'],
      ['0', true, false, ''],
    ]);
    s.close();
  });

  it('cancels a watcher, ignores an unknown id, answers progress only when all are synced', async () => {
    const s = new Stream();
    s.send(create({ key: b('c') }));
    await s.atLeast(1);
    s.send({ cancelRequest: { watchId: 77 } }); // unknown: no answer
    s.send({ cancelRequest: { watchId: 0 } });
    const out = await s.atLeast(2);
    expect(out[1]).toMatchObject({ watchId: '0', canceled: true, created: false });
    // No watchers left: a progress request gets nothing (as etcd). Make one unsynced:
    // its history is neither written nor in the window yet.
    for (let i = 0; i < 4; i++) h.put('c', `${i}`);
    const first = h.store.currentRevision - 3;
    s.send({ progressRequest: {} });
    s.send(create({ key: b('c'), startRevision: first }));
    await s.atLeast(3);
    s.send({ progressRequest: {} });
    await sleep(100);
    expect(s.responses.slice(2).filter((r) => r.watchId === '-1')).toEqual([]);
    await h.flush();
    // the catch-up events: from the backend, then from the window (two responses)
    const caught = (): string[] => s.responses.slice(3).flatMap((r) => r.events.map((e) => e.kv.value.toString()));
    for (let n = 4; caught().length < 4; n++) await s.atLeast(n);
    expect(caught()).toEqual(['0', '1', '2', '3']);
    const before = s.responses.length;
    s.send({ progressRequest: {} });
    const p = (await s.atLeast(before + 1))[before];
    expect(p).toMatchObject({ watchId: '-1', created: false, canceled: false, events: [] });
    expect(p?.header?.revision).toBe(String(h.store.currentRevision));
    s.close();
  });

  it('sends periodic progress to a synced progress_notify watcher', async () => {
    const s = new Stream();
    s.send(create({ key: b('quiet'), progressNotify: true }));
    await s.atLeast(2, 2000);
    expect(s.responses[1]).toMatchObject({ watchId: '0', created: false, canceled: false, events: [] });
    expect(s.responses[1]?.header?.revision).toBe(String(h.store.currentRevision));
    s.close();
  });

  it('cancels a watcher behind a compaction with compact_revision and no reason', async () => {
    h.put('k', '1');
    h.put('k', '2');
    const rev = h.put('k', '3');
    await h.compact(rev);
    const s = new Stream();
    s.send(create({ key: b('k'), startRevision: rev - 1 }));
    s.send(create({ key: b('k'), startRevision: rev }));
    const out = await s.atLeast(4);
    const compacted = out.find((r) => r.compactRevision !== '0');
    expect(compacted).toMatchObject({ watchId: '0', canceled: true, created: false, cancelReason: '', compactRevision: String(rev) });
    expect(compacted?.header?.revision).toBe('0');
    const ok = out.find((r) => r.watchId === '1' && r.events.length > 0);
    expect(ok?.events.map((e) => e.kv.value.toString())).toEqual(['3']);
    s.close();
  });

  it('fragments a large response only for watchers that asked', async () => {
    const s = new Stream();
    s.send(create({ key: b('big/'), rangeEnd: b('big0'), fragment: true }));
    s.send(create({ key: b('big/'), rangeEnd: b('big0') }));
    await s.atLeast(2);
    const value = 'x'.repeat(250 * 1024);
    h.txnPut([
      ['big/1', value],
      ['big/2', value],
      ['big/3', value],
    ]); // ~750 KiB >= 64 KiB + 512 KiB
    const out = await s.atLeast(2 + 3);
    const frag = out.filter((r) => r.watchId === '0' && r.events.length > 0);
    const whole = out.filter((r) => r.watchId === '1' && r.events.length > 0);
    expect(frag.map((r) => [r.events.length, r.fragment])).toEqual([
      [2, true],
      [1, false],
    ]);
    expect(whole.map((r) => [r.events.length, r.fragment])).toEqual([[3, false]]);
    s.close();
  });

  it('respects back-pressure: a client that stops reading loses nothing, memory stays bounded', async () => {
    const s = new Stream();
    s.send(create({ key: b('bp/'), rangeEnd: b('bp0') }));
    await s.atLeast(1);
    s.pause();
    const value = 'v'.repeat(64 * 1024);
    const N = 300; // ~19 MiB: beyond HTTP/2 windows, socket buffers and the stream queue
    for (let i = 0; i < N; i++) {
      h.put(`bp/${i % 7}`, `${i}:${value}`);
      if (i % 50 === 49) await sleep(5);
    }
    await h.flush();
    await sleep(200);
    const stats = h.hub.stats();
    expect(stats.victims + stats.unsynced).toBe(1); // parked, holding no events
    s.resume();
    const got = (): string[] =>
      s.responses.slice(1).flatMap((r) => r.events.map((e) => e.kv.value.toString().split(':')[0] as string));
    for (let n = 2; got().length < N; n++) await s.atLeast(n, 10_000);
    expect(got()).toEqual(Array.from({ length: N }, (_, i) => String(i)));
    s.close();
  });

  it('refuses or closes hasleader streams when the member has no leader', async () => {
    const md = new grpc.Metadata();
    md.set('hasleader', 'true');
    leader = false;
    const refused = new Stream(md);
    expect(await refused.ended).toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'etcdserver: no leader' });
    leader = true;
    const s = new Stream(md);
    const plain = new Stream();
    s.send(create({ key: b('l') }));
    plain.send(create({ key: b('l') }));
    await s.atLeast(1);
    await plain.atLeast(1);
    leader = false;
    const started = Date.now();
    expect(await s.ended).toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'etcdserver: no leader' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2 * ELECTION_TIMEOUT_MS);
    leader = true;
    // a stream without the metadata stays up
    h.put('l', 'still');
    const out = await plain.atLeast(2);
    expect(out[1]?.events[0]?.kv.value.toString()).toBe('still');
    plain.close();
  });
});
