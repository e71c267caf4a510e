/**
 * The per-run line of a profile's results file: every run appends one JSON line to
 * <results root>/runs.jsonl, and summaryTable() turns those lines into the markdown
 * table committed for a recorded profile run (test/jepsen/README.md "Results").
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HistoryRecord } from '../history/op.js';

export interface RunLine {
  readonly name: string;
  readonly seed: number;
  readonly passed: boolean;
  readonly problems: readonly string[];
  readonly verdict: string;
  readonly ops: number;
  readonly faults: number;
  readonly leaderChanges: number;
  readonly unknownBefore: number;
  readonly committed: number;
  readonly notCommitted: number;
  readonly unresolved: number;
  readonly snapshotInstalls: number;
  readonly wallMs: number;
  readonly startedAt: string;
}

/** Terms in which the monitor saw some leader, minus the first: leader changes observed. */
export function leaderChanges(records: readonly HistoryRecord[]): number {
  const terms = new Set<number>();
  for (const r of records) if (r.kind === 'leader' && r.leader !== null) terms.add(r.term);
  return Math.max(0, terms.size - 1);
}

export function appendRunLine(root: string, line: RunLine): void {
  appendFileSync(join(root, 'runs.jsonl'), `${JSON.stringify(line)}\n`);
}

export function readRunLines(root: string): RunLine[] {
  const path = join(root, 'runs.jsonl');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as RunLine);
}

export function summaryTable(lines: readonly RunLine[]): string {
  const head = [
    '| row | seed | verdict | ops | faults | leader changes | unknown writes | committed | not committed | unresolved | snapshot installs | wall s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const rows = lines.map(
    (l) =>
      `| ${l.name} | ${l.seed} | ${l.passed ? 'PASS' : `FAIL: ${l.problems.join('; ').replace(/\|/g, '/').slice(0, 200)}`} | ${l.ops} | ${l.faults} | ${l.leaderChanges} | ${l.unknownBefore} | ${l.committed} | ${l.notCommitted} | ${l.unresolved} | ${l.snapshotInstalls} | ${(l.wallMs / 1000).toFixed(0)} |`,
  );
  const passed = lines.filter((l) => l.passed).length;
  const total = lines.reduce((s, l) => s + l.wallMs, 0);
  return [
    ...head,
    ...rows,
    '',
    `${lines.length} runs, ${passed} passed, ${lines.length - passed} failed; ${(total / 60_000).toFixed(1)} min of runs.`,
  ].join('\n');
}
