/**
 * Elle-style list-append checker for strict serializability (testing-reference §4.7;
 * Kingsbury & Alvaro, VLDB 2020; anomalies after Adya).
 *
 * History contract: ops with f 'txn'; input is a list of micro-ops ['append', k, x] or
 * ['r', k, null]; an ok op's output is the same list with every read filled in with the
 * whole list it saw. Every (k, x) is appended at most once in the run.
 *
 * What is checked (scoped to what can be inferred soundly):
 * - non-cycle anomalies: duplicate elements in a read, garbage (an element nobody
 *   appended), G1a (an ok read shows an element of a failed txn), G1b (a read ends on an
 *   element its writer later followed with another append to the same key), internal
 *   (a txn's read disagrees with its own earlier reads and appends of that key),
 *   incompatible-order (two reads of a key where neither is a prefix of the other);
 * - cycles in the dependency graph over ok txns and info txns whose appends were
 *   observed: ww (next element of a key's version order), wr (a read ending on T1's
 *   element), rw (a read ending on e, or empty, while T2 appended the element after e;
 *   or any observed-never committed append after the longest read), and realtime
 *   (transitive reduction: T1 completed before T2 was invoked).
 *   Each strongly connected component is explained by the first cycle class found, in
 *   order G0, G1c, G-single, G2, then the same classes with realtime edges.
 *
 * Unread appends get no ww edges (their order is unknown); that loses some
 * completeness, never soundness.
 */
import type { Op } from '../history/op.js';
import { DepGraph, EDGE_NAMES, RT, RW, WR, WW } from './graph.js';
import type { Step } from './graph.js';

export type Mop =
  readonly ['append', string, number] | readonly ['r', string, readonly number[] | null];

export interface Anomaly {
  readonly type: string;
  readonly ops: readonly number[];
  readonly explanation: string;
}

export interface ElleVerdict {
  readonly valid: boolean;
  readonly anomalies: readonly Anomaly[];
  readonly anomalyTypes: readonly string[];
  readonly txns: number;
  readonly edges: number;
}

interface Appender {
  readonly op: Op;
  readonly index: number;
}

const CYCLE_CLASSES: readonly {
  name: string;
  mask: number;
  need: number;
  rwExactlyOne?: boolean;
}[] = [
  { name: 'G0', mask: WW, need: WW },
  { name: 'G1c', mask: WW | WR, need: WR },
  { name: 'G-single', mask: WW | WR | RW, need: RW, rwExactlyOne: true },
  { name: 'G2', mask: WW | WR | RW, need: RW },
  { name: 'G0-realtime', mask: WW | RT, need: RT },
  { name: 'G1c-realtime', mask: WW | WR | RT, need: RT },
  { name: 'G-single-realtime', mask: WW | WR | RW | RT, need: RW, rwExactlyOne: true },
  { name: 'G2-realtime', mask: WW | WR | RW | RT, need: RT },
];

const MAX_REPORTED = 50;

export function checkListAppend(ops: readonly Op[]): ElleVerdict {
  const anomalies: Anomaly[] = [];
  const report = (type: string, opIds: readonly number[], explanation: string): void => {
    if (anomalies.length < MAX_REPORTED) anomalies.push({ type, ops: opIds, explanation });
  };
  const txns = ops.filter((o) => o.f === 'txn');
  const appenders = new Map<string, Appender>();
  const failedAppends = new Map<string, Op>();
  for (const op of txns) {
    (op.input as readonly Mop[]).forEach((m, index) => {
      if (m[0] !== 'append') return;
      const id = `${m[1]}\u0000${m[2]}`;
      if (op.type === 'fail') failedAppends.set(id, op);
      else if (appenders.has(id))
        report('duplicate-append', [op.id], `${m[1]}:${m[2]} appended twice`);
      else appenders.set(id, { op, index });
    });
  }
  const appenderOf = (k: string, x: number): Appender | undefined =>
    appenders.get(`${k}\u0000${x}`);

  // Reads of ok txns; the external ones (before the txn's own appends to k) feed the graph.
  const okTxns = txns.filter((o) => o.type === 'ok');
  const external: { op: Op; key: string; list: readonly number[] }[] = [];
  const allReads = new Map<string, (readonly number[])[]>();
  for (const op of okTxns) {
    const seen = new Map<string, number[]>();
    for (const m of (op.output ?? []) as readonly Mop[]) {
      const k = m[1];
      if (m[0] === 'append') {
        const cur = seen.get(k);
        if (cur !== undefined) cur.push(m[2]);
        else seen.set(k, [m[2]]); // the prefix before it is unknown: track the suffix only
        continue;
      }
      const list = m[2] ?? [];
      checkRead(op, k, list, report, appenderOf, failedAppends);
      const expected = seen.get(k);
      if (expected === undefined) external.push({ op, key: k, list });
      else if (!endsWith(list, expected)) {
        report(
          'internal',
          [op.id],
          `txn ${op.id} read ${k} = ${fmt(list)} but its own earlier ops imply it ends with ${fmt(expected)}`,
        );
      }
      seen.set(k, [...list]);
      let lists = allReads.get(k);
      if (lists === undefined) allReads.set(k, (lists = []));
      lists.push(list);
    }
  }

  // Version order per key: the longest read; every other read must be a prefix of it.
  const order = new Map<string, readonly number[]>();
  for (const [k, lists] of allReads) {
    const sorted = [...lists].sort((a, b) => a.length - b.length);
    const longest = sorted[sorted.length - 1] as readonly number[];
    for (const l of sorted) {
      if (!isPrefix(l, longest)) {
        report(
          'incompatible-order',
          [],
          `key ${k}: read ${fmt(l)} is not a prefix of ${fmt(longest)}`,
        );
        break;
      }
    }
    order.set(k, longest);
  }

  // Txns in the graph: ok ones, and info ones with an observed append.
  const observed = new Set<number>();
  for (const [k, list] of order)
    for (const x of list) {
      const a = appenderOf(k, x);
      if (a !== undefined) observed.add(a.op.id);
    }
  const inGraph = txns.filter((o) => o.type === 'ok' || (o.type === 'info' && observed.has(o.id)));
  const g = new DepGraph();
  for (const op of inGraph) g.addNode(op.id);
  const member = new Set(inGraph.map((o) => o.id));

  for (const [k, list] of order) {
    for (let i = 1; i < list.length; i++) {
      const a = appenderOf(k, list[i - 1] as number);
      const b = appenderOf(k, list[i] as number);
      if (a !== undefined && b !== undefined && member.has(a.op.id) && member.has(b.op.id)) {
        g.addEdge(
          a.op.id,
          b.op.id,
          WW,
          `on ${k}, ${list[i]} was appended right after ${list[i - 1]}`,
        );
      }
    }
  }
  // Committed appends never read: after every element of the longest read.
  const unread = new Map<string, Op[]>();
  for (const [id, a] of appenders) {
    const [k, xs] = id.split('\u0000') as [string, string];
    if (!member.has(a.op.id) || a.op.type !== 'ok' || (order.get(k) ?? []).includes(Number(xs)))
      continue;
    let l = unread.get(k);
    if (l === undefined) unread.set(k, (l = []));
    l.push(a.op);
  }
  for (const { op, key, list } of external) {
    const last = list[list.length - 1];
    if (last !== undefined) {
      const w = appenderOf(key, last);
      if (w !== undefined && member.has(w.op.id)) {
        g.addEdge(
          w.op.id,
          op.id,
          WR,
          `${op.id} read ${key} ending with ${last}, appended by ${w.op.id}`,
        );
      }
    }
    const vo = order.get(key) ?? [];
    const pos = last === undefined ? -1 : vo.indexOf(last);
    const nextX = vo[pos + 1];
    if (nextX !== undefined) {
      const w = appenderOf(key, nextX);
      if (w !== undefined && member.has(w.op.id)) {
        g.addEdge(
          op.id,
          w.op.id,
          RW,
          `${op.id} read ${key} = ${fmt(list)}, missing ${nextX} appended next by ${w.op.id}`,
        );
      }
    } else {
      for (const u of unread.get(key) ?? []) {
        g.addEdge(
          op.id,
          u.id,
          RW,
          `${op.id} read ${key} = ${fmt(list)}, missing the later append by ${u.id}`,
        );
      }
    }
  }
  addRealtimeEdges(g, inGraph);

  for (const scc of g.cycles()) explainCycle(g, scc, report);
  const types = [...new Set(anomalies.map((a) => a.type))].sort();
  return {
    valid: anomalies.length === 0,
    anomalies,
    anomalyTypes: types,
    txns: inGraph.length,
    edges: g.edges,
  };
}

function checkRead(
  op: Op,
  k: string,
  list: readonly number[],
  report: (type: string, ops: readonly number[], why: string) => void,
  appenderOf: (k: string, x: number) => Appender | undefined,
  failed: ReadonlyMap<string, Op>,
): void {
  if (new Set(list).size !== list.length)
    report('duplicate-elements', [op.id], `txn ${op.id} read ${k} = ${fmt(list)}`);
  for (const x of list) {
    const f = failed.get(`${k}\u0000${x}`);
    if (f !== undefined)
      report(
        'G1a',
        [op.id, f.id],
        `txn ${op.id} read ${k} = ${fmt(list)} with ${x} from failed txn ${f.id}`,
      );
    else if (appenderOf(k, x) === undefined)
      report('garbage', [op.id], `txn ${op.id} read ${k} element ${x} that no txn appended`);
  }
  const last = list[list.length - 1];
  if (last === undefined) return;
  const w = appenderOf(k, last);
  if (w === undefined || w.op.id === op.id) return;
  const later = (w.op.input as readonly Mop[])
    .slice(w.index + 1)
    .find((m) => m[0] === 'append' && m[1] === k);
  if (later !== undefined) {
    report(
      'G1b',
      [op.id, w.op.id],
      `txn ${op.id} read ${k} ending with ${last}, an intermediate append of txn ${w.op.id} (which later appended ${String(later[2])})`,
    );
  }
}

/** Elle's realtime reduction: link recent completions to each invocation until superseded. */
function addRealtimeEdges(g: DepGraph, ops: readonly Op[]): void {
  const events: { t: number; call: boolean; op: Op }[] = [];
  for (const op of ops) {
    events.push({ t: op.call, call: true, op });
    if (op.type === 'ok') events.push({ t: op.ret, call: false, op });
  }
  // Closed intervals: on equal times an invocation comes first (the ops overlap).
  events.sort((a, b) => a.t - b.t || (a.call === b.call ? 0 : a.call ? -1 : 1));
  let frontier = new Set<Op>();
  const predecessors = new Map<number, Set<Op>>();
  for (const ev of events) {
    if (ev.call) {
      predecessors.set(ev.op.id, new Set(frontier));
      for (const p of frontier)
        g.addEdge(p.id, ev.op.id, RT, `${p.id} completed before ${ev.op.id} began`);
    } else {
      const preds = predecessors.get(ev.op.id) ?? new Set<Op>();
      frontier = new Set([...frontier].filter((p) => !preds.has(p)));
      frontier.add(ev.op);
    }
  }
}

function explainCycle(
  g: DepGraph,
  scc: readonly number[],
  report: (type: string, ops: readonly number[], why: string) => void,
): void {
  const within = new Set(scc);
  const budget = { left: 5000 };
  for (const cls of CYCLE_CLASSES) {
    for (const u of scc) {
      for (const [v, m] of g.successors(u)) {
        if (!within.has(v) || (m & cls.need & cls.mask) === 0) continue;
        if (--budget.left < 0) {
          report(
            'cycle',
            scc,
            `a cycle among ${scc.length} txns (classification budget exhausted): ${scc.slice(0, 20).join(', ')}`,
          );
          return;
        }
        const backMask = cls.rwExactlyOne === true ? cls.mask & ~RW : cls.mask;
        const back = g.path(v, u, backMask, within);
        if (back === undefined) continue;
        const first: Step = { from: u, to: v, type: cls.need, why: g.reason(u, v, cls.need) };
        const cycle = [first, ...back];
        if (cls.name.startsWith('G0') && cycle.some((s) => s.type !== WW && s.type !== RT))
          continue;
        report(
          cls.name,
          cycle.map((s) => s.from),
          cycle
            .map((s) => `${s.from} -${EDGE_NAMES[s.type] ?? '?'}-> ${s.to} (${s.why})`)
            .join('; '),
        );
        return;
      }
    }
  }
  report('cycle', scc, `a dependency cycle among txns ${scc.slice(0, 20).join(', ')}`);
}

function isPrefix(a: readonly number[], b: readonly number[]): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function endsWith(list: readonly number[], suffix: readonly number[]): boolean {
  if (suffix.length > list.length) return false;
  const off = list.length - suffix.length;
  for (let i = 0; i < suffix.length; i++) if (list[off + i] !== suffix[i]) return false;
  return true;
}

function fmt(list: readonly number[]): string {
  return `[${list.join(' ')}]`;
}
