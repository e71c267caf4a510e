/**
 * The comparison's summary from synthetic sessions (no servers): medians, ratios,
 * the A/A band, verdicts, and the "tsetcd did not start" report on every row.
 */
import { describe, expect, it } from 'vitest';
import { profile } from '../../bench/compare-plan.js';
import { formatSummary, LABEL_A, LABEL_AA, LABEL_B, shortReason, summarize } from '../../bench/compare-report.js';
import type { SessionResult } from '../../bench/compare-session.js';

const quick = profile('quick', 3);

function session(label: string, round: number, scale: number): SessionResult {
  return {
    label,
    kind: label === LABEL_B ? 'tsetcd' : 'etcd',
    round,
    startToServingMs: 1000 * scale,
    cases: quick.cases.map((c) => ({
      caseId: c.id,
      metrics: Object.fromEntries(c.metrics.map((m) => [m.id, 100 * scale])),
      serverCpuCores: 0.5,
    })),
    footprint: { keys: quick.footprintKeys, peakRssBytes: 2 ** 26 * scale, diskBytes: 2 ** 27, restartToServingMs: 2000 * scale },
  };
}

describe('summarize', () => {
  it('reports ratios against the A/A band', () => {
    const sessions: SessionResult[] = [];
    for (let r = 1; r <= 3; r++) {
      sessions.push(session(LABEL_A, r, 1), session(LABEL_B, r, 2), session(LABEL_AA, r, r === 2 ? 1.1 : 1));
    }
    const { rows } = summarize(quick, sessions, undefined);
    const put = rows.find((r) => r.section === quick.cases[0]?.id && r.unit === 'ops/s');
    expect(put?.etcd).toBe(100);
    expect(put?.tsetcd).toBe(200);
    expect(put?.ratio).toBe(2);
    expect(put?.aaRatio).toBe(1);
    expect(put?.noiseBand).toBeCloseTo(0.1);
    expect(put?.verdict).toBe('met'); // throughput 2x >= 1.0 by more than 0.1
    const rss = rows.find((r) => r.metric.startsWith('peak RSS'));
    expect(rss?.ratio).toBe(2);
    expect(rss?.verdict).toBe('not met'); // 2x RSS > 1.5 by more than the band
  });

  it('marks every row when tsetcd did not start, while etcd and A/A still count', () => {
    const sessions: SessionResult[] = [];
    for (let r = 1; r <= 3; r++) sessions.push(session(LABEL_A, r, 1), session(LABEL_AA, r, 1));
    const reason = '3-member tsetcd did not start (not retried): member exited (code 1) before serving; log tail:\n{"x":1}\ntsetcd: needs the peer transport';
    const { rows, costs } = summarize(quick, sessions, reason);
    expect(rows.length).toBeGreaterThan(quick.cases.length);
    for (const r of rows) {
      expect(r.note).toContain('tsetcd did not start');
      expect(r.note).toContain('needs the peer transport');
      expect(Number.isNaN(r.ratio)).toBe(true);
      expect(['n/a']).toContain(r.verdict);
      expect(Number.isFinite(r.etcd)).toBe(true);
      expect(r.aaRatio).toBe(1);
    }
    const text = formatSummary(rows, costs);
    expect(text).toContain('all rows: tsetcd did not start');
  });

  it('withholds the verdict when tsetcd runs had errors', () => {
    const sessions: SessionResult[] = [];
    for (let r = 1; r <= 3; r++) {
      const b = session(LABEL_B, r, 2);
      const first = b.cases[0];
      if (first !== undefined) first.error = 'server died during "put": exited';
      sessions.push(session(LABEL_A, r, 1), b, session(LABEL_AA, r, 1));
    }
    const { rows } = summarize(quick, sessions, undefined);
    const put = rows.find((r) => r.section === quick.cases[0]?.id && r.unit === 'ops/s');
    expect(put?.verdict).toBe('tsetcd errors');
    expect(put?.note).toContain('tsetcd run failed');
  });

  it('shortReason keeps the first line and the server\'s last words', () => {
    expect(shortReason('a; log tail:\nnoise\nfatal: x')).toBe('a — fatal: x');
    expect(shortReason('single')).toBe('single');
  });
});
