// Auto-compaction schedules against etcd's own v3compactor tests (periodic_test.go,
// revision_test.go): the same fake revision getter (each read returns the next
// revision) and the same expected compaction revisions, on a virtual clock.
import { describe, expect, it } from 'vitest';
import { startCompactor, formatDuration, type CompactionPolicy } from '../../src/compactor/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { nullLogger } from '../../src/shared/logger.js';
import type { Cancelable, Scheduler } from '../../src/shared/scheduler.js';

class VirtualScheduler implements Scheduler {
  private timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  constructor(private readonly clock: ManualClock) {}
  after(delayMs: number, fn: () => void): Cancelable {
    const t = { at: this.clock.nowMs() + delayMs, fn, live: true };
    this.timers.push(t);
    return { cancel: () => (t.live = false) };
  }
  every(): Cancelable {
    throw new Error('not used');
  }
  soon(fn: () => void): void {
    queueMicrotask(fn);
  }
  pending(): number {
    return this.timers.filter((t) => t.live).length;
  }
  /** Moves time forward by ms, running due timers in order and settling promises. */
  async advance(ms: number): Promise<void> {
    const end = this.clock.nowMs() + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.clock.advance(due.at - this.clock.nowMs());
      due.live = false;
      this.timers = this.timers.filter((t) => t.live);
      due.fn();
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
    this.clock.advance(end - this.clock.nowMs());
  }
}

function setup(policy: CompactionPolicy, opts: { fail?: (rev: number) => unknown } = {}) {
  const clock = new ManualClock();
  const scheduler = new VirtualScheduler(clock);
  const state = { rev: 0, compacted: [] as number[], attempts: 0 };
  const compactor = startCompactor(policy, {
    clock,
    scheduler,
    logger: nullLogger,
    currentRevision: () => ++state.rev,
    compact: (rev) => {
      state.attempts++;
      const err = opts.fail?.(rev);
      if (err !== undefined) return Promise.reject(err);
      state.compacted.push(rev);
      return Promise.resolve();
    },
    isAlreadyCompacted: (err) => err === 'compacted',
  });
  if (compactor === undefined) throw new Error('compactor disabled');
  compactor.resume();
  return { clock, scheduler, state, compactor };
}

describe('periodic auto-compaction', () => {
  it('2 h retention: first compaction after 2 h at the first sample, then hourly (TestPeriodicHourly)', async () => {
    const { scheduler, state, compactor } = setup({ mode: 'periodic', retentionMs: 2 * 3_600_000 });
    const retry = 360_000; // a tenth of min(2 h, 1 h)
    const retentions = 2 * 3_600_000 / retry + 1;
    for (let i = 0; i < retentions; i++) await scheduler.advance(retry);
    expect(state.compacted).toEqual([1]);
    for (let hour = 1; hour <= 3; hour++) {
      for (let j = 0; j < 10; j++) await scheduler.advance(retry);
      expect(state.compacted.at(-1)).toBe(hour * 10);
    }
    expect(state.compacted).toHaveLength(4);
    compactor.stop();
    expect(scheduler.pending()).toBe(0);
  });

  it('5 min retention: compacts every 5 min at the revision sampled 5 min earlier (TestPeriodicMinutes)', async () => {
    const { scheduler, state } = setup({ mode: 'periodic', retentionMs: 5 * 60_000 });
    const retry = 30_000;
    for (let i = 0; i < 11; i++) await scheduler.advance(retry);
    expect(state.compacted).toEqual([1]);
    for (let round = 1; round <= 3; round++) {
      for (let j = 0; j < 10; j++) await scheduler.advance(retry);
      expect(state.compacted.at(-1)).toBe(round * 10);
    }
  });

  it('paused (a follower): samples but never compacts; resumed: compacts again', async () => {
    const { scheduler, state, compactor } = setup({ mode: 'periodic', retentionMs: 60_000 });
    compactor.pause();
    for (let i = 0; i < 40; i++) await scheduler.advance(6_000);
    expect(state.compacted).toEqual([]);
    compactor.resume();
    await scheduler.advance(6_000);
    expect(state.compacted).toHaveLength(1);
    // The window's oldest sample is the revision read a retention earlier.
    expect(state.compacted[0]).toBe(state.rev - 11);
  });

  it('a failure retries one sample interval later; "already compacted" counts as done', async () => {
    let failures = 1;
    const { scheduler, state } = setup(
      { mode: 'periodic', retentionMs: 60_000 },
      { fail: () => (failures-- > 0 ? new Error('no leader') : undefined) },
    );
    for (let i = 0; i < 10; i++) await scheduler.advance(6_000);
    expect(state.attempts).toBe(1);
    expect(state.compacted).toEqual([]);
    await scheduler.advance(6_000);
    expect(state.attempts).toBe(2);
    expect(state.compacted).toHaveLength(1);

    const done = setup({ mode: 'periodic', retentionMs: 60_000 }, { fail: () => 'compacted' });
    for (let i = 0; i < 10; i++) await done.scheduler.advance(6_000);
    expect(done.state.attempts).toBe(1);
    // Treated as success: the next attempt waits a whole compact interval, not a retry.
    for (let i = 0; i < 9; i++) await done.scheduler.advance(6_000);
    expect(done.state.attempts).toBe(1);
    await done.scheduler.advance(6_000);
    expect(done.state.attempts).toBe(2);
  });

  it('retention 0 disables auto-compaction, as etcd', () => {
    const deps = {
      clock: new ManualClock(),
      scheduler: new VirtualScheduler(new ManualClock()),
      logger: nullLogger,
      currentRevision: () => 1,
      compact: () => Promise.resolve(),
      isAlreadyCompacted: () => false,
    };
    expect(startCompactor({ mode: 'periodic', retentionMs: 0 }, deps)).toBeUndefined();
    expect(startCompactor({ mode: 'revision', retentionRevisions: 0 }, deps)).toBeUndefined();
  });
});

describe('revision auto-compaction', () => {
  it('every 5 min compacts at current - retention, skipping a repeat (TestRevision)', async () => {
    const { scheduler, state } = setup({ mode: 'revision', retentionRevisions: 10 });
    await scheduler.advance(5 * 60_000);
    expect(state.compacted).toEqual([]); // rev 1 - 10 <= 0
    state.rev = 99;
    await scheduler.advance(5 * 60_000);
    expect(state.compacted).toEqual([90]);
    state.rev = 89; // the next read is 90 again: 80, a new revision, compacts
    await scheduler.advance(5 * 60_000);
    expect(state.compacted).toEqual([90, 80]);
    state.rev = 89; // 80 again: skipped
    await scheduler.advance(5 * 60_000);
    expect(state.compacted).toEqual([90, 80]);
    state.rev = 199;
    await scheduler.advance(5 * 60_000);
    expect(state.compacted).toEqual([90, 80, 190]);
  });

  it('paused: nothing; resumed: compacts at the next check (TestRevisionPause)', async () => {
    const { scheduler, state, compactor } = setup({ mode: 'revision', retentionRevisions: 10 });
    compactor.pause();
    state.rev = 99;
    await scheduler.advance(5 * 60_000);
    expect(state.compacted).toEqual([]);
    compactor.resume();
    state.rev = 99;
    await scheduler.advance(5 * 60_000);
    expect(state.compacted).toEqual([90]);
  });
});

describe('formatDuration', () => {
  it('prints durations as Go does', () => {
    expect(formatDuration(3_600_000)).toBe('1h0m0s');
    expect(formatDuration(300_000)).toBe('5m0s');
    expect(formatDuration(5_000)).toBe('5s');
    expect(formatDuration(1.5)).toBe('1.5ms');
  });
});
