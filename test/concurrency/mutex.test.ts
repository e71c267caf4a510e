// The mutex recipe (src/concurrency/mutex.ts) on an in-process member: etcd's
// client/v3/concurrency mutex semantics (keys name/<hex lease>, waiting for older
// waiters, the #11456 session check, cleanup of a canceled wait), and a fast-check
// property over random schedules of lock / unlock / revoke / cancel by several
// sessions: mutual exclusion, grants in create-revision order with growing fencing
// tokens, and liveness at every quiescent point.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRecipeError, lock, unlock } from '../../src/concurrency/index.js';
import { isTsetcdError } from '../../src/shared/errors.js';
import { leaseId, type LeaseId } from '../../src/shared/ids.js';
import { FakeMember, settle, until } from './fake-member.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const never = (): AbortSignal => new AbortController().signal;

let m: FakeMember;
beforeEach(async () => {
  m = await FakeMember.create();
});
afterEach(() => m.close());

describe('mutex recipe', () => {
  it('grants an uncontended lock at once, under name/<hex lease>, and again to the same lease', async () => {
    const lease = await m.grant(30, 0x694da21d21481a0bn);
    const r = await lock(m.client, b('L'), lease, never());
    expect(r.key.toString()).toBe('L/694da21d21481a0b');
    const keys = await m.keys('L/');
    expect(keys).toEqual([{ key: 'L/694da21d21481a0b', create: r.revision, lease, value: '' }]);
    // The same lease asks again: its key exists, it is the owner; no write happens.
    const again = await lock(m.client, b('L'), lease, never());
    expect(again).toEqual({ key: r.key, revision: r.revision });
    expect(m.store.currentRevision).toBe(r.revision);
  });

  it('with lease 0 grants a 60 s lease nobody keeps alive and locks with it', async () => {
    const r = await lock(m.client, b('L0'), leaseId(0n), never());
    const [kv] = await m.keys('L0/');
    expect(kv?.lease).not.toBe(0n);
    expect(r.key.toString()).toBe(`L0/${(kv?.lease ?? 0n).toString(16)}`);
    expect(m.lessor.lookup(leaseId(kv?.lease ?? 0n))?.ttlSeconds).toBe(60);
  });

  it('fails with the server error for an unknown lease and writes nothing', async () => {
    const before = m.store.currentRevision;
    const err = await lock(m.client, b('L'), leaseId(12345n), never()).catch((e: unknown) => e);
    expect(isTsetcdError(err, 'lease-not-found')).toBe(true);
    expect(m.store.currentRevision).toBe(before);
  });

  it('queues waiters by create revision: each is granted only after every older key is gone', async () => {
    const [a, bb, c] = await Promise.all([m.grant(30, 0xan), m.grant(30, 0xbn), m.grant(30, 0xcn)]);
    const ra = await lock(m.client, b('Q'), a, never());
    const order: string[] = [];
    const pb = lock(m.client, b('Q'), bb, never()).then((r) => (order.push('b'), r));
    await until(async () => (await m.keys('Q/')).length === 2);
    const pc = lock(m.client, b('Q'), c, never()).then((r) => (order.push('c'), r));
    await until(async () => (await m.keys('Q/')).length === 3);
    await settle();
    expect(order).toEqual([]);
    const unlockA = await unlock(m.client, ra.key, never());
    const rb = await pb;
    expect(order).toEqual(['b']);
    // The grant's header revision is at least the revision that released the lock.
    expect(rb.revision).toBeGreaterThanOrEqual(unlockA);
    await unlock(m.client, rb.key, never());
    const rc = await pc;
    expect(order).toEqual(['b', 'c']);
    expect(rc.key.toString()).toBe('Q/c');
  });

  it('does not grant a lock whose session expired while it waited (etcd #11456)', async () => {
    const [a, bb] = await Promise.all([m.grant(30, 0xan), m.grant(30, 0xbn)]);
    const ra = await lock(m.client, b('S'), a, never());
    const pb = lock(m.client, b('S'), bb, never()).catch((e: unknown) => e);
    await until(async () => (await m.keys('S/')).length === 2);
    await m.revoke(bb); // B's key goes with its lease
    await settle();
    await unlock(m.client, ra.key, never());
    const err = await pb;
    expect(isRecipeError(err, 'session-expired')).toBe(true);
    expect((err as Error).message).toBe('mutex: session is expired');
    expect(await m.keys('S/')).toEqual([]);
  });

  it('deletes the waiting key when the caller goes away', async () => {
    const [a, bb] = await Promise.all([m.grant(30, 0xan), m.grant(30, 0xbn)]);
    const ra = await lock(m.client, b('C'), a, never());
    const ac = new AbortController();
    const pb = lock(m.client, b('C'), bb, ac.signal).catch((e: unknown) => e);
    await until(async () => (await m.keys('C/')).length === 2);
    ac.abort();
    const err = await pb;
    expect(isTsetcdError(err, 'canceled')).toBe(true);
    await until(async () => (await m.keys('C/')).length === 1);
    expect((await m.keys('C/')).map((k) => k.key)).toEqual([ra.key.toString()]);
  });

  it('unlock deletes the key; an empty key is "key is not provided"', async () => {
    const a = await m.grant(30, 0xan);
    const r = await lock(m.client, b('U'), a, never());
    const rev = await unlock(m.client, r.key, never());
    expect(rev).toBe(r.revision + 1);
    expect(await m.keys('U/')).toEqual([]);
    // Unlocking a missing key succeeds with the current revision (a delete of nothing).
    expect(await unlock(m.client, r.key, never())).toBe(rev);
    const err = await unlock(m.client, Buffer.alloc(0), never()).catch((e: unknown) => e);
    expect(isTsetcdError(err, 'key-not-provided')).toBe(true);
  });
});

type Step =
  | { op: 'lock'; s: number }
  | { op: 'unlock'; s: number }
  | { op: 'revoke'; s: number }
  | { op: 'cancel'; s: number };

const SESSIONS = 4;
const stepArb: fc.Arbitrary<Step> = fc.record({
  op: fc.constantFrom<Step['op']>('lock', 'lock', 'unlock', 'revoke', 'cancel'),
  s: fc.integer({ min: 0, max: SESSIONS - 1 }),
});

interface Session {
  lease: LeaseId;
  state: 'idle' | 'waiting' | 'holding';
  key: Buffer | undefined;
  abort: AbortController | undefined;
  pending: Promise<void> | undefined;
  /** Create revision of its current key, once seen. */
  myRev: number | undefined;
}

describe('mutex property', () => {
  it('mutual exclusion, create-revision order and liveness over random schedules', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 5, maxLength: 40 }), async (steps) => {
        const member = await FakeMember.create();
        try {
          await runSchedule(member, steps);
        } finally {
          member.close();
        }
      }),
      { numRuns: 100 },
    );
  }, 120_000);
});

async function runSchedule(member: FakeMember, steps: readonly Step[]): Promise<void> {
  const name = b('P');
  const sessions: Session[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    sessions.push({
      lease: await member.grant(60, BigInt(0x100 + i)),
      state: 'idle',
      key: undefined,
      abort: undefined,
      pending: undefined,
      myRev: undefined,
    });
  }
  let lastToken = 0;
  const violations: string[] = [];
  const holders = (): number => sessions.filter((x) => x.state === 'holding').length;

  for (const step of steps) {
    const s = sessions[step.s] as Session;
    switch (step.op) {
      case 'lock': {
        if (s.state !== 'idle') break;
        s.state = 'waiting';
        s.myRev = undefined;
        const ac = new AbortController();
        s.abort = ac;
        s.pending = lock(member.client, name, s.lease, ac.signal).then(
          async (r) => {
            if (holders() > 0) violations.push(`session ${step.s} granted while another holds`);
            const kv = (await member.keys('P/')).find((k) => k.key === r.key.toString());
            const token = kv?.create ?? 0;
            if (token <= lastToken) violations.push(`fencing token ${token} after ${lastToken}`);
            lastToken = Math.max(lastToken, token);
            s.state = 'holding';
            s.key = r.key;
          },
          (err: unknown) => {
            if (!isRecipeError(err, 'session-expired') && !isTsetcdError(err, 'canceled')) {
              violations.push(`unexpected lock error ${String(err)}`);
            }
            s.state = 'idle';
          },
        );
        break;
      }
      case 'unlock':
        if (s.state !== 'holding' || s.key === undefined) break;
        s.state = 'idle'; // gives the lock up before deleting its key
        await unlock(member.client, s.key, never());
        break;
      case 'revoke':
        if (s.state === 'holding') s.state = 'idle';
        await member.revoke(s.lease);
        await member.grant(60, s.lease); // the next lock of this session uses it again
        break;
      case 'cancel':
        if (s.state === 'waiting') s.abort?.abort();
        break;
    }
    await quiescent(member, sessions);
    expect(violations).toEqual([]);
  }
  for (const s of sessions) s.abort?.abort();
  await Promise.all(sessions.map((s) => s.pending));
  expect(violations).toEqual([]);
}

/**
 * Waits until the recipe has settled: the oldest key under the prefix belongs to the
 * one holding session, every other key to a waiting one, and a session waits without
 * a key (its lease was revoked) only while a key older than its own was is still
 * there (etcd waits for those before it reports the expired session). Fails if that
 * state is not reached (lost wake-up, stuck waiter).
 */
async function quiescent(member: FakeMember, sessions: readonly Session[]): Promise<void> {
  let last = '';
  try {
    await until(async () => {
      await settle(5);
      const keys = (await member.keys('P/')).sort((x, y) => x.create - y.create);
      const owner = keys[0];
      for (const s of sessions) {
        const mine = keys.find((k) => k.lease === s.lease);
        if (mine !== undefined && s.state === 'waiting') s.myRev = mine.create;
      }
      const expectState = (s: Session): Session['state'] => {
        const mine = keys.find((k) => k.lease === s.lease);
        if (mine === undefined) {
          const olderLeft = owner !== undefined && s.myRev !== undefined && owner.create < s.myRev;
          return s.state === 'waiting' && olderLeft ? 'waiting' : 'idle';
        }
        return mine === owner ? 'holding' : 'waiting';
      };
      last = JSON.stringify({ keys, states: sessions.map((s) => s.state) }, (_k, v: unknown) =>
        typeof v === 'bigint' ? v.toString(16) : v,
      );
      return sessions.every((s) => s.state === expectState(s));
    }, 3_000);
  } catch {
    throw new Error(`the mutex did not settle: ${last}`);
  }
}
