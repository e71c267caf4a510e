/**
 * The smallest failing window of a non-linearizable partition (testing-reference §4.6).
 *
 * Method: the history cut at time T (ops invoked by T; ops still pending at T become
 * `info`, pending reads are dropped) is illegal for every T after the first illegal one:
 * any linearization of a longer history, restricted to the ops of a cut, stays legal
 * (ops invoked after T can only precede ops pending at T, which are `info` in the cut
 * and accept any state). So a binary search over completion times finds the earliest
 * cut that is already illegal; the op completing there is the last straw. The window
 * is that op, every op concurrent with it, and the `context` ops of the partition that
 * completed just before it.
 */
import type { Op } from '../history/op.js';

export interface FailingWindow {
  /** Completion time of the earliest illegal cut. */
  readonly cutAt: number;
  readonly lastStraw: Op;
  readonly ops: readonly Op[];
  readonly fromMs: number;
  readonly toMs: number;
}

export function cutAt(ops: readonly Op[], t: number): Op[] {
  const out: Op[] = [];
  for (const op of ops) {
    if (op.call > t) continue;
    if (op.type === 'ok' && op.ret <= t) out.push(op);
    else if (op.f !== 'read') out.push({ ...op, type: 'info', output: null });
  }
  return out;
}

export function smallestFailingWindow(
  ops: readonly Op[],
  isIllegal: (ops: readonly Op[]) => boolean,
  context = 6,
): FailingWindow | undefined {
  const times = [...new Set(ops.filter((o) => o.type === 'ok').map((o) => o.ret))].sort(
    (a, b) => a - b,
  );
  if (times.length === 0 || !isIllegal(ops)) return undefined;
  let lo = 0;
  let hi = times.length - 1;
  if (!isIllegal(cutAt(ops, times[hi] as number))) return undefined;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (isIllegal(cutAt(ops, times[mid] as number))) hi = mid;
    else lo = mid + 1;
  }
  const t = times[lo] as number;
  const lastStraw = ops.find((o) => o.type === 'ok' && o.ret === t) as Op;
  const concurrent = ops.filter((o) => o.call <= t && o.ret >= lastStraw.call);
  const before = ops
    .filter((o) => o.ret < lastStraw.call)
    .sort((a, b) => a.ret - b.ret)
    .slice(-context);
  const window = [...new Map([...before, ...concurrent].map((o) => [o.id, o])).values()].sort(
    (a, b) => a.call - b.call,
  );
  return {
    cutAt: t,
    lastStraw,
    ops: window,
    fromMs: Math.min(...window.map((o) => o.call)),
    toMs: t,
  };
}

/** A readable timeline of ops (one line each), for failure reports. */
export function formatOps(ops: readonly Op[]): string {
  return ops
    .map(
      (o) =>
        `  #${o.id} p${o.process} ${o.node} [${o.call.toFixed(1)}, ${o.ret.toFixed(1)}] ${o.type} ` +
        `${o.f} ${o.key ?? ''} ${JSON.stringify(o.input)} -> ${JSON.stringify(o.output)}` +
        (o.error === undefined ? '' : ` (${o.error})`) +
        (o.revision === undefined ? '' : ` rev ${o.revision}`),
    )
    .join('\n');
}
