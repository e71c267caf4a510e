/**
 * How a comparison turns rounds into a verdict (docs/architecture.md §4):
 * - per round r, ratio_r = tsetcd_r / etcd_r and aa_r = etcdB_r / etcd_r, where etcd and
 *   etcdB are two independent etcd runs of the same round;
 * - the ratio reported is the median of ratio_r; the A/A noise band is the largest
 *   |aa_r − 1| over the rounds (how far etcd strays from itself on this machine);
 * - a target "ratio >= T" is met when median − T > band, "ratio <= T" when T − median >
 *   band; it is not met when the ratio misses T by more than the band; within ±band of T
 *   the run cannot tell, and says "inconclusive" (never read as parity or success).
 * Ratios are always tsetcd/etcd of the metric itself, so for latency, RSS and time a
 * ratio below 1 is better, for throughput above 1 is better.
 */

export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[mid] ?? Number.NaN) : ((v[mid - 1] ?? 0) + (v[mid] ?? 0)) / 2;
}

/** Per-round ratios a_r / b_r, skipping rounds where either side is missing or b is 0. */
export function ratios(a: ReadonlyArray<number | undefined>, b: ReadonlyArray<number | undefined>): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x !== undefined && y !== undefined && Number.isFinite(x) && Number.isFinite(y) && y !== 0) out.push(x / y);
  }
  return out;
}

export function noiseBand(aaRatios: readonly number[]): number {
  if (aaRatios.length === 0) return Number.NaN;
  return Math.max(...aaRatios.map((r) => Math.abs(r - 1)));
}

export interface Target {
  op: '>=' | '<=';
  value: number;
}

/**
 * 'inconclusive': the ratio lies within the A/A band of the target, so this run cannot
 * say which side of it tsetcd is on. 'tsetcd errors' / 'etcd errors': a side failed
 * requests, so its number is no verdict.
 */
export type Verdict = 'met' | 'not met' | 'inconclusive' | 'n/a' | 'tsetcd errors' | 'etcd errors';

export function verdict(ratio: number, band: number, target: Target | undefined): Verdict {
  if (target === undefined || !Number.isFinite(ratio) || !Number.isFinite(band)) return 'n/a';
  const margin = target.op === '>=' ? ratio - target.value : target.value - ratio;
  if (margin > band) return 'met';
  if (margin < -band) return 'not met';
  return 'inconclusive';
}
