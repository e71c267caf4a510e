/**
 * Self-tests of the list-append checker: one hand-written history per anomaly class,
 * generated strictly serializable histories (must pass), and generated histories with a
 * read made stale (must fail with a cycle through a realtime edge).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Op } from '../history/op.js';
import type { Mop } from './elle.js';
import { checkListAppend } from './elle.js';
import { appendHistoryArb, op } from './fixtures.js';

const T = (call: number, ret: number, mops: Mop[], type: 'ok' | 'fail' | 'info' = 'ok'): Op =>
  op(
    'txn',
    call,
    ret,
    mops.map((m) => (m[0] === 'r' ? ['r', m[1], null] : m)),
    type === 'ok' ? mops : null,
    { type },
  );
const ap = (k: string, x: number): Mop => ['append', k, x];
const rd = (k: string, ...xs: number[]): Mop => ['r', k, xs];

function types(ops: Op[]): readonly string[] {
  return checkListAppend(ops).anomalyTypes;
}

describe('list-append anomalies (hand-written)', () => {
  it('accepts a serial history', () => {
    const h = [
      T(0, 10, [ap('a', 1)]),
      T(20, 30, [rd('a', 1), ap('a', 2)]),
      T(40, 50, [rd('a', 1, 2)]),
    ];
    expect(checkListAppend(h).valid).toBe(true);
  });

  it('G0: write cycle', () => {
    const h = [
      T(0, 100, [ap('a', 1), ap('b', 1)]),
      T(0, 100, [ap('a', 2), ap('b', 2)]),
      T(200, 210, [rd('a', 1, 2), rd('b', 2, 1)]),
    ];
    expect(types(h)).toContain('G0');
  });

  it('G1a: aborted read', () => {
    const h = [T(0, 10, [ap('a', 1)], 'fail'), T(20, 30, [rd('a', 1)])];
    expect(types(h)).toEqual(['G1a']);
  });

  it('G1b: intermediate read', () => {
    const h = [T(0, 100, [ap('a', 1), ap('a', 2)]), T(0, 100, [rd('a', 1)])];
    expect(types(h)).toContain('G1b');
  });

  it('G1c: circular information flow', () => {
    const h = [T(0, 100, [ap('a', 1), rd('b', 1)]), T(0, 100, [ap('b', 1), rd('a', 1)])];
    expect(types(h)).toContain('G1c');
  });

  it('G-single: read skew', () => {
    const h = [
      T(0, 100, [rd('a'), rd('b', 1)]),
      T(0, 100, [ap('a', 1), ap('b', 1)]),
      T(200, 210, [rd('a', 1)]),
    ];
    expect(types(h)).toEqual(['G-single']);
  });

  it('G2: write skew', () => {
    const h = [
      T(0, 100, [rd('a'), ap('b', 1)]),
      T(0, 100, [rd('b'), ap('a', 1)]),
      T(200, 210, [rd('a', 1), rd('b', 1)]),
    ];
    expect(types(h)).toEqual(['G2']);
  });

  it('realtime: a stale read after a completed append', () => {
    const h = [T(0, 10, [ap('a', 1)]), T(20, 30, [rd('a')]), T(40, 50, [rd('a', 1)])];
    const v = checkListAppend(h);
    expect(v.anomalyTypes).toEqual(['G-single-realtime']);
    expect(v.anomalies[0]?.explanation).toMatch(/rw/);
    // The same reads concurrent with the append are fine.
    expect(
      checkListAppend([T(0, 10, [ap('a', 1)]), T(5, 30, [rd('a')]), T(40, 50, [rd('a', 1)])]).valid,
    ).toBe(true);
  });

  it('realtime: a lost append (never read after it completed)', () => {
    const h = [T(0, 10, [ap('a', 1)]), T(20, 30, [ap('a', 2)]), T(40, 50, [rd('a', 2)])];
    expect(checkListAppend(h).valid).toBe(false);
  });

  it('G0-realtime: a write order against real time', () => {
    const h = [T(0, 10, [ap('a', 1)]), T(20, 30, [ap('a', 2)]), T(40, 50, [rd('a', 2, 1)])];
    expect(types(h)).toEqual(['G0-realtime']);
  });

  it('internal, duplicate, garbage and incompatible-order', () => {
    expect(types([T(0, 10, [ap('a', 5), rd('a')])])).toContain('internal');
    expect(types([T(0, 10, [ap('a', 1)]), T(20, 30, [rd('a', 1, 1)])])).toContain(
      'duplicate-elements',
    );
    expect(types([T(0, 10, [rd('a', 9)])])).toEqual(['garbage']);
    const h = [
      T(0, 100, [ap('a', 1)]),
      T(0, 100, [ap('a', 2)]),
      T(200, 210, [rd('a', 1, 2)]),
      T(200, 210, [rd('a', 2, 1)]),
    ];
    expect(types(h)).toContain('incompatible-order');
  });

  it('info txns count once one of their appends is seen', () => {
    const h = [T(0, 10, [ap('a', 1)], 'info'), T(20, 30, [rd('a', 1)]), T(40, 50, [rd('a', 1)])];
    expect(checkListAppend(h).valid).toBe(true);
    const h2 = [T(0, 10, [ap('a', 1)], 'info'), T(20, 30, [rd('a', 1)]), T(40, 50, [rd('a')])];
    expect(checkListAppend(h2).valid).toBe(false);
  });
});

describe('list-append (generated)', () => {
  it('accepts every generated strictly serializable history', () => {
    fc.assert(
      fc.property(appendHistoryArb(), ({ ops }) => {
        const v = checkListAppend(ops);
        expect(v.anomalies).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a history once a read drops an element appended before it began', () => {
    fc.assert(
      fc.property(appendHistoryArb(60), fc.nat(), ({ ops }, pick) => {
        // Reads that are the txn's first access to a key, with a last element whose
        // appender completed (ok) before the reading txn was invoked.
        const cands: { i: number; m: number }[] = [];
        ops.forEach((o, i) => {
          if (o.type !== 'ok') return;
          const seen = new Set<string>();
          (o.output as Mop[]).forEach((m, mi) => {
            if (m[0] === 'r' && !seen.has(m[1]) && (m[2]?.length ?? 0) > 0) {
              const last = (m[2] as number[])[(m[2] as number[]).length - 1];
              const w = ops.find(
                (x) =>
                  x.type === 'ok' &&
                  (x.input as Mop[]).some(
                    (y) => y[0] === 'append' && y[1] === m[1] && y[2] === last,
                  ),
              );
              if (w !== undefined && w.ret < o.call) cands.push({ i, m: mi });
            }
            seen.add(m[1]);
          });
        });
        fc.pre(cands.length > 0);
        const c = cands[pick % cands.length] as { i: number; m: number };
        const target = ops[c.i] as Op;
        const out = [...(target.output as Mop[])];
        const m = out[c.m] as ['r', string, number[]];
        out[c.m] = ['r', m[1], m[2].slice(0, -1)];
        const bad = [...ops];
        bad[c.i] = { ...target, output: out };
        expect(checkListAppend(bad).valid).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});
