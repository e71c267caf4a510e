/**
 * Turns the sessions of a comparison into summary rows (medians, tsetcd/etcd ratio,
 * A/A ratio and noise band, verdict against the issue's targets) and prints them, with
 * a second table of what each side cost in CPU (server members and the generator).
 * Rounds where a side has no value are left out of that side's ratios, never filled.
 */
import type { Profile } from './compare-plan.js';
import type { CaseOutcome, SessionResult } from './compare-session.js';
import { fmt, table } from './report.js';
import type { RestartPhaseResult } from './restart-phase.js';
import type { RestorePhaseResult } from './restore-phase.js';
import type { SavePhaseResult } from './save-phase.js';
import { median, noiseBand, ratios, type Target, type Verdict, verdict } from './stats.js';

export const LABEL_A = 'etcd';
export const LABEL_B = 'tsetcd';
export const LABEL_AA = 'etcd-AA';

export interface SummaryRow {
  section: string;
  metric: string;
  unit: string;
  etcd: number;
  tsetcd: number;
  ratio: number;
  aaRatio: number;
  noiseBand: number;
  target?: Target;
  verdict: Verdict;
  note: string;
}

export interface CostRow {
  section: string;
  etcdServerCores: number;
  tsetcdServerCores: number;
  generatorCores: number;
  maxWorkerElu: number;
  maxWorkerCpuCores: number;
  generatorSaturatedRuns: number;
}

/**
 * One line for a multi-line failure: the first line, plus the last line of a log tail
 * (where a server states why it stopped), cut to a readable length.
 */
export function shortReason(msg: string): string {
  const lines = msg.split('\n').filter((l) => l.trim() !== '');
  const first = lines[0] ?? '';
  const last = lines.length > 1 ? lines[lines.length - 1] ?? '' : '';
  const s = last === '' ? first : `${first.replace(/; log tail:$/, '')} — ${last.trim()}`;
  return s.length > 240 ? `${s.slice(0, 237)}...` : s;
}

function byRound(sessions: SessionResult[], label: string, rounds: number): Array<SessionResult | undefined> {
  return Array.from({ length: rounds }, (_, r) => sessions.find((s) => s.label === label && s.round === r + 1));
}

function row(
  section: string,
  metric: string,
  unit: string,
  a: Array<number | undefined>,
  b: Array<number | undefined>,
  aa: Array<number | undefined>,
  target: Target | undefined,
  note: string,
  failed: 'tsetcd errors' | 'etcd errors' | undefined = undefined,
): SummaryRow {
  const aaR = ratios(aa, a);
  const ratio = median(ratios(b, a));
  const band = noiseBand(aaR);
  const defined = (xs: Array<number | undefined>): number[] => xs.filter((x): x is number => x !== undefined);
  return {
    section,
    metric,
    unit,
    etcd: median(defined(a)),
    tsetcd: median(defined(b)),
    ratio,
    aaRatio: median(aaR),
    noiseBand: band,
    ...(target === undefined ? {} : { target }),
    verdict: failed !== undefined && target !== undefined ? failed : verdict(ratio, band, target),
    note,
  };
}

const maxOrNaN = (xs: number[]): number => (xs.length === 0 ? Number.NaN : Math.max(...xs));

function caseOf(s: SessionResult | undefined, id: string): CaseOutcome | undefined {
  return s?.cases.find((c) => c.caseId === id);
}

export function summarize(
  profile: Profile,
  sessions: SessionResult[],
  tsetcdUnavailable: string | undefined,
  restart?: RestartPhaseResult,
  restore?: RestorePhaseResult,
  save?: SavePhaseResult,
): { rows: SummaryRow[]; costs: CostRow[] } {
  const R = profile.rounds;
  const A = byRound(sessions, LABEL_A, R);
  const B = byRound(sessions, LABEL_B, R);
  const AA = byRound(sessions, LABEL_AA, R);
  const rows: SummaryRow[] = [];
  const costs: CostRow[] = [];
  const unavailable = tsetcdUnavailable === undefined ? '' : `tsetcd did not start: ${shortReason(tsetcdUnavailable)}`;
  for (const c of profile.cases) {
    const ca = A.map((s) => caseOf(s, c.id));
    const cb = B.map((s) => caseOf(s, c.id));
    const caa = AA.map((s) => caseOf(s, c.id));
    const notes: string[] = [];
    if (unavailable !== '') notes.push(unavailable);
    const failedB = cb.find((o) => o?.error !== undefined)?.error;
    if (failedB !== undefined) notes.push(`tsetcd run failed: ${shortReason(failedB)}`);
    const failedA = [...ca, ...caa].find((o) => o?.error !== undefined)?.error;
    if (failedA !== undefined) notes.push(`etcd run failed: ${shortReason(failedA)}`);
    const errs = (xs: Array<CaseOutcome | undefined>): number => xs.reduce((s, o) => s + (o?.result?.errorOps ?? 0), 0);
    if (errs(ca) + errs(caa) > 0) notes.push(`etcd errors ${errs(ca) + errs(caa)}`);
    if (errs(cb) > 0) notes.push(`tsetcd errors ${errs(cb)}`);
    const failed =
      failedA !== undefined || errs(ca) + errs(caa) > 0
        ? 'etcd errors'
        : failedB !== undefined || errs(cb) > 0
          ? 'tsetcd errors'
          : undefined;
    for (const m of c.metrics) {
      const val = (o: CaseOutcome | undefined): number | undefined => o?.metrics[m.id];
      rows.push(row(c.id, m.label, m.unit, ca.map(val), cb.map(val), caa.map(val), m.target, notes.join('; '), failed));
    }
    const all = [...ca, ...caa, ...cb].filter((o): o is CaseOutcome => o?.result !== undefined);
    costs.push({
      section: c.id,
      etcdServerCores: median([...ca, ...caa].map((o) => o?.serverCpuCores ?? Number.NaN)),
      tsetcdServerCores: median(cb.map((o) => o?.serverCpuCores ?? Number.NaN)),
      generatorCores: median(all.map((o) => o.result?.generator.cpuCores ?? Number.NaN)),
      // NaN (n/a) when no run reported worker threads (the Go client has none).
      maxWorkerElu: maxOrNaN(all.flatMap((o) => o.result?.generator.workerEventLoopUtilization ?? [])),
      maxWorkerCpuCores: maxOrNaN(all.flatMap((o) => (o.result?.generator.workerCpuCores ?? []).filter((x) => Number.isFinite(x)))),
      generatorSaturatedRuns: all.filter((o) => o.result?.generator.saturated === true).length,
    });
  }
  const fp = (s: SessionResult | undefined, f: (x: NonNullable<SessionResult['footprint']>) => number): number | undefined =>
    s?.footprint === undefined ? undefined : f(s.footprint);
  const MiB = 2 ** 20;
  const fpError = B.find((s) => s?.footprintError !== undefined)?.footprintError;
  const fpNote = [unavailable, fpError === undefined ? '' : `tsetcd footprint failed: ${shortReason(fpError)}`]
    .filter((x) => x !== '')
    .join('; ');
  const fpRow = (metric: string, unit: string, f: (x: NonNullable<SessionResult['footprint']>) => number, target?: Target): void => {
    rows.push(row('footprint', metric, unit, A.map((s) => fp(s, f)), B.map((s) => fp(s, f)), AA.map((s) => fp(s, f)), target, fpNote));
  };
  const k = (n: number): string => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`);
  if (profile.footprintSession === 'shared') {
    fpRow(`peak RSS, ${k(profile.footprintKeys)} keys of 1 KiB (after the workloads)`, 'MiB', (x) => x.peakRssBytes / MiB, { op: '<=', value: 1.5 });
    fpRow(`on-disk size, ${k(profile.footprintKeys)} keys`, 'MiB', (x) => x.diskBytes / MiB);
    fpRow(`restart to serving, ${k(profile.footprintKeys)} keys of 1 KiB`, 'ms', (x) => x.restartToServingMs, { op: '<=', value: 1.5 });
  }
  if (restart !== undefined) {
    const pick = (label: string, f: (x: RestartPhaseResult['samples'][number]) => number): Array<number | undefined> =>
      Array.from({ length: R }, (_, r) => {
        const x = restart.samples.find((s) => s.label === label && s.round === r + 1);
        return x === undefined ? undefined : f(x);
      });
    const errB = restart.errors[LABEL_B];
    const note = [unavailable, errB === undefined ? '' : `tsetcd big restart failed: ${shortReason(errB)}`]
      .filter((x) => x !== '')
      .join('; ');
    const failedA = restart.errors[LABEL_A] ?? restart.errors[LABEL_AA];
    const fail = failedA !== undefined ? 'etcd errors' : errB !== undefined ? 'tsetcd errors' : undefined;
    // Footprint at footprintKeys: one sample per side (measured while loading).
    const one = (label: string, f: (x: RestartPhaseResult['footprint'][string]) => number): Array<number | undefined> => {
      const x = restart.footprint[label];
      return [x === undefined ? undefined : f(x)];
    };
    // The 100k sample stands even if the same cluster failed later on its way to 1M keys.
    const fpFail = failedA !== undefined ? 'etcd errors' : errB !== undefined && restart.footprint[LABEL_B] === undefined ? 'tsetcd errors' : undefined;
    const fk = k(Object.values(restart.footprint)[0]?.keys ?? profile.footprintKeys);
    const rss = (x: RestartPhaseResult['footprint'][string]): number => x.peakRssBytes / MiB;
    const disk = (x: RestartPhaseResult['footprint'][string]): number => x.diskBytes / MiB;
    rows.push(row('footprint', `peak RSS, ${fk} keys of 1 KiB (fresh cluster, 1 sample/side)`, 'MiB', one(LABEL_A, rss), one(LABEL_B, rss), one(LABEL_AA, rss), { op: '<=', value: 1.5 }, note, fpFail));
    rows.push(row('footprint', `on-disk size, ${fk} keys (1 sample/side)`, 'MiB', one(LABEL_A, disk), one(LABEL_B, disk), one(LABEL_AA, disk), undefined, note));
    const r = (x: RestartPhaseResult['samples'][number]): number => x.peakRssBytes / MiB;
    rows.push(row('big restart', `peak RSS after restart, ${k(restart.keys)} keys`, 'MiB', pick(LABEL_A, r), pick(LABEL_B, r), pick(LABEL_AA, r), undefined, note));
    const t = (x: RestartPhaseResult['samples'][number]): number => x.restartToServingMs;
    const d = (x: RestartPhaseResult['samples'][number]): number => x.diskBytes / MiB;
    rows.push(row('big restart', `restart to serving, ${k(restart.keys)} keys of 1 KiB`, 'ms', pick(LABEL_A, t), pick(LABEL_B, t), pick(LABEL_AA, t), { op: '<=', value: 1.5 }, note, fail));
    rows.push(row('big restart', `on-disk size, ${k(restart.keys)} keys`, 'MiB', pick(LABEL_A, d), pick(LABEL_B, d), pick(LABEL_AA, d), undefined, note));
  }
  if (restore !== undefined) {
    const pick = (label: string): Array<number | undefined> =>
      Array.from({ length: R }, (_, r) => restore.samples.find((s) => s.label === label && s.round === r + 1)?.restoreMs);
    const errB = restore.errors[LABEL_B];
    const failedA = restore.errors[LABEL_A] ?? restore.errors[LABEL_AA];
    const note = [
      `file ${(restore.fileBytes / MiB).toFixed(0)} MiB`,
      errB === undefined ? '' : `tsetcd restore failed: ${shortReason(errB)}`,
      failedA === undefined ? '' : `etcdctl restore failed: ${shortReason(failedA)}`,
    ]
      .filter((x) => x !== '')
      .join('; ');
    const fail = failedA !== undefined ? 'etcd errors' : errB !== undefined ? 'tsetcd errors' : undefined;
    rows.push(row('snapshot restore', `restore time, ${k(restore.keys)} keys of 1 KiB (etcdctl vs tsetcd)`, 'ms', pick(LABEL_A), pick(LABEL_B), pick(LABEL_AA), { op: '<=', value: 1.5 }, note, fail));
  }
  if (save !== undefined) {
    const pick = (label: string, f: (x: SavePhaseResult['samples'][number]) => number): Array<number | undefined> =>
      Array.from({ length: R }, (_, r) => {
        const x = save.samples.find((s) => s.label === label && s.round === r + 1);
        return x === undefined ? undefined : f(x);
      });
    const errB = save.errors[LABEL_B];
    const failedA = save.errors[LABEL_A] ?? save.errors[LABEL_AA];
    const fileBytes = save.samples[0]?.fileBytes;
    const note = [
      unavailable,
      fileBytes === undefined ? '' : `file ${(fileBytes / MiB).toFixed(0)} MiB`,
      errB === undefined ? '' : `tsetcd save failed: ${shortReason(errB)}`,
      failedA === undefined ? '' : `etcd save failed: ${shortReason(failedA)}`,
    ]
      .filter((x) => x !== '')
      .join('; ');
    const fail = failedA !== undefined ? 'etcd errors' : errB !== undefined ? 'tsetcd errors' : undefined;
    const t = (x: SavePhaseResult['samples'][number]): number => x.saveMs;
    const g = (x: SavePhaseResult['samples'][number]): number => x.rssGrowthBytes / MiB;
    rows.push(row('snapshot save', `etcdctl snapshot save, ${k(save.keys)} keys of 1 KiB`, 'ms', pick(LABEL_A, t), pick(LABEL_B, t), pick(LABEL_AA, t), { op: '<=', value: 1.5 }, note, fail));
    const a = (x: SavePhaseResult['samples'][number]): number => x.anonGrowthBytes / MiB;
    rows.push(row('snapshot save', `server RSS growth during the save, ${k(save.keys)} keys`, 'MiB', pick(LABEL_A, g), pick(LABEL_B, g), pick(LABEL_AA, g), undefined, note, fail));
    rows.push(row('snapshot save', `server RssAnon growth during the save, ${k(save.keys)} keys`, 'MiB', pick(LABEL_A, a), pick(LABEL_B, a), pick(LABEL_AA, a), undefined, note, fail));
  }
  const start = (s: SessionResult | undefined): number | undefined =>
    s === undefined || !Number.isFinite(s.startToServingMs) ? undefined : s.startToServingMs;
  rows.push(row('startup', 'fresh start to serving (empty)', 'ms', A.map(start), B.map(start), AA.map(start), undefined, unavailable));
  return { rows, costs };
}

export function formatSummary(rows: SummaryRow[], costs: CostRow[]): string {
  const out: string[][] = [
    ['case', 'metric', 'etcd', 'tsetcd', 'ratio', 'A/A', 'noise ±', 'target', 'verdict'],
  ];
  for (const r of rows) {
    const v = (x: number): string => (Number.isFinite(x) ? `${fmt(x)} ${r.unit}` : 'n/a');
    out.push([
      r.section,
      r.metric,
      v(r.etcd),
      v(r.tsetcd),
      Number.isFinite(r.ratio) ? r.ratio.toFixed(2) : 'n/a',
      Number.isFinite(r.aaRatio) ? r.aaRatio.toFixed(2) : 'n/a',
      Number.isFinite(r.noiseBand) ? r.noiseBand.toFixed(2) : 'n/a',
      r.target === undefined ? '' : `${r.target.op} ${r.target.value}`,
      r.verdict,
    ]);
  }
  // One line per distinct note, with the cases it applies to.
  const bySection = new Map<string, string[]>();
  for (const r of rows) {
    if (r.note === '') continue;
    const list = bySection.get(r.note) ?? [];
    if (!list.includes(r.section)) list.push(r.section);
    bySection.set(r.note, list);
  }
  const allSections = new Set(rows.map((r) => r.section)).size;
  const notes = [...bySection].map(([note, secs]) => `${secs.length === allSections ? 'all rows' : secs.join(', ')}: ${note}`);
  const cost: string[][] = [
    ['case', 'etcd server cores', 'tsetcd server cores', 'generator cores', 'max worker ELU', 'max worker CPU', 'saturated runs'],
  ];
  for (const c of costs) {
    const n = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
    cost.push([
      c.section,
      n(c.etcdServerCores),
      n(c.tsetcdServerCores),
      n(c.generatorCores),
      n(c.maxWorkerElu),
      n(c.maxWorkerCpuCores),
      String(c.generatorSaturatedRuns),
    ]);
  }
  return [
    table(out),
    '',
    notes.length > 0 ? `notes:\n${notes.map((n) => `  ${n}`).join('\n')}\n` : '',
    'CPU (medians; cores = CPU seconds per wall second; ELU = worker event-loop utilization, 1.0 = never idle;',
    ' a worker with high ELU but low CPU was starved by other processes, with high CPU it was busy itself):',
    table(cost),
  ].join('\n');
}
