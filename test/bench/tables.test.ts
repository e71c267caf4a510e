/**
 * The benchmark tables of README.md and bench/README.md are generated from committed
 * result files (bench/tables.ts): every marked table must equal what the generator makes
 * of its file (a hand edit fails here), every file it names must exist under
 * bench/results/ and record a tsetcd commit, and no tsetcd-vs-etcd table may sit outside
 * the markers. The generator itself is checked on a synthetic file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ResultFile } from '../../bench/result-file.js';
import { DOCUMENTS, fillTables, markedTables, renderTable, RESULTS_DIR, resultLoader } from '../../bench/tables.js';
import { synthetic } from './synthetic-result.js';

const ROOT = new URL('../..', import.meta.url).pathname;

describe('bench tables in the documents', () => {
  for (const doc of DOCUMENTS) {
    it(`${doc}: every marked table is what bench:tables makes of its committed file`, () => {
      const text = readFileSync(join(ROOT, doc), 'utf8');
      const load = resultLoader(ROOT);
      for (const t of markedTables(text, doc)) {
        const file = join(ROOT, RESULTS_DIR, `${t.name}.json`);
        expect(existsSync(file), `${doc} names ${file}`).toBe(true);
        expect(load(t.name).tsetcd.commit).toMatch(/^[0-9a-f]{40}$/);
      }
      // Equal as a whole, so the message shows the drifted lines.
      expect(text).toBe(fillTables(text, doc, load));
    });

    it(`${doc}: no tsetcd-vs-etcd table outside the generated blocks`, () => {
      const text = readFileSync(join(ROOT, doc), 'utf8');
      let outside = '';
      let at = 0;
      for (const t of markedTables(text, doc)) {
        outside += text.slice(at, t.start);
        at = t.end;
      }
      outside += text.slice(at);
      // A markdown table with etcd and tsetcd columns, or a pasted console table
      // (`case  metric  etcd  tsetcd  ratio ...`).
      const handMade = outside
        .split('\n')
        .filter((l) => /^\|.*\betcd\b.*\|.*\btsetcd\b/.test(l) || /\betcd\s+tsetcd\s+ratio\b/.test(l));
      expect(handMade).toEqual([]);
    });
  }

  it('README.md quotes at least one generated table', () => {
    expect(markedTables(readFileSync(join(ROOT, 'README.md'), 'utf8'), 'README.md').length).toBeGreaterThan(0);
  });
});

describe('bench:tables generator', () => {
  const r = synthetic();
  const doc = (body: string): string => `# x\n\nbefore\n<!-- bench:table ${r.name} -->\n${body}<!-- /bench:table -->\nafter\n`;
  const load = (name: string): ResultFile => {
    if (name !== r.name) throw new Error(`no file ${name}`);
    return r;
  };

  it('fills a table between its markers and leaves the rest alone; a hand edit is undone', () => {
    const filled = fillTables(doc(''), 'README.md', load);
    expect(filled.startsWith('# x\n\nbefore\n<!-- bench:table ')).toBe(true);
    expect(filled.endsWith('<!-- /bench:table -->\nafter\n')).toBe(true);
    expect(fillTables(filled, 'README.md', load)).toBe(filled);
    const edited = filled.replace('| 0.86 |', '| 1.20 |');
    expect(edited).not.toBe(filled);
    expect(fillTables(edited, 'README.md', load)).toBe(filled);
  });

  it('renders every figure with the run it came from', () => {
    const text = renderTable(r, 'results/x.json');
    expect(text).toContain('| put 64c/8conn 256B | throughput | 1165 ops/s | 1008 ops/s | 0.86 | 0.96 | 0.30 | >= 1 | inconclusive |');
    expect(text).toContain('| startup | fresh start to serving (empty) | 656.20 ms | n/a | n/a | 1.10 | 0.20 |  | n/a |');
    expect(text).toContain('`npm run bench:compare -- --quick --members 1 --rounds 3`');
    expect(text).toContain(`commit \`${'ab'.repeat(6)}\` (clean tree)`);
    expect(text).toContain('etcd 3.4.23');
    expect(text).toContain('2026-01-02 03:04 UTC (9 min 0 s)');
    expect(text).toContain('9.50 / 8.00 / 4.00 before, 11.00 / 9.00 / 5.00 after');
    expect(text).toContain('14.25: a loaded machine');
    expect(text).toContain('3012 ops/s');
    expect(text).toContain('[bench/results/2026-01-02T03-04-05Z-quick-1member.json](results/x.json)');
    expect(text).toContain('- startup: tsetcd errors 3');
  });

  it('renders the CPU table for a `cpu` marker', () => {
    const filled = fillTables(doc('').replace(' -->\n', ' cpu -->\n'), 'README.md', load);
    expect(filled).toContain('| put 64c/8conn 256B | 0.14 | 0.18 | 0.12 | 0.95 | 2 |');
    expect(filled).toContain('(clean tree)');
    expect(filled).not.toContain('| ratio |');
  });

  it('links the file relative to the document', () => {
    expect(fillTables(doc(''), 'README.md', load)).toContain(`(bench/results/${r.name}.json)`);
    expect(fillTables(doc(''), 'bench/README.md', load)).toContain(`(results/${r.name}.json)`);
  });

  it('says so when the measured tree was dirty, dist/ was stale, or the machine was idle', () => {
    const dirty = synthetic({
      tsetcd: { commit: 'ab'.repeat(20), dirty: true, dirtyPaths: [' M src/x.ts'], distOlderThanSrc: true, launcher: 'bin/tsetcd' },
      load: { before: [0.5, 0.4, 0.3], after: [0.6, 0.5, 0.4], max1MinDuring: 1.5, samplesDuring: 3 },
    });
    const text = renderTable(dirty, 'x');
    expect(text).toContain('**dirty tree**: 1 changed path(s)');
    expect(text).toContain('**dist/ was older than src/**');
    expect(text).not.toContain('loaded machine');
  });

  it('refuses an unclosed marker and a file that is missing', () => {
    expect(() => markedTables(`<!-- bench:table ${r.name} -->\nno end\n`, 'd')).toThrow(/no closing/);
    expect(() => fillTables(doc('').replace(r.name, 'other-run'), 'README.md', load)).toThrow(/no file other-run/);
    expect(() => resultLoader(ROOT)('1999-01-01T00-00-00Z-never')).toThrow(/does not exist/);
  });

  it('by-keys: a scale run with several key counts, grouped by metric, one row per key count, smallest first', () => {
    const fig = (keys: string, metric: string, etcd: number, tsetcd: number): ResultFile['figures'][number] => ({
      case: `scale ${keys} keys of 1 KiB`,
      metric,
      unit: 'ms',
      etcd,
      tsetcd,
      ratio: tsetcd / etcd,
      aaRatio: 1,
      noiseBand: 0.1,
      target: metric === 'restart to serving' ? '<= 1.5' : null,
      verdict: metric === 'restart to serving' ? 'met' : 'n/a',
      note: '',
    });
    const scale = synthetic({
      name: '2026-01-02T03-04-05Z-scale-1member',
      profile: { name: 'scale', members: 1, rounds: 1, only: null, footprint: true, warmupMs: 0 },
      // As compare.ts writes them: per key count (smallest first), every metric.
      figures: [
        fig('100k', 'seq p50', 1, 2),
        fig('100k', 'restart to serving', 1000, 1200),
        fig('1M', 'seq p50', 1.2, 2.4),
        fig('1M', 'restart to serving', 8000, 20000),
        fig('10k', 'seq p50', 0.9, 1.5),
        fig('10k', 'restart to serving', 300, 600),
      ],
    });
    const text = renderTable(scale, 'x', 'by-keys');
    const rows = text.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| metric'));
    expect(rows).toEqual([
      '| seq p50 | 10,000 | 0.90 ms | 1.50 ms | 1.67 | 1.00 | 0.10 |  | n/a |',
      '| seq p50 | 100,000 | 1.00 ms | 2.00 ms | 2.00 | 1.00 | 0.10 |  | n/a |',
      '| seq p50 | 1,000,000 | 1.20 ms | 2.40 ms | 2.00 | 1.00 | 0.10 |  | n/a |',
      '| restart to serving | 10,000 | 300.00 ms | 600.00 ms | 2.00 | 1.00 | 0.10 | <= 1.5 | met |',
      '| restart to serving | 100,000 | 1000 ms | 1200 ms | 1.20 | 1.00 | 0.10 | <= 1.5 | met |',
      '| restart to serving | 1,000,000 | 8000 ms | 20000 ms | 2.50 | 1.00 | 0.10 | <= 1.5 | met |',
    ]);
    expect(text).not.toContain('unmeasured'); // no warm-up in the scale profile
    const marked = `<!-- bench:table ${scale.name} by-keys -->\n<!-- /bench:table -->\n`;
    expect(markedTables(marked, 'd')).toEqual([expect.objectContaining({ name: scale.name, view: 'by-keys' })]);
    expect(fillTables(marked, 'README.md', () => scale)).toContain('| restart to serving | 1,000,000 |');
    // A run without scale cases has nothing to show by key count.
    expect(() => renderTable(r, 'x', 'by-keys')).toThrow(/no scale case/);
  });

  it("states the warm-up and the harness's notes when the file has them, and leaves older files' tables as they were", () => {
    const warm = synthetic({
      profile: { name: 'quick', members: 1, rounds: 3, only: null, footprint: true, warmupMs: 1500 },
      notes: ['etcd cluster /tmp/x/round3-etcd: start attempt 1 of 3 failed on a port already in use (EADDRINUSE); started again on fresh ports'],
    });
    const text = renderTable(warm, 'x');
    expect(text).toContain('Each timed case first ran 1.5 s unmeasured (warm-up, both sides alike).');
    expect(text).toContain('- etcd cluster /tmp/x/round3-etcd: start attempt 1 of 3 failed on a port already in use');
    const old = renderTable(synthetic(), 'x');
    expect(old).not.toContain('warm-up');
    expect(old).not.toContain('start attempt');
  });
});
