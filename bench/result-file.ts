/**
 * The small, committed record of one `bench:compare` run (docs/architecture.md §4):
 * what was measured (tsetcd commit and whether its tree was dirty, etcd's version), where
 * (cores, memory, kernel, Node), under what load (load average before, during and after),
 * with which command, and every summary figure (per case and metric: etcd, tsetcd, ratio,
 * A/A ratio, noise band, target, verdict). README tables are generated from these files
 * (tables.ts), so every quoted number can be traced to a run and a commit.
 *
 * Invariants: a file is written once and never edited; non-finite numbers are stored as
 * null (JSON has no NaN); `tsetcd.dirty` is true when the measured tree had any change
 * outside bench/results/ (so a figure from uncommitted code says so); the per-round raw
 * data is not in this file but in the git-ignored raw file it names.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem, type as osType } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CostRow, SummaryRow } from './compare-report.js';

export const RESULT_FORMAT = 1;

/** The three load averages (1, 5, 15 minutes) as /proc/loadavg shows them. */
export type LoadAverage = [number, number, number];

export interface TsetcdBuild {
  /** `git rev-parse HEAD` of the tree the launcher lives in; null outside a git tree. */
  commit: string | null;
  /** Any change against that commit outside bench/results/ (tracked or untracked). */
  dirty: boolean;
  /** Up to 20 of the changed paths (`git status --porcelain` lines), for the reader. */
  dirtyPaths: string[];
  /** A file under src/ is newer than dist/tsetcd.mjs (the bundle bin/tsetcd runs): dist/ may not be that commit. */
  distOlderThanSrc: boolean;
  launcher: string;
}

export interface Figure {
  case: string;
  metric: string;
  unit: string;
  etcd: number | null;
  tsetcd: number | null;
  ratio: number | null;
  aaRatio: number | null;
  noiseBand: number | null;
  /** e.g. ">= 1" or "<= 1.5"; null when the metric has no target. */
  target: string | null;
  verdict: string;
  note: string;
}

export interface Cost {
  case: string;
  etcdServerCores: number | null;
  tsetcdServerCores: number | null;
  generatorCores: number | null;
  maxWorkerElu: number | null;
  generatorSaturatedRuns: number;
}

export interface ResultFile {
  format: number;
  /** The file's name without `.json`: `<UTC start>-<profile>-<members>member[-...]`. */
  name: string;
  command: string;
  startedAt: string;
  finishedAt: string;
  tsetcd: TsetcdBuild;
  etcd: { version: string; bin: string };
  machine: { cores: number; memoryBytes: number; cpuModel: string; kernel: string; node: string };
  load: { before: LoadAverage; after: LoadAverage; max1MinDuring: number; samplesDuring: number };
  profile: {
    name: string;
    members: number;
    rounds: number;
    only: string | null;
    footprint: boolean;
    /** Set when the cases ran on another load generator than ours: 'go' (bench/go-client.ts). */
    client?: string;
    /**
     * The unmeasured warm-up run before each duration-mode case, ms, both sides alike
     * (Profile.warmupSec); absent in files from before it existed (no warm-up run then).
     */
    warmupMs?: number;
  };
  tsetcdUnavailable: string | null;
  /** What happened to the run's harness that a reader should know (e.g. a start retried on fresh ports); absent in older files. */
  notes?: string[];
  /** Median over the ceiling runs against the null server; null when none ran. */
  generatorCeiling: { opsPerSec: number | null; generatorCores: number | null; runs: number; error: string | null } | null;
  figures: Figure[];
  costs: Cost[];
  /** Where the per-round data went (git-ignored), relative to the repository root. */
  rawFile: string;
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

export function figuresOf(rows: readonly SummaryRow[]): Figure[] {
  return rows.map((r) => ({
    case: r.section,
    metric: r.metric,
    unit: r.unit,
    etcd: finite(r.etcd),
    tsetcd: finite(r.tsetcd),
    ratio: finite(r.ratio),
    aaRatio: finite(r.aaRatio),
    noiseBand: finite(r.noiseBand),
    target: r.target === undefined ? null : `${r.target.op} ${r.target.value}`,
    verdict: r.verdict,
    note: r.note,
  }));
}

export function costsOf(rows: readonly CostRow[]): Cost[] {
  return rows.map((c) => ({
    case: c.section,
    etcdServerCores: finite(c.etcdServerCores),
    tsetcdServerCores: finite(c.tsetcdServerCores),
    generatorCores: finite(c.generatorCores),
    maxWorkerElu: finite(c.maxWorkerElu),
    generatorSaturatedRuns: c.generatorSaturatedRuns,
  }));
}

/** `2026-12-07T01-30-05Z-quick-1member`, plus `-only-<text>` / `-no-footprint` when given. */
export function resultName(startedAt: Date, profile: ResultFile['profile']): string {
  const stamp = startedAt.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  const only = profile.only === null ? '' : `-only-${profile.only.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '')}`;
  const client = profile.client === undefined ? '' : `-${profile.client}-client`;
  return `${stamp}-${profile.name}-${profile.members}member${only}${profile.footprint ? '' : '-no-footprint'}${client}`;
}

/** The command as a reader would type it again (npm's form when npm started us). */
export function commandLine(args: readonly string[], viaNpm: boolean): string {
  const quoted = args.map((a) => (/^[\w./=:,@+-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`));
  return viaNpm ? ['npm run bench:compare --', ...quoted].join(' ') : ['node dist/bench/compare.js', ...quoted].join(' ');
}

export function loadAverage(): LoadAverage {
  const [a = Number.NaN, b = Number.NaN, c = Number.NaN] = loadavg();
  return [a, b, c];
}

export function machine(): ResultFile['machine'] {
  return {
    cores: availableParallelism(),
    memoryBytes: totalmem(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    kernel: `${osType()} ${release()}`,
    node: process.version,
  };
}

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtimeMs(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function git(dir: string, ...args: string[]): string | null {
  try {
    return execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
}

/**
 * The commit and cleanliness of the git tree the measured launcher lives in (its src/
 * and dist/ are what runs; with --tsetcd-bin that may be another checkout than bench's).
 * bench/results/ is left out of "dirty": earlier result files waiting to be committed do
 * not change what is measured.
 */
export function tsetcdBuild(launcher: string): TsetcdBuild {
  let dir = dirname(resolve(launcher));
  try {
    dir = dirname(realpathSync(launcher));
  } catch {
    // a missing launcher: start-up fails and says so; the tree is looked up all the same
  }
  const root = existsSync(dir) ? (git(dir, 'rev-parse', '--show-toplevel')?.trim() ?? null) : null;
  if (root === null) return { commit: null, dirty: true, dirtyPaths: [], distOlderThanSrc: true, launcher };
  const head = git(root, 'rev-parse', 'HEAD')?.trim() ?? null;
  const status = git(root, 'status', '--porcelain', '--untracked-files=all');
  const changed = (status ?? '')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.slice(3).startsWith('bench/results/'));
  let distOlderThanSrc = true;
  try {
    distOlderThanSrc = newestMtimeMs(join(root, 'src')) > statSync(join(root, 'dist', 'tsetcd.mjs')).mtimeMs;
  } catch {
    // no dist/ (or no src/): the launcher cannot be the commit's code either
  }
  return {
    commit: head,
    dirty: head === null || status === null || changed.length > 0,
    dirtyPaths: changed.slice(0, 20),
    distOlderThanSrc,
    launcher,
  };
}

/** The repository root: the first directory above this file with package.json and bench/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bench'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the repository root above bench/');
}

// ---- reading a committed file back (tables.ts, tests) ----

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function field<T>(o: Record<string, unknown>, key: string, ok: (v: unknown) => v is T, where: string): T {
  const v = o[key];
  if (!ok(v)) throw new Error(`${where}: field "${key}" is missing or has the wrong type`);
  return v;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number';
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isNumOrNull = (v: unknown): v is number | null => v === null || typeof v === 'number';
const isStrOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
const isLoad = (v: unknown): v is LoadAverage => Array.isArray(v) && v.length === 3 && v.every(isNumber);
const isArray = (v: unknown): v is unknown[] => Array.isArray(v);

function readFigure(x: unknown, where: string): Figure {
  if (!isRecord(x)) throw new Error(`${where}: a figure is not an object`);
  return {
    case: field(x, 'case', isString, where),
    metric: field(x, 'metric', isString, where),
    unit: field(x, 'unit', isString, where),
    etcd: field(x, 'etcd', isNumOrNull, where),
    tsetcd: field(x, 'tsetcd', isNumOrNull, where),
    ratio: field(x, 'ratio', isNumOrNull, where),
    aaRatio: field(x, 'aaRatio', isNumOrNull, where),
    noiseBand: field(x, 'noiseBand', isNumOrNull, where),
    target: field(x, 'target', isStrOrNull, where),
    verdict: field(x, 'verdict', isString, where),
    note: field(x, 'note', isString, where),
  };
}

function readCost(x: unknown, where: string): Cost {
  if (!isRecord(x)) throw new Error(`${where}: a cost row is not an object`);
  return {
    case: field(x, 'case', isString, where),
    etcdServerCores: field(x, 'etcdServerCores', isNumOrNull, where),
    tsetcdServerCores: field(x, 'tsetcdServerCores', isNumOrNull, where),
    generatorCores: field(x, 'generatorCores', isNumOrNull, where),
    maxWorkerElu: field(x, 'maxWorkerElu', isNumOrNull, where),
    generatorSaturatedRuns: field(x, 'generatorSaturatedRuns', isNumber, where),
  };
}

/**
 * Parses and checks a result file's text: every field tables.ts renders must be there
 * with its type, so a hand-made or truncated file fails loudly rather than rendering
 * "undefined".
 */
export function parseResultFile(text: string, where: string): ResultFile {
  const o: unknown = JSON.parse(text);
  if (!isRecord(o)) throw new Error(`${where}: not a JSON object`);
  const sub = (key: string): Record<string, unknown> => field(o, key, isRecord, where);
  const ts = sub('tsetcd');
  const etcd = sub('etcd');
  const m = sub('machine');
  const load = sub('load');
  const p = sub('profile');
  const ceil = o['generatorCeiling'];
  return {
    format: field(o, 'format', isNumber, where),
    name: field(o, 'name', isString, where),
    command: field(o, 'command', isString, where),
    startedAt: field(o, 'startedAt', isString, where),
    finishedAt: field(o, 'finishedAt', isString, where),
    tsetcd: {
      commit: field(ts, 'commit', isStrOrNull, where),
      dirty: field(ts, 'dirty', isBool, where),
      dirtyPaths: field(ts, 'dirtyPaths', isArray, where).filter(isString),
      distOlderThanSrc: field(ts, 'distOlderThanSrc', isBool, where),
      launcher: field(ts, 'launcher', isString, where),
    },
    etcd: { version: field(etcd, 'version', isString, where), bin: field(etcd, 'bin', isString, where) },
    machine: {
      cores: field(m, 'cores', isNumber, where),
      memoryBytes: field(m, 'memoryBytes', isNumber, where),
      cpuModel: field(m, 'cpuModel', isString, where),
      kernel: field(m, 'kernel', isString, where),
      node: field(m, 'node', isString, where),
    },
    load: {
      before: field(load, 'before', isLoad, where),
      after: field(load, 'after', isLoad, where),
      max1MinDuring: field(load, 'max1MinDuring', isNumber, where),
      samplesDuring: field(load, 'samplesDuring', isNumber, where),
    },
    profile: {
      name: field(p, 'name', isString, where),
      members: field(p, 'members', isNumber, where),
      rounds: field(p, 'rounds', isNumber, where),
      only: field(p, 'only', isStrOrNull, where),
      footprint: field(p, 'footprint', isBool, where),
      ...(typeof p['client'] === 'string' ? { client: p['client'] } : {}),
      ...(typeof p['warmupMs'] === 'number' ? { warmupMs: p['warmupMs'] } : {}),
    },
    tsetcdUnavailable: field(o, 'tsetcdUnavailable', isStrOrNull, where),
    ...(o['notes'] === undefined ? {} : { notes: field(o, 'notes', isArray, where).filter(isString) }),
    generatorCeiling: isRecord(ceil)
      ? {
          opsPerSec: field(ceil, 'opsPerSec', isNumOrNull, where),
          generatorCores: field(ceil, 'generatorCores', isNumOrNull, where),
          runs: field(ceil, 'runs', isNumber, where),
          error: field(ceil, 'error', isStrOrNull, where),
        }
      : null,
    figures: field(o, 'figures', isArray, where).map((f, i) => readFigure(f, `${where} figure ${i}`)),
    costs: field(o, 'costs', isArray, where).map((c, i) => readCost(c, `${where} cost ${i}`)),
    rawFile: field(o, 'rawFile', isString, where),
  };
}

export function readResultFile(path: string): ResultFile {
  return parseResultFile(readFileSync(path, 'utf8'), path);
}
