// Style rules enforced as a test (DESIGN §2 and §6; style-anchors §6.3 rule 13):
// the import direction between modules, a pure Raft core, no explicit `any`, and no
// focused or skipped tests. A rule broken here is a design decision to revisit in
// DESIGN.md first, not a line to silence.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'src');

function files(dir: string, ext = '.ts'): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p, ext));
    else if (p.endsWith(ext)) out.push(p);
  }
  return out;
}

/** Which modules each module may import (arrows of DESIGN §2; everything may import shared). */
const ALLOWED: Record<string, readonly string[]> = {
  shared: [],
  generated: [],
  compactor: [],
  raft: [],
  storage: [],
  // bbolt's file format (etcd's snapshot files): bytes in, bytes out, no other module.
  bbolt: [],
  wal: ['storage'],
  mvcc: ['storage'],
  // watch reads the revision log through storage and mvcc's record codecs.
  watch: ['mvcc', 'storage'],
  // lease never imports mvcc: apply composes them (DESIGN §2).
  lease: ['storage'],
  auth: ['storage'],
  // apply decodes ConfChange entries (raft types) and changes membership.
  apply: ['mvcc', 'lease', 'auth', 'cluster', 'storage', 'raft'],
  cluster: ['raft', 'storage'],
  // the election/lock recipes run over the member's own primitives (a loopback client).
  concurrency: ['mvcc', 'lease', 'watch', 'apply'],
  // The server composes everything below it; it also serves the lease and watch
  // services and the election/lock recipes (not drawn in DESIGN §2, same layer).
  server: ['apply', 'raft', 'wal', 'watch', 'lease', 'cluster', 'storage', 'mvcc', 'http', 'config', 'concurrency'],
  http: ['server'],
  config: [],
  cli: ['config', 'server', 'http', 'wal'],
};

function moduleOf(file: string): string {
  return relative(SRC, file).split('/')[0] ?? '';
}

function imports(text: string): Array<{ spec: string; typeOnly: boolean }> {
  const out: Array<{ spec: string; typeOnly: boolean }> = [];
  const re = /^\s*(?:import|export)\s+(type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    out.push({ spec: m[2] ?? '', typeOnly: m[1] !== undefined });
  }
  return out;
}

const srcFiles = files(SRC);

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

describe('tidy', () => {
  it('modules import only what DESIGN §2 allows', () => {
    const violations: string[] = [];
    for (const file of srcFiles) {
      const from = moduleOf(file);
      const allowed = ALLOWED[from];
      if (allowed === undefined) {
        violations.push(`${relative(ROOT, file)}: module '${from}' is not in DESIGN's layout`);
        continue;
      }
      for (const { spec, typeOnly } of imports(readFileSync(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue;
        const target = moduleOf(resolve(dirname(file), spec));
        if (target === from || target === 'shared' || target === 'generated') continue;
        // `import type` of another module's shapes is allowed where DESIGN allows it
        // for proto shapes; between modules we still hold types to the same arrows.
        void typeOnly;
        if (!allowed.includes(target)) violations.push(`${relative(ROOT, file)} imports ${target} (${spec})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('the Raft core is pure: no I/O, timers, clocks, randomness, async or npm packages', () => {
    const bad: string[] = [];
    for (const file of srcFiles.filter((f) => moduleOf(f) === 'raft')) {
      const text = readFileSync(file, 'utf8');
      const code = stripComments(text);
      for (const pattern of [/Date\.now/, /Math\.random/, /setTimeout|setInterval|setImmediate/, /\basync\b|\bawait\b/, /performance\.now/, /\bBuffer\b/]) {
        if (pattern.test(code)) bad.push(`${relative(ROOT, file)}: ${pattern.source}`);
      }
      for (const { spec } of imports(text)) {
        if (!spec.startsWith('.')) bad.push(`${relative(ROOT, file)} imports ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('what the simulation runs reads time and randomness only through injected ones', () => {
    // The whole-server simulation (test/sim/server) runs these with a virtual clock; a
    // direct read of real time makes a seed's outcome depend on the machine.
    const simulatedServerFiles = ['etcd-server.ts', 'member-core.ts', 'member-storage.ts', 'raft-node.ts', 'waiters.ts', 'bootstrap.ts', 'db-snapshot.ts'];
    const simulated = (f: string): boolean =>
      ['raft', 'wal', 'mvcc', 'watch', 'lease', 'apply', 'cluster', 'storage'].includes(moduleOf(f)) ||
      simulatedServerFiles.some((n) => f === join(SRC, 'server', n));
    const bad: string[] = [];
    for (const file of srcFiles.filter(simulated)) {
      const code = stripComments(readFileSync(file, 'utf8'));
      for (const pattern of [/Date\.now/, /performance\.now/, /new Date\(\)/, /Math\.random/]) {
        if (pattern.test(code)) bad.push(`${relative(ROOT, file)}: ${pattern.source}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('no explicit any in src', () => {
    const bad = srcFiles.filter((f) => /(:\s*any\b|<any>|\bas any\b)/.test(stripComments(readFileSync(f, 'utf8'))));
    expect(bad.map((f) => relative(ROOT, f))).toEqual([]);
  });

  it('no focused or skipped tests', () => {
    // `.only`, `.skip` (it.skip, describe.skip, ctx.skip, context.skip), `skipIf`, `runIf`
    // and `.todo`, also chained (it.skip.each, it.concurrent.skipIf(...)). The one way to
    // skip is test/helpers/require-tool.ts: it fails in CI and prints why outside it.
    const forbidden = /\.(?:only|skip|skipIf|runIf|todo)\s*[(.`]/;
    for (const caught of ['it.only(', 'describe.skip(', 'it.skipIf(x)(', 'test.runIf(y)(', 'ctx.skip(', 'context.skip()', 'it.todo(', 'it.skip.each`', 'it.concurrent.only(']) {
      expect(forbidden.test(caught), caught).toBe(true);
    }
    for (const allowed of ['it(', 'it.each(', 'describe.concurrent(', 'const skipped = 1;']) {
      expect(forbidden.test(allowed), allowed).toBe(false);
    }
    const exempt = [join(ROOT, 'test', 'tidy', 'tidy.test.ts'), join(ROOT, 'test', 'helpers', 'require-tool.ts')];
    const testFiles = files(join(ROOT, 'test')).filter((f) => !exempt.includes(f));
    const bad = testFiles.filter((f) => forbidden.test(stripComments(readFileSync(f, 'utf8'))));
    expect(bad.map((f) => relative(ROOT, f))).toEqual([]);
  });
});
