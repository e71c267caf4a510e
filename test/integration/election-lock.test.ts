/**
 * The Election and Lock gRPC services (etcd v3election / v3lock) on a
 * 3-member cluster (TSETCD_TARGET=etcd: real etcd).
 *
 * 1. The same sequence of calls on the cluster and on a real etcd 3.4.23 gives the same
 *    answers: codes and messages of every error (UNKNOWN with etcd's message, as etcd's
 *    loopback client makes them), leader keys, values, header revisions relative to the
 *    start, the lease-0 session lease, and what Observe streams. Leases are granted
 *    with fixed ids so keys are identical on both sides.
 * 2. Across members: a lock held through one member blocks a Lock through another until
 *    Unlock; the next holder's key has a higher create revision (fencing token) and its
 *    answer a revision at or after the unlock; a waiter whose caller gives up leaves no
 *    key; a waiter whose lease expires while waiting is refused ("mutex: session is
 *    expired", etcd #11456, fixed in 3.5: etcd 3.4.23 still grants it). A second candidate campaigns through another member and wins only after
 *    the first resigns; Observe on a third member sees every value and the hand-over.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EtcdGrpcClient, Reply } from '../helpers/grpc-client.js';
import { connectMember, expectOk } from '../helpers/grpc-client.js';
import { normaliseValue } from '../helpers/kv-normalise.js';
import type { Member } from '../helpers/processes.js';
import {
  dumpMemberLogsOnFailure,
  sleep,
  startMember,
  stopAllMembers,
  targetFromEnv,
} from '../helpers/processes.js';
import { startCluster } from './cluster/cluster.js';
import { RecipeClient, type WireLeaderKey, type WireLeaderResponse } from '../concurrency/wire.js';

const target = targetFromEnv();
let cluster: Member[];
let oracle: Member;

beforeAll(async () => {
  [cluster, oracle] = await Promise.all([
    startCluster({ target, size: 3 }),
    startMember({ target: 'etcd', name: 'oracle' }),
  ]);
}, 90_000);
afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

const b = (s: string): Buffer => Buffer.from(s);
const LEASE_1 = '7587899193185278475'; // 0x694da21d21481a0b
const LEASE_2 = '7587899193185278476';

interface Side {
  readonly kv: EtcdGrpcClient;
  readonly rc: RecipeClient;
  readonly base: number;
  readonly log: unknown[];
}

async function openSide(m: Member): Promise<Side> {
  const kv = connectMember(m);
  const base = Number(expectOk(await kv.range({ key: b('x') })).header?.revision);
  return { kv, rc: new RecipeClient(m.clientAddress), base, log: [] };
}

function note(s: Side, what: string, v: unknown): void {
  s.log.push({ [what]: normaliseValue(v, { base: s.base }) });
}

/** The answer without the header's ids and term (normaliseValue masks them). */
async function call<T>(s: Side, what: string, p: Promise<Reply<T>>): Promise<Reply<T>> {
  const r = await p;
  note(s, what, r.ok ? r.value : { error: r.error.codeName, details: r.error.details });
  return r;
}

async function sequence(s: Side): Promise<void> {
  const el = <T>(
    m: 'Campaign' | 'Proclaim' | 'Leader' | 'Resign',
    req: object,
  ): Promise<Reply<T>> => s.rc.election<T>(m, req);
  await call(s, 'lock with an unknown lease', s.rc.lock({ name: b('L'), lease: 12345 }));
  await call(s, 'unlock of an empty key', s.rc.unlock(Buffer.alloc(0)));
  await call(s, 'unlock of a missing key', s.rc.unlock(b('nope')));
  await call(s, 'leader without candidates', el('Leader', { name: b('E') }));
  await call(s, 'proclaim without leader', el('Proclaim', { value: b('x') }));
  await call(s, 'resign without leader', el('Resign', {}));
  const stale = { name: b('E'), key: b('E/1'), rev: 5, lease: 1 };
  await call(s, 'proclaim as a stale leader', el('Proclaim', { leader: stale, value: b('x') }));
  await call(s, 'resign as a stale leader', el('Resign', { leader: stale }));
  for (const id of [LEASE_1, LEASE_2])
    expectOk(await s.kv.unary('Lease', 'LeaseGrant', { ID: id, TTL: 60 }), 'grant');
  const c = await call(
    s,
    'campaign',
    el<{ leader: WireLeaderKey }>('Campaign', { name: b('E'), lease: LEASE_1, value: b('v1') }),
  );
  const leader = c.ok ? c.value.leader : stale;
  await call(s, 'leader', el('Leader', { name: b('E') }));
  await call(s, 'proclaim', el('Proclaim', { leader, value: b('v2') }));
  await call(
    s,
    'campaign again with the same lease',
    el('Campaign', { name: b('E'), lease: LEASE_1, value: b('v3') }),
  );
  await call(s, 'leader after it', el('Leader', { name: b('E') }));
  const l = await call(s, 'lock', s.rc.lock({ name: b('L'), lease: LEASE_1 }));
  await call(s, 'lock again with the same lease', s.rc.lock({ name: b('L'), lease: LEASE_1 }));
  await call(s, 'unlock', s.rc.unlock(l.ok ? l.value.key : b('L/none')));
  await call(s, 'resign', el('Resign', { leader }));
  await call(s, 'leader after resign', el('Leader', { name: b('E') }));
  await call(
    s,
    'empty name campaign',
    el('Campaign', { name: Buffer.alloc(0), lease: LEASE_2, value: b('e') }),
  );
  await call(
    s,
    'empty name lock (the same key)',
    s.rc.lock({ name: Buffer.alloc(0), lease: LEASE_2 }),
  );

  // Lease 0: a new 60 s lease named in the key (its id differs per side: only its shape).
  const before = expectOk(await s.kv.unary<{ leases: unknown[] }>('Lease', 'LeaseLeases', {}))
    .leases.length;
  const zero = await s.rc.lock({ name: b('Z'), lease: 0 });
  const key = zero.ok ? zero.value.key.toString() : '';
  const id = BigInt(`0x${key.slice(2) || '0'}`).toString();
  const ttl = expectOk(
    await s.kv.unary<{ grantedTTL: string }>('Lease', 'LeaseTimeToLive', { ID: id }),
  );
  const after = expectOk(await s.kv.unary<{ leases: unknown[] }>('Lease', 'LeaseLeases', {})).leases
    .length;
  note(s, 'lock with lease 0', {
    ok: zero.ok,
    shape: /^Z\/[0-9a-f]+$/.test(key),
    grantedTTL: ttl.grantedTTL,
    newLeases: after - before,
  });

  // Observe: from no leader, through a proclaim, to the next leader.
  const obs = s.rc.observe(b('O'));
  await sleep(300);
  const o1 = await el<{ leader: WireLeaderKey }>('Campaign', {
    name: b('O'),
    lease: LEASE_1,
    value: b('first'),
  });
  await waitLen(obs.responses, 1);
  await el('Proclaim', { leader: o1.ok ? o1.value.leader : stale, value: b('second') });
  await waitLen(obs.responses, 2);
  const pending = el('Campaign', { name: b('O'), lease: LEASE_2, value: b('next') });
  await sleep(300);
  await el('Resign', { leader: o1.ok ? o1.value.leader : stale });
  await pending;
  await waitLen(obs.responses, 3);
  obs.cancel();
  note(
    s,
    'observed',
    obs.responses.map((r: WireLeaderResponse) => ({ revision: r.header?.revision, kv: r.kv })),
  );
}

async function waitLen(xs: readonly unknown[], n: number, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (xs.length < n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} responses, got ${xs.length}`);
    await sleep(20);
  }
}

describe(`Election and Lock services on ${target}`, () => {
  it('answer like etcd 3.4.23, errors included', async () => {
    const [s, o] = await Promise.all([openSide(cluster[1] as Member), openSide(oracle)]);
    try {
      await Promise.all([sequence(s), sequence(o)]);
      expect(s.log).toEqual(o.log);
      expect(s.log).toContainEqual({
        'leader without candidates': { error: 'UNKNOWN', details: 'election: no leader' },
      });
    } finally {
      for (const x of [s, o]) {
        x.kv.close();
        x.rc.close();
      }
    }
  });

  it('a lock is exclusive across members, fenced by create revision, and cleaned up', async () => {
    const [m0, m1, m2] = cluster as [Member, Member, Member];
    const kv = connectMember(m0);
    const [r0, r1, r2] = [m0, m1, m2].map((m) => new RecipeClient(m.clientAddress)) as [
      RecipeClient,
      RecipeClient,
      RecipeClient,
    ];
    try {
      const grant = async (ttl: number): Promise<string> =>
        expectOk(await kv.unary<{ ID: string }>('Lease', 'LeaseGrant', { TTL: ttl })).ID;
      const [la, lb, lc, ld] = await Promise.all([grant(60), grant(60), grant(60), grant(3)]);
      const a = expectOk(await r0.lock({ name: b('X'), lease: la }), 'lock a');
      let bDone = false;
      const pb = r1
        .lock({ name: b('X'), lease: lb }, { deadlineMs: 20_000 })
        .then((r) => ((bDone = true), r));
      // A waiter that gives up (its deadline passes) and one whose lease expires.
      const pc = r2.lock({ name: b('X'), lease: lc }, { deadlineMs: 1_500 });
      const pd = r2.lock({ name: b('X'), lease: ld }, { deadlineMs: 20_000 });
      const cGone = await pc;
      expect(cGone.ok ? 'granted' : cGone.error.codeName).toBe('DEADLINE_EXCEEDED');
      await sleep(4_500); // ld (TTL 3 s) expires while it waits
      expect(bDone).toBe(false);
      const keys = async (): Promise<string[]> =>
        (expectOk(await kv.range({ key: b('X/'), rangeEnd: b('X0') })).kvs ?? []).map((k) =>
          Buffer.from(k.key ?? []).toString(),
        );
      const hex = (id: string): string => BigInt(id).toString(16);
      expect((await keys()).sort()).toEqual([`X/${hex(la)}`, `X/${hex(lb)}`].sort());
      const unlock = expectOk(await r0.unlock(a.key));
      const got = expectOk(await pb, 'lock b');
      expect(got.key.toString()).toBe(`X/${hex(lb)}`);
      expect(Number(got.header?.revision)).toBeGreaterThanOrEqual(Number(unlock.header.revision));
      const created = async (k: Buffer): Promise<number> =>
        Number(expectOk(await kv.range({ key: k })).kvs?.[0]?.createRevision);
      expect(await created(got.key)).toBeGreaterThan(Number(a.header?.revision));
      // The expired waiter learns it only once every older key is gone (etcd's order).
      expectOk(await r1.unlock(got.key));
      const dRes = await pd;
      // etcd 3.4.23 predates the fix (etcd #11456, 3.5) and grants it to the dead session.
      expect(dRes.ok ? 'granted' : dRes.error).toEqual(
        target === 'etcd'
          ? 'granted'
          : { code: 2, codeName: 'UNKNOWN', details: 'mutex: session is expired' },
      );
      expect(await keys()).toEqual([]);
    } finally {
      kv.close();
      for (const r of [r0, r1, r2]) r.close();
    }
  });

  it('a second candidate wins only after the first resigns; Observe elsewhere sees it all', async () => {
    const [m0, m1, m2] = cluster as [Member, Member, Member];
    const kv = connectMember(m0);
    const [r0, r1, r2] = [m0, m1, m2].map((m) => new RecipeClient(m.clientAddress)) as [
      RecipeClient,
      RecipeClient,
      RecipeClient,
    ];
    try {
      const grant = async (): Promise<string> =>
        expectOk(await kv.unary<{ ID: string }>('Lease', 'LeaseGrant', { TTL: 60 })).ID;
      const [la, lb] = await Promise.all([grant(), grant()]);
      const obs = r2.observe(b('Y'));
      const first = expectOk(
        await r0.election<{ leader: WireLeaderKey }>('Campaign', {
          name: b('Y'),
          lease: la,
          value: b('a'),
        }),
      ).leader;
      let won = false;
      const second = r1
        .election<{ leader: WireLeaderKey }>(
          'Campaign',
          { name: b('Y'), lease: lb, value: b('b') },
          { deadlineMs: 20_000 },
        )
        .then((r) => ((won = true), r));
      expectOk(await r0.election('Proclaim', { leader: first, value: b('a2') }));
      await sleep(1_000);
      expect(won).toBe(false);
      const leader = expectOk(await r2.election<WireLeaderResponse>('Leader', { name: b('Y') }));
      expect(leader.kv?.value.toString()).toBe('a2');
      expectOk(await r0.election('Resign', { leader: first }));
      const next = expectOk(await second).leader;
      expect(Number(next.rev)).toBeGreaterThan(Number(first.rev));
      const late = await r0.election('Proclaim', { leader: first, value: b('late') });
      expect(late.ok ? 'ok' : late.error.details).toBe('election: not leader');
      await waitLen(obs.responses, 3);
      obs.cancel();
      expect(obs.responses.map((r) => r.kv?.value.toString())).toEqual(['a', 'a2', 'b']);
      expectOk(await r1.election('Resign', { leader: next }));
    } finally {
      kv.close();
      for (const r of [r0, r1, r2]) r.close();
    }
  });
});
