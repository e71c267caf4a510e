// Style rules enforced as a test (docs/architecture.md §2 and §6): the import
// direction between modules, no module cycle, no module over 4,500 lines, a pure Raft
// core, no explicit `any` or `as never`, and no focused or skipped tests. A rule broken
// here is a design decision to revisit in docs/architecture.md first, not a line to
// silence.
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

/**
 * Which modules each module may import: exactly the arrows drawn in
 * docs/architecture.md §2. Every module may import shared and generated. A new arrow is
 * a design change: draw it there first, with its reason.
 */
const ALLOWED: Record<string, readonly string[]> = {
  shared: [],
  generated: [],
  compactor: [],
  // the generic gRPC engine on node:http2 (framing, status, deadlines): no etcd knowledge.
  grpc: [],
  raft: [],
  config: [],
  tls: [],
  storage: [],
  // bbolt's file format (etcd's snapshot files): bytes in, bytes out, no other module.
  bbolt: [],
  wal: ['storage'],
  mvcc: ['storage'],
  // watch reads history only through mvcc's reader (mvcc alone owns its record format).
  watch: ['mvcc'],
  // lease never imports mvcc: apply composes them.
  lease: ['storage'],
  auth: ['storage'],
  // apply decodes ConfChange entries (raft types) and changes membership.
  apply: ['mvcc', 'lease', 'auth', 'cluster', 'storage', 'raft'],
  // the peer transport dials with the one reloading TLS source.
  cluster: ['raft', 'storage', 'tls'],
  // the election/lock recipes run over the member's own primitives (a loopback client).
  concurrency: ['mvcc', 'lease', 'watch', 'apply'],
  // the member core and the API: everything below it, never the shell or http.
  // the etcd API handlers: each service against a backend interface the member implements.
  v3rpc: ['apply', 'auth', 'cluster', 'concurrency', 'grpc', 'lease', 'mvcc', 'raft', 'watch'],
  server: ['apply', 'raft', 'wal', 'watch', 'mvcc', 'lease', 'cluster', 'storage', 'concurrency', 'compactor', 'grpc', 'auth', 'v3rpc'],
  // http reads the member through server's shapes (read-only); server never imports http.
  // The JSON gateway calls the gRPC handler table through grpc's in-process call.
  http: ['server', 'grpc'],
  // the process shell: the only module that reads the environment and real time.
  embed: ['server', 'v3rpc', 'http', 'cluster', 'config', 'tls', 'storage', 'grpc', 'auth', 'snapshot'],
  // etcd snapshot files offline (status, restore): reads with bbolt, writes the data dir
  // through server's member storage.
  snapshot: ['bbolt', 'server', 'v3rpc', 'cluster', 'lease', 'auth', 'storage'],
  cli: ['config', 'embed', 'snapshot'],
  // test doubles (sim file layer, memory and file-log backends): no production module
  // imports testing; it imports only what it stands in for.
  testing: ['storage'],
};

/** No module (top-level folder of src/) may grow past this many lines. */
const MAX_MODULE_LINES = 4500;

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

/** Module -> the other modules its files import (relative imports only). */
function moduleGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of srcFiles) {
    const from = moduleOf(file);
    const out = graph.get(from) ?? new Set<string>();
    graph.set(from, out);
    for (const { spec } of imports(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = moduleOf(resolve(dirname(file), spec));
      if (target !== from) out.add(target);
    }
  }
  return graph;
}

/** Every cycle a depth-first search meets, as 'a -> b -> a'. */
function findCycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (m: string): void => {
    state.set(m, 'open');
    path.push(m);
    for (const next of [...(graph.get(m) ?? [])].sort()) {
      const s = state.get(next);
      if (s === 'open') cycles.push([...path.slice(path.indexOf(next)), next].join(' -> '));
      else if (s === undefined) visit(next);
    }
    path.pop();
    state.set(m, 'done');
  };
  for (const m of [...graph.keys()].sort()) if (!state.has(m)) visit(m);
  return cycles;
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

/** The arrows block of docs/architecture.md §2, as module -> imported modules. */
function documentedArrows(): Map<string, Set<string>> {
  const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## 2.'), doc.indexOf('## 3.'));
  const block = /```\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const arrows = new Map<string, Set<string>>();
  for (const line of block.split('\n')) {
    const [left, right] = line.split('──►');
    if (left === undefined || right === undefined) continue;
    const targets = right
      .replace(/\([^)]*\)/g, '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '');
    for (const from of left.split(',').map((m) => m.trim())) {
      arrows.set(from, new Set([...(arrows.get(from) ?? []), ...targets]));
    }
  }
  return arrows;
}

describe('tidy', () => {
  it('docs/architecture.md draws exactly these arrows and names every module', () => {
    const drawn = documentedArrows();
    const table = new Map(Object.entries(ALLOWED).map(([m, to]) => [m, [...to].sort()]));
    const fromDoc = new Map([...drawn].map(([m, to]) => [m, [...to].sort()]));
    expect(Object.fromEntries(fromDoc)).toEqual(Object.fromEntries(table));
    const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
    const modules = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());
    expect(modules.filter((m) => !doc.includes(`| \`${m}/\` |`))).toEqual([]);
  });

  it('modules import only what docs/architecture.md §2 allows', () => {
    const violations: string[] = [];
    for (const file of srcFiles) {
      const from = moduleOf(file);
      const allowed = ALLOWED[from];
      if (allowed === undefined) {
        violations.push(`${relative(ROOT, file)}: module '${from}' is not in docs/architecture.md §2`);
        continue;
      }
      for (const { spec, typeOnly } of imports(readFileSync(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue;
        const target = moduleOf(resolve(dirname(file), spec));
        if (target === from || target === 'shared' || target === 'generated') continue;
        // `import type` of another module's shapes is allowed where docs/architecture.md §2 allows it
        // for proto shapes; between modules we still hold types to the same arrows.
        void typeOnly;
        if (!allowed.includes(target)) violations.push(`${relative(ROOT, file)} imports ${target} (${spec})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('the modules form no import cycle', () => {
    const graph = moduleGraph();
    expect(graph.size).toBeGreaterThan(10);
    expect(findCycles(graph)).toEqual([]);
  });

  it('the cycle check finds a cycle', () => {
    // Guard for the test above: the same search on a graph with a known cycle.
    expect(findCycles(new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])]]))).toEqual([
      'a -> b -> c -> a',
    ]);
  });

  it(`no module is over ${MAX_MODULE_LINES} lines`, () => {
    const lines = new Map<string, number>();
    for (const file of srcFiles) {
      const m = moduleOf(file);
      lines.set(m, (lines.get(m) ?? 0) + readFileSync(file, 'utf8').split('\n').length);
    }
    expect(lines.size).toBeGreaterThan(10);
    const over = [...lines].filter(([, n]) => n > MAX_MODULE_LINES).map(([m, n]) => `${m}: ${n} lines`);
    expect(over).toEqual([]);
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
    const simulatedServerFiles = ['etcd-server.ts', 'member-core.ts', 'member-api.ts', 'member-storage.ts', 'raft-node.ts'];
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

  it('no explicit any and no `as never` in src, bench and tests', () => {
    const checked = [...srcFiles, ...files(join(ROOT, 'bench')), ...files(join(ROOT, 'test'))].filter(
      (f) => f.endsWith('.ts') && f !== join(ROOT, 'test', 'tidy', 'tidy.test.ts'),
    );
    const bad = checked.filter((f) =>
      /(:\s*any\b|<any>|\bas any\b|\bas never\b)/.test(stripComments(readFileSync(f, 'utf8'))),
    );
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
