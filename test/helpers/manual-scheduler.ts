/**
 * A Scheduler the test drives by hand: `every` tasks are recorded (and run by `tick`),
 * `after` tasks are dropped, `soon` runs at once.
 */
import type { Cancelable, Scheduler } from '../../src/shared/scheduler.js';

export class ManualScheduler implements Scheduler {
  readonly periodic: Array<{ periodMs: number; fn: () => void; cancelled: boolean }> = [];
  after(): Cancelable {
    return { cancel: () => {} };
  }
  every(periodMs: number, fn: () => void): Cancelable {
    const t = { periodMs, fn, cancelled: false };
    this.periodic.push(t);
    return { cancel: () => (t.cancelled = true) };
  }
  soon(fn: () => void): void {
    fn();
  }
  /** Runs every live periodic task once. */
  tick(): void {
    for (const t of this.periodic) if (!t.cancelled) t.fn();
  }
  get live(): number {
    return this.periodic.filter((t) => !t.cancelled).length;
  }
}
