/**
 * The `register` workload's checker: per-key linearizability of read / write / cas over a
 * versioned register (Jepsen's VersionedRegister, testing-reference §1.2), plus a cheap
 * global pass over header revisions (§4.3 option c).
 *
 * Op shapes (workloads/register.ts records them):
 *   read  input null           output { version, value }   (version 0, value null: absent)
 *   write input { value }      output { version }          (etcd's per-key version after it)
 *   cas   input { from, to }   output { succeeded, version? }
 * Values are small integers; the per-key version is what makes lost or duplicated
 * writes visible even when values repeat.
 *
 * Why splitting by key is sound: the model's outputs (version, value) depend on one key
 * only. Revisions order keys against each other, so they are checked separately: if op A
 * completed before op B was invoked, B's header revision must be >= A's, and > A's when B
 * writes; two successful writes never share a revision.
 */
import type { Op } from '../history/op.js';
import type { LinResult, Model } from './wgl.js';
import { checkLinearizable } from './wgl.js';

export interface RegisterState {
  readonly version: number;
  readonly value: number | null;
}

interface ReadOut {
  readonly version: number;
  readonly value: number | null;
}
interface WriteIn {
  readonly value: number;
}
interface VersionOut {
  readonly version?: number;
  readonly succeeded?: boolean;
}
interface CasIn {
  readonly from: number;
  readonly to: number;
}

export const versionedRegister: Model<RegisterState> = {
  name: 'versioned-register',
  init: { version: 0, value: null },
  step(s, op) {
    const known = op.type === 'ok';
    switch (op.f) {
      case 'read': {
        const out = op.output as ReadOut;
        return out.version === s.version && out.value === s.value ? s : null;
      }
      case 'write': {
        const out = op.output as VersionOut | null;
        if (known && out?.version !== s.version + 1) return null;
        return { version: s.version + 1, value: (op.input as WriteIn).value };
      }
      case 'cas': {
        const { from, to } = op.input as CasIn;
        const out = op.output as VersionOut | null;
        if (!known) return s.value === from ? { version: s.version + 1, value: to } : s;
        if (out?.succeeded !== true) return s.value !== from ? s : null;
        if (s.value !== from || out.version !== s.version + 1) return null;
        return { version: s.version + 1, value: to };
      }
      default:
        return null;
    }
  },
  key: (s) => `${s.version}:${String(s.value)}`,
  describe: (s) => `{version ${s.version}, value ${String(s.value)}}`,
};

export interface KeyVerdict {
  readonly key: string;
  readonly ops: number;
  readonly result: LinResult;
}

export interface RegisterVerdict {
  readonly valid: boolean | 'unknown';
  readonly keys: number;
  readonly failures: readonly KeyVerdict[];
  readonly unknown: readonly KeyVerdict[];
  readonly revisionErrors: readonly string[];
}

/** Ops a register checker must consider: ok ops and info writes (info reads say nothing). */
export function relevantRegisterOps(ops: readonly Op[]): Op[] {
  return ops.filter((op) => op.type === 'ok' || (op.type === 'info' && op.f !== 'read'));
}

export function checkRegister(
  ops: readonly Op[],
  options: { maxStepsPerKey?: number } = {},
): RegisterVerdict {
  const byKey = new Map<string, Op[]>();
  for (const op of relevantRegisterOps(ops)) {
    const key = op.key ?? '';
    let list = byKey.get(key);
    if (list === undefined) byKey.set(key, (list = []));
    list.push(op);
  }
  const failures: KeyVerdict[] = [];
  const unknown: KeyVerdict[] = [];
  for (const [key, list] of byKey) {
    const result = checkLinearizable(
      list,
      versionedRegister,
      options.maxStepsPerKey === undefined ? {} : { maxSteps: options.maxStepsPerKey },
    );
    if (result.valid === false) failures.push({ key, ops: list.length, result });
    else if (result.valid === 'unknown') unknown.push({ key, ops: list.length, result });
  }
  const revisionErrors = checkRevisionOrder(ops);
  const valid =
    failures.length > 0 || revisionErrors.length > 0
      ? false
      : unknown.length > 0
        ? 'unknown'
        : true;
  return { valid, keys: byKey.size, failures, unknown, revisionErrors };
}

function isWrite(op: Op): boolean {
  if (op.f === 'write' || op.f === 'put' || op.f === 'append') return true;
  if (op.f === 'cas') return (op.output as VersionOut | null)?.succeeded === true;
  if (op.f === 'txn') return (op.output as { wrote?: boolean } | null)?.wrote === true;
  return false;
}

/**
 * Realtime order of header revisions over ok ops: if A.ret < B.call then
 * B.revision >= A.revision (> when B writes), and ok writes have distinct revisions.
 * Returns at most 20 descriptions.
 */
export function checkRevisionOrder(ops: readonly Op[]): string[] {
  const withRev = ops.filter((o) => o.type === 'ok' && o.revision !== undefined);
  const byRet = [...withRev].sort((a, b) => a.ret - b.ret);
  const byCall = [...withRev].sort((a, b) => a.call - b.call);
  const errors: string[] = [];
  let i = 0;
  let maxRev = 0;
  let maxOp: Op | undefined;
  for (const b of byCall) {
    while (i < byRet.length && (byRet[i] as Op).ret < b.call) {
      const a = byRet[i] as Op;
      if ((a.revision as number) > maxRev) {
        maxRev = a.revision as number;
        maxOp = a;
      }
      i++;
    }
    const rev = b.revision as number;
    const bad = isWrite(b) ? rev <= maxRev : rev < maxRev;
    if (bad && errors.length < 20 && maxOp !== undefined) {
      errors.push(
        `op ${b.id} (${b.f} ${b.key ?? ''} on ${b.node}, called at ${b.call.toFixed(1)} ms) has ` +
          `revision ${rev}, but op ${maxOp.id} (${maxOp.f} ${maxOp.key ?? ''} on ${maxOp.node}) ` +
          `completed at ${maxOp.ret.toFixed(1)} ms with revision ${maxRev}`,
      );
    }
  }
  const writers = new Map<number, Op>();
  for (const op of withRev) {
    if (!isWrite(op)) continue;
    const other = writers.get(op.revision as number);
    if (other !== undefined && errors.length < 20) {
      errors.push(`ops ${other.id} and ${op.id} both wrote at revision ${String(op.revision)}`);
    }
    writers.set(op.revision as number, op);
  }
  return errors;
}
