// --enable-pprof: docs/operations.md's profiling commands against a member under load;
// `go tool pprof -top` must open both files and show a CPU and a heap profile with the
// member's own functions. Without the flag /debug/pprof/ is etcd's 404.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { removeWhenTestProcessExits } from '../helpers/cleanup.js';
import { requireTools } from '../helpers/require-tool.js';
import { REPO_ROOT, dumpMemberLogsOnFailure, startMember, stopAllMembers, targetFromEnv } from '../helpers/processes.js';

afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

describe('pprof', () => {
  it("serves CPU and heap profiles that go tool pprof opens (docs/operations.md's commands)", async (ctx) => {
    requireTools(ctx, 'curl', 'go');
    const m = await startMember({ target: targetFromEnv(), extraConfig: { 'enable-pprof': true, 'enable-grpc-gateway': true } });
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Profiling'));
    const script = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    expect(script).toContain('go tool pprof -top');
    const dir = mkdtempSync(join(tmpdir(), 'tsetcd-pprof-'));
    removeWhenTestProcessExits(dir);
    let writing = true;
    const load = (async () => {
      while (writing) {
        await fetch(`${m.clientUrl}/v3/kv/put`, { method: 'POST', body: '{"key":"YQ==","value":"Yg=="}', signal: AbortSignal.timeout(5000) });
      }
    })();
    const { stdout } = await promisify(execFile)(
      'bash',
      ['-c', script.replaceAll('http://127.0.0.1:2379', m.clientUrl).replace('seconds=10', 'seconds=2')],
      { cwd: dir, timeout: 60_000 },
    ).finally(() => {
      writing = false;
    });
    await load;
    expect(stdout).toMatch(/^Type: cpu$/m);
    expect(stdout).toMatch(/^Type: inuse_space$/m);
    expect(stdout).toMatch(/Duration: 2\.\d+s/);
    // Functions by name, V8's own entries among them, more than those alone.
    const cpu = stdout.slice(0, stdout.indexOf('Type: inuse_space'));
    expect(cpu).toMatch(/\(idle\)|\(program\)/);
    expect(cpu.split('\n').filter((l) => /^\s+[\d.]+m?s\s/.test(l)).length).toBeGreaterThan(2);
    const plain = await startMember({ target: targetFromEnv(), name: 'no-pprof' });
    const res = await fetch(`${plain.clientUrl}/debug/pprof/heap`, { signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(404);
  });
});
