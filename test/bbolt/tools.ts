// Tools the bbolt cross-checks need (real etcd/etcdctl 3.4.23 and Debian's Go with
// go.etcd.io/bbolt under /usr/share/gocode), and the bboltcheck program built from
// test/bbolt/bboltcheck/main.go with that Go, offline (GOPATH mode, no module fetch).
//
// Contract: requireBboltTools(ctx) fails (CI) or skips saying why (outside CI) through
// test/helpers/require-tool.ts when etcd, etcdctl, go or bbolt's source is missing;
// bboltToolsMissing() is the same question without a test context (for hooks).
// buildBboltCheck() builds
// into `dir` with a private GOCACHE (nothing written outside `dir`) and returns the
// binary's path. runBboltCheck() returns its exit code and output lines.
import { runProcess } from '../../bench/go-client.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireFile, requireTools, toolMissing, type SkipContext, type Tool } from '../helpers/require-tool.js';

export const GOPATH = '/usr/share/gocode';
const BBOLT_SRC = join(GOPATH, 'src/go.etcd.io/bbolt');
const CHECKER_SRC = fileURLToPath(new URL('./bboltcheck/main.go', import.meta.url));

const TOOLS: Tool[] = ['etcd', 'etcdctl', 'go'];
const BBOLT_HINT = 'the bbolt Go source (apt-get install -y golang-github-coreos-bbolt-dev)';

export function bboltToolsMissing(): boolean {
  return TOOLS.some((t) => toolMissing(t) !== undefined) || !existsSync(join(BBOLT_SRC, 'db.go'));
}

export function requireBboltTools(ctx: SkipContext): void {
  requireTools(ctx, ...TOOLS);
  requireFile(ctx, join(BBOLT_SRC, 'db.go'), BBOLT_HINT);
}

const run = runProcess;

export async function buildBboltCheck(dir: string): Promise<string> {
  const out = join(dir, 'bboltcheck');
  const env = { ...process.env, GOPATH, GO111MODULE: 'off', GOFLAGS: '', GOCACHE: join(dir, 'gocache'), GOPROXY: 'off', CGO_ENABLED: '0' };
  const r = await run('go', ['build', '-o', out, CHECKER_SRC], env, 110_000);
  if (r.code !== 0) throw new Error(`go build bboltcheck failed (${r.code}): ${r.stderr}`);
  return out;
}

export async function runBboltCheck(bin: string, file: string): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  const r = await run(bin, [file], process.env, 30_000);
  return { code: r.code, lines: r.stdout.split('\n').filter((l) => l !== ''), stderr: r.stderr };
}
