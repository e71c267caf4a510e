// The lessor on a fake clock: grant rules (minimum TTL, too large, duplicates), the
// leader-only expiry queue, renew, promote with and without checkpoints, pile-up
// spreading, demote, waiting for a revoke, and persistence across reopen.
import { describe, expect, it } from 'vitest';
import {
  Lessor,
  minLeaseTtlSeconds,
  pileUpDelays,
  type LessorOptions,
} from '../../src/lease/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { isTsetcdError } from '../../src/shared/errors.js';
import { leaseId, type LeaseId } from '../../src/shared/ids.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import type { BackendBatch } from '../../src/storage/backend.js';

const L = (n: number | bigint): LeaseId => leaseId(BigInt(n));

function setup(extra: Partial<LessorOptions> = {}): {
  lessor: Lessor;
  clock: ManualClock;
  backend: MemoryBackend;
  batch: () => BackendBatch;
} {
  const clock = new ManualClock(1_000);
  const backend = new MemoryBackend();
  const lessor = new Lessor({ minTtlSeconds: 2, clock, ...extra });
  return { lessor, clock, backend, batch: () => backend.batch() };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (isTsetcdError(err)) return err.code;
    throw err;
  }
  return undefined;
}

describe('minimum TTL', () => {
  it('is ceil(1.5 x election timeout) in whole heartbeat ticks, as etcd computes it', () => {
    expect(minLeaseTtlSeconds(1000, 100)).toBe(2);
    expect(minLeaseTtlSeconds(5000, 500)).toBe(8);
    expect(minLeaseTtlSeconds(1000, 300)).toBe(2); // 3 ticks -> 4 ticks x 300 ms
    expect(minLeaseTtlSeconds(3000, 1000)).toBe(4); // 3 ticks -> floor(4.5) = 4 ticks x 1 s
  });
});

describe('grant', () => {
  it('raises a short TTL to the minimum and persists the granted TTL', () => {
    const { lessor, batch } = setup();
    const b = batch();
    expect(lessor.grant(L(1), 1n, b)).toEqual({ id: 1n, ttlSeconds: 2 });
    expect(lessor.grant(L(2), -5n, b)).toEqual({ id: 2n, ttlSeconds: 2 });
    expect(lessor.grant(L(3), 60n, b)).toEqual({ id: 3n, ttlSeconds: 60 });
    expect(b.ops.map((o) => o.type)).toEqual(['put', 'put', 'put']);
    expect(lessor.lookup(L(1))?.ttlSeconds).toBe(2);
  });

  it('refuses TTL above 9e9, a duplicate id and id 0, changing nothing', () => {
    const { lessor, batch } = setup();
    const b = batch();
    expect(lessor.grant(L(9), 9_000_000_000n, b).ttlSeconds).toBe(9_000_000_000);
    expect(codeOf(() => lessor.grant(L(10), 9_000_000_001n, b))).toBe('lease-ttl-too-large');
    expect(codeOf(() => lessor.grant(L(9), 10n, b))).toBe('lease-exists');
    expect(codeOf(() => lessor.grant(L(0), 10n, b))).toBe('lease-not-found');
    // etcd checks the TTL before the duplicate.
    expect(codeOf(() => lessor.grant(L(9), 1n << 62n, b))).toBe('lease-ttl-too-large');
    expect(b.ops.length).toBe(1);
    expect(lessor.size).toBe(1);
  });
});

describe('leader-only expiry', () => {
  it('a follower never expires and never renews', () => {
    const { lessor, clock, batch } = setup();
    lessor.grant(L(1), 5n, batch());
    clock.advance(1_000_000);
    expect(lessor.expired(100)).toEqual([]);
    expect(lessor.renew(L(1))).toEqual({ kind: 'not-primary' });
    expect(lessor.lookup(L(1))?.expiryMs).toBe(Infinity);
  });

  it('expires in expiry order after promote(extend): now + TTL + extend', () => {
    const { lessor, clock, batch } = setup();
    const b = batch();
    lessor.grant(L(1), 10n, b);
    lessor.grant(L(2), 20n, b);
    lessor.grant(L(3), 5n, b);
    lessor.promote(1000, 7);
    expect(lessor.primaryTerm).toBe(7);
    expect(lessor.lookup(L(3))?.expiryMs).toBe(1_000 + 6_000);
    clock.advance(5_999);
    expect(lessor.expired(100)).toEqual([]);
    clock.advance(1);
    expect(lessor.expired(100)).toEqual([3n]);
    // t = 12000: lease 1 is due; lease 3, not revoked, is offered again (retry due at
    // 10000).
    clock.advance(5_000);
    expect(lessor.expired(100)).toEqual([3n, 1n]);
    clock.advance(10_000);
    expect(lessor.expired(100)).toEqual([1n, 3n, 2n]);
  });

  it('offers at most `limit` per call; re-offers an unrevoked lease after the retry', () => {
    const { lessor, clock, batch } = setup({ expiredRetryMs: 3000 });
    const b = batch();
    for (let i = 1; i <= 5; i++) lessor.grant(L(i), 2n, b);
    lessor.promote(0, 1);
    clock.advance(2_000);
    expect(lessor.expired(2)).toEqual([1n, 2n]);
    expect(lessor.expired(2)).toEqual([3n, 4n]);
    expect(lessor.expired(2)).toEqual([5n]);
    expect(lessor.expired(2)).toEqual([]);
    clock.advance(3_000);
    expect(lessor.expired(10)).toEqual([1n, 2n, 3n, 4n, 5n]);
  });

  it('renew restarts the full TTL; expired and unknown leases are reported', () => {
    const { lessor, clock, batch } = setup();
    lessor.grant(L(1), 10n, batch());
    lessor.grant(L(2), 3n, batch());
    lessor.promote(0, 1);
    clock.advance(8_000);
    expect(lessor.renew(L(1))).toEqual({ kind: 'renewed', ttlSeconds: 10, clearCheckpoint: false });
    expect(lessor.lookup(L(1))?.expiryMs).toBe(clock.nowMs() + 10_000);
    expect(lessor.renew(L(2))).toEqual({ kind: 'expired' });
    expect(lessor.renew(L(3))).toEqual({ kind: 'not-found' });
    clock.advance(9_999);
    expect(lessor.expired(10)).toEqual([2n]);
  });

  it('a lease granted on the primary expires from the grant time', () => {
    const { lessor, clock, batch } = setup();
    lessor.promote(2_000, 1);
    clock.advance(500);
    lessor.grant(L(4), 3n, batch());
    expect(lessor.lookup(L(4))?.expiryMs).toBe(clock.nowMs() + 3_000);
  });
});

describe('promote, checkpoints and demote', () => {
  it('promote uses the checkpointed remaining TTL when there is one', () => {
    const { lessor, clock, batch } = setup();
    lessor.grant(L(1), 3600n, batch());
    lessor.grant(L(2), 3600n, batch());
    lessor.checkpoint({ id: L(1), remainingTtlSeconds: 100 }, batch());
    clock.advance(10_000);
    lessor.promote(1_000, 2);
    expect(lessor.lookup(L(1))?.expiryMs).toBe(clock.nowMs() + 1_000 + 100_000);
    expect(lessor.lookup(L(2))?.expiryMs).toBe(clock.nowMs() + 1_000 + 3_600_000);
  });

  it('the leader checkpoints remaining TTLs every interval, and a renewal asks to clear it', () => {
    const { lessor, clock, batch } = setup({ checkpointIntervalMs: 300_000 });
    lessor.promote(0, 3);
    lessor.grant(L(1), 3600n, batch());
    lessor.grant(L(2), 60n, batch()); // shorter than the interval: never checkpointed
    expect(lessor.dueCheckpoints(10)).toEqual([]);
    clock.advance(300_000);
    expect(lessor.dueCheckpoints(10)).toEqual([{ id: 1n, remainingTtlSeconds: 3300 }]);
    expect(lessor.dueCheckpoints(10)).toEqual([]);
    lessor.checkpoint({ id: L(1), remainingTtlSeconds: 3300 }, batch());
    expect(lessor.renew(L(1))).toEqual({
      kind: 'renewed',
      ttlSeconds: 3600,
      clearCheckpoint: true,
    });
    clock.advance(300_000);
    expect(lessor.dueCheckpoints(10)).toEqual([{ id: 1n, remainingTtlSeconds: 3300 }]);
    // A new leader starts from the last checkpoint, not from the full TTL.
    lessor.demote();
    clock.advance(5_000);
    lessor.promote(1_000, 4);
    expect(lessor.lookup(L(1))?.expiryMs).toBe(clock.nowMs() + 1_000 + 3_300_000);
  });

  it('demote forgets expiries and wakes renewals waiting on an expired lease', async () => {
    const { lessor, clock, batch } = setup();
    lessor.grant(L(1), 2n, batch());
    lessor.promote(0, 1);
    clock.advance(3_000);
    expect(lessor.renew(L(1))).toEqual({ kind: 'expired' });
    const waiting = lessor.waitGone(L(1));
    lessor.demote();
    await expect(waiting).resolves.toBe('demoted');
    expect(lessor.isPrimary).toBe(false);
    expect(lessor.lookup(L(1))?.expiryMs).toBe(Infinity);
    expect(lessor.expired(10)).toEqual([]);
  });

  it('a revoke wakes renewals waiting on it; an abort rejects only that waiter', async () => {
    const { lessor, clock, batch } = setup();
    lessor.grant(L(1), 2n, batch());
    lessor.promote(0, 1);
    clock.advance(3_000);
    const ac = new AbortController();
    const aborted = lessor.waitGone(L(1), ac.signal);
    const waiting = lessor.waitGone(L(1));
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'canceled' });
    expect(lessor.keysOf(L(1))).toEqual([]);
    lessor.removeRevoked(L(1), batch());
    await expect(waiting).resolves.toBe('revoked');
    await expect(lessor.waitGone(L(1))).resolves.toBe('revoked');
  });

  it('pile-up delays follow etcd: 3/4 of the rate per second, later leases need less', () => {
    const five = [5, 4, 3, 2, 1].map((n) => ({ id: L(n), remainingMs: 10_000 }));
    const d = pileUpDelays(five, 4);
    expect([...d.keys()]).toEqual([4n, 5n]);
    expect(d.get(L(4))).toBeCloseTo(1333.33, 1);
    expect(d.get(L(5))).toBeCloseTo(1666.67, 1);
    expect(pileUpDelays(five, 6).size).toBe(0); // fewer leases than the rate: no pile-up
  });

  it('spreads a pile-up so no more than 3/4 of the revoke rate expire per second', () => {
    const { lessor, batch } = setup({ revokeRatePerSecond: 100 });
    const b = batch();
    for (let i = 1; i <= 400; i++) lessor.grant(L(i), 10n, b);
    lessor.promote(1_000, 1);
    const expiries = lessor.leases().map((id) => lessor.lookup(id)?.expiryMs ?? NaN);
    const first = Math.min(...expiries);
    expect(first).toBe(1_000 + 11_000);
    // Sliding one-second windows starting at every expiry.
    let worst = 0;
    for (const start of expiries)
      worst = Math.max(worst, expiries.filter((e) => e >= start && e < start + 1000).length);
    expect(worst).toBeLessThanOrEqual(76);
    expect(Math.max(...expiries)).toBeLessThan(first + 6_000);
  });
});

describe('attachments and persistence', () => {
  it('tracks attached keys in byte order and detaches', () => {
    const { lessor, batch } = setup();
    lessor.grant(L(1), 10n, batch());
    lessor.onLeaseChanges([
      { key: Buffer.from('b'), oldLease: L(0), newLease: L(1) },
      { key: Buffer.from('a'), oldLease: L(0), newLease: L(1) },
      { key: Buffer.from([0xff]), oldLease: L(0), newLease: L(1) },
    ]);
    expect(lessor.keysOf(L(1)).map((k) => k.toString('latin1'))).toEqual(['a', 'b', '\xff']);
    lessor.onLeaseChanges([{ key: Buffer.from('b'), oldLease: L(1), newLease: L(0) }]);
    expect(lessor.keysOf(L(1)).map((k) => k.toString())).toEqual(['a', '\ufffd']);
    expect(lessor.attach(L(99), Buffer.from('x'))).toBe(false);
    expect(() =>
      lessor.onLeaseChanges([{ key: Buffer.from('x'), oldLease: L(0), newLease: L(99) }]),
    ).toThrow(/missing lease/);
  });

  it('a revoke that left keys attached is a broken invariant', () => {
    const { lessor, batch } = setup();
    lessor.grant(L(1), 10n, batch());
    lessor.attach(L(1), Buffer.from('k'));
    expect(() => lessor.removeRevoked(L(1), batch())).toThrow(/still has 1 keys/);
  });

  it('reopens with every lease, granted TTL and checkpoint; revoked leases stay gone', async () => {
    const { lessor, clock, backend } = setup();
    const b = backend.batch();
    lessor.grant(L(1), 1n, b);
    lessor.grant(L(2), 3600n, b);
    lessor.grant(L(-7), 30n, b);
    lessor.grant(L(3), 30n, b);
    lessor.checkpoint({ id: L(2), remainingTtlSeconds: 1234 }, b);
    lessor.removeRevoked(L(3), b);
    await backend.write(b, { sync: true });
    const again = await Lessor.open(backend, { minTtlSeconds: 2, clock });
    expect(again.leases().sort()).toEqual([-7n, 1n, 2n]);
    expect(again.lookup(L(1))).toMatchObject({ ttlSeconds: 2, remainingTtlSeconds: 0 });
    expect(again.lookup(L(2))).toMatchObject({ ttlSeconds: 3600, remainingTtlSeconds: 1234 });
    expect(again.isPrimary).toBe(false);
    // A larger minimum in a new config raises recovered leases, as etcd's recover does.
    const raised = await Lessor.open(backend, { minTtlSeconds: 45, clock });
    expect(raised.lookup(L(-7))?.ttlSeconds).toBe(45);
  });
});
