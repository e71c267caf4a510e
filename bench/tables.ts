/**
 * `npm run bench:tables [-- --check]`: writes the benchmark tables of README.md and
 * bench/README.md from committed result files (result-file.ts), so a quoted figure
 * cannot drift from the run it came from (docs/architecture.md §4).
 *
 * A table is the text between `<!-- bench:table NAME -->` and `<!-- /bench:table -->`,
 * where NAME is a file bench/results/NAME.json. Everything between the two markers is
 * generated: a caption (command, commit and dirty flag, etcd version, machine, load
 * average, time, link to the file) and one row per figure; `<!-- bench:table NAME cpu -->`
 * gives the same caption with the run's CPU table instead, and `<!-- bench:table NAME
 * by-keys -->` (scale runs with several key counts) the figures grouped by metric with one
 * row per key count, smallest first, so restart time or memory reads as a function of
 * the data size. Text outside the markers is
 * never touched. `--check` writes nothing and exits 1 when a table differs from its file
 * (test/bench/tables.test.ts runs the same check under `npm test`).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt } from './report.js';
import { type Cost, type Figure, type LoadAverage, readResultFile, repoRoot, type ResultFile } from './result-file.js';

/** The documents whose marked tables are generated, relative to the repository root. */
export const DOCUMENTS = ['README.md', 'bench/README.md'] as const;

export const RESULTS_DIR = 'bench/results';

const OPEN = /<!-- bench:table (\S+)(?: (cpu|by-keys))? -->\n/g;
const CLOSE = '<!-- /bench:table -->';

export type TableView = 'figures' | 'cpu' | 'by-keys';

export interface MarkedTable {
  name: string;
  view: TableView;
  /** Offsets of the generated text: just after the opening marker's line, at the closing marker. */
  start: number;
  end: number;
}

/** Every marked table of a document, in order; an unclosed or nested marker throws. */
export function markedTables(text: string, where: string): MarkedTable[] {
  const out: MarkedTable[] = [];
  for (const m of text.matchAll(OPEN)) {
    const name = m[1] ?? '';
    const start = (m.index ?? 0) + m[0].length;
    const end = text.indexOf(CLOSE, start);
    const next = text.indexOf('<!-- bench:table ', start);
    if (end < 0 || (next >= 0 && next < end)) throw new Error(`${where}: table ${name} has no closing ${CLOSE}`);
    if (!/^[\w.-]+$/.test(name)) throw new Error(`${where}: table name "${name}" is not a result file name`);
    const view = m[2];
    out.push({ name, view: view === 'cpu' || view === 'by-keys' ? view : 'figures', start, end });
  }
  return out;
}

const loads = (l: LoadAverage): string => l.map((x) => x.toFixed(2)).join(' / ');

function minutes(from: string, to: string): string {
  const sec = Math.round((Date.parse(to) - Date.parse(from)) / 1000);
  return Number.isFinite(sec) ? `${Math.floor(sec / 60)} min ${sec % 60} s` : 'unknown duration';
}

const utc = (iso: string): string => iso.replace('T', ' ').replace(/:\d\d\.\d+Z$|:\d\dZ$/, ' UTC');

function cell(x: number | null, unit: string): string {
  return x === null ? 'n/a' : `${fmt(x)} ${unit}`;
}

const num = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(2));

function row(f: Figure): string {
  return `| ${[f.case, f.metric, cell(f.etcd, f.unit), cell(f.tsetcd, f.unit), num(f.ratio), num(f.aaRatio), num(f.noiseBand), f.target ?? '', f.verdict].join(' | ')} |`;
}

/** The key count of a scale case id ("scale 300k keys of 1 KiB" → 300000; scale-phase.ts scaleCaseId), or undefined. */
export function caseKeys(caseId: string): number | undefined {
  const m = /^scale (\d+(?:\.\d+)?)(k|M)? keys\b/.exec(caseId);
  if (m === null) return undefined;
  const mult = m[2] === 'M' ? 1_000_000 : m[2] === 'k' ? 1000 : 1;
  return Math.round(Number(m[1]) * mult);
}

/** Figures grouped by metric (first appearance), one row per key count, smallest first. */
function byKeysRows(r: ResultFile): string[] {
  const metrics: string[] = [];
  for (const f of r.figures) if (!metrics.includes(f.metric)) metrics.push(f.metric);
  const rows: string[] = [];
  for (const metric of metrics) {
    const fs = r.figures
      .map((f) => ({ f, keys: caseKeys(f.case) }))
      .filter((x): x is { f: Figure; keys: number } => x.f.metric === metric && x.keys !== undefined)
      .sort((a, b) => a.keys - b.keys);
    for (const { f, keys } of fs) {
      rows.push(`| ${[f.metric, keys.toLocaleString('en-US'), cell(f.etcd, f.unit), cell(f.tsetcd, f.unit), num(f.ratio), num(f.aaRatio), num(f.noiseBand), f.target ?? '', f.verdict].join(' | ')} |`);
    }
  }
  return rows;
}

function costRow(c: Cost): string {
  return `| ${[c.case, num(c.etcdServerCores), num(c.tsetcdServerCores), num(c.generatorCores), num(c.maxWorkerElu), String(c.generatorSaturatedRuns)].join(' | ')} |`;
}

/**
 * The generated text of one table: caption, table, notes. `link` is the path of the
 * result file as seen from the document, for the caption's link.
 */
export function renderTable(r: ResultFile, link: string, view: TableView = 'figures'): string {
  const t = r.tsetcd;
  const commit = t.commit === null ? 'no commit (not a git tree)' : `commit \`${t.commit.slice(0, 12)}\``;
  const tree = t.dirty
    ? ` (**dirty tree**: ${t.dirtyPaths.length} changed path(s), so the figures are not that commit's alone)`
    : ' (clean tree)';
  const dist = t.distOlderThanSrc ? ' **dist/ was older than src/**, so the build may not match the commit.' : '';
  const gib = (r.machine.memoryBytes / 2 ** 30).toFixed(1);
  const loaded = Math.max(r.load.before[0], r.load.max1MinDuring, r.load.after[0]) > r.machine.cores;
  const ceiling =
    r.generatorCeiling === null
      ? ''
      : ` Generator ceiling (the multi-client put case against a null server, median of ${r.generatorCeiling.runs}): ` +
        `${r.generatorCeiling.opsPerSec === null ? 'n/a' : `${Math.round(r.generatorCeiling.opsPerSec)} ops/s`}` +
        `${r.generatorCeiling.error === null ? '' : ` (a run failed: ${r.generatorCeiling.error})`}.`;
  const caption = [
    `\`${r.command}\`: tsetcd ${commit}${tree} against etcd ${r.etcd.version}, ${r.profile.members} member(s), ` +
      `${r.profile.rounds} rounds of A B A', ${utc(r.startedAt)} (${minutes(r.startedAt, r.finishedAt)}).${dist}` +
      (r.profile.client === 'go' ? " Load generator: the Go one on etcd 3.4's clientv3 (bench/go/loadgen)." : '') +
      (r.profile.warmupMs !== undefined && r.profile.warmupMs > 0
        ? ` Each timed case first ran ${r.profile.warmupMs / 1000} s unmeasured (warm-up, both sides alike).`
        : ''),
    `Machine: ${r.machine.cores} cores (${r.machine.cpuModel}), ${gib} GiB, ${r.machine.kernel}, Node ${r.machine.node}. ` +
      `Load average (1 / 5 / 15 min) ${loads(r.load.before)} before, ${loads(r.load.after)} after, highest 1-minute ` +
      `sample during the run ${r.load.max1MinDuring.toFixed(2)}` +
      (loaded ? `: a loaded machine (more runnable processes than its ${r.machine.cores} cores).` : '.') +
      ceiling,
    `Result file: [${RESULTS_DIR}/${r.name}.json](${link}).`,
  ];
  if (view === 'cpu') {
    return [
      '',
      ...caption.map((c) => `${c}\n`),
      'CPU, medians over the rounds (cores = CPU seconds per wall second; ELU = the generator worker threads\' ' +
        'event-loop utilization, 1.0 = never idle; a saturated run had a worker at 0.9 or more):\n',
      '| case | etcd server cores | tsetcd server cores | generator cores | max worker ELU | saturated runs |',
      '|---|---|---|---|---|---|',
      ...r.costs.map(costRow),
      '',
    ].join('\n');
  }
  let table: string[];
  if (view === 'by-keys') {
    const rows = byKeysRows(r);
    if (rows.length === 0) throw new Error(`result file ${r.name} has no scale case to show by key count`);
    table = ['| metric | keys | etcd | tsetcd | ratio | A/A | noise ± | target | verdict |', '|---|---|---|---|---|---|---|---|---|', ...rows];
  } else {
    table = ['| case | metric | etcd | tsetcd | ratio | A/A | noise ± | target | verdict |', '|---|---|---|---|---|---|---|---|---|', ...r.figures.map(row)];
  }
  const lines = ['', ...caption.map((c) => `${c}\n`), ...table, ''];
  // One line per distinct note, with the cases it applies to (errors count failed
  // requests and missing watch events over all of that side's sessions).
  const byNote = new Map<string, string[]>();
  for (const f of r.figures) {
    if (f.note === '') continue;
    const cases = byNote.get(f.note) ?? [];
    if (!cases.includes(f.case)) cases.push(f.case);
    byNote.set(f.note, cases);
  }
  const notes = [...byNote].map(([note, cases]) => `${cases.join(', ')}: ${note}`);
  if (r.tsetcdUnavailable !== null) notes.unshift(r.tsetcdUnavailable);
  notes.push(...(r.notes ?? []));
  if (notes.length > 0) lines.push(...notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}

/**
 * The document with every marked table regenerated from its file. `docPath` is the
 * document's path relative to the repository root (for the caption's link), `load` reads
 * a result file by name.
 */
export function fillTables(text: string, docPath: string, load: (name: string) => ResultFile): string {
  let out = '';
  let at = 0;
  for (const t of markedTables(text, docPath)) {
    const link = posix.relative(posix.dirname(docPath), `${RESULTS_DIR}/${t.name}.json`);
    out += text.slice(at, t.start) + renderTable(load(t.name), link, t.view);
    at = t.end;
  }
  return out + text.slice(at);
}

/** Reads bench/results/NAME.json under `root`; a missing file or one without a commit throws. */
export function resultLoader(root: string): (name: string) => ResultFile {
  return (name) => {
    const file = join(root, RESULTS_DIR, `${name}.json`);
    if (!existsSync(file)) throw new Error(`result file ${relative(root, file)} does not exist (is it committed?)`);
    const r = readResultFile(file);
    if (r.tsetcd.commit === null || !/^[0-9a-f]{40}$/.test(r.tsetcd.commit)) {
      throw new Error(`result file ${relative(root, file)} records no tsetcd commit`);
    }
    if (r.name !== name) throw new Error(`result file ${relative(root, file)} names itself "${r.name}"`);
    return r;
  };
}

function main(): number {
  const check = process.argv.includes('--check');
  const root = repoRoot();
  const load = resultLoader(root);
  let drift = 0;
  for (const doc of DOCUMENTS) {
    const path = join(root, doc);
    const text = readFileSync(path, 'utf8');
    const next = fillTables(text, doc, load);
    const n = markedTables(text, doc).length;
    if (next === text) {
      process.stdout.write(`${doc}: ${n} table(s) match their result files\n`);
    } else if (check) {
      drift++;
      process.stdout.write(`${doc}: a table differs from its result file (run npm run bench:tables)\n`);
    } else {
      writeFileSync(path, next);
      process.stdout.write(`${doc}: ${n} table(s) regenerated\n`);
    }
  }
  return drift > 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.exitCode = main();
  } catch (err) {
    process.stderr.write(`bench:tables: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
