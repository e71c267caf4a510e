/**
 * Reconnect delays: exponential backoff with jitter, from the injected Rng so a
 * simulated run replays exactly.
 *
 * attempt 0 waits about minMs, each failure doubles it up to maxMs; the actual delay is
 * drawn uniformly from [delay/2, delay] ("equal jitter"), so peers that lost a link at
 * the same moment do not redial in lock step, and a delay never drops below minMs/2.
 * A success resets the attempt count.
 */
import type { Rng } from '../../shared/rng.js';

export interface BackoffOptions {
  readonly minMs: number;
  readonly maxMs: number;
}

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly opts: BackoffOptions,
    private readonly rng: Rng,
  ) {
    if (!(opts.minMs > 0 && opts.maxMs >= opts.minMs)) {
      throw new RangeError(`backoff: need 0 < minMs <= maxMs, got ${opts.minMs}, ${opts.maxMs}`);
    }
  }

  /** The delay before the next attempt; counts one more failure. */
  nextDelayMs(): number {
    const exp = Math.min(this.attempt, 30);
    const ceiling = Math.min(this.opts.maxMs, this.opts.minMs * 2 ** exp);
    this.attempt++;
    return Math.round(ceiling / 2 + this.rng.float() * (ceiling / 2));
  }

  /** The number of failures since the last success. */
  get failures(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
