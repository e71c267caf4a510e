// `tsetcd --help` is generated from the config table: every flag etcd's names include
// (keys.ts) appears exactly once, in etcd's groups, with the default `config check`
// prints for it; the CLI prints it, `config check --help` and `--version` answer.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeConfig, groupedFlags, helpText, loadConfig } from '../../src/config/index.js';
import { KEY_SPECS, isFlag } from '../../src/config/keys.js';
import { REPO_ROOT } from '../helpers/processes.js';

const defaults = loadConfig([], {}).config;
const text = helpText(defaults);

describe('tsetcd --help', () => {
  it('lists every flag of the config table once, and nothing else', () => {
    const listed = [...text.matchAll(/^ {2}--([a-z0-9-]+) '/gm)].map((m) => m[1] ?? '');
    const flags = [...KEY_SPECS.values()].filter(isFlag).map((s) => s.name);
    expect([...listed].sort()).toEqual([...flags].sort());
    expect(new Set(groupedFlags()).size).toBe(groupedFlags().length);
  });

  it("keeps etcd's groups in etcd's order", () => {
    const titles = [...text.matchAll(/^([A-Z][A-Za-z ,.()0-9]+):$/gm)].map((m) => m[1]);
    expect(titles.slice(0, 9)).toEqual(['Usage', 'Member', 'Clustering', 'Security', 'Auth', 'Profiling and Monitoring', 'Logging', 'Unsafe feature', 'Experimental feature (etcd 3.5 names)']);
  });

  it('shows the defaults config check prints', () => {
    const described = new Map(describeConfig(defaults).split('\n').map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)] as const));
    for (const key of ['name', 'snapshot-count', 'heartbeat-interval', 'max-request-bytes', 'grpc-keepalive-interval', 'log-level', 'auto-compaction-mode']) {
      expect(text, key).toContain(`  --${key} '${described.get(key) ?? 'missing'}'\n`);
    }
    expect(text).toContain("  --socket-reuse-port 'false'\n");
    expect(text).toContain("  --listen-client-urls 'http://127.0.0.1:2379'\n");
  });

  it('is what the command prints; subcommands and --version answer', () => {
    const main = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
    expect(existsSync(main), 'npm run build first').toBe(true);
    const run = (...args: string[]): string => execFileSync(process.execPath, [main, ...args], { encoding: 'utf8', env: {} });
    expect(run('--help')).toBe(text);
    expect(run('-h')).toBe(text);
    expect(run('config', 'check', '--help')).toMatch(/^Usage:\n\n {2}tsetcd config check \[flags\]\n/);
    expect(run('--version')).toMatch(/^etcd Version: 3\.5\.\d+\nGit SHA: .*\nGo Version: .*\nGo OS\/Arch: linux\/\w+\ntsetcd Version: \d+\.\d+\.\d+\n$/);
  });
});
