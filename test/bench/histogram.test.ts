/**
 * The bench's measuring pieces, without servers: histogram quantiles against exact
 * ones, merging across workers, share planning, and the verdict rule of the comparison.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Histogram } from '../../bench/histogram.js';
import { resolveOptions } from '../../bench/options.js';
import { planShares } from '../../bench/share.js';
import { median, noiseBand, ratios, verdict } from '../../bench/stats.js';

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? 0;
}

describe('Histogram', () => {
  it('quantiles are within 1/64 of the exact sample quantile', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5_000_000 }), { minLength: 1, maxLength: 400 }), (us) => {
        const h = new Histogram();
        for (const v of us) h.recordUs(v);
        const sorted = [...us].sort((a, b) => a - b);
        for (const q of [0.5, 0.9, 0.99, 1]) {
          const exact = exactQuantile(sorted, q);
          const got = h.quantileUs(q);
          expect(Math.abs(got - exact)).toBeLessThanOrEqual(Math.max(1, exact / 64));
        }
        expect(h.minUs).toBe(sorted[0]);
        expect(h.maxUs).toBe(sorted[sorted.length - 1]);
      }),
    );
  });

  it('merging per-worker data equals recording everything in one', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 200 }), fc.nat(), (us, cut) => {
        const split = cut % us.length;
        const a = new Histogram();
        const b = new Histogram();
        const all = new Histogram();
        us.forEach((v, i) => {
          (i < split ? a : b).recordUs(v);
          all.recordUs(v);
        });
        const merged = Histogram.from(a.toData());
        merged.merge(b.toData());
        expect(merged.summary()).toEqual(all.summary());
      }),
    );
  });
});

describe('planShares', () => {
  it('gives every client and connection to exactly one worker and splits --total exactly', () => {
    const opts = resolveOptions('put', ['http://127.0.0.1:1'], { clients: 64, conns: 8, total: 1001, rate: 500 });
    const specs = planShares(opts, 3);
    expect(specs.flatMap((s) => s.connIds).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(specs.flatMap((s) => s.clientIds).sort((a, b) => a - b)).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(specs.reduce((s, x) => s + x.total, 0)).toBe(1001);
    expect(specs.reduce((s, x) => s + x.rate, 0)).toBeCloseTo(500);
    for (const s of specs) for (const c of s.clientIds) expect(s.connIds).toContain(c % 8);
  });
});

describe('comparison statistics', () => {
  it('median, ratios and the noise band', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(ratios([2, undefined, 6], [1, 5, 3])).toEqual([2, 2]);
    expect(noiseBand([0.95, 1.02, 1.1])).toBeCloseTo(0.1);
  });

  it('a target is met only when the ratio is past it by more than the noise band', () => {
    expect(verdict(1.2, 0.1, { op: '>=', value: 1 })).toBe('met');
    expect(verdict(1.05, 0.1, { op: '>=', value: 1 })).toBe('inconclusive');
    expect(verdict(0.8, 0.1, { op: '>=', value: 1 })).toBe('not met');
    expect(verdict(1.0, 0.1, { op: '<=', value: 1.2 })).toBe('met');
    expect(verdict(1.25, 0.1, { op: '<=', value: 1.2 })).toBe('inconclusive');
    expect(verdict(1.35, 0.1, { op: '<=', value: 1.2 })).toBe('not met');
    // A ratio at the target itself, or one a wide band swallows, is never a success.
    expect(verdict(1.0, 0.1, { op: '>=', value: 1 })).toBe('inconclusive');
    expect(verdict(2.0, 1.5, { op: '>=', value: 1 })).toBe('inconclusive');
    expect(verdict(Number.NaN, 0.1, { op: '<=', value: 1.2 })).toBe('n/a');
  });
});
