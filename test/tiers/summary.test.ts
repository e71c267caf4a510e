// The closing lines of `npm test` and .ci/run (docs/architecture.md §5): fed the JSON
// reports vitest 4.1.12 really wrote for each way a run goes wrong (fixtures/, recorded
// from throwaway test files: a beforeAll that throws, a file that throws on import, a
// failing assertion, a test that SIGKILLs its worker, a timer that throws after its test,
// and a clean file with one skip), every failure must reach the "N failed" count.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const HERE = dirname(fileURLToPath(import.meta.url));
const SCRIPT = join(HERE, 'summary.mjs');
const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Tier {
  fixture?: string;
  exitCode: number;
}

/** Lays out a report dir as test/run-tiers.mjs writes it and runs the summary on it. */
function summary(tiers: Partial<Record<'unit' | 'integration' | 'jepsen', Tier>>, steps = { build: 0, typecheck: 0 }) {
  const dir = mkdtempSync(join(tmpdir(), 'tiers-'));
  dirs.push(dir);
  const ran: Array<{ kind: string; name: string; exitCode: number }> = [];
  for (const [name, exitCode] of Object.entries(steps)) ran.push({ kind: 'step', name, exitCode });
  for (const [name, tier] of Object.entries(tiers)) {
    ran.push({ kind: 'tier', name, exitCode: tier.exitCode });
    if (tier.fixture !== undefined) copyFileSync(join(HERE, 'fixtures', `${tier.fixture}.json`), join(dir, `${name}.json`));
  }
  writeFileSync(join(dir, 'tiers.json'), JSON.stringify(ran));
  let status = 0;
  let out: string;
  try {
    out = execFileSync(process.execPath, [SCRIPT, dir], { encoding: 'utf8', timeout: 20_000 });
  } catch (err) {
    const e = err as { status: number; stdout: string };
    status = e.status;
    out = e.stdout;
  }
  const lines = out.trimEnd().split('\n');
  return { status, lines, last: lines[lines.length - 1] };
}

const green = { fixture: 'ok', exitCode: 0 };

describe('closing lines', () => {
  it('a clean run: per-tier lines, then the plain total alone on the last line', () => {
    const s = summary({ unit: green, integration: green, jepsen: green });
    expect(s.status).toBe(0);
    expect(s.lines).toEqual([
      'build: ok',
      'typecheck: ok',
      'unit: 1 passed, 0 failed, 1 skipped',
      'integration: 1 passed, 0 failed, 1 skipped',
      'jepsen: 1 passed, 0 failed, 1 skipped',
      '3 passed, 0 failed, 3 skipped',
    ]);
  });

  it('a beforeAll that throws counts its tests as failed, not skipped', () => {
    const s = summary({ unit: { fixture: 'hook', exitCode: 1 }, integration: green, jepsen: green });
    expect(s.status).toBe(1);
    expect(s.lines).toContain('unit: 0 passed, 2 failed');
    expect(s.lines.join('\n')).toContain('failed outside its tests (hook or import): broken beforeAll');
    expect(s.last).toBe('2 passed, 2 failed, 2 skipped');
  });

  it('a file that throws on import counts as one failure', () => {
    const s = summary({ unit: { fixture: 'import', exitCode: 1 }, integration: green, jepsen: green });
    expect(s.lines).toContain('unit: 0 passed, 1 failed');
    expect(s.lines.join('\n')).toContain('throws on import');
    expect(s.last).toBe('2 passed, 1 failed, 2 skipped');
  });

  it('a failing assertion counts once and its passing neighbour still passes', () => {
    const s = summary({ unit: { fixture: 'fail', exitCode: 1 }, integration: green, jepsen: green });
    expect(s.lines).toContain('unit: 1 passed, 1 failed');
    expect(s.last).toBe('3 passed, 1 failed, 2 skipped');
  });

  it('a crashed worker (report says success) counts its unfinished tests as failed', () => {
    const s = summary({ unit: green, integration: { fixture: 'crash', exitCode: 1 }, jepsen: green });
    expect(s.lines).toContain('integration: 0 passed, 3 failed');
    expect(s.lines.join('\n')).toContain('never finished');
    expect(s.last).toBe('2 passed, 3 failed, 2 skipped');
  });

  it('an unhandled error (in no report, only the exit code) counts as one failure', () => {
    const s = summary({ unit: green, integration: green, jepsen: { fixture: 'unhandled', exitCode: 1 } });
    expect(s.lines).toContain('jepsen: 2 passed, 1 failed');
    expect(s.last).toBe('4 passed, 1 failed, 2 skipped');
  });

  it('a tier with no report counts as failed, and so does a failed build step', () => {
    const s = summary({ unit: green, integration: { exitCode: 1 } }, { build: 2, typecheck: 0 });
    expect(s.status).toBe(1);
    expect(s.lines).toContain('build: failed (exit 2)');
    expect(s.lines).toContain('integration: 0 passed, 1 failed');
    expect(s.lines).toContain('jepsen: 0 passed, 1 failed');
    expect(s.last).toBe('1 passed, 3 failed, 1 skipped');
  });
});
