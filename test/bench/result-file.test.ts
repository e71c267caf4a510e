/**
 * The committed result file of a comparison (bench/result-file.ts): its name, the command
 * line it records, the commit and dirty flag of a real git tree, and that a file written
 * from summary rows reads back with every figure (NaN as null) while a truncated one is
 * refused.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SummaryRow } from '../../bench/compare-report.js';
import {
  commandLine,
  figuresOf,
  parseResultFile,
  type ResultFile,
  resultName,
  tsetcdBuild,
} from '../../bench/result-file.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function gitTree(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-result-file-'));
  dirs.push(dir);
  const git = (...args: string[]): string =>
    execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' });
  git('init', '-q');
  mkdirSync(join(dir, 'src', 'cli'), { recursive: true });
  mkdirSync(join(dir, 'bin'), { recursive: true });
  writeFileSync(join(dir, 'bin', 'tsetcd'), '#!/bin/sh\n');
  mkdirSync(join(dir, 'dist', 'src', 'cli'), { recursive: true });
  writeFileSync(join(dir, '.gitignore'), 'dist/\n');
  writeFileSync(join(dir, 'src', 'cli', 'main.ts'), 'export {};\n');
  writeFileSync(join(dir, 'dist', 'src', 'cli', 'main.js'), 'export {};\n');
  writeFileSync(join(dir, 'dist', 'tsetcd.mjs'), 'export {};\n');
  // dist/ built after src/ was written
  utimesSync(join(dir, 'src', 'cli', 'main.ts'), new Date(1000_000), new Date(1000_000));
  git('add', '-A');
  git('commit', '-q', '-m', 'x');
  return dir;
}

describe('result file', () => {
  it('is named by UTC start, profile and member count', () => {
    const at = new Date('2026-12-07T01:30:05.123Z');
    const p = { name: 'quick', members: 1, rounds: 3, only: null, footprint: true };
    expect(resultName(at, p)).toBe('2026-12-07T01-30-05Z-quick-1member');
    expect(resultName(at, { ...p, members: 3, only: 'watch-scale', footprint: false })).toBe(
      '2026-12-07T01-30-05Z-quick-3member-only-watch-scale-no-footprint',
    );
  });

  it('records the command as it can be typed again', () => {
    expect(commandLine(['--quick', '--members', '1', '--only', 'put 1c'], true)).toBe(
      "npm run bench:compare -- --quick --members 1 --only 'put 1c'",
    );
    expect(commandLine(['--rounds', '3'], false)).toBe('node dist/bench/compare.js --rounds 3');
  });

  it('records the commit, and a change outside bench/results/ as dirty', () => {
    const dir = gitTree();
    const head = execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const launcher = join(dir, 'bin', 'tsetcd');
    const clean = tsetcdBuild(launcher);
    expect(clean.commit).toBe(head);
    expect(clean.dirty).toBe(false);
    expect(clean.distOlderThanSrc).toBe(false);

    mkdirSync(join(dir, 'bench', 'results'), { recursive: true });
    writeFileSync(join(dir, 'bench', 'results', 'earlier-run.json'), '{}\n');
    expect(tsetcdBuild(launcher).dirty).toBe(false);

    writeFileSync(join(dir, 'src', 'cli', 'main.ts'), 'export const changed = 1;\n');
    const dirty = tsetcdBuild(launcher);
    expect(dirty.dirty).toBe(true);
    expect(dirty.dirtyPaths).toEqual([' M src/cli/main.ts']);
    expect(dirty.distOlderThanSrc).toBe(true);
  });

  it('follows the launcher into its own tree (--tsetcd-bin of another checkout)', () => {
    const dir = gitTree();
    const head = execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    expect(tsetcdBuild(join(dir, 'bin', 'tsetcd')).commit).toBe(head);
  });

  it('outside a git tree has no commit and is dirty', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-no-git-'));
    dirs.push(dir);
    const b = tsetcdBuild(join(dir, 'bin', 'tsetcd'));
    expect(b.commit).toBe(null);
    expect(b.dirty).toBe(true);
  });

  it('reads back every figure, NaN as null, and refuses a truncated file', () => {
    const rows: SummaryRow[] = [
      {
        section: 'put 1c sequential',
        metric: 'p50 latency',
        unit: 'ms',
        etcd: 1.5,
        tsetcd: 3,
        ratio: 2,
        aaRatio: 1.02,
        noiseBand: 0.1,
        target: { op: '<=', value: 1.2 },
        verdict: 'not met',
        note: '',
      },
      { section: 'startup', metric: 'fresh start', unit: 'ms', etcd: 500, tsetcd: Number.NaN, ratio: Number.NaN, aaRatio: 1, noiseBand: 0.2, verdict: 'n/a', note: 'tsetcd did not start' },
    ];
    const file: ResultFile = {
      format: 1,
      name: 'n',
      command: 'npm run bench:compare -- --quick',
      startedAt: '2026-12-07T01:30:05.123Z',
      finishedAt: '2026-12-07T01:38:05.123Z',
      tsetcd: { commit: 'a'.repeat(40), dirty: false, dirtyPaths: [], distOlderThanSrc: false, launcher: 'bin/tsetcd' },
      etcd: { version: '3.4.23', bin: 'etcd' },
      machine: { cores: 2, memoryBytes: 2 ** 33, cpuModel: 'cpu', kernel: 'Linux 6', node: 'v20.0.0' },
      load: { before: [5, 4, 3], after: [6, 5, 4], max1MinDuring: 7, samplesDuring: 30 },
      profile: { name: 'quick', members: 1, rounds: 3, only: null, footprint: true },
      tsetcdUnavailable: null,
      generatorCeiling: { opsPerSec: 4000, generatorCores: 0.9, runs: 2, error: null },
      figures: figuresOf(rows),
      costs: [{ case: 'put 1c sequential', etcdServerCores: 0.3, tsetcdServerCores: null, generatorCores: 0.2, maxWorkerElu: 0.5, generatorSaturatedRuns: 0 }],
      rawFile: 'bench/results/raw/n.json',
    };
    const text = JSON.stringify(file);
    const back = parseResultFile(text, 'f');
    expect(back).toEqual(file);
    expect(back.figures[0]?.target).toBe('<= 1.2');
    expect(back.figures[1]?.tsetcd).toBe(null);
    const truncated: Record<string, unknown> = JSON.parse(text);
    delete truncated['load'];
    expect(() => parseResultFile(JSON.stringify(truncated), 'f')).toThrow(/"load"/);
  });
});
