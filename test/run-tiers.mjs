// `npm test` (docs/architecture.md §5): build, type-check the tests, then run the unit,
// integration and Jepsen tiers one after another. Every tier runs even when an earlier
// step or tier failed, so one unit failure never hides whether the others pass; the exit
// status is non-zero if anything failed.
//
// Each tier writes vitest's JSON report to REPORT_DIR/<tier>.json and the runner records
// every step's exit code in REPORT_DIR/tiers.json; test/tiers/summary.mjs turns them into
// the closing lines (per tier, then "N passed, N failed"), printed here and by .ci/run.
// REPORT_DIR is $CI_REPORT_DIR, or a fresh temporary directory.
//
// TIER_FILES_UNIT, TIER_FILES_INTEGRATION, TIER_FILES_JEPSEN (space-separated vitest file
// filters) narrow a tier to some files, e.g. to show the mechanism on a short run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize } from './tiers/summary.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'node_modules', '.bin');
const dir = process.env.CI_REPORT_DIR
  ? resolve(process.env.CI_REPORT_DIR)
  : mkdtempSync(join(tmpdir(), 'tsetcd-tiers-'));
mkdirSync(dir, { recursive: true });

const STEPS = [
  { kind: 'step', name: 'build', cmd: [join(BIN, 'tsc'), '-p', 'tsconfig.json'] },
  { kind: 'step', name: 'typecheck', cmd: [join(BIN, 'tsc'), '-p', 'test/tsconfig.json'] },
  { kind: 'tier', name: 'unit', config: 'test/vitest.config.ts', project: 'unit' },
  { kind: 'tier', name: 'integration', config: 'test/vitest.config.ts', project: 'integration' },
  { kind: 'tier', name: 'jepsen', config: 'test/jepsen/vitest.config.ts' },
];

const ran = [];
for (const step of STEPS) {
  ran.push({ kind: step.kind, name: step.name, exitCode: null });
  writeFileSync(join(dir, 'tiers.json'), JSON.stringify(ran, null, 1));
  let cmd = step.cmd;
  if (step.kind === 'tier') {
    const report = join(dir, `${step.name}.json`);
    rmSync(report, { force: true }); // never count a previous run's report
    const filters = (process.env[`TIER_FILES_${step.name.toUpperCase()}`] ?? '').split(/\s+/).filter(Boolean);
    cmd = [
      join(BIN, 'vitest'), 'run', '--config', step.config,
      ...(step.project ? ['--project', step.project] : []),
      '--reporter=default', '--reporter=json', `--outputFile.json=${report}`,
      ...filters,
    ];
  }
  console.log(`\n=== ${step.name}: ${cmd.map((c) => c.replace(`${ROOT}/`, '')).join(' ')}`);
  const started = Date.now();
  const res = spawnSync(cmd[0], cmd.slice(1), { cwd: ROOT, stdio: 'inherit' });
  const exitCode = res.status ?? (res.signal ? `signal ${res.signal}` : `error ${String(res.error)}`);
  ran[ran.length - 1] = { kind: step.kind, name: step.name, exitCode, seconds: Math.round((Date.now() - started) / 1000) };
  writeFileSync(join(dir, 'tiers.json'), JSON.stringify(ran, null, 1));
}

const { lines, failed } = summarize(dir);
console.log(`\n${lines.join('\n')}`);
const anyExit = ran.some((s) => s.exitCode !== 0);
process.exit(failed > 0 || anyExit ? 1 : 0);
