/**
 * The Jepsen matrix (testing-reference §7): each row starts a fresh cluster in network
 * namespaces, runs a workload under faults, and must pass every criterion of test/jepsen/README.md.
 * JEPSEN_PROFILE=long runs the full grid; JEPSEN_SEED replays one seed; JEPSEN_ONLY=<name
 * substrings, comma-separated> runs matching rows only. On failure the report (seed, schedule, problems,
 * smallest failing window) is printed and the results folder keeps the member logs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { requireTools } from '../helpers/require-tool.js';
import { destroyLiveClusters } from './cluster/cluster.js';
import { matrixFor, profileFromEnv } from './run/profiles.js';
import { readRunLines, summaryTable } from './run/results.js';
import { resultsRoot, runJepsen } from './run/runner.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const profile = profileFromEnv();
const only = process.env['JEPSEN_ONLY']?.split(',').filter((s) => s !== '');
const rows = matrixFor(profile).filter(
  (r) => only === undefined || only.some((o) => r.name.includes(o)),
);

afterEach(destroyLiveClusters);
// The profile's results table so far (rewritten after every row, so a run cut short
// still leaves its table): <results root>/summary-<profile>.md.
afterEach(() => {
  mkdirSync(resultsRoot(), { recursive: true });
  writeFileSync(join(resultsRoot(), `summary-${profile}.md`), `${summaryTable(readRunLines(resultsRoot()))}\n`);
});

describe(`jepsen ${profile} matrix`, () => {
  for (const row of rows) {
    it(
      row.name,
      async (ctx) => {
        // Network namespaces and iptables grudges need root, ip and iptables.
        requireTools(ctx, 'root', 'ip', 'iptables');
        const result = await runJepsen(row);
        console.log(result.report);
        expect(result.problems, result.report).toEqual([]);
        expect(result.passed).toBe(true);
      },
      profile === 'long' ? 900_000 : 180_000,
    );
  }
});
