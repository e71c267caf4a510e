/**
 * The pass criteria (test/jepsen/README.md) that do not belong to a checker:
 * every kill, pause and partition aimed at the leader caused a leader change (a higher
 * term with a known leader, seen by the monitor before the fault healed plus a grace
 * period), enough ok ops before the first fault, fewer than 10 % unknown writes, and no
 * write acknowledged inside a window where only a learner or a removed member would have
 * made the quorum (nemesis/membership.ts).
 */
import type { HistoryRecord, LeaderSample, Op } from '../history/op.js';
import type { ScheduledFault } from './schedule.js';

export function leaderChangeProblems(
  records: readonly HistoryRecord[],
  schedule: readonly ScheduledFault[],
  graceMs: number,
): string[] {
  const samples = records.filter((r): r is LeaderSample => r.kind === 'leader');
  const problems: string[] = [];
  for (const f of schedule) {
    if (!f.expectsLeaderChange) continue;
    const before = samples.filter((s) => s.at <= f.startAt && s.leader !== null);
    const termBefore = Math.max(f.termAtStart, ...before.map((s) => s.term));
    const next = schedule.find((g) => g.startAt > f.startAt)?.startAt ?? Number.POSITIVE_INFINITY;
    const until = Math.min(next, (f.stopAt ?? Number.POSITIVE_INFINITY) + graceMs);
    const changed = samples.some(
      (s) => s.at > f.startAt && s.at <= until && s.leader !== null && s.term > termBefore,
    );
    if (!changed) {
      problems.push(
        `${f.kind} on ${f.targets.join(',')} at ${f.startAt.toFixed(0)} ms caused no leader change (term stayed ${termBefore})`,
      );
    }
  }
  return problems;
}

/**
 * A write invoked inside a quorumless window (ScheduledFault.quorumless) and acknowledged
 * before it closed committed without a quorum of voters: a learner or a removed member
 * was counted. Writes invoked earlier may have been acknowledged by a voter before it
 * was killed, so they do not count.
 */
export function quorumlessProblems(
  ops: readonly Op[],
  isWrite: (op: Op) => boolean,
  schedule: readonly ScheduledFault[],
): string[] {
  const problems: string[] = [];
  for (const f of schedule) {
    for (const w of f.quorumless ?? []) {
      const bad = ops.filter((o) => o.type === 'ok' && isWrite(o) && o.call >= w.from && o.ret <= w.to);
      if (w.acked.length > 0) {
        problems.push(`${w.acked.length} of ${w.probes} probe writes acknowledged with no quorum of voters (${w.why}): ${w.acked.slice(0, 3).join('; ')}`);
      }
      if (bad.length > 0) {
        problems.push(
          `${bad.length} writes acknowledged with no quorum of voters (${w.why}, ${w.from.toFixed(0)}-${w.to.toFixed(0)} ms): ` +
            bad.slice(0, 3).map((o) => `op ${o.id} ${o.f} ${o.key ?? ''} at ${o.call.toFixed(0)}-${o.ret.toFixed(0)} ms`).join('; '),
        );
      }
    }
  }
  return problems;
}

export interface WriteStats {
  readonly sent: number;
  readonly ok: number;
  readonly info: number;
  readonly fail: number;
  readonly notSent: number;
  readonly infoRatio: number;
}

export function writeStats(ops: readonly Op[], isWrite: (op: Op) => boolean): WriteStats {
  let ok = 0;
  let info = 0;
  let fail = 0;
  let notSent = 0;
  for (const op of ops) {
    if (!isWrite(op)) continue;
    if (op.error === 'not-sent') notSent++;
    else if (op.type === 'ok') ok++;
    else if (op.type === 'info') info++;
    else fail++;
  }
  const sent = ok + info + fail;
  return { sent, ok, info, fail, notSent, infoRatio: sent === 0 ? 0 : info / sent };
}

export function okBefore(ops: readonly Op[], t: number): number {
  return ops.filter((o) => o.type === 'ok' && o.ret < t).length;
}

/** Lines of member logs that show a crash or a broken invariant (C5). */
export function logProblems(name: string, log: string): string[] {
  const out: string[] = [];
  for (const line of log.split('\n')) {
    if (/AssertionError|"level":"fatal"|"level":60|panic|Uncaught|FATAL ERROR/.test(line)) {
      out.push(`${name}: ${line.slice(0, 300)}`);
      if (out.length >= 5) break;
    }
  }
  return out;
}
