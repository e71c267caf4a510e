/**
 * Latency histogram in microseconds with log-linear buckets (HDR-style): values below
 * 2^SUB_BITS µs are exact, above that each power of two is cut into 2^SUB_BITS buckets,
 * so a reported percentile is within 1/2^SUB_BITS (about 1.6 %) of the true sample.
 * Buckets are plain counts, so worker threads merge by adding arrays; min, max and the
 * sum stay exact. Memory is fixed (a few thousand counters) whatever the sample count,
 * which keeps recording off the generator's hot-path cost.
 */

const SUB_BITS = 6;
const SUB_COUNT = 1 << SUB_BITS;
/** Covers up to 2^40 µs (12 days): anything above is clamped into the top bucket. */
const MAX_EXP = 40;
const BUCKETS = (MAX_EXP - SUB_BITS + 2) * SUB_COUNT;

function bucketOf(us: number): number {
  const v = Math.max(0, Math.floor(us));
  if (v < SUB_COUNT) return v;
  let exp = Math.min(Math.floor(Math.log2(v)), MAX_EXP);
  // log2 may round up just below a power of two; step back so sub lands in range.
  if (exp < MAX_EXP && Math.floor(v / 2 ** (exp - SUB_BITS)) < SUB_COUNT) exp--;
  const shift = exp - SUB_BITS;
  const sub = Math.min(Math.floor(v / 2 ** shift), 2 * SUB_COUNT - 1); // in [SUB_COUNT, 2*SUB_COUNT)
  return (shift + 1) * SUB_COUNT + (sub - SUB_COUNT);
}

/** Lower bound and width of a bucket, in µs. */
function bucketRange(index: number): [number, number] {
  if (index < SUB_COUNT) return [index, 1];
  const shift = Math.floor(index / SUB_COUNT) - 1;
  const sub = (index % SUB_COUNT) + SUB_COUNT;
  return [sub * 2 ** shift, 2 ** shift];
}

/** Serializable form, posted between worker threads. */
export interface HistogramData {
  counts: number[];
  count: number;
  sumUs: number;
  minUs: number;
  maxUs: number;
}

export interface LatencySummary {
  count: number;
  minMs: number;
  avgMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sumUs = 0;
  minUs = Number.POSITIVE_INFINITY;
  maxUs = 0;

  recordMs(ms: number): void {
    this.recordUs(ms * 1000);
  }

  recordUs(us: number): void {
    const v = us < 0 ? 0 : us;
    const i = bucketOf(v);
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.count++;
    this.sumUs += v;
    if (v < this.minUs) this.minUs = v;
    if (v > this.maxUs) this.maxUs = v;
  }

  merge(other: HistogramData): void {
    for (let i = 0; i < other.counts.length; i++) {
      const c = other.counts[i] ?? 0;
      if (c !== 0) this.counts[i] = (this.counts[i] ?? 0) + c;
    }
    this.count += other.count;
    this.sumUs += other.sumUs;
    if (other.count > 0) {
      this.minUs = Math.min(this.minUs, other.minUs);
      this.maxUs = Math.max(this.maxUs, other.maxUs);
    }
  }

  toData(): HistogramData {
    // Sparse-friendly: trailing zero buckets are dropped to keep messages small.
    let last = this.counts.length - 1;
    while (last >= 0 && this.counts[last] === 0) last--;
    return {
      counts: Array.from(this.counts.subarray(0, last + 1)),
      count: this.count,
      sumUs: this.sumUs,
      minUs: this.count === 0 ? 0 : this.minUs,
      maxUs: this.maxUs,
    };
  }

  static from(data: HistogramData): Histogram {
    const h = new Histogram();
    h.merge(data);
    return h;
  }

  /** The q-quantile (0 < q <= 1) in µs: the bucket's midpoint, clamped to [min, max]. */
  quantileUs(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) {
        const [lo, width] = bucketRange(i);
        const mid = width === 1 ? lo : lo + width / 2;
        return Math.min(this.maxUs, Math.max(this.minUs, mid));
      }
    }
    return this.maxUs;
  }

  summary(): LatencySummary {
    const ms = (us: number): number => Math.round(us) / 1000;
    return {
      count: this.count,
      minMs: this.count === 0 ? 0 : ms(this.minUs),
      avgMs: this.count === 0 ? 0 : ms(this.sumUs / this.count),
      p50Ms: ms(this.quantileUs(0.5)),
      p90Ms: ms(this.quantileUs(0.9)),
      p99Ms: ms(this.quantileUs(0.99)),
      p999Ms: ms(this.quantileUs(0.999)),
      maxMs: ms(this.maxUs),
    };
  }
}
