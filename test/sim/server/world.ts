/**
 * Simulated time for the whole-server simulator: one event queue ordered by (virtual
 * time, sequence), a Clock reading virtual time, and a Scheduler per member
 * incarnation. A crashed incarnation's timers never fire again (its process is gone).
 *
 * Determinism: each event runs, then every promise continuation it caused runs before
 * the next event (`settle` waits one macrotask; the SimFileLayer and FileLogBackend
 * resolve in microtasks, nothing here does real I/O), so a seed replays exactly.
 */
import type { Clock } from '../../../src/shared/clock.js';
import type { Cancelable, Scheduler } from '../../../src/shared/scheduler.js';
import { EventQueue } from '../raft/event-queue.js';

/** One incarnation of a member process; `alive` goes false at its crash. */
export interface Incarnation {
  alive: boolean;
  readonly label: string;
}

interface Ev {
  readonly at: number;
  readonly seq: number;
  readonly owner: Incarnation | undefined;
  readonly fn: () => void;
  canceled: boolean;
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class SimWorld {
  private readonly queue = new EventQueue<Ev>();
  private seq = 0;
  now = 0;
  eventsRun = 0;

  readonly clock: Clock = {
    nowMs: () => this.now,
    wallMs: () => 1_700_000_000_000 + this.now,
  };

  /** Runs fn at now + delayMs, unless its owner has crashed by then. */
  at(delayMs: number, fn: () => void, owner?: Incarnation): Cancelable {
    const ev: Ev = { at: this.now + Math.max(0, delayMs), seq: this.seq++, owner, fn, canceled: false };
    this.queue.push(ev);
    return { cancel: () => void (ev.canceled = true) };
  }

  /** A promise that resolves after delayMs of virtual time (never, if owner crashes). */
  sleep(delayMs: number, owner?: Incarnation): Promise<void> {
    return new Promise((resolve) => this.at(delayMs, resolve, owner));
  }

  schedulerFor(owner: Incarnation): Scheduler {
    return {
      after: (delayMs, fn) => this.at(delayMs, fn, owner),
      every: (periodMs, fn) => {
        let current: Cancelable | undefined;
        let stopped = false;
        const arm = (): void => {
          current = this.at(periodMs, () => {
            if (stopped) return;
            arm();
            fn();
          }, owner);
        };
        arm();
        return {
          cancel: () => {
            stopped = true;
            current?.cancel();
          },
        };
      },
      soon: (fn) => void this.at(0, fn, owner),
    };
  }

  /** Runs events until virtual time passes `untilMs` (or the queue empties). */
  async runUntil(untilMs: number, afterEach?: () => void): Promise<void> {
    for (;;) {
      const ev = this.queue.pop();
      if (ev === undefined) {
        this.now = untilMs;
        return;
      }
      if (ev.at > untilMs) {
        this.queue.push(ev);
        this.now = untilMs;
        return;
      }
      this.now = ev.at;
      if (ev.canceled || (ev.owner !== undefined && !ev.owner.alive)) continue;
      this.eventsRun++;
      ev.fn();
      await settle();
      afterEach?.();
    }
  }

  /** Runs until `cond` holds (checked after each event) or virtual time reaches untilMs. */
  async runWhile(untilMs: number, cond: () => boolean): Promise<boolean> {
    while (this.now < untilMs) {
      if (!cond()) return true;
      await this.runUntil(Math.min(untilMs, this.now + 10));
    }
    return !cond();
  }
}
