/**
 * Injected time. Core modules never read Date.now() or performance.now(); they ask a
 * Clock, so the deterministic simulator can own time (docs/architecture.md §6).
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (not wall time). */
  nowMs(): number;
  /** Wall-clock milliseconds since the epoch, for logs and ids only. */
  wallMs(): number;
}

export const systemClock: Clock = {
  nowMs: () => performance.now(),
  wallMs: () => Date.now(),
};

/** A clock the test moves by hand. */
export class ManualClock implements Clock {
  constructor(private monoMs = 0, private readonly wallOffsetMs = 1_700_000_000_000) {}
  nowMs(): number {
    return this.monoMs;
  }
  wallMs(): number {
    return this.wallOffsetMs + this.monoMs;
  }
  advance(ms: number): void {
    this.monoMs += ms;
  }
}
