/**
 * Wing & Gong linearizability search with Lowe's memoisation (testing-reference §4.2),
 * over one partition of a history (one key for register workloads).
 *
 * Contract:
 * - The caller passes only ops that may have taken effect: `ok` ops, and `info` ops whose
 *   effect is unknown (their completion is treated as +infinity, so they may linearize
 *   anywhere after their call, including "after everything", which covers "never"); an
 *   info op marked `committed` took effect before its `ret` (the history's end).
 *   Failed ops and info reads must be dropped by the caller.
 * - `model.step` must be pure; `model.key` must identify a state exactly (it is the memo
 *   key together with the set of linearized ops).
 * - Intervals are closed: on equal timestamps calls sort before returns.
 * - The result is definite (valid true/false) or 'unknown' when the step budget runs out;
 *   callers must treat 'unknown' as a failure of the run (§4.5 CI rule).
 * - On an illegal history the result carries the deepest partial linearization found and
 *   the op whose return could not be passed there (the counterexample anchor, §4.6).
 */
import type { Op } from '../history/op.js';

export interface Model<S> {
  readonly name: string;
  readonly init: S;
  /** Next state if `op` can take effect in `state` (with its recorded output), else null. */
  step(state: S, op: Op): S | null;
  key(state: S): string;
  describe(state: S): string;
}

export interface Counterexample {
  /** Op ids of the longest linearization found, in order. */
  readonly linearized: readonly number[];
  /** Model state after that linearization. */
  readonly state: string;
  /** The op that could be neither linearized nor passed at the deepest point. */
  readonly blockedOp: number;
  /** Ops that were candidates there (concurrent, not yet linearized); none could step. */
  readonly candidates: readonly number[];
}

export type LinResult =
  | { readonly valid: true; readonly steps: number; readonly linearization: readonly number[] }
  | { readonly valid: false; readonly steps: number; readonly counterexample: Counterexample }
  | { readonly valid: 'unknown'; readonly steps: number; readonly reason: string };

export interface WglOptions {
  /** Search steps (candidate attempts) before giving up with 'unknown'. */
  readonly maxSteps?: number;
}

const DEFAULT_MAX_STEPS = 5_000_000;

export function checkLinearizable<S>(
  ops: readonly Op[],
  model: Model<S>,
  options: WglOptions = {},
): LinResult {
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  const n = ops.length;
  // Entries: 2 per op. Entry index e in [1, 2n]; 0 is the head sentinel.
  const entryOp = new Int32Array(2 * n + 1);
  const isCall = new Uint8Array(2 * n + 1);
  const match = new Int32Array(2 * n + 1);
  const order: { e: number; t: number; call: boolean }[] = [];
  for (let i = 0; i < n; i++) {
    const op = ops[i] as Op;
    // An info op proven committed (history/resolve.ts) must linearize before its ret.
    const ret = op.type === 'info' && op.committed !== true ? Number.POSITIVE_INFINITY : op.ret;
    order.push({ e: 2 * i + 1, t: op.call, call: true }, { e: 2 * i + 2, t: ret, call: false });
    entryOp[2 * i + 1] = i;
    entryOp[2 * i + 2] = i;
    isCall[2 * i + 1] = 1;
    match[2 * i + 1] = 2 * i + 2;
    match[2 * i + 2] = 2 * i + 1;
  }
  order.sort((a, b) => a.t - b.t || (a.call === b.call ? a.e - b.e : a.call ? -1 : 1));
  const next = new Int32Array(2 * n + 1).fill(-1);
  const prev = new Int32Array(2 * n + 1).fill(-1);
  let last = 0;
  for (const o of order) {
    next[last] = o.e;
    prev[o.e] = last;
    last = o.e;
  }

  const lift = (e: number): void => {
    next[prev[e] as number] = next[e] as number;
    if ((next[e] as number) >= 0) prev[next[e] as number] = prev[e] as number;
    const m = match[e] as number;
    next[prev[m] as number] = next[m] as number;
    if ((next[m] as number) >= 0) prev[next[m] as number] = prev[m] as number;
  };
  const unlift = (e: number): void => {
    const m = match[e] as number;
    next[prev[m] as number] = m;
    if ((next[m] as number) >= 0) prev[next[m] as number] = m;
    next[prev[e] as number] = e;
    if ((next[e] as number) >= 0) prev[next[e] as number] = e;
  };

  const words = new Uint32Array(Math.ceil(n / 32) + 1);
  const cache = new Set<string>();
  const stack: { e: number; state: S }[] = [];
  let state = model.init;
  let steps = 0;
  let deepest: Counterexample | undefined;

  let e = next[0] as number;
  while (next[0] !== -1) {
    if (++steps > maxSteps) {
      return { valid: 'unknown', steps, reason: `search budget of ${maxSteps} steps exhausted` };
    }
    if (isCall[e] === 1) {
      const i = entryOp[e] as number;
      const s2 = model.step(state, ops[i] as Op);
      if (s2 !== null) {
        words[i >>> 5] = (words[i >>> 5] as number) | (1 << (i & 31));
        const memo = `${words.join(',')}|${model.key(s2)}`;
        if (!cache.has(memo)) {
          cache.add(memo);
          stack.push({ e, state });
          state = s2;
          lift(e);
          e = next[0] as number;
          continue;
        }
        words[i >>> 5] = (words[i >>> 5] as number) & ~(1 << (i & 31));
      }
      e = next[e] as number;
    } else {
      // A return whose call is not linearized: every candidate before it was tried.
      if (deepest === undefined || stack.length >= deepest.linearized.length) {
        deepest = describeFrontier(stack, state, e, ops, entryOp, isCall, next, model);
      }
      const top = stack.pop();
      if (top === undefined) break;
      const i = entryOp[top.e] as number;
      words[i >>> 5] = (words[i >>> 5] as number) & ~(1 << (i & 31));
      state = top.state;
      unlift(top.e);
      e = next[top.e] as number;
    }
  }
  if (next[0] === -1) {
    return {
      valid: true,
      steps,
      linearization: stack.map((s) => (ops[entryOp[s.e] as number] as Op).id),
    };
  }
  return {
    valid: false,
    steps,
    counterexample: deepest ?? {
      linearized: [],
      state: model.describe(model.init),
      blockedOp: -1,
      candidates: [],
    },
  };
}

function describeFrontier<S>(
  stack: readonly { e: number; state: S }[],
  state: S,
  returnEntry: number,
  ops: readonly Op[],
  entryOp: Int32Array,
  isCall: Uint8Array,
  next: Int32Array,
  model: Model<S>,
): Counterexample {
  const candidates: number[] = [];
  for (let c = next[0] as number; c !== -1 && c !== returnEntry; c = next[c] as number) {
    if (isCall[c] === 1) candidates.push((ops[entryOp[c] as number] as Op).id);
  }
  return {
    linearized: stack.map((s) => (ops[entryOp[s.e] as number] as Op).id),
    state: model.describe(state),
    blockedOp: (ops[entryOp[returnEntry] as number] as Op).id,
    candidates,
  };
}
