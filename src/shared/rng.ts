/**
 * Injected randomness: a small seeded PRNG (xoshiro128**) so every random choice in
 * raft, the simulator and id generation replays exactly from a seed.
 */
export interface Rng {
  /** Uniform integer in [0, n). n must be a positive safe integer below 2^32. */
  int(n: number): number;
  /** Uniform float in [0, 1). */
  float(): number;
  /** 64 random bits. */
  uint64(): bigint;
}

function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class SeededRng implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    const next = splitmix32(seed);
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Next 32 random bits as an unsigned integer. */
  next32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  int(n: number): number {
    if (!(n > 0 && n <= 0x1_0000_0000 && Number.isInteger(n))) throw new RangeError(`rng.int(${n})`);
    return Math.floor((this.next32() / 0x1_0000_0000) * n);
  }

  float(): number {
    return this.next32() / 0x1_0000_0000;
  }

  uint64(): bigint {
    return (BigInt(this.next32()) << 32n) | BigInt(this.next32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** An Rng backed by the OS's randomness, for production ids. */
export function systemRng(): Rng {
  // Seeded from crypto once; the PRNG itself is fine for election jitter and ids
  // that only need to be unlikely to collide.
  const seed = (globalThis.crypto.getRandomValues(new Uint32Array(1))[0] ?? 1) >>> 0;
  return new SeededRng(seed);
}
