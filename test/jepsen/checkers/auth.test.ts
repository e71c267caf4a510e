/**
 * Self-tests of the auth-revoke checker: the denied windows a history's revokes and
 * grants make, ops inside them that succeed, values of refused writes seen later, and
 * histories that prove nothing.
 */
import { describe, expect, it } from 'vitest';
import type { Op } from '../history/op.js';
import { checkAuthRevoke, deniedWindows, NOT_GRANTED } from './auth.js';
import { op } from './fixtures.js';

const DENIED = 'PERMISSION_DENIED: etcdserver: permission denied';
const failed = (o: Op, type: 'fail' | 'info', error: string): Op => ({ ...o, type, output: null, error });
const read = (t: number, values: string[], type: 'ok' | 'fail' = 'ok'): Op => {
  const o = op('read', t, t + 5, null, { values });
  return type === 'ok' ? o : failed(o, type, DENIED);
};
const write = (t: number, value: string, type: 'ok' | 'fail' | 'info' = 'ok'): Op => {
  const o = op('write', t, t + 5, { value }, null);
  return type === 'ok' ? o : failed(o, type, type === 'fail' ? DENIED : 'DEADLINE_EXCEEDED: deadline exceeded');
};
const revoke = (t: number, ret: number, type: 'ok' | 'fail' | 'info' = 'ok', error = 'DEADLINE_EXCEEDED: deadline exceeded'): Op => {
  const o = op('revoke', t, ret, null, null);
  return type === 'ok' ? o : failed(o, type, error);
};
const grant = (t: number, ret: number): Op => op('grant', t, ret, null, null);
const final = (t: number, values: string[]): Op => op('final', t, t + 5, null, { values });

describe('auth-revoke checker', () => {
  const base = [write(0, 'a'), read(10, ['a']), revoke(100, 120), read(130, [], 'fail'), write(140, 'b', 'fail'), grant(200, 210), read(220, ['a'])];

  it('accepts refusals inside the window and successes outside it', () => {
    const v = checkAuthRevoke([...base, final(300, ['a'])]);
    expect(v).toMatchObject({ valid: true, windows: 1, refusedInWindows: 2, violations: [] });
  });

  it('an op invoked before the revoke was acknowledged may still succeed', () => {
    expect(checkAuthRevoke([...base, write(110, 'c'), read(115, ['c'])]).valid).toBe(true);
  });

  it('an op that ends after the grant was invoked may succeed', () => {
    expect(checkAuthRevoke([...base, op('read', 190, 215, null, { values: ['a'] })]).valid).toBe(true);
  });

  it('rejects a read or a write that succeeds inside a denied window', () => {
    const v = checkAuthRevoke([...base, read(150, ['a'])]);
    expect(v.valid).toBe(false);
    expect(v.violations[0]).toMatch(/read op \d+ on n1 succeeded inside the denied window \[120\.0, 200\.0\]/);
    expect(checkAuthRevoke([...base, write(150, 'c')]).valid).toBe(false);
  });

  it("rejects a refused or unknown write whose value shows up later, even after the grant", () => {
    const refused = checkAuthRevoke([...base, final(300, ['b'])]);
    expect(refused.valid).toBe(false);
    expect(refused.violations[0]).toMatch(/final op \d+ on n1 saw value b of write op \d+ \(fail\)/);
    expect(checkAuthRevoke([...base, write(150, 'u', 'info'), read(250, ['u'])]).valid).toBe(false);
  });

  it('a revoke retried after an unknown attempt opens the window at the "not granted" answer', () => {
    const h = [revoke(100, 2100, 'info'), revoke(2200, 2210, 'fail', `INVALID_ARGUMENT: etcdserver: ${NOT_GRANTED}`), grant(3000, 3010)];
    expect(deniedWindows(h)).toEqual([{ from: 2210, to: 3000 }]);
    // an unacknowledged revoke opens nothing
    expect(deniedWindows([revoke(100, 2100, 'info'), grant(3000, 3010)])).toEqual([]);
  });

  it('proves nothing without an acknowledged revoke, an earlier success, or a refusal inside', () => {
    expect(checkAuthRevoke([write(0, 'a'), read(10, ['a'])]).valid).toBe('unknown');
    expect(checkAuthRevoke([revoke(0, 5), read(130, [], 'fail')]).valid).toBe('unknown');
    expect(checkAuthRevoke([write(0, 'a'), revoke(100, 120), grant(200, 210)]).valid).toBe('unknown');
  });
});
