// The Lease service in process: router + listener + grpc-js client, a real lessor and
// mvcc store behind a fake server (propose = apply at once). A second service plays a
// follower that forwards keep-alives and TimeToLive to the first one's serveForwarded.
// Checks etcd's answers and error strings byte for byte.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ClientListener } from '../../src/embed/client-listener.js';
import { GrpcRouter } from '../../src/grpc/server.js';
import { registerServices } from '../../src/v3rpc/services.js';
import { toGrpcError } from '../../src/v3rpc/errors.js';
import { HeaderFiller } from '../../src/v3rpc/header.js';
import {
  type LeaseBackend,
  LeaseService,
} from '../../src/v3rpc/lease.js';
import { RequestKind } from '../../src/apply/request.js';
import type { ApplyOutcome } from '../../src/apply/applier.js';
import { encodeCheckpoint, encodeExpire, encodeGrantRequest } from '../../src/lease/index.js';
import { decodeCheckpointRequest, decodeFenced } from '../../src/lease/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { leaseId } from '../../src/shared/ids.js';
import { nullLogger } from '../../src/shared/logger.js';
import { SeededRng } from '../../src/shared/rng.js';
import { systemScheduler } from '../../src/shared/scheduler.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import { PROTO_DIR, PROTO_FILES } from '../proto/protos.js';
import { LeaseHarness, type LeaseKind } from './harness.js';

const TERM = 3;
type Client = grpc.Client & Record<string, (...a: unknown[]) => unknown>;

interface Node {
  listener: ClientListener;
  router: GrpcRouter;
  client: Client;
  service: LeaseService;
  state: { readyLeader: boolean; leader: boolean; hasLeader: boolean };
}

const clock = new ManualClock(10_000);
let h: LeaseHarness;
const proposed: Array<{ kind: number; payload: Uint8Array }> = [];
const nodes: Node[] = [];
let leader: Node;
let follower: Node;
let loaded: { etcdserverpb: { Lease: grpc.ServiceClientConstructor } };

const KIND: Partial<Record<number, LeaseKind>> = {
  [RequestKind.LeaseGrant]: 'grant',
  [RequestKind.LeaseRevoke]: 'revoke',
  [RequestKind.LeaseCheckpoint]: 'checkpoint',
  [RequestKind.LeaseExpire]: 'expire',
};

async function propose(kind: RequestKind, payload: Uint8Array): Promise<ApplyOutcome> {
  proposed.push({ kind, payload });
  const k = KIND[kind];
  if (k === undefined) throw new Error(`unexpected proposal kind ${kind}`);
  const o = await h.apply(k, payload, TERM);
  return o.ok
    ? { ok: true, response: o.response, revision: o.revision }
    : { ok: false, error: o.error };
}

async function startNode(
  overrides: Partial<LeaseBackend>,
  forwardTo?: () => LeaseService,
): Promise<Node> {
  const state = { readyLeader: true, leader: true, hasLeader: true };
  const deps: LeaseBackend = {
    lessor: h.lessor,
    clock,
    scheduler: systemScheduler,
    rng: new SeededRng(7),
    logger: nullLogger,
    requestTimeoutMs: 2_000,
    propose,
    isReadyLeader: () => state.readyLeader,
    isLeader: () => state.leader,
    hasLeader: () => state.hasLeader,
    forwardToLeader: async (kind, req, signal) => {
      if (forwardTo === undefined) throw new Error('no peer');
      return forwardTo().serveForwarded(kind, req, signal);
    },
    ...overrides,
  };
  const headers = new HeaderFiller({
    clusterId: 0xc1n,
    memberId: 0xa1n,
    raftTerm: () => TERM,
    currentRevision: () => h.store.currentRevision,
  });
  const service = new LeaseService(deps, headers);
  const handlers = service.handlers();
  const router = new GrpcRouter({
    maxRecvBytes: 1 << 20,
    mapError: (e, p) => toGrpcError(e, p, nullLogger),
  });
  registerServices(router, handlers);
  const listener = new ClientListener({
    url: new URL('http://127.0.0.1:0'),
    onGrpc: (s, hd) => router.route(s, hd),
    onHttp: async () => ({ status: 404, headers: {}, body: '' }),
    maxConcurrentStreams: 100,
    maxHttpBodyBytes: 1024,
  });
  await listener.listen();
  const client = new loaded.etcdserverpb.Lease(
    `127.0.0.1:${listener.port()}`,
    grpc.credentials.createInsecure(),
  ) as Client;
  const node = { listener, router, client, service, state };
  nodes.push(node);
  return node;
}

function unary<T>(n: Node, method: string, req: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 10_000);
    n.client[method]?.(req, { deadline }, (err: grpc.ServiceError | null, res: T) =>
      err ? reject(err) : resolve(res),
    );
  });
}

/** A keep-alive stream that collects responses and the final status. */
function keepAliveStream(n: Node) {
  const stream = (
    n.client['LeaseKeepAlive'] as () => grpc.ClientDuplexStream<unknown, KeepAliveRes>
  )();
  const got: KeepAliveRes[] = [];
  const waiters: Array<() => void> = [];
  let error: grpc.ServiceError | undefined;
  stream.on('data', (d: KeepAliveRes) => {
    got.push(d);
    waiters.splice(0).forEach((w) => w());
  });
  stream.on('error', (e: grpc.ServiceError) => {
    error = e;
    waiters.splice(0).forEach((w) => w());
  });
  return {
    send: (id: bigint | string) => stream.write({ ID: String(id) }),
    got,
    error: () => error,
    async next(count: number, timeoutMs = 5_000): Promise<void> {
      const until = Date.now() + timeoutMs;
      while (got.length < count && error === undefined) {
        if (Date.now() > until)
          throw new Error(
            `timed out waiting for ${count} keep-alive responses (have ${got.length})`,
          );
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    },
    end: () => stream.end(),
    cancel: () => stream.cancel(),
  };
}

interface KeepAliveRes {
  ID: string;
  TTL: string;
  header: { revision: string; raftTerm: string; memberId: string };
}
interface GrantRes {
  ID: string;
  TTL: string;
  error: string;
  header: { revision: string; clusterId: string; memberId: string; raftTerm: string };
}
interface TtlRes {
  ID: string;
  TTL: string;
  grantedTTL: string;
  keys: Buffer[];
}

beforeAll(async () => {
  h = await LeaseHarness.open(new MemoryBackend(), {
    minTtlSeconds: 2,
    clock,
    checkpointIntervalMs: 300_000,
  });
  h.lessor.promote(0, TERM);
  const def = protoLoader.loadSync([...PROTO_FILES], {
    includeDirs: [PROTO_DIR],
    longs: String,
    defaults: true,
  });
  loaded = grpc.loadPackageDefinition(def) as unknown as typeof loaded;
  leader = await startNode({});
  follower = await startNode({}, () => leader.service);
  follower.state.readyLeader = false;
  follower.state.leader = false;
});

afterAll(async () => {
  for (const n of nodes) {
    n.client.close();
    n.router.close();
    await n.listener.close();
  }
  await h?.store.close();
});

describe('LeaseGrant / LeaseRevoke', () => {
  it('ID 0 gets a random positive id before proposing; TTL raised to the minimum', async () => {
    const res = await unary<GrantRes>(leader, 'LeaseGrant', { TTL: 1, ID: 0 });
    const id = BigInt(res.ID);
    expect(id > 0n).toBe(true);
    expect(res.TTL).toBe('2');
    expect(res.error).toBe('');
    expect(res.header).toMatchObject({
      clusterId: String(0xc1),
      memberId: String(0xa1),
      raftTerm: String(TERM),
    });
    expect(res.header.revision).toBe(String(h.store.currentRevision));
    // The log entry names the id: every member applies the same grant.
    const last = proposed[proposed.length - 1];
    expect(last?.kind).toBe(RequestKind.LeaseGrant);
    expect(Buffer.from(last?.payload ?? [])).toEqual(encodeGrantRequest(leaseId(id), 1n));
  });

  it('a client-chosen id, then the same id again: "lease already exists"', async () => {
    const res = await unary<GrantRes>(leader, 'LeaseGrant', { TTL: 60, ID: 4242 });
    expect(res).toMatchObject({ ID: '4242', TTL: '60' });
    await expect(unary(leader, 'LeaseGrant', { TTL: 60, ID: 4242 })).rejects.toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
      details: 'etcdserver: lease already exists',
    });
  });

  it('TTL above 9e9: "too large lease TTL", nothing proposed', async () => {
    const before = proposed.length;
    await expect(unary(leader, 'LeaseGrant', { TTL: '9000000001', ID: 1 })).rejects.toMatchObject({
      code: grpc.status.OUT_OF_RANGE,
      details: 'etcdserver: too large lease TTL',
    });
    expect(proposed.length).toBe(before);
  });

  it('revoke deletes the attached keys; unknown: "requested lease not found"', async () => {
    await unary(leader, 'LeaseGrant', { TTL: 60, ID: 77 });
    await h.put('r1', 'v', leaseId(77n));
    await h.put('r2', 'v', leaseId(77n));
    const res = await unary<{ header: { revision: string } }>(leader, 'LeaseRevoke', { ID: 77 });
    expect(res.header.revision).toBe(String(h.store.currentRevision));
    expect((await h.liveKeys()).filter((k) => k.startsWith('r'))).toEqual([]);
    await expect(unary(leader, 'LeaseRevoke', { ID: 77 })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
      details: 'etcdserver: requested lease not found',
    });
  });
});

describe('LeaseTimeToLive / LeaseLeases', () => {
  it('unknown lease: TTL -1 and no error, on the leader and through a follower', async () => {
    for (const n of [leader, follower]) {
      const res = await unary<TtlRes>(n, 'LeaseTimeToLive', { ID: 999_999, keys: true });
      expect(res).toMatchObject({ ID: '999999', TTL: '-1', grantedTTL: '0', keys: [] });
    }
  });

  it("remaining TTL on the leader's clock, truncated; keys in byte order when asked", async () => {
    await unary(leader, 'LeaseGrant', { TTL: 60, ID: 500 });
    await h.put('t-b', 'v', leaseId(500n));
    await h.put('t-a', 'v', leaseId(500n));
    clock.advance(2_500);
    const res = await unary<TtlRes>(leader, 'LeaseTimeToLive', { ID: 500, keys: true });
    expect(res).toMatchObject({ ID: '500', TTL: '57', grantedTTL: '60' });
    expect(res.keys.map(String)).toEqual(['t-a', 't-b']);
    const viaFollower = await unary<TtlRes>(follower, 'LeaseTimeToLive', { ID: 500 });
    expect(viaFollower).toMatchObject({ TTL: '57', grantedTTL: '60', keys: [] });
  });

  it('LeaseLeases lists every lease id', async () => {
    const res = await unary<{ leases: Array<{ ID: string }> }>(leader, 'LeaseLeases', {});
    const ids = res.leases.map((l) => l.ID);
    expect(ids).toEqual(expect.arrayContaining(['4242', '500']));
    expect(ids.length).toBe(h.lessor.size);
  });
});

describe('LeaseKeepAlive', () => {
  it('answers in order: granted TTL for a live lease, TTL 0 for an unknown one', async () => {
    await unary(leader, 'LeaseGrant', { TTL: 30, ID: 600 });
    clock.advance(10_000);
    const s = keepAliveStream(leader);
    s.send(600n);
    s.send(123456n);
    s.send(600n);
    await s.next(3);
    expect(s.got.map((r) => [r.ID, r.TTL])).toEqual([
      ['600', '30'],
      ['123456', '0'],
      ['600', '30'],
    ]);
    expect(s.got[0]?.header.raftTerm).toBe(String(TERM));
    expect(h.lessor.lookup(leaseId(600n))?.expiryMs).toBe(clock.nowMs() + 30_000);
    s.end();
  });

  it('a follower forwards keep-alives to the leader, which renews', async () => {
    await unary(leader, 'LeaseGrant', { TTL: 40, ID: 700 });
    clock.advance(5_000);
    const s = keepAliveStream(follower);
    s.send(700n);
    s.send(1n);
    await s.next(2);
    expect(s.got.map((r) => [r.ID, r.TTL])).toEqual([
      ['700', '40'],
      ['1', '0'],
    ]);
    expect(h.lessor.lookup(leaseId(700n))?.expiryMs).toBe(clock.nowMs() + 40_000);
    s.end();
  });

  it('expired lease: TTL 0 once its expiry applied; the stream stays up', async () => {
    await unary(leader, 'LeaseGrant', { TTL: 5, ID: 800 });
    await h.put('e1', 'v', leaseId(800n));
    clock.advance(6_000);
    const s = keepAliveStream(leader);
    s.send(800n);
    await new Promise((r) => setTimeout(r, 150));
    expect(s.got).toEqual([]); // waiting for the revoke, as etcd's Renew does
    const o = await h.apply('expire', encodeExpire(TERM, leaseId(800n)), TERM);
    expect(o.ok).toBe(true);
    await s.next(1);
    expect(s.got.map((r) => [r.ID, r.TTL])).toEqual([['800', '0']]);
    expect(await h.liveKeys()).not.toContain('e1');
    s.send(800n);
    await s.next(2);
    expect(s.got[1]?.TTL).toBe('0');
    expect(s.error()).toBeUndefined();
    s.end();
  });

  it('a renewal of a checkpointed lease proposes a checkpoint that clears it', async () => {
    await unary(leader, 'LeaseGrant', { TTL: 3600, ID: 900 });
    await h.apply(
      'checkpoint',
      encodeCheckpoint(TERM, [{ id: leaseId(900n), remainingTtlSeconds: 1000 }]),
      TERM,
    );
    expect(h.lessor.lookup(leaseId(900n))?.remainingTtlSeconds).toBe(1000);
    const s = keepAliveStream(leader);
    s.send(900n);
    await s.next(1);
    expect(s.got[0]?.TTL).toBe('3600');
    const cp = proposed.filter((p) => p.kind === RequestKind.LeaseCheckpoint).pop();
    expect(cp).toBeDefined();
    const f = decodeFenced(cp?.payload ?? new Uint8Array());
    expect(f.term).toBe(TERM);
    expect(decodeCheckpointRequest(f.body)).toEqual([{ id: 900n, remainingTtlSeconds: 0 }]);
    expect(h.lessor.lookup(leaseId(900n))?.remainingTtlSeconds).toBe(0);
    s.end();
  });
});

describe('leadership checks', () => {
  it('syncs leadership first and renews only after leadership is confirmed', async () => {
    let syncs = 0;
    let confirms = 0;
    const n = await startNode({
      syncLeadership: () => void syncs++,
      confirmLeadership: async () => {
        confirms++;
        if (confirms < 3) throw new Error('read index round failed');
      },
    });
    await unary(leader, 'LeaseGrant', { TTL: 50, ID: 1000 });
    const s = keepAliveStream(n);
    s.send(1000n);
    await s.next(1);
    expect(s.got.map((r) => [r.ID, r.TTL])).toEqual([['1000', '50']]);
    expect(confirms).toBe(3);
    expect(syncs).toBeGreaterThanOrEqual(3);
    s.end();
  });
});

describe('keep-alive then revoke', () => {
  it('renews on arrival: a revoke applied during the leadership check still gets the full TTL', async () => {
    // etcd renews as the keep-alive arrives; the quorum check comes after. Checking
    // first answered TTL 0 here, and clients then took the lease for lost.
    let revoked = false;
    const n = await startNode({
      confirmLeadership: async () => {
        if (revoked) return;
        revoked = true;
        await unary(leader, 'LeaseRevoke', { ID: 1100 });
      },
    });
    await unary(leader, 'LeaseGrant', { TTL: 40, ID: 1100 });
    const s = keepAliveStream(n);
    s.send(1100n);
    await s.next(1);
    expect(revoked).toBe(true);
    expect(h.lessor.lookup(leaseId(1100n))).toBeUndefined();
    expect(s.got.map((r) => [r.ID, r.TTL])).toEqual([['1100', '40']]);
    s.end();
  });
});

describe('no leader to answer', () => {
  it('a leader without an applied entry of its term: "request timed out"', async () => {
    const n = await startNode({ requestTimeoutMs: 0 });
    n.state.readyLeader = false;
    await expect(unary(n, 'LeaseTimeToLive', { ID: 500 })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
      details: 'etcdserver: request timed out',
    });
    const s = keepAliveStream(n);
    s.send(500n);
    await s.next(1);
    expect(s.error()).toMatchObject({
      code: grpc.status.UNAVAILABLE,
      details: 'etcdserver: request timed out',
    });
  });

  it('no known leader: "no leader"', async () => {
    const n = await startNode({ requestTimeoutMs: 0 });
    Object.assign(n.state, { readyLeader: false, leader: false, hasLeader: false });
    await expect(unary(n, 'LeaseTimeToLive', { ID: 500 })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
      details: 'etcdserver: no leader',
    });
  });

  it('a follower whose leader refuses retries until it answers', async () => {
    leader.state.readyLeader = false;
    const pending = unary<TtlRes>(follower, 'LeaseTimeToLive', { ID: 500 });
    await new Promise((r) => setTimeout(r, 200));
    leader.state.readyLeader = true;
    await expect(pending).resolves.toMatchObject({ ID: '500', grantedTTL: '60' });
  });
});
