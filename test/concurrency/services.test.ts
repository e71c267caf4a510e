// The Lock and Election gRPC handlers (src/v3rpc/lock.ts, election.ts) over
// the in-process member: answers and headers, and etcd's error statuses (UNKNOWN with
// etcd's message for server and recipe errors, as etcd's loopback client produces;
// checked against a real etcd in test/integration/election-lock.test.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type * as pb from '../../src/generated/pb.js';
import { toNumber } from '../../src/shared/pb-codec.js';
import type { CallContext, StreamWriter } from '../../src/grpc/server.js';
import { GrpcError } from '../../src/grpc/status.js';
import { Status } from '../../src/shared/grpc-status.js';
import { HeaderFiller } from '../../src/v3rpc/header.js';
import { electionHandlers } from '../../src/v3rpc/election.js';
import { lockHandlers, type RecipeBackend } from '../../src/v3rpc/lock.js';
import type { AnyHandler } from '../../src/v3rpc/services.js';
import { onCancel } from '../../src/shared/cancel.js';
import { FakeMember, until } from './fake-member.js';

let m: FakeMember;
let handlers: Map<string, AnyHandler>;
beforeEach(async () => {
  m = await FakeMember.create();
  const headers = new HeaderFiller({
    clusterId: 0xc1n,
    memberId: 0xa1n,
    raftTerm: () => 7,
    currentRevision: () => m.store.currentRevision,
  });
  const member: RecipeBackend = { recipeClient: (caller) => m.clientAs(caller) };
  handlers = new Map([...lockHandlers(member, headers), ...electionHandlers(member, headers)]);
});
afterEach(() => m.close());

function ctx(signal = new AbortController().signal): CallContext {
  return {
    path: '',
    metadata: {},
    signal,
    get aborted() {
      return signal.aborted;
    },
    onAbort: (fn) => onCancel(signal, fn),
    peerCertificate: () => undefined,
  };
}

async function unary(path: string, req: object, signal?: AbortSignal): Promise<unknown> {
  const h = handlers.get(path);
  if (h?.kind !== 'unary') throw new Error(`no unary handler ${path}`);
  const fn = h.fn as unknown as (r: object, c: CallContext, raw: Buffer) => Promise<unknown>;
  try {
    return await fn(req, ctx(signal), Buffer.alloc(0));
  } catch (err) {
    if (err instanceof GrpcError) return { code: err.code, message: err.message };
    throw err;
  }
}

const unknown = (message: string): unknown => ({ code: Status.UNKNOWN, message });
const b = (s: string): Buffer => Buffer.from(s);

describe('Lock and Election handlers', () => {
  it('answer with etcd codes and messages', async () => {
    expect(await unary('/v3lockpb.Lock/Lock', { name: b('L'), lease: 12345 })).toEqual(
      unknown('etcdserver: requested lease not found'),
    );
    expect(await unary('/v3lockpb.Lock/Unlock', { key: Buffer.alloc(0) })).toEqual(
      unknown('etcdserver: key is not provided'),
    );
    expect(await unary('/v3electionpb.Election/Leader', { name: b('E') })).toEqual(
      unknown('election: no leader'),
    );
    const missing = unknown('"leader" field must be provided');
    expect(await unary('/v3electionpb.Election/Proclaim', { value: b('x') })).toEqual(missing);
    expect(await unary('/v3electionpb.Election/Resign', {})).toEqual(missing);
    const stale = { name: b('E'), key: b('E/1'), rev: 5, lease: 1 };
    expect(
      await unary('/v3electionpb.Election/Proclaim', { leader: stale, value: b('x') }),
    ).toEqual(unknown('election: not leader'));
    const resigned = (await unary('/v3electionpb.Election/Resign', {
      leader: stale,
    })) as pb.ResignResponse;
    expect(toNumber(resigned.header?.revision)).toBe(m.store.currentRevision);
  });

  it('Lock, Campaign, Leader and Unlock answers carry the recipe revisions in full headers', async () => {
    const lease = await m.grant(30, 0x694da21d21481a0bn);
    const c = (await unary('/v3electionpb.Election/Campaign', {
      name: b('E'),
      lease: 0x694da21d21481a0bn.toString(),
      value: b('v1'),
    })) as pb.CampaignResponse;
    expect(c.leader?.key).toEqual(b('E/694da21d21481a0b'));
    expect(c.leader?.name).toEqual(b('E'));
    expect(toNumber(c.leader?.rev)).toBe(2);
    expect(String(c.leader?.lease)).toBe(lease.toString());
    expect(c.header).toMatchObject({ revision: 2, raftTerm: 7 });
    const l = (await unary('/v3electionpb.Election/Leader', { name: b('E') })) as pb.LeaderResponse;
    expect(l.kv?.value).toEqual(b('v1'));
    const lk = (await unary('/v3lockpb.Lock/Lock', {
      name: b('L'),
      lease: lease.toString(),
    })) as pb.LockResponse;
    expect(lk).toMatchObject({ key: b('L/694da21d21481a0b'), header: { revision: 3 } });
    const un = (await unary('/v3lockpb.Lock/Unlock', { key: lk.key })) as pb.UnlockResponse;
    expect(un.header?.revision).toBe(4);
  });

  it("the recipes' writes carry the caller into the log (anonymous while auth is off), as etcd's loopback client carries the token", async () => {
    const lease = await m.grant(30, 0x77n);
    const before = m.proposedCallers.length;
    const lk = (await unary('/v3lockpb.Lock/Lock', { name: b('L'), lease: lease.toString() })) as pb.LockResponse;
    await unary('/v3lockpb.Lock/Unlock', { key: lk.key });
    await unary('/v3electionpb.Election/Campaign', { name: b('E'), lease: lease.toString(), value: b('v') });
    const carried = m.proposedCallers.slice(before);
    expect(carried.length).toBeGreaterThanOrEqual(3);
    expect(carried.every((c) => c?.username === '' && c.revision === 0)).toBe(true);
  });

  it('Observe streams the leader and its changes until the caller goes away', async () => {
    const lease = await m.grant(30, 0xan);
    const h = handlers.get('/v3electionpb.Election/Observe');
    if (h?.kind !== 'server') throw new Error('no Observe handler');
    const sent: pb.LeaderResponse[] = [];
    const out: StreamWriter<pb.LeaderResponse> = {
      write: (msg) => (sent.push(msg), true),
      drained: () => Promise.resolve(),
      closed: false,
    };
    const ac = new AbortController();
    const fn = h.fn as unknown as (r: object, c: CallContext, w: typeof out) => Promise<void>;
    const done = fn({ name: b('O') }, ctx(ac.signal), out).catch((e: unknown) => e);
    const c = (await unary('/v3electionpb.Election/Campaign', {
      name: b('O'),
      lease: lease.toString(),
      value: b('one'),
    })) as pb.CampaignResponse;
    await until(() => sent.length === 1);
    await unary('/v3electionpb.Election/Proclaim', { leader: c.leader, value: b('two') });
    await until(() => sent.length === 2);
    ac.abort();
    const err = await done;
    expect(sent.map((s) => Buffer.from(s.kv?.value ?? []).toString())).toEqual(['one', 'two']);
    expect(sent.map((s) => s.header?.revision)).toEqual([2, 3]);
    expect(err).toMatchObject({ code: 'canceled' });
  });
});
