/**
 * Human-readable output of one generator run: throughput, latency per kind
 * (min/avg/p50/p90/p99/max), errors by code, and the generator's own cost.
 */
import type { LatencySummary } from './histogram.js';
import type { BenchResult } from './runner.js';

export function fmt(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return String(n);
  return n >= 1000 ? Math.round(n).toString() : n.toFixed(digits);
}

/** Left-aligned first column, right-aligned others. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  '))
    .join('\n');
}

function latencyRow(name: string, s: LatencySummary): string[] {
  return [name, String(s.count), fmt(s.minMs), fmt(s.avgMs), fmt(s.p50Ms), fmt(s.p90Ms), fmt(s.p99Ms), fmt(s.maxMs)];
}

export function formatResult(r: BenchResult): string {
  const o = r.options;
  const lines: string[] = [];
  lines.push(
    `workload ${r.workload}: ${o.clients} clients over ${o.conns} conns, ${r.generator.workers} worker thread(s), ` +
      `endpoints ${o.endpoints.join(',')}`,
  );
  lines.push(
    `  ok ${r.okOps} ops in ${fmt(r.elapsedMs / 1000)} s = ${fmt(r.throughputOpsPerSec)} ops/s; errors ${r.errorOps}`,
  );
  if (r.eventsPerSec !== undefined) {
    lines.push(
      `  watch events delivered ${r.counters['eventsDelivered'] ?? 0} of ${r.counters['eventsExpected'] ?? 0} expected, ` +
        `${fmt(r.eventsPerSec)} events/s`,
    );
  }
  const rows: string[][] = [['latency (ms)', 'count', 'min', 'avg', 'p50', 'p90', 'p99', 'max']];
  rows.push(latencyRow('all ops', r.latency));
  const kinds = Object.keys(r.byKind).sort();
  if (kinds.length > 1 || kinds.some((k) => k === 'watch-delivery')) {
    for (const k of kinds) {
      const s = r.byKind[k];
      if (s !== undefined) rows.push(latencyRow(`  ${k}`, s));
    }
  }
  lines.push(
    table(rows)
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n'),
  );
  for (const [k, n] of Object.entries(r.errors).sort((a, b) => b[1] - a[1])) lines.push(`  error x${n}: ${k}`);
  const extra = Object.entries(r.counters).filter(([k]) => !k.startsWith('events') && k !== 'eventSpanMs');
  if (extra.length > 0) lines.push(`  counters: ${extra.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const g = r.generator;
  lines.push(
    `  generator: ${fmt(g.cpuCores)} CPU cores used of ${g.cores}; worker event-loop utilization ` +
      `${g.workerEventLoopUtilization.join(', ')}, worker thread CPU ${g.workerCpuCores.join(', ')} cores` +
      (g.saturated ? '  (SATURATED: the generator may be the bottleneck; add --conns/--workers)' : ''),
  );
  return lines.join('\n');
}
