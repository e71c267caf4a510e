// Lease requests through apply with a real MvccStore: attachments follow mvcc's writes,
// a revoke deletes every attached key in one revision with DELETE events, expiries and
// checkpoints are fenced by term, two members applying the same entries write the
// same batches whatever their leadership, and a reopen recovers leases and keys.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Lessor,
  recoverAttachments,
  encodeCheckpoint,
  encodeExpire,
  encodeGrantRequest,
  encodeRevokeRequest,
  leaseRecordKey,
  type LeaseGrantResult,
} from '../../src/lease/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { isTsetcdError } from '../../src/shared/errors.js';
import { leaseId, type LeaseId } from '../../src/shared/ids.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import { LeaseHarness, type LeaseKind, type Outcome } from './harness.js';

const L = (n: number | bigint): LeaseId => leaseId(BigInt(n));
const NO_LEASE = L(0);

async function harness(
  backend = new MemoryBackend(),
  clock = new ManualClock(),
): Promise<LeaseHarness> {
  return LeaseHarness.open(backend, { minTtlSeconds: 2, clock });
}

function errorCode(o: Outcome): string | undefined {
  return o.ok ? undefined : o.error.code;
}

describe('lease apply', () => {
  it('grants through apply and answers with the granted TTL', async () => {
    const h = await harness();
    const o = await h.apply('grant', encodeGrantRequest(L(5), 1n), 1);
    expect(o.ok).toBe(true);
    if (!o.ok) return;
    expect(o.response as LeaseGrantResult).toEqual({ id: 5n, ttlSeconds: 2 });
    expect(o.revision).toBe(h.store.currentRevision);
    expect(o.ops).toEqual([{ type: 'put', key: leaseRecordKey(L(5)), value: expect.any(Buffer) }]);
    expect(errorCode(await h.apply('grant', encodeGrantRequest(L(5), 10n), 1))).toBe(
      'lease-exists',
    );
    expect(errorCode(await h.apply('grant', encodeGrantRequest(L(6), 9_000_000_001n), 1))).toBe(
      'lease-ttl-too-large',
    );
  });

  it('attachments follow puts, lease moves and deletes; mvcc refuses unknown leases', async () => {
    const h = await harness();
    await h.apply('grant', encodeGrantRequest(L(1), 60n), 1);
    await h.apply('grant', encodeGrantRequest(L(2), 60n), 1);
    await h.put('k1', 'v', L(1));
    await h.put('k2', 'v', L(1));
    expect(h.lessor.keysOf(L(1)).map(String)).toEqual(['k1', 'k2']);
    await h.put('k1', 'v2', L(2)); // moves k1 to lease 2
    await h.put('k2', 'v2', NO_LEASE); // detaches k2
    expect(h.lessor.keysOf(L(1))).toEqual([]);
    expect(h.lessor.keysOf(L(2)).map(String)).toEqual(['k1']);
    await h.del('k1');
    expect(h.lessor.keysOf(L(2))).toEqual([]);
    await expect(h.put('k3', 'v', L(77))).rejects.toSatisfy((e: unknown) =>
      isTsetcdError(e, 'lease-not-found'),
    );
  });

  it('revoke deletes every attached key in ONE revision, DELETE events with prev_kv', async () => {
    const h = await harness();
    await h.apply('grant', encodeGrantRequest(L(1), 60n), 1);
    for (const k of ['b', 'a', 'c']) await h.put(k, `v-${k}`, L(1));
    await h.put('other', 'x', NO_LEASE);
    const before = h.store.currentRevision;
    h.events.length = 0;
    const o = await h.apply('revoke', encodeRevokeRequest(L(1)), 1);
    expect(o.ok && o.revision).toBe(before + 1);
    expect(h.store.currentRevision).toBe(before + 1);
    expect(await h.liveKeys()).toEqual(['other']);
    expect(h.events).toHaveLength(1);
    const evs = h.events[0]?.events ?? [];
    expect(
      evs.map((e) => [e.type, e.kv.key.toString(), e.kv.modRevision, e.prevKv?.value.toString()]),
    ).toEqual([
      ['delete', 'a', before + 1, 'v-a'],
      ['delete', 'b', before + 1, 'v-b'],
      ['delete', 'c', before + 1, 'v-c'],
    ]);
    expect(h.lessor.has(L(1))).toBe(false);
    expect(await h.backend.get(leaseRecordKey(L(1)))).toBeUndefined();
    expect(errorCode(await h.apply('revoke', encodeRevokeRequest(L(1)), 1))).toBe(
      'lease-not-found',
    );
  });

  it('revoking a lease without keys leaves the revision alone', async () => {
    const h = await harness();
    await h.apply('grant', encodeGrantRequest(L(1), 60n), 1);
    const rev = h.store.currentRevision;
    const o = await h.apply('revoke', encodeRevokeRequest(L(1)), 1);
    expect(o.ok && o.revision).toBe(rev);
    expect(h.store.currentRevision).toBe(rev);
  });

  it('an expiry proposed in term 5 is void in a term-6 entry, revokes in term 5', async () => {
    const h = await harness();
    await h.apply('grant', encodeGrantRequest(L(1), 60n), 5);
    await h.put('k', 'v', L(1));
    const fenced = await h.apply('expire', encodeExpire(5, L(1)), 6);
    expect(errorCode(fenced)).toBe('leader-changed');
    expect(fenced.ops).toEqual([]);
    expect(await h.liveKeys()).toEqual(['k']);
    expect(h.lessor.has(L(1))).toBe(true);
    const done = await h.apply('expire', encodeExpire(5, L(1)), 5);
    expect(done.ok).toBe(true);
    expect(await h.liveKeys()).toEqual([]);
    expect(h.lessor.has(L(1))).toBe(false);
    // A second expiry of the same lease (the leader's retry) changes nothing.
    const again = await h.apply('expire', encodeExpire(5, L(1)), 5);
    expect(errorCode(again)).toBe('lease-not-found');
    expect(again.ops).toEqual([]);
  });

  it('checkpoints are fenced by term and persisted when they apply', async () => {
    const h = await harness();
    await h.apply('grant', encodeGrantRequest(L(1), 3600n), 2);
    const stale = await h.apply(
      'checkpoint',
      encodeCheckpoint(2, [{ id: L(1), remainingTtlSeconds: 10 }]),
      3,
    );
    expect(errorCode(stale)).toBe('leader-changed');
    expect(h.lessor.lookup(L(1))?.remainingTtlSeconds).toBe(0);
    const ok = await h.apply(
      'checkpoint',
      encodeCheckpoint(3, [
        { id: L(1), remainingTtlSeconds: 10 },
        { id: L(9), remainingTtlSeconds: 4 },
      ]),
      3,
    );
    expect(ok.ok).toBe(true);
    expect(ok.ops).toHaveLength(1); // the unknown lease 9 is ignored
    expect(h.lessor.lookup(L(1))?.remainingTtlSeconds).toBe(10);
  });

  it('reopen recovers leases, checkpoints and attached keys from the state db', async () => {
    const backend = new MemoryBackend();
    const h = await harness(backend);
    await h.apply('grant', encodeGrantRequest(L(1), 60n), 1);
    await h.apply('grant', encodeGrantRequest(L(2), 3600n), 1);
    await h.apply('checkpoint', encodeCheckpoint(1, [{ id: L(2), remainingTtlSeconds: 99 }]), 1);
    await h.put('a', '1', L(1));
    await h.put('b', '1', L(2));
    await h.put('c', '1', L(1));
    await h.del('c');
    await h.store.close();
    const again = await harness(backend);
    expect(again.lessor.leases().sort()).toEqual([1n, 2n]);
    expect(again.lessor.keysOf(L(1)).map(String)).toEqual(['a']);
    expect(again.lessor.keysOf(L(2)).map(String)).toEqual(['b']);
    expect(again.lessor.lookup(L(2))?.remainingTtlSeconds).toBe(99);
    await again.apply('revoke', encodeRevokeRequest(L(1)), 1);
    expect(await again.liveKeys()).toEqual(['b']);
    await again.store.close();
  });
});

describe('recoverAttachments', () => {
  it.each(['range pages', 'forEachLeasedKey'])('walks live keys (%s); keys naming unknown leases are orphans', async (how) => {
    const h = await harness();
    await h.apply('grant', encodeGrantRequest(L(1), 60n), 1);
    for (let i = 0; i < 7; i++) await h.put(`k${i}`, 'v', i % 2 === 0 ? L(1) : NO_LEASE);
    await h.put('k1', 'v2', L(1)); // a key's latest put decides
    await h.put('k2', 'v2', NO_LEASE);
    const source = how === 'range pages' ? { range: h.store.range.bind(h.store) } : h.store;
    const fresh = new Lessor({ minTtlSeconds: 2, clock: new ManualClock() });
    expect(await recoverAttachments(fresh, source, 3)).toEqual({ keys: 0, orphans: 4 });
    const b = h.backend.batch();
    fresh.grant(L(1), 60n, b);
    expect(await recoverAttachments(fresh, source, 3)).toEqual({ keys: 4, orphans: 0 });
    expect(fresh.keysOf(L(1)).map(String)).toEqual(['k0', 'k1', 'k4', 'k6']);
  });
});

describe('deterministic apply', () => {
  type Step =
    | { t: 'grant'; id: number; ttl: bigint }
    | { t: 'revoke'; id: number }
    | { t: 'expire'; id: number; term: number }
    | { t: 'checkpoint'; id: number; rem: number; term: number }
    | { t: 'put'; key: number; id: number };

  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({
      t: fc.constant('grant' as const),
      id: fc.integer({ min: 0, max: 6 }),
      ttl: fc.bigInt({ min: -3n, max: 9_000_000_005n }),
    }),
    fc.record({ t: fc.constant('revoke' as const), id: fc.integer({ min: 1, max: 6 }) }),
    fc.record({
      t: fc.constant('expire' as const),
      id: fc.integer({ min: 1, max: 6 }),
      term: fc.integer({ min: 1, max: 3 }),
    }),
    fc.record({
      t: fc.constant('checkpoint' as const),
      id: fc.integer({ min: 1, max: 6 }),
      rem: fc.nat(5000),
      term: fc.integer({ min: 1, max: 3 }),
    }),
    fc.record({
      t: fc.constant('put' as const),
      key: fc.integer({ min: 0, max: 8 }),
      id: fc.integer({ min: 0, max: 6 }),
    }),
  );

  async function run(
    h: LeaseHarness,
    steps: readonly Step[],
    entryTerm: number,
  ): Promise<unknown[]> {
    const trace: unknown[] = [];
    for (const s of steps) {
      if (s.t === 'put') {
        try {
          trace.push(['put', await h.put(`k${s.key}`, 'v', L(s.id))]);
        } catch (err) {
          trace.push(['put-error', isTsetcdError(err) ? err.code : String(err)]);
        }
        continue;
      }
      const [kind, payload]: [LeaseKind, Uint8Array] =
        s.t === 'grant'
          ? ['grant', encodeGrantRequest(L(s.id), s.ttl)]
          : s.t === 'revoke'
            ? ['revoke', encodeRevokeRequest(L(s.id))]
            : s.t === 'expire'
              ? ['expire', encodeExpire(s.term, L(s.id))]
              : [
                  'checkpoint',
                  encodeCheckpoint(s.term, [{ id: L(s.id), remainingTtlSeconds: s.rem }]),
                ];
      const o = await h.apply(kind, payload, entryTerm);
      trace.push(o.ok ? [kind, o.response, o.revision, o.ops] : [kind, o.error.code, o.ops]);
    }
    return trace;
  }

  it('the same entries give the same batches and answers on a leader and a follower', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        const clock = new ManualClock();
        const leader = await harness(new MemoryBackend(), clock);
        const follower = await harness(new MemoryBackend(), new ManualClock(123_456));
        leader.lessor.promote(1000, 2);
        const a = await run(leader, steps, 2);
        clock.advance(50_000); // the leader's clock never reaches apply
        const b = await run(follower, steps, 2);
        expect(a).toEqual(b);
        expect(await leader.liveKeys()).toEqual(await follower.liveKeys());
        expect(leader.lessor.leases().sort()).toEqual(follower.lessor.leases().sort());
      }),
      { numRuns: 40 },
    );
  });
});
