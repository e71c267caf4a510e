/**
 * The run criteria that are not checkers: leader change per leader-aimed fault (seen by the
 * monitor before the next fault), the unknown-write ratio, and the log scan.
 */
import { describe, expect, it } from 'vitest';
import type { HistoryRecord, LeaderSample } from '../history/op.js';
import { op } from '../checkers/fixtures.js';
import { leaderChangeProblems, logProblems, quorumlessProblems, writeStats } from './criteria.js';
import type { ScheduledFault } from './schedule.js';

const sample = (at: number, term: number, leader: string | null = 'n1'): LeaderSample => ({
  kind: 'leader',
  at,
  node: 'n2',
  leader,
  term,
});
const fault = (startAt: number, stopAt: number, expects = true): ScheduledFault => ({
  kind: 'kill',
  targets: ['n1'],
  detail: '',
  expectsLeaderChange: expects,
  startAt,
  stopAt,
  termAtStart: 2,
});

describe('run criteria', () => {
  it('wants a higher term with a leader after each leader-aimed fault', () => {
    const records: HistoryRecord[] = [sample(0, 2), sample(150, 3, null), sample(300, 3, 'n2')];
    expect(leaderChangeProblems(records, [fault(100, 200)], 1000)).toEqual([]);
    expect(
      leaderChangeProblems([sample(0, 2), sample(150, 3, null)], [fault(100, 200)], 1000),
    ).toHaveLength(1);
    expect(leaderChangeProblems([sample(0, 2)], [fault(100, 200, false)], 1000)).toEqual([]);
  });

  it('does not credit a fault with the leader change of the next fault', () => {
    const records: HistoryRecord[] = [sample(0, 2), sample(500, 3)];
    const problems = leaderChangeProblems(records, [fault(100, 200), fault(400, 450)], 10_000);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/at 100 ms/);
  });

  it('counts unknown writes among the writes that were sent', () => {
    const isWrite = (o: { f: string }): boolean => o.f === 'write';
    const ops = [
      op('write', 0, 1, {}, {}),
      op('write', 0, 1, {}, null, { type: 'info' }),
      op('write', 0, 1, {}, null, { type: 'fail' }),
      { ...op('write', 0, 1, {}, null, { type: 'fail' }), error: 'not-sent' },
      op('read', 0, 1, null, {}),
    ];
    const s = writeStats(ops, isWrite);
    expect(s).toMatchObject({ sent: 3, ok: 1, info: 1, fail: 1, notSent: 1 });
    expect(s.infoRatio).toBeCloseTo(1 / 3);
  });

  it('finds assertion failures and fatal lines in member logs', () => {
    expect(logProblems('n1', '{"level":"info","msg":"ok"}\n')).toEqual([]);
    expect(logProblems('n1', 'AssertionError: broken invariant\n')).toHaveLength(1);
    expect(logProblems('n1', '{"level":"fatal","msg":"x"}\n')).toHaveLength(1);
  });
});

describe('quorumless windows', () => {
  const win = (acked: string[] = []): ScheduledFault => ({
    ...fault(0, 10_000, false),
    kind: 'member-learner',
    quorumless: [{ from: 1000, to: 4000, why: 'learner n3 beside 1 of 2 voters', probes: 30, acked }],
  });
  const isWrite = (o: { f: string }): boolean => o.f === 'write';
  it('rejects a write invoked and acknowledged inside a window, or an acknowledged probe', () => {
    const inside = op('write', 1500, 1600, 1, null);
    const before = op('write', 900, 1200, 1, null);
    const after = op('write', 3900, 4100, 1, null);
    const read = op('read', 1500, 1600, null, 1);
    expect(quorumlessProblems([before, after, read], isWrite, [win()])).toEqual([]);
    expect(quorumlessProblems([inside], isWrite, [win()])[0]).toMatch(/1 writes acknowledged with no quorum of voters/);
    expect(quorumlessProblems([], isWrite, [win(['put 2 through n1 at 2000 ms'])])[0]).toMatch(/1 of 30 probe writes acknowledged/);
  });
});
