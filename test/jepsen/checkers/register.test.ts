/**
 * Self-tests of the WGL search and the versioned-register checker: known-good and
 * known-bad histories by hand, generated linearizable histories (must pass), and the same
 * histories with one read made stale or impossible (must fail), plus the failing window.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Op } from '../history/op.js';
import { op, registerHistoryArb } from './fixtures.js';
import {
  checkRegister,
  checkRevisionOrder,
  relevantRegisterOps,
  versionedRegister,
} from './register.js';
import { checkLinearizable } from './wgl.js';
import { smallestFailingWindow } from './window.js';

const w = (
  call: number,
  ret: number,
  value: number,
  version: number | null,
  type: 'ok' | 'info' = 'ok',
): Op => op('write', call, ret, { value }, version === null ? null : { version }, { type });
const r = (call: number, ret: number, version: number, value: number | null): Op =>
  op('read', call, ret, null, { version, value });
const cas = (
  call: number,
  ret: number,
  from: number,
  to: number,
  out: unknown,
  type: 'ok' | 'info' = 'ok',
): Op => op('cas', call, ret, { from, to }, out, { type });

describe('versioned register (hand-written)', () => {
  it('accepts a sequential history and concurrent reads of either side of a write', () => {
    const h = [w(0, 10, 1, 1), r(20, 30, 1, 1), w(40, 60, 2, 2), r(45, 50, 1, 1), r(55, 70, 2, 2)];
    expect(checkRegister(h).valid).toBe(true);
  });

  it('rejects a stale read after a completed write', () => {
    const h = [w(0, 10, 1, 1), w(20, 30, 2, 2), r(40, 50, 1, 1)];
    const v = checkRegister(h);
    expect(v.valid).toBe(false);
    expect(v.failures[0]?.result.valid).toBe(false);
  });

  it('rejects a lost acknowledged write (version never observed)', () => {
    const h = [w(0, 10, 1, 1), w(20, 30, 1, 2), r(40, 50, 1, 1)];
    expect(checkRegister(h).valid).toBe(false);
  });

  it('rejects two writes that both claim version 1 (a duplicate or a split brain)', () => {
    const h = [w(0, 10, 1, 1), w(20, 30, 2, 1)];
    expect(checkRegister(h).valid).toBe(false);
  });

  it('an info write may or may not have happened', () => {
    expect(checkRegister([w(0, 10, 7, null, 'info'), r(20, 30, 0, null)]).valid).toBe(true);
    expect(checkRegister([w(0, 10, 7, null, 'info'), r(20, 30, 1, 7)]).valid).toBe(true);
    expect(
      checkRegister([w(0, 10, 7, null, 'info'), r(20, 30, 1, 7), r(40, 50, 0, null)]).valid,
    ).toBe(false);
  });

  it('a failed write is dropped, a failed cas must see another value', () => {
    const failed = op('write', 0, 10, { value: 3 }, null, { type: 'fail' });
    expect(checkRegister([failed, r(20, 30, 0, null)]).valid).toBe(true);
    expect(checkRegister([w(0, 10, 1, 1), cas(20, 30, 1, 2, { succeeded: false })]).valid).toBe(
      false,
    );
    expect(checkRegister([w(0, 10, 1, 1), cas(20, 30, 0, 2, { succeeded: false })]).valid).toBe(
      true,
    );
    expect(
      checkRegister([
        w(0, 10, 1, 1),
        cas(20, 30, 1, 2, { succeeded: true, version: 2 }),
        r(40, 50, 2, 2),
      ]).valid,
    ).toBe(true);
    expect(
      checkRegister([w(0, 10, 1, 1), cas(20, 30, 3, 2, { succeeded: true, version: 2 })]).valid,
    ).toBe(false);
  });

  it('an info cas applies only where its guard holds', () => {
    const h = [w(0, 10, 1, 1), cas(20, 30, 1, 4, null, 'info'), r(40, 50, 2, 4)];
    expect(checkRegister(h).valid).toBe(true);
    const h2 = [w(0, 10, 1, 1), cas(20, 30, 3, 4, null, 'info'), r(40, 50, 2, 4)];
    expect(checkRegister(h2).valid).toBe(false);
  });

  it('reports unknown when the search budget runs out', () => {
    const h = Array.from({ length: 12 }, (_, i) => w(0, 100, i, null, 'info'));
    h.push(r(200, 210, 12, 99));
    const res = checkLinearizable(relevantRegisterOps(h), versionedRegister, { maxSteps: 50 });
    expect(res.valid).toBe('unknown');
  });

  it('finds the smallest failing window around the stale read', () => {
    const h = [
      w(0, 10, 1, 1),
      r(12, 14, 1, 1),
      w(20, 30, 2, 2),
      r(31, 33, 2, 2),
      r(40, 50, 1, 1),
      w(60, 70, 3, 3),
      r(80, 90, 3, 3),
    ];
    const illegal = (ops: readonly Op[]): boolean =>
      checkLinearizable(relevantRegisterOps(ops), versionedRegister).valid === false;
    const win = smallestFailingWindow(h, illegal, 2);
    expect(win?.lastStraw.id).toBe(h[4]?.id);
    expect(win?.ops.map((o) => o.id)).toEqual([h[2]?.id, h[3]?.id, h[4]?.id]);
  });

  it('checks header revisions in real-time order', () => {
    const a = op('write', 0, 10, { value: 1 }, { version: 1 }, { revision: 5 });
    const b = op('read', 20, 30, null, { version: 1, value: 1 }, { revision: 4 });
    expect(checkRevisionOrder([a, b])).toHaveLength(1);
    const c = op('write', 20, 30, { value: 2 }, { version: 2 }, { revision: 5 });
    expect(checkRevisionOrder([a, c])).toHaveLength(2); // not increasing, and shared
    const d = op('read', 5, 30, null, { version: 1, value: 1 }, { revision: 4 });
    expect(checkRevisionOrder([a, d])).toHaveLength(0); // concurrent: either order
  });
});

describe('versioned register (generated)', () => {
  it('accepts every generated linearizable history', () => {
    fc.assert(
      fc.property(registerHistoryArb(), ({ ops }) => {
        expect(checkRegister(ops).valid).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects the history once one read reports a version the key never had', () => {
    fc.assert(
      fc.property(registerHistoryArb(), fc.nat(), ({ ops, reads }, pick) => {
        fc.pre(reads.length > 0);
        const i = reads[pick % reads.length] as number;
        const read = ops[i] as Op;
        const out = read.output as { version: number; value: number | null };
        const bad = [...ops];
        bad[i] = { ...read, output: { version: out.version + 1000, value: out.value } };
        expect(checkRegister(bad).valid).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('rejects a read made stale: it returns the state before a write that completed before it', () => {
    fc.assert(
      fc.property(registerHistoryArb(60), fc.nat(), ({ ops, reads }, pick) => {
        // Find a read with an earlier ok write on its key that completed before it began.
        const candidates = reads.filter((ri) => {
          const rd = ops[ri] as Op;
          return ops.some(
            (o) =>
              o.key === rd.key &&
              o.type === 'ok' &&
              o.ret < rd.call &&
              (o.f === 'write' ||
                (o.f === 'cas' && (o.output as { succeeded: boolean }).succeeded)),
          );
        });
        fc.pre(candidates.length > 0);
        const i = candidates[pick % candidates.length] as number;
        const rd = ops[i] as Op;
        const before = ops.filter(
          (o) =>
            o.key === rd.key &&
            o.type === 'ok' &&
            o.ret < rd.call &&
            (o.f === 'write' || (o.f === 'cas' && (o.output as { succeeded: boolean }).succeeded)),
        );
        const lastW = before.sort((a, b) => a.ret - b.ret)[before.length - 1] as Op;
        const wroteVersion = (lastW.output as { version: number }).version;
        const bad = [...ops];
        bad[i] = { ...rd, output: { version: wroteVersion - 1, value: -1 } };
        expect(checkRegister(bad).valid).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});
