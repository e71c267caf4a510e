/**
 * The scale profile's kube-apiserver-like mix step without servers (bench/scale-mix.ts,
 * bench/scale-phase.ts): the Go loadgen flags it sends, the figures it reads from the
 * loadgen's output, the mix case per key count with the issue's two 1.5x targets, the
 * summary's verdicts (a watch event without prev_kv is an error of the mix case only)
 * and the tables' rows. The Go side runs against a real etcd in go-client.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { profile } from '../../bench/compare-plan.js';
import { LABEL_A, LABEL_AA, LABEL_B, summarize } from '../../bench/compare-report.js';
import type { SessionResult } from '../../bench/compare-session.js';
import { type GoOutput, goResult } from '../../bench/go-client.js';
import { figuresOf } from '../../bench/result-file.js';
import { MIX, mixArgs, mixMetrics, mixOf, parseMixSeconds } from '../../bench/scale-mix.js';
import { mixCaseId, scaleCaseId, scaleCases } from '../../bench/scale-phase.js';
import { caseKeys, renderTable } from '../../bench/tables.js';
import { synthetic } from './synthetic-result.js';

const lat = (p50: number, p99: number): GoOutput['latency'] => ({ count: 100, minMs: 1, avgMs: p50, p50Ms: p50, p90Ms: p99, p99Ms: p99, p999Ms: p99, maxMs: p99 + 1 });

/** A mix output as main.go prints it (Result with its `mix` part). */
function goMix(scale: number, prevKvMissing = 0): GoOutput {
  const errors: Record<string, number> = prevKvMissing > 0 ? { 'watch event without prev_kv': prevKvMissing } : {};
  return {
    workload: 'mix',
    okOps: 7500,
    errorOps: prevKvMissing,
    elapsedMs: 15_000,
    throughputOpsPerSec: 500 / scale,
    latency: lat(2 * scale, 20 * scale),
    errors,
    cpuSeconds: 3,
    wallSeconds: 20,
    mix: {
      writeOp: 'txn',
      lists: Math.round(60 / scale),
      listObjects: 10_000,
      list: lat(150 * scale, 300 * scale),
      page: lat(8 * scale, 30 * scale),
      conflicts: 2,
      watchEvents: 8000,
      watchExpected: 8000,
      prevKvMissing,
      leaseCycles: 900,
      lease: lat(3, 9),
    },
  };
}

describe('scale mix step', () => {
  it('asks the Go loadgen for the mix over the loaded keys, listing at most what was loaded', () => {
    const common = ['--endpoints=https://127.0.0.1:1', '--prefix=/scale/', '--key-size=24'];
    const a = mixArgs(300_000, 15, 2, common);
    expect(a[0]).toBe('--workload=mix');
    expect(a).toEqual(expect.arrayContaining([...common, '--from=0', '--to=300000', '--list-objects=10000', '--page-size=500', '--duration=15s', '--seed=2']));
    expect(a).toEqual(expect.arrayContaining([`--listers=${MIX.listers}`, `--clients=${MIX.writers}`, `--conns=${MIX.writerConns}`, `--rate=${MIX.rate}`, '--write-op=txn']));
    expect(a.find((x) => x.startsWith('--lease-ttl='))).toMatch(/=([1-5]\d|60)$/); // TTL 10-60 s
    expect(mixArgs(4000, 15, 1, [])).toContain('--list-objects=4000');
  });

  it('--scale-mix takes seconds >= 0 (0 leaves the step out)', () => {
    expect(parseMixSeconds(15)).toBe(15);
    expect(parseMixSeconds(0)).toBe(0);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => parseMixSeconds(bad)).toThrow(/--scale-mix/);
  });

  it('reads list, write, watch and lease figures from the loadgen output', () => {
    const m = mixMetrics(goMix(1));
    expect(m).toEqual({
      list_p99: 300,
      list_p50: 150,
      page_p99: 30,
      lists: 60,
      write_p99: 20,
      write_p50: 2,
      writes: 500,
      watch_events: 8000,
      prevkv_missing: 0,
      lease_cycles: 900,
    });
    const { mix: _, ...plain } = goMix(1);
    expect(mixOf(plain)).toBeUndefined();
    expect(() => mixMetrics(plain)).toThrow(/no mix figures/);
    expect(mixOf({ ...plain, mix: { lists: 'x' } })).toBeUndefined();
  });

  it('adds a mix case per key count when asked, with list and write p99 targeted at 1.5x', () => {
    expect(scaleCases([10_000]).map((c) => c.id)).toEqual([scaleCaseId(10_000)]);
    const cases = scaleCases([10_000, 300_000], true);
    expect(cases.map((c) => c.id)).toEqual([scaleCaseId(10_000), mixCaseId(10_000), scaleCaseId(300_000), mixCaseId(300_000)]);
    expect(cases.map((c) => caseKeys(c.id))).toEqual([10_000, 10_000, 300_000, 300_000]);
    const mix = cases[1]?.metrics ?? [];
    const targeted = mix.filter((m) => m.target !== undefined).map((m) => `${m.id} ${m.target?.op} ${m.target?.value}`);
    expect(targeted).toEqual(['list_p99 <= 1.5', 'write_p99 <= 1.5']);
    expect(new Set(mix.map((m) => m.label)).size).toBe(mix.length);
    // Every figure mixMetrics gives has a row.
    for (const id of Object.keys(mixMetrics(goMix(1)))) expect(mix.map((m) => m.id)).toContain(id);
  });

  /** Sessions of a 1-round 300k run: etcd at scale 1, tsetcd at `b`, the load case's figures all 1. */
  function run(b: number, prevKvMissingB = 0): SessionResult[] {
    const side = (label: string, scale: number, missing: number): SessionResult => {
      const out = goMix(scale, missing);
      return {
        label,
        kind: label === LABEL_B ? 'tsetcd' : 'etcd',
        round: 1,
        startToServingMs: 500,
        cases: [
          { caseId: scaleCaseId(300_000), metrics: { load_ops: 1000, rss: 400 } },
          { caseId: mixCaseId(300_000), metrics: { ...mixMetrics(out), gc_max: 5 * scale }, result: goResult('mix', out), serverCpuCores: 1 },
        ],
      };
    };
    return [side(LABEL_A, 1, 0), side(LABEL_B, b, prevKvMissingB), side(LABEL_AA, 1, 0)];
  }
  const plan = { ...profile('quick', 1), cases: scaleCases([300_000], true) };

  it('gives the mix ratios and verdicts; a watch event without prev_kv withholds only the mix case', () => {
    const ok = summarize(plan, run(1.2), undefined).rows;
    const row = (rows: typeof ok, metric: string) => rows.find((r) => r.section === mixCaseId(300_000) && r.metric.startsWith(metric));
    expect(row(ok, 'p99 of a whole list')?.ratio).toBeCloseTo(1.2);
    expect(row(ok, 'p99 of a whole list')?.verdict).toBe('met');
    expect(row(ok, 'p99 write latency')?.verdict).toBe('met');
    expect(summarize(plan, run(2), undefined).rows.find((r) => r.metric.startsWith('p99 write latency'))?.verdict).toBe('not met');

    const bad = summarize(plan, run(1.2, 3), undefined).rows;
    expect(row(bad, 'p99 of a whole list')?.verdict).toBe('tsetcd errors');
    expect(row(bad, 'p99 of a whole list')?.note).toContain('tsetcd errors 3');
    expect(row(bad, 'non-create watch events without prev_kv')?.tsetcd).toBe(3);
    const load = bad.filter((r) => r.section === scaleCaseId(300_000));
    expect(load.length).toBeGreaterThan(0);
    for (const r of load) expect(r.verdict).not.toBe('tsetcd errors');
  });

  it('renders the mix rows in the figures table and by key count', () => {
    const { rows, costs } = summarize(plan, run(1.2), undefined);
    const file = synthetic({
      name: '2026-01-02T03-04-05Z-scale-1member',
      command: 'npm run bench:compare -- --scale --members 1 --scale-keys 300k',
      load: { before: [1, 1, 1], after: [1, 1, 1], max1MinDuring: 1, samplesDuring: 4 },
      profile: { name: 'scale', members: 1, rounds: 1, only: null, footprint: true },
      generatorCeiling: null,
      figures: figuresOf(rows),
      costs: costs.map((c) => ({ case: c.section, etcdServerCores: c.etcdServerCores, tsetcdServerCores: c.tsetcdServerCores, generatorCores: c.generatorCores, maxWorkerElu: null, generatorSaturatedRuns: 0 })),
    });
    const table = renderTable(file, 'results/x.json');
    expect(table).toContain(`| ${mixCaseId(300_000)} | p99 of a whole list (up to 10k objects, pages of 500) | 300.00 ms | 360.00 ms | 1.20 |`);
    const byKeys = renderTable(file, 'results/x.json', 'by-keys');
    expect(byKeys).toContain('| p99 write latency (Txn MOD==rev ? Put : Get) | 300,000 | 20.00 ms | 24.00 ms | 1.20 |');
    expect(renderTable(file, 'results/x.json', 'cpu')).toContain(`| ${mixCaseId(300_000)} | 1.00 | 1.00 |`);
  });
});
