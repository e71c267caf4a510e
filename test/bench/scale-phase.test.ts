/**
 * The scale profile's readers (bench/scale-phase.ts): GC pauses from tsetcd's "gc pauses"
 * log lines within a load window, Prometheus samples from a /metrics text (etcd's
 * go_gc_duration_seconds and leader changes), one case per key count with the
 * issue's targets, and `--scale-keys` lists (several sizes in one run, one case each).
 */
import { describe, expect, it } from 'vitest';
import { gcFromLog, parseScaleKeys, sampleValue, scaleCaseId, scaleCases } from '../../bench/scale-phase.js';
import { caseKeys } from '../../bench/tables.js';

describe('scale profile readers', () => {
  it('sums the gc pauses lines inside the window only', () => {
    const line = (ts: string, total: number, max: number): string =>
      JSON.stringify({ level: 'info', ts, msg: 'gc pauses', count: 3, 'total-pause-ms': total, 'max-pause-ms': max });
    const log = [
      line('2026-12-07T10:00:00.000Z', 100, 90), // before the window
      '{"level":"info","ts":"2026-12-07T10:00:05.000Z","msg":"ready to serve client requests"}',
      line('2026-12-07T10:00:11.000Z', 5, 2),
      'not json "gc pauses"',
      line('2026-12-07T10:00:12.000Z', 7.5, 6),
      line('2026-12-07T10:00:30.000Z', 50, 40), // after it
    ].join('\n');
    const from = Date.parse('2026-12-07T10:00:10.000Z');
    const to = Date.parse('2026-12-07T10:00:20.000Z');
    expect(gcFromLog(log, from, to)).toEqual({ maxMs: 6, totalMs: 12.5, lines: 2 });
    expect(gcFromLog(log, to + 60_000, to + 70_000).lines).toBe(0);
  });

  it('reads a sample by name and label, not a longer name', () => {
    const text = [
      '# HELP go_gc_duration_seconds A summary of the GC invocation durations.',
      'go_gc_duration_seconds{quantile="0.5"} 0.0001',
      'go_gc_duration_seconds{quantile="1"} 0.0042',
      'go_gc_duration_seconds_sum 0.25',
      'etcd_server_leader_changes_seen_total_x 9',
      'etcd_server_leader_changes_seen_total 2',
    ].join('\n');
    expect(sampleValue(text, 'go_gc_duration_seconds', 'quantile="1"')).toBe(0.0042);
    expect(sampleValue(text, 'go_gc_duration_seconds_sum')).toBe(0.25);
    expect(sampleValue(text, 'etcd_server_leader_changes_seen_total')).toBe(2);
    expect(sampleValue(text, 'etcd_absent')).toBeNaN();
  });

  it('one case per key count, with the issue targets', () => {
    const cases = scaleCases([10_000, 1_000_000]);
    expect(cases.map((c) => c.id)).toEqual([scaleCaseId(10_000), 'scale 1M keys of 1 KiB']);
    const t = Object.fromEntries((cases[0]?.metrics ?? []).map((m) => [m.id, m.target === undefined ? '' : `${m.target.op} ${m.target.value}`]));
    expect(t).toMatchObject({ rss: '<= 1.5', anon: '<= 1.5', restart: '<= 1.5', load_max: '<= 2', seq_p50: '<= 1.2', seq_p99: '<= 1.5' });
  });

  it('--scale-keys takes a list, with k and M, smallest first; bad or repeated counts are refused', () => {
    expect(parseScaleKeys('10000')).toEqual([10_000]);
    expect(parseScaleKeys('10000,100000')).toEqual([10_000, 100_000]);
    expect(parseScaleKeys('1M, 10k,100k')).toEqual([10_000, 100_000, 1_000_000]);
    expect(parseScaleKeys('1.5M,300_000')).toEqual([300_000, 1_500_000]);
    for (const bad of ['', '0', '-5', '10k,', 'ten', '1.5', '10x', '1e6']) expect(() => parseScaleKeys(bad), bad).toThrow(/--scale-keys/);
    expect(() => parseScaleKeys('10k,10000')).toThrow(/10000 keys given twice/);
  });

  it('every key count gets a case id of its own that the table generator reads back', () => {
    const counts = parseScaleKeys('500,10k,100k,300k,1M,1.5M,6M');
    const ids = scaleCases(counts).map((c) => c.id);
    expect(new Set(ids).size).toBe(counts.length);
    expect(ids.map(caseKeys)).toEqual(counts);
    expect(ids[0]).toBe('scale 500 keys of 1 KiB');
    expect(caseKeys('put 64c/8conn 256B')).toBeUndefined();
  });
});
