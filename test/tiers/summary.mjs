// The closing lines of a test run (docs/architecture.md §5): one line per step and tier,
// then the plain "N passed, N failed[, N skipped]" line, alone and last.
//
// Input: a report directory written by test/run-tiers.mjs: `tiers.json` (each step's and
// tier's exit code) and one vitest 4 JSON report per tier (`unit.json`, ...).
// Invariant: a run can only look green if every expected tier left a report and every
// test in it passed. vitest's JSON report does not count everything that went wrong,
// so this reads what the report really holds (checked against vitest 4.1.12's reporter):
//   - a file whose beforeAll throws: testResults[].status 'failed', its tests 'skipped'
//     and no failed assertion -> its tests count as failed (at least 1);
//   - a file that throws on import: status 'failed', message set, no assertions -> 1 failed;
//   - a crashed worker (SIGKILL, process.exit in a test): the file says 'passed' and
//     `success` is true, but its tests are left 'pending' (still running or queued
//     when the run ended) -> each counts as failed;
//   - an unhandled error is in no report at all; vitest only exits non-zero -> a tier
//     whose exit code is not 0 and whose report shows no failure counts 1 failed;
//   - a tier with no report (vitest crashed, the runner died) counts 1 failed.
// Usage: node test/tiers/summary.mjs DIR   (exit status 1 when anything failed)
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TIERS = ['unit', 'integration', 'jepsen'];

/**
 * @param {unknown} report vitest's JSON report
 * @returns {{ passed: number, failed: number, skipped: number, notes: string[] }}
 */
export function countReport(report) {
  const out = { passed: 0, failed: 0, skipped: 0, notes: [] };
  const r = /** @type {{ testResults?: unknown }} */ (report ?? {});
  const files = Array.isArray(r.testResults) ? r.testResults : [];
  for (const file of files) {
    const raw = String(file?.name ?? '?');
    const name = isAbsolute(raw) ? relative(process.cwd(), raw) : raw;
    const assertions = Array.isArray(file?.assertionResults) ? file.assertionResults : [];
    const by = (s) => assertions.filter((a) => a?.status === s).length;
    const passed = by('passed');
    const failed = by('failed');
    const notRun = by('skipped') + by('todo');
    const pending = by('pending');
    out.passed += passed;
    if (pending > 0) {
      // Left running or queued when the run ended: the worker died under it.
      out.failed += pending;
      out.notes.push(`${name}: ${pending} test(s) never finished (worker crashed or exited)`);
    }
    if (file?.status === 'failed' && failed === 0) {
      // Failed outside any test: a hook, the file's import, or an afterAll.
      const count = Math.max(1, notRun);
      out.failed += count;
      const message = String(file?.message ?? '').split('\n')[0];
      out.notes.push(`${name}: failed outside its tests (hook or import): ${message || 'no message'}`);
    } else {
      out.failed += failed;
      out.skipped += notRun;
    }
  }
  return out;
}

/**
 * @param {string} dir report directory
 * @returns {{ lines: string[], failed: number }}
 */
export function summarize(dir) {
  const lines = [];
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const tiersFile = join(dir, 'tiers.json');
  /** @type {Array<{ name: string, kind: string, exitCode: number | null }>} */
  const ran = existsSync(tiersFile) ? JSON.parse(readFileSync(tiersFile, 'utf8')) : [];
  if (!existsSync(tiersFile)) {
    lines.push(`runner: no ${tiersFile} (the tier runner did not run or died): 1 failed`);
    failed += 1;
  }
  for (const step of ran.filter((s) => s.kind === 'step')) {
    const ok = step.exitCode === 0;
    lines.push(`${step.name}: ${ok ? 'ok' : `failed (exit ${step.exitCode})`}`);
    if (!ok) failed += 1;
  }
  for (const tier of TIERS) {
    const entry = ran.find((s) => s.kind === 'tier' && s.name === tier);
    const reportFile = join(dir, `${tier}.json`);
    let counts;
    if (!existsSync(reportFile)) {
      counts = { passed: 0, failed: 1, skipped: 0, notes: [`no report ${reportFile} (tier did not run or crashed)`] };
    } else {
      try {
        counts = countReport(JSON.parse(readFileSync(reportFile, 'utf8')));
      } catch (err) {
        counts = { passed: 0, failed: 1, skipped: 0, notes: [`unreadable report: ${String(err)}`] };
      }
      const exitCode = entry?.exitCode;
      if (entry === undefined) {
        counts.failed += 1;
        counts.notes.push('tiers.json does not record this tier (a stale report?)');
      } else if (exitCode !== 0 && counts.failed === 0) {
        counts.failed += 1;
        counts.notes.push(`vitest exited ${exitCode} with no failed test in its report (unhandled error or crash)`);
      }
    }
    passed += counts.passed;
    failed += counts.failed;
    skipped += counts.skipped;
    lines.push(`${tier}: ${line(counts.passed, counts.failed, counts.skipped)}`);
    for (const note of counts.notes) lines.push(`  ${tier}: ${note}`);
  }
  lines.push(line(passed, failed, skipped));
  return { lines, failed };
}

function line(passed, failed, skipped) {
  return `${passed} passed, ${failed} failed` + (skipped > 0 ? `, ${skipped} skipped` : '');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (dir === undefined) {
    console.error('usage: node test/tiers/summary.mjs REPORT_DIR');
    process.exit(2);
  }
  const { lines, failed } = summarize(dir);
  console.log(lines.join('\n'));
  process.exit(failed > 0 ? 1 : 0);
}
