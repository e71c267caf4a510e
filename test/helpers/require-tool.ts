/**
 * The one place a test may give up because something outside the repository is missing
 * (docs/architecture.md §5): a tool on PATH (etcd, etcdctl, openssl, faketime, iptables,
 * ip, go, curl, python3, promtool,
 * prometheus, strace), root, or a file such as the shared seed guide.
 *
 * Contract: in CI (env CI=true) a missing requirement throws, so the test FAILS and the
 * closing line counts it; outside CI the test is skipped with the reason printed on
 * stdout ("SKIPPED (not CI): ...") and shown as skipped by vitest. A test never returns
 * early or passes without the thing it checks. test/tidy forbids every other way to skip
 * (`.skip`, `skipIf`, `runIf`, `ctx.skip`, `.todo`) outside this file.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export type Tool =
  | 'etcd'
  | 'etcdctl'
  | 'openssl'
  | 'faketime'
  | 'iptables'
  | 'ip'
  | 'go'
  | 'curl'
  | 'python3'
  | 'promtool'
  | 'prometheus'
  | 'strace'
  | 'root';

/** The part of vitest's TestContext this needs (a test's `ctx`). */
export interface SkipContext {
  readonly task: { readonly name: string };
  skip(note?: string): void;
}

export function inCi(): boolean {
  return process.env['CI'] === 'true';
}

function onPath(name: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** Why `tool` is unusable here, or undefined when it is present. */
export function toolMissing(tool: Tool): string | undefined {
  if (tool === 'root') return process.getuid?.() === 0 ? undefined : 'needs root (uid 0)';
  return onPath(tool) ? undefined : `needs \`${tool}\` on PATH`;
}

/**
 * Fails (CI) or skips with a printed reason (outside CI) unless `reason` is undefined.
 * Returns normally only when there is nothing missing.
 */
export function requireOrSkip(ctx: SkipContext, reason: string | undefined): void {
  if (reason === undefined) return;
  const name = ctx.task.name;
  if (inCi()) throw new Error(`${name}: ${reason} (CI=true: a missing requirement fails the test)`);
  console.log(`SKIPPED (not CI): ${name}: ${reason}`);
  ctx.skip(reason);
}

/** Every tool must be present; see requireOrSkip. */
export function requireTools(ctx: SkipContext, ...tools: Tool[]): void {
  const missing = tools.map(toolMissing).filter((r): r is string => r !== undefined);
  requireOrSkip(ctx, missing.length === 0 ? undefined : missing.join('; '));
}

/** The file must exist (e.g. ../shared/ref/..., which CI copies beside the clone). */
export function requireFile(ctx: SkipContext, path: string, what: string): void {
  requireOrSkip(ctx, existsSync(path) ? undefined : `needs ${what} at ${path}`);
}
