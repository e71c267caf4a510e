/**
 * The nemesis schedule: after the warm-up, faults drawn from the run's list (seeded) start,
 * hold for a random time, heal, and leave a quiet gap, until the traffic phase ends; then
 * everything still active is healed. Every start and stop goes into the history, and the
 * schedule (what, whom, when, the term at start) into schedule.json.
 */
import type { SeededRng } from '../../../src/shared/rng.js';
import type { Cluster } from '../cluster/cluster.js';
import { sleep } from '../cluster/cluster.js';
import { findLeader } from '../cluster/status.js';
import type { Recorder } from '../history/recorder.js';
import type { ActiveFault, FaultKind, QuorumlessWindow, TargetRule } from '../nemesis/faults.js';
import { startFault } from '../nemesis/faults.js';

export interface ScheduledFault {
  readonly kind: FaultKind;
  readonly targets: readonly string[];
  readonly detail: string;
  readonly expectsLeaderChange: boolean;
  readonly startAt: number;
  readonly termAtStart: number;
  /** Spans in which no write may commit (ActiveFault.quorumless). */
  readonly quorumless?: readonly QuorumlessWindow[];
  stopAt?: number;
  error?: string;
}

export interface ScheduleOptions {
  readonly faults: readonly FaultKind[];
  readonly target: TargetRule;
  /** Faults in list order, round and round, instead of seeded draws (a row that must see each). */
  readonly inOrder?: boolean;
  readonly warmupMs: number;
  readonly holdMs: readonly [number, number];
  readonly quietMs: readonly [number, number];
  /** True once the workload has the baseline the first fault needs. */
  readonly warmedUp: () => boolean;
  /** How long to wait for a healthy cluster after a heal before the quiet gap. */
  readonly recoverMs: number;
}

export class Nemesis {
  readonly schedule: ScheduledFault[] = [];
  private active: { fault: ActiveFault; entry: ScheduledFault } | undefined;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly cluster: Cluster,
    private readonly recorder: Recorder,
    private readonly rng: SeededRng,
    private readonly options: ScheduleOptions,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  /** Stops scheduling, heals whatever is active, waits for the loop to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.healActive();
  }

  get firstFaultAt(): number | undefined {
    return this.schedule[0]?.startAt;
  }

  private async run(): Promise<void> {
    if (this.options.faults.length === 0) return;
    await this.sleepUnlessStopped(this.options.warmupMs);
    // A slow machine gets a longer warm-up, up to 4x: the first fault waits for the
    // workload's baseline (C4); the runner still checks it.
    const until = Date.now() + 3 * this.options.warmupMs;
    while (!this.stopped && !this.options.warmedUp() && Date.now() < until) await sleep(100);
    for (let n = 0; !this.stopped; n++) {
      const faults = this.options.faults;
      const kind = faults[this.options.inOrder === true ? n % faults.length : this.rng.int(faults.length)] as FaultKind;
      const term = (await findLeader(this.cluster, 2000))?.term ?? 0;
      const startAt = this.recorder.now();
      try {
        const fault = await startFault(kind, {
          cluster: this.cluster,
          rng: this.rng,
          target: this.options.target,
          note: (t) => this.recorder.note(t),
          now: () => this.recorder.now(),
        });
        const entry: ScheduledFault = {
          kind,
          targets: fault.targets,
          detail: fault.detail,
          expectsLeaderChange: fault.expectsLeaderChange,
          startAt,
          termAtStart: term,
          ...(fault.quorumless === undefined ? {} : { quorumless: fault.quorumless }),
        };
        this.schedule.push(entry);
        this.active = { fault, entry };
        this.recorder.nemesis({
          phase: 'start',
          fault: kind,
          targets: fault.targets,
          detail: fault.detail,
        });
      } catch (err) {
        this.recorder.note(`nemesis ${kind} could not start: ${String(err)}`);
        this.schedule.push({
          kind,
          targets: [],
          detail: 'not started',
          expectsLeaderChange: false,
          startAt,
          termAtStart: term,
          error: String(err),
        });
      }
      // The hold is never cut short: a fault that ends early may not cause what the
      // run's criteria expect of it (a leader change).
      await sleep(this.between(this.options.holdMs));
      await this.healActive();
      // The next fault waits until the cluster serves again (restarts are slow on a
      // loaded machine); otherwise faults pile up and none shows its own effect.
      await this.cluster
        .waitHealthy(this.options.recoverMs)
        .catch((err: unknown) =>
          this.recorder.note(
            `cluster not healthy ${this.options.recoverMs} ms after a heal: ${String(err)}`,
          ),
        );
      await this.sleepUnlessStopped(this.between(this.options.quietMs));
    }
  }

  private async healActive(): Promise<void> {
    const a = this.active;
    if (a === undefined) return;
    this.active = undefined;
    try {
      await a.fault.heal();
    } catch (err) {
      a.entry.error = `heal failed: ${String(err)}`;
      this.recorder.note(`nemesis ${a.entry.kind} heal failed: ${String(err)}`);
    }
    a.entry.stopAt = this.recorder.now();
    this.recorder.nemesis({ phase: 'stop', fault: a.entry.kind, targets: a.entry.targets });
  }

  private between([lo, hi]: readonly [number, number]): number {
    return lo + this.rng.int(Math.max(1, hi - lo + 1));
  }

  private async sleepUnlessStopped(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!this.stopped && Date.now() < until) await sleep(Math.min(100, until - Date.now()));
  }
}
