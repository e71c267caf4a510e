// test/helpers/require-tool.ts: a missing requirement fails in CI and skips, saying why,
// outside it; nothing missing lets the test go on.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { requireOrSkip, requireTools, toolMissing } from './require-tool.js';

const saved = { CI: process.env['CI'], PATH: process.env['PATH'] };

afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  vi.restoreAllMocks();
});

function fakeCtx() {
  const skipped: Array<string | undefined> = [];
  return { skipped, ctx: { task: { name: 'needs a tool' }, skip: (note?: string) => void skipped.push(note) } };
}

describe('require-tool', () => {
  it('finds tools on PATH and root by uid', () => {
    expect(toolMissing('openssl')).toBeUndefined(); // the unit tier runs where openssl is
    process.env['PATH'] = '/nonexistent';
    expect(toolMissing('openssl')).toBe('needs `openssl` on PATH');
    expect(toolMissing('root')).toBe(process.getuid?.() === 0 ? undefined : 'needs root (uid 0)');
  });

  it('in CI a missing tool throws, naming the test and the tool', () => {
    process.env['CI'] = 'true';
    process.env['PATH'] = '/nonexistent';
    const { ctx, skipped } = fakeCtx();
    expect(() => requireTools(ctx, 'etcd', 'curl')).toThrow(
      'needs a tool: needs `etcd` on PATH; needs `curl` on PATH (CI=true: a missing requirement fails the test)',
    );
    expect(skipped).toEqual([]);
  });

  it('outside CI it prints the reason and skips', () => {
    delete process.env['CI'];
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const { ctx, skipped } = fakeCtx();
    requireOrSkip(ctx, 'port 1 is taken');
    expect(skipped).toEqual(['port 1 is taken']);
    expect(log).toHaveBeenCalledWith('SKIPPED (not CI): needs a tool: port 1 is taken');
  });

  it('nothing missing: neither throws nor skips', () => {
    process.env['CI'] = 'true';
    const { ctx, skipped } = fakeCtx();
    requireOrSkip(ctx, undefined);
    requireTools(ctx, 'openssl');
    expect(skipped).toEqual([]);
  });
});
