// The etcd-mixin alerts in docs/alerts/etcd-alerts.yml: `promtool check rules` accepts
// them and `promtool test rules` fires each tested alert on recorded series named as
// tsetcd exposes them (docs/alerts/etcd-alerts.test.yml). A copy with one expression
// broken must fail the same unit tests, so the check is not vacuous.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/processes.js';
import { requireTools } from '../helpers/require-tool.js';

const DIR = join(REPO_ROOT, 'docs', 'alerts');
const scratch = mkdtempSync(join(tmpdir(), 'tsetcd-alerts-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function promtool(args: string[], cwd: string): { code: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('etcd-mixin alert rules', () => {
  it('promtool check rules: every rule parses', (ctx) => {
    requireTools(ctx, 'promtool');
    const r = promtool(['check', 'rules', 'etcd-alerts.yml'], DIR);
    expect(r.out).toContain('SUCCESS: 15 rules found');
    expect(r.code).toBe(0);
  });

  it('promtool test rules: the recorded faults fire their alerts', (ctx) => {
    requireTools(ctx, 'promtool');
    const r = promtool(['test', 'rules', 'etcd-alerts.test.yml'], DIR);
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('a rule that cannot fire fails the same tests', (ctx) => {
    requireTools(ctx, 'promtool');
    const rules = readFileSync(join(DIR, 'etcd-alerts.yml'), 'utf8');
    const broken = rules.replace('etcd_server_has_leader{job=~".*etcd.*"} == 0', 'etcd_server_has_leader{job=~".*etcd.*"} == 2');
    expect(broken).not.toBe(rules);
    writeFileSync(join(scratch, 'etcd-alerts.yml'), broken);
    copyFileSync(join(DIR, 'etcd-alerts.test.yml'), join(scratch, 'etcd-alerts.test.yml'));
    const r = promtool(['test', 'rules', 'etcd-alerts.test.yml'], scratch);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('alertname: etcdNoLeader');
  });
});

