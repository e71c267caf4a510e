/**
 * Rate limit for repeated log lines about the same peer trouble: a peer that stays
 * down or misconfigured is retried every second, but etcd's logging.md wants warn/info
 * lines no more than every few seconds in steady state. The first line always passes.
 */
export class LogLimiter {
  private readonly last = new Map<string, number>();

  constructor(private readonly periodMs: number) {}

  allow(key: string, nowMs: number): boolean {
    const prev = this.last.get(key);
    if (prev !== undefined && nowMs - prev < this.periodMs) return false;
    this.last.set(key, nowMs);
    return true;
  }

  /** Forget a key, so the next line about it passes (e.g. after recovery). */
  reset(key: string): void {
    this.last.delete(key);
  }
}
