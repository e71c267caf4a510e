/**
 * Auto-compaction, as etcd's v3compactor does it (etcdserver/api/v3compactor): the
 * leader compacts the key space on a schedule set by `auto-compaction-mode` and
 * `auto-compaction-retention` (docs/configuration.md).
 *
 * - periodic (retention as a duration): every tenth of min(retention, 1 h) the compactor
 *   samples the current revision into a sliding window of retention/interval + 1 samples,
 *   so the window's oldest sample is the revision of `retention` ago. Once `retention`
 *   has passed since start (then every min(retention, 1 h) after a success) it compacts
 *   at that oldest sample. A failure retries one sample interval later.
 * - revision (retention as a count): every 5 minutes, compact at current - retention when
 *   that is positive and differs from the last compaction.
 *
 * The compactor runs on every member but acts only while resumed: the member resumes it
 * when it becomes leader and pauses it otherwise (etcd does the same), so exactly one
 * member proposes compactions. It proposes through the same path as a client's Compact,
 * so every member applies the compaction at the same log position. A compaction refused
 * because the revision is already compacted counts as done, as in etcd.
 *
 * Time and timers are injected (docs/architecture.md §6); each step waits for the
 * previous compaction to settle, so at most one proposal is in flight.
 */
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Cancelable, Scheduler } from '../shared/scheduler.js';

export type CompactionPolicy =
  | { readonly mode: 'periodic'; readonly retentionMs: number }
  | { readonly mode: 'revision'; readonly retentionRevisions: number };

export interface CompactorDeps {
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  /** The store's current revision. */
  currentRevision(): number;
  /** Proposes a compaction at rev; resolves once it is applied. */
  compact(rev: number): Promise<void>;
  /** True for the store's "required revision has been compacted" refusal. */
  isAlreadyCompacted(err: unknown): boolean;
  /** Revision mode's check interval; etcd fixes it at 5 minutes (tests shorten it). */
  readonly revisionIntervalMs?: number;
}

export interface Compactor {
  /** Compactions run only while resumed (the member is the leader). */
  pause(): void;
  resume(): void;
  stop(): void;
}

const HOUR_MS = 3_600_000;
const RETRY_DIVISOR = 10;
export const REVISION_INTERVAL_MS = 5 * 60_000;

/**
 * The compactor for a policy, started paused; undefined when the retention is 0, which
 * disables auto-compaction in etcd (etcdserver/server.go).
 */
export function startCompactor(policy: CompactionPolicy, deps: CompactorDeps): Compactor | undefined {
  if (policy.mode === 'periodic') {
    return policy.retentionMs > 0 ? new PeriodicCompactor(policy.retentionMs, deps) : undefined;
  }
  return policy.retentionRevisions > 0 ? new RevisionCompactor(policy.retentionRevisions, deps) : undefined;
}

abstract class LoopCompactor implements Compactor {
  protected paused = true;
  private stopped = false;
  private timer: Cancelable | undefined;

  constructor(protected readonly deps: CompactorDeps) {}

  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** Waits intervalMs, then runs step unless stopped; step schedules the next wait. */
  protected wait(intervalMs: number, step: () => void): void {
    if (this.stopped) return;
    this.timer = this.deps.scheduler.after(intervalMs, () => {
      if (!this.stopped) step();
    });
  }

  /** Proposes one compaction; resolves true on success or when already compacted. */
  protected async tryCompact(rev: number): Promise<{ ok: boolean; error?: unknown }> {
    try {
      await this.deps.compact(rev);
      return { ok: true };
    } catch (err) {
      if (this.deps.isAlreadyCompacted(err)) return { ok: true };
      return { ok: false, error: err };
    }
  }
}

class PeriodicCompactor extends LoopCompactor {
  private readonly revs: number[] = [];
  private readonly compactIntervalMs: number;
  private readonly retryIntervalMs: number;
  private readonly retentions: number;
  private lastSuccessMs: number;
  private baseIntervalMs: number;

  constructor(private readonly periodMs: number, deps: CompactorDeps) {
    super(deps);
    this.compactIntervalMs = Math.min(periodMs, HOUR_MS);
    this.retryIntervalMs = this.compactIntervalMs / RETRY_DIVISOR;
    this.retentions = Math.floor(periodMs / this.retryIntervalMs) + 1;
    this.lastSuccessMs = deps.clock.nowMs();
    this.baseIntervalMs = periodMs;
    this.sample();
  }

  /** The top of etcd's loop: record the revision, then wait one retry interval. */
  private sample(): void {
    this.revs.push(this.deps.currentRevision());
    if (this.revs.length > this.retentions) this.revs.shift();
    this.wait(this.retryIntervalMs, () => void this.step());
  }

  private async step(): Promise<void> {
    if (this.paused || this.deps.clock.nowMs() - this.lastSuccessMs < this.baseIntervalMs) {
      this.sample();
      return;
    }
    if (this.baseIntervalMs === this.periodMs) this.baseIntervalMs = this.compactIntervalMs;
    const rev = this.revs[0] ?? this.deps.currentRevision();
    const fields = { revision: rev, 'compact-period': formatDuration(this.periodMs) };
    this.deps.logger.info(fields, 'starting auto periodic compaction');
    const startedMs = this.lastSuccessMs;
    const result = await this.tryCompact(rev);
    if (result.ok) {
      const nowMs = this.deps.clock.nowMs();
      this.deps.logger.info({ ...fields, took: formatDuration(nowMs - startedMs) }, 'completed auto periodic compaction');
      this.lastSuccessMs = nowMs;
    } else {
      this.deps.logger.warn(
        { ...fields, 'retry-interval': formatDuration(this.retryIntervalMs), error: errorText(result.error) },
        'failed auto periodic compaction',
      );
    }
    this.sample();
  }
}

class RevisionCompactor extends LoopCompactor {
  private prev = 0;
  private readonly intervalMs: number;

  constructor(private readonly retention: number, deps: CompactorDeps) {
    super(deps);
    this.intervalMs = deps.revisionIntervalMs ?? REVISION_INTERVAL_MS;
    this.wait(this.intervalMs, () => void this.step());
  }

  private async step(): Promise<void> {
    const rev = this.deps.currentRevision() - this.retention;
    if (!this.paused && rev > 0 && rev !== this.prev) {
      const fields = { revision: rev, 'revision-compaction-retention': this.retention };
      this.deps.logger.info(fields, 'starting auto revision compaction');
      const startedMs = this.deps.clock.nowMs();
      const result = await this.tryCompact(rev);
      if (result.ok) {
        this.prev = rev;
        const took = formatDuration(this.deps.clock.nowMs() - startedMs);
        this.deps.logger.info({ ...fields, took }, 'completed auto revision compaction');
      } else {
        this.deps.logger.warn(
          { ...fields, 'retry-interval': formatDuration(this.intervalMs), error: errorText(result.error) },
          'failed auto revision compaction',
        );
      }
    }
    this.wait(this.intervalMs, () => void this.step());
  }
}

/** A duration as zap prints Go's time.Duration (e.g. "1h0m0s", "5s", "1.5ms"). */
export function formatDuration(ms: number): string {
  if (ms < 1) return `${Math.round(ms * 1000)}µs`;
  if (ms < 1000) return `${Number(ms.toFixed(3))}ms`;
  const totalS = ms / 1000;
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS - h * 3600) / 60);
  const s = Number((totalS - h * 3600 - m * 60).toFixed(3));
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
