// The election recipe (src/concurrency/election.ts) on an in-process member: etcd's
// client/v3/concurrency election semantics for Campaign, Proclaim, Leader, Observe and
// Resign, the leader key's create revision as a fencing token, and cleanup of a
// campaign whose caller went away.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  campaign,
  isRecipeError,
  leader,
  observe,
  proclaim,
  resign,
  type LeaderKey,
  type LeaderValue,
} from '../../src/concurrency/index.js';
import { isTsetcdError } from '../../src/shared/errors.js';
import { leaseId } from '../../src/shared/ids.js';
import { toBigInt, toNumber } from '../../src/shared/pb-codec.js';
import { FakeMember, settle, until } from './fake-member.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const never = (): AbortSignal => new AbortController().signal;
const valueOf = (v: LeaderValue): string => Buffer.from(v.kv.value ?? []).toString('latin1');

let m: FakeMember;
beforeEach(async () => {
  m = await FakeMember.create();
});
afterEach(() => m.close());

describe('election recipe', () => {
  it('campaign, leader, proclaim, resign on one candidate', async () => {
    const lease = await m.grant(30, 0x694da21d21481a0bn);
    const c = await campaign(m.client, b('E'), lease, b('v1'), never());
    expect(c.leader).toEqual({
      name: b('E'),
      key: b('E/694da21d21481a0b'),
      rev: c.revision,
      lease,
    });
    const l = await leader(m.client, b('E'), never());
    expect(valueOf(l)).toBe('v1');
    expect(toNumber(l.kv.createRevision)).toBe(c.leader.rev);
    expect(toBigInt(l.kv.lease, false)).toBe(lease);
    expect(l.revision).toBe(c.revision);

    const p = await proclaim(m.client, c.leader, b('v2'), never());
    expect(p).toBe(c.revision + 1);
    expect(valueOf(await leader(m.client, b('E'), never()))).toBe('v2');

    // A stale leader key (wrong rev) may not proclaim.
    const stale: LeaderKey = { ...c.leader, rev: c.leader.rev - 1 };
    const err = await proclaim(m.client, stale, b('x'), never()).catch((e: unknown) => e);
    expect(isRecipeError(err, 'election-not-leader')).toBe(true);
    expect((err as Error).message).toBe('election: not leader');

    // Resign with a stale key does nothing and still answers.
    expect(await resign(m.client, stale, never())).toBe(p);
    const r = await resign(m.client, c.leader, never());
    expect(r).toBe(p + 1);
    const none = await leader(m.client, b('E'), never()).catch((e: unknown) => e);
    expect(isRecipeError(none, 'election-no-leader')).toBe(true);
    expect((none as Error).message).toBe('election: no leader');
  });

  it('a second candidate waits for the first to go; the leader rev only grows (fencing)', async () => {
    const [a, bb] = await Promise.all([m.grant(30, 0xan), m.grant(30, 0xbn)]);
    const ca = await campaign(m.client, b('F'), a, b('a'), never());
    let elected = false;
    const pb = campaign(m.client, b('F'), bb, b('b'), never()).then((r) => {
      elected = true;
      return r;
    });
    await until(async () => (await m.keys('F/')).length === 2);
    await settle();
    expect(elected).toBe(false);
    expect(valueOf(await leader(m.client, b('F'), never()))).toBe('a');
    await m.revoke(a); // the leader's session ends: its key goes with its lease
    const cb = await pb;
    expect(cb.leader.key.toString()).toBe('F/b');
    expect(cb.leader.rev).toBeGreaterThan(ca.leader.rev);
    // The old leader's key no longer fences anything.
    const err = await proclaim(m.client, ca.leader, b('late'), never()).catch((e: unknown) => e);
    expect(isRecipeError(err, 'election-not-leader')).toBe(true);
    expect(valueOf(await leader(m.client, b('F'), never()))).toBe('b');
  });

  it('campaigning again with the same lease keeps the key and rev and proclaims a new value', async () => {
    const a = await m.grant(30, 0xan);
    const first = await campaign(m.client, b('G'), a, b('one'), never());
    const again = await campaign(m.client, b('G'), a, b('two'), never());
    expect(again.leader).toEqual(first.leader);
    // The answer carries the campaign txn's header (the Else branch: no write).
    expect(again.revision).toBe(first.revision);
    expect(valueOf(await leader(m.client, b('G'), never()))).toBe('two');
  });

  it('an unknown lease fails with the server error; lease 0 campaigns with a new 60 s lease', async () => {
    const err = await campaign(m.client, b('H'), leaseId(999n), b('v'), never()).catch(
      (e: unknown) => e,
    );
    expect(isTsetcdError(err, 'lease-not-found')).toBe(true);
    const c = await campaign(m.client, b('H'), leaseId(0n), b('v'), never());
    expect(c.leader.lease).not.toBe(0n);
    expect(m.lessor.lookup(c.leader.lease)?.ttlSeconds).toBe(60);
    expect(c.leader.key.toString()).toBe(`H/${c.leader.lease.toString(16)}`);
  });

  it('resigns a waiting candidacy when the caller goes away', async () => {
    const [a, bb] = await Promise.all([m.grant(30, 0xan), m.grant(30, 0xbn)]);
    await campaign(m.client, b('K'), a, b('a'), never());
    const ac = new AbortController();
    const pb = campaign(m.client, b('K'), bb, b('b'), ac.signal).catch((e: unknown) => e);
    await until(async () => (await m.keys('K/')).length === 2);
    ac.abort();
    expect(isTsetcdError(await pb, 'canceled')).toBe(true);
    await until(async () => (await m.keys('K/')).length === 1);
    expect((await m.keys('K/')).map((k) => k.key)).toEqual(['K/a']);
  });

  it('observe: waits for a first leader, follows proclaims, then the next leader', async () => {
    const [a, bb] = await Promise.all([m.grant(30, 0xan), m.grant(30, 0xbn)]);
    const ac = new AbortController();
    const seen: Array<{ value: string; revision: number; create: number }> = [];
    const done = (async () => {
      for await (const v of observe(m.client, b('O'), ac.signal)) {
        seen.push({
          value: valueOf(v),
          revision: v.revision,
          create: toNumber(v.kv.createRevision),
        });
      }
    })();
    await settle();
    await m.put('O', 'not under the prefix');
    const ca = await campaign(m.client, b('O'), a, b('a1'), never());
    await until(() => seen.length === 1);
    const pb = campaign(m.client, b('O'), bb, b('b1'), never());
    await until(async () => (await m.keys('O/')).length === 2);
    const p2 = await proclaim(m.client, ca.leader, b('a2'), never());
    await until(() => seen.length === 2);
    await resign(m.client, ca.leader, never());
    const cb = await pb;
    await until(() => seen.length === 3);
    ac.abort();
    await done;
    expect(seen).toEqual([
      { value: 'a1', revision: ca.revision, create: ca.leader.rev },
      { value: 'a2', revision: p2, create: ca.leader.rev },
      { value: 'b1', revision: expect.any(Number) as number, create: cb.leader.rev },
    ]);
    expect((seen[2]?.revision ?? 0) >= cb.leader.rev).toBe(true);
  });

  it('observe ends quietly when the caller goes away', async () => {
    const a = await m.grant(30, 0xan);
    const c = await campaign(m.client, b('W'), a, b('w'), never());
    const ac = new AbortController();
    const it = observe(m.client, b('W'), ac.signal)[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    expect(toNumber((first.value as LeaderValue).kv.createRevision)).toBe(c.leader.rev);
    ac.abort();
    expect((await it.next()).done).toBe(true);
  });
});
