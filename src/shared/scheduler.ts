/**
 * Injected timers. The server, lease expiry and the transport schedule work through
 * a Scheduler, so the simulator can run them on simulated time (docs/architecture.md §2).
 */
export interface Cancelable {
  cancel(): void;
}

export interface Scheduler {
  /** Run fn once after delayMs. */
  after(delayMs: number, fn: () => void): Cancelable;
  /** Run fn every periodMs until canceled. */
  every(periodMs: number, fn: () => void): Cancelable;
  /** Run fn after the current event-loop turn's I/O callbacks (setImmediate). */
  soon(fn: () => void): void;
}

export const systemScheduler: Scheduler = {
  after(delayMs, fn) {
    const t = setTimeout(fn, delayMs);
    return { cancel: () => clearTimeout(t) };
  },
  every(periodMs, fn) {
    const t = setInterval(fn, periodMs);
    return { cancel: () => clearInterval(t) };
  },
  soon(fn) {
    setImmediate(fn);
  },
};
