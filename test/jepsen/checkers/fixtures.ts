/**
 * History builders for the checkers' self-tests: hand-written ops with short notation,
 * and fast-check arbitraries that produce linearizable histories by construction
 * (a sequential execution, then real-time slack around each linearization point).
 */
import fc from 'fast-check';
import type { Op, OpType } from '../history/op.js';

let nextId = 0;

export function op(
  f: string,
  call: number,
  ret: number,
  input: unknown,
  output: unknown,
  extra: { type?: OpType; key?: string; process?: number; node?: string; revision?: number } = {},
): Op {
  const id = nextId++;
  return {
    id,
    process: extra.process ?? id,
    f,
    input,
    output,
    type: extra.type ?? 'ok',
    call,
    ret,
    node: extra.node ?? 'n1',
    ...(extra.key === undefined ? { key: 'k' } : { key: extra.key }),
    ...(extra.revision === undefined ? {} : { revision: extra.revision }),
  };
}

export interface RegisterHistory {
  readonly ops: Op[];
  /** Indexes (into ops) of ok reads, with the writes each read could be made stale by. */
  readonly reads: number[];
}

/**
 * A linearizable register history: `count` ops on `keys` keys, linearization points
 * 10 ms apart, each op's interval stretched by up to `slack` ms on both sides; some
 * writes turned into `info` (their output forgotten, their return moved late).
 */
export function registerHistoryArb(maxOps = 40): fc.Arbitrary<RegisterHistory> {
  const stepArb = fc.record({
    f: fc.constantFrom('read', 'write', 'cas', 'cas'),
    key: fc.constantFrom('a', 'b'),
    v1: fc.integer({ min: 0, max: 3 }),
    v2: fc.integer({ min: 0, max: 3 }),
    before: fc.integer({ min: 0, max: 25 }),
    after: fc.integer({ min: 0, max: 25 }),
    info: fc.integer({ min: 0, max: 9 }),
  });
  return fc.array(stepArb, { minLength: 1, maxLength: maxOps }).map((steps) => {
    const state = new Map<string, { version: number; value: number | null }>();
    const ops: Op[] = [];
    const reads: number[] = [];
    steps.forEach((s, i) => {
      const at = 10 * (i + 1);
      const call = at - s.before;
      const ret = at + s.after;
      const cur = state.get(s.key) ?? { version: 0, value: null };
      if (s.f === 'read') {
        reads.push(ops.length);
        ops.push(op('read', call, ret, null, { ...cur }, { key: s.key }));
        return;
      }
      const asInfo = s.info === 0;
      if (s.f === 'write') {
        state.set(s.key, { version: cur.version + 1, value: s.v1 });
        ops.push(
          asInfo
            ? op('write', call, ret + 500, { value: s.v1 }, null, { key: s.key, type: 'info' })
            : op('write', call, ret, { value: s.v1 }, { version: cur.version + 1 }, { key: s.key }),
        );
        return;
      }
      const hit = cur.value === s.v1;
      if (hit) state.set(s.key, { version: cur.version + 1, value: s.v2 });
      const output = hit ? { succeeded: true, version: cur.version + 1 } : { succeeded: false };
      ops.push(
        asInfo
          ? op('cas', call, ret + 500, { from: s.v1, to: s.v2 }, null, { key: s.key, type: 'info' })
          : op('cas', call, ret, { from: s.v1, to: s.v2 }, output, { key: s.key }),
      );
    });
    return { ops, reads };
  });
}

type AppendMop =
  readonly ['append', string, number] | readonly ['r', string, readonly number[] | null];

export interface AppendHistory {
  readonly ops: Op[];
}

/**
 * A strictly serializable list-append history: txns of 1-4 micro-ops over keys a, b, c,
 * executed one at a time at points 10 ms apart, intervals stretched by up to 25 ms;
 * some txns fail (no effect), some are info (applied or not, output unknown).
 */
export function appendHistoryArb(maxTxns = 40): fc.Arbitrary<AppendHistory> {
  const mopArb = fc.record({ read: fc.boolean(), key: fc.constantFrom('a', 'b', 'c') });
  const txnArb = fc.record({
    mops: fc.array(mopArb, { minLength: 1, maxLength: 4 }),
    before: fc.integer({ min: 0, max: 25 }),
    after: fc.integer({ min: 0, max: 25 }),
    fate: fc.integer({ min: 0, max: 19 }),
  });
  return fc.array(txnArb, { minLength: 1, maxLength: maxTxns }).map((txns) => {
    const state = new Map<string, number[]>();
    let counter = 0;
    const ops: Op[] = [];
    txns.forEach((t, i) => {
      const at = 10 * (i + 1);
      const input: AppendMop[] = t.mops.map((m) =>
        m.read ? ['r', m.key, null] : ['append', m.key, ++counter],
      );
      const fate =
        t.fate === 0 ? 'fail' : t.fate === 1 ? 'info-applied' : t.fate === 2 ? 'info-lost' : 'ok';
      const applied = fate === 'ok' || fate === 'info-applied';
      const local = new Map([...state].map(([k, v]) => [k, [...v]]));
      const output: AppendMop[] = input.map((m) => {
        const cur = local.get(m[1]) ?? [];
        if (m[0] === 'append') {
          local.set(m[1], [...cur, m[2]]);
          return m;
        }
        return ['r', m[1], [...cur]];
      });
      if (applied) for (const [k, v] of local) state.set(k, v);
      const call = at - t.before;
      if (fate === 'ok') ops.push(op('txn', call, at + t.after, input, output, { key: 'txn' }));
      else if (fate === 'fail')
        ops.push(op('txn', call, at + t.after, input, null, { type: 'fail' }));
      else ops.push(op('txn', call, at + t.after + 1000, input, null, { type: 'info' }));
    });
    return { ops };
  });
}
