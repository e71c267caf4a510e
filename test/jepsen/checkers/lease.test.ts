/**
 * Self-tests of the lease safety checker: expiry after the TTL, revokes, early expiry,
 * resurrection, non-atomic removal, keys coming back; plus generated histories of a
 * correct lessor (must pass) and the same histories with expiry moved before the TTL
 * (must fail).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Op } from '../history/op.js';
import { checkLeases } from './lease.js';
import { op } from './fixtures.js';

const grant = (t: number, id: string, ttl: number): Op =>
  op('grant', t, t + 5, { id, ttl }, { ttl });
const put = (t: number, key: string, lease: string): Op =>
  op('put', t, t + 5, { lease }, {}, { key });
const ka = (t: number, id: string, ttl: number): Op => op('keepalive', t, t + 5, { id }, { ttl });
const revoke = (t: number, id: string, type: 'ok' | 'info' = 'ok'): Op =>
  op('revoke', t, t + 5, { id }, {}, { type });
const read = (t: number, ...keys: string[]): Op => op('read', t, t + 5, null, { keys });

describe('lease safety (hand-written)', () => {
  const base = [grant(0, 'L', 3), put(10, 'a', 'L'), put(20, 'b', 'L'), read(30, 'a', 'b')];

  it('accepts expiry after the TTL and a revoke at any time', () => {
    expect(checkLeases([...base, read(3100)]).valid).toBe(true);
    expect(checkLeases([...base, revoke(100, 'L'), read(200)]).valid).toBe(true);
    expect(checkLeases([...base, revoke(100, 'L', 'info'), read(200)]).valid).toBe(true);
  });

  it('rejects expiry before the TTL after the last keep-alive', () => {
    const h = [...base, ka(1000, 'L', 3), read(3100)];
    const v = checkLeases(h);
    expect(v.valid).toBe(false);
    expect(v.violations[0]).toMatch(/expired early/);
    expect(checkLeases([...base, ka(1000, 'L', 3), read(4100)]).valid).toBe(true);
  });

  it('with a leader clock up to 2x, expiry may come at half the TTL, never sooner', () => {
    const h = [...base, ka(1000, 'L', 3), read(2600)];
    expect(checkLeases(h).valid).toBe(false);
    expect(checkLeases(h, 0, 2).valid).toBe(true);
    const v = checkLeases([...base, ka(1000, 'L', 3), read(2400)], 0, 2);
    expect(v.valid).toBe(false);
    expect(v.violations[0]).toMatch(/expired early.*at up to 2x/);
  });

  it('rejects a lease alive after its keys vanished', () => {
    const h = [...base, revoke(100, 'L'), read(200), ka(300, 'L', 3)];
    expect(checkLeases(h).violations.join()).toMatch(/alive after/);
    expect(checkLeases([...base, revoke(100, 'L'), read(200), ka(300, 'L', 0)]).valid).toBe(true);
  });

  it('rejects a partial removal and a key that comes back', () => {
    expect(checkLeases([...base, read(3100, 'b')]).violations.join()).toMatch(/not atomic/);
    expect(checkLeases([...base, read(3100), read(3200, 'a')]).violations.join()).toMatch(
      /came back/,
    );
  });

  it('keys not yet put are not missing', () => {
    const h = [grant(0, 'L', 3), put(10, 'a', 'L'), read(12), put(20, 'b', 'L')];
    expect(checkLeases(h).valid).toBe(true); // the read overlaps the put
  });
});

describe('lease safety (generated)', () => {
  const scenario = fc.record({
    ttl: fc.integer({ min: 1, max: 5 }),
    keepalives: fc.array(fc.integer({ min: 1, max: 900 }), { maxLength: 6 }),
    revokeAt: fc.option(fc.integer({ min: 50, max: 5000 }), { nil: undefined }),
    readGaps: fc.array(fc.integer({ min: 10, max: 700 }), { minLength: 1, maxLength: 30 }),
    early: fc.integer({ min: 1, max: 900 }),
  });

  /** A correct lessor: the lease ends at revoke or at last renewal + TTL, whichever first. */
  type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;
  function history(s: Scenario, earlyMs: number): Op[] {
    const ttlMs = s.ttl * 1000;
    const h: Op[] = [grant(0, 'L', s.ttl), put(10, 'a', 'L'), put(20, 'b', 'L')];
    let renewed = 0;
    let t = 30;
    const kas: number[] = [];
    for (const gap of s.keepalives) {
      t += gap;
      if (t >= renewed + ttlMs) break; // already expired: keep-alives would answer 0
      kas.push(t);
      renewed = t;
    }
    // Server-side renewal happens inside [call, ret]; use ret as the real renewal time.
    const end = Math.min(renewed + 5 + ttlMs - earlyMs, s.revokeAt ?? Number.POSITIVE_INFINITY);
    for (const k of kas) h.push(ka(k, 'L', k + 5 < end ? s.ttl : 0));
    if (s.revokeAt !== undefined) h.push(revoke(s.revokeAt - 3, 'L'));
    let rt = 30;
    for (const g of s.readGaps) {
      rt += g;
      const alive = rt + 5 < end;
      const dead = rt > end;
      if (!alive && !dead) continue; // the read overlaps the end: either answer is fine
      h.push(alive ? read(rt, 'a', 'b') : read(rt));
    }
    return h;
  }

  it('accepts every history of a correct lessor', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        expect(checkLeases(history(s, 0)).violations).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects expiry moved before the TTL when a read sees it', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        fc.pre(s.revokeAt === undefined);
        const h = history(s, s.early + 20);
        const ttlMs = s.ttl * 1000;
        const renewals = h.filter((o) => o.f === 'grant' || o.f === 'keepalive').map((o) => o.call);
        const bound = Math.max(...renewals) + ttlMs;
        const sawEarly = h.some(
          (o) =>
            o.f === 'read' && (o.output as { keys: string[] }).keys.length === 0 && o.ret < bound,
        );
        fc.pre(sawEarly);
        expect(checkLeases(h).valid).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
