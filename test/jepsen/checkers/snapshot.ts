/**
 * The snapshot checker: a store restored from a snapshot taken at revision R must hold,
 * for every register key, the value the history says was current at R (test/jepsen/README.md
 * "Snapshot save and restore under faults").
 *
 * A register write's answer carries the revision it committed at (the header revision of
 * a Put, or of a Txn whose compare succeeded), so for each key:
 * - every acknowledged write at or below R is covered: the restored mod revision is at
 *   least the newest acknowledged one <= R (the key is present if any was);
 * - nothing after R is there: the restored mod revision is <= R;
 * - a restored mod revision that an acknowledged write names has that write's value and
 *   version; one no acknowledged write names must be an unknown (info) write of the
 *   same value on the same key, at a revision no acknowledged write (of any key) took;
 * - no restored key under the prefix is one the history never wrote.
 * Failed writes (`fail`) and compare-and-sets that answered "not succeeded" had no effect.
 */
import type { Op } from '../history/op.js';

export interface RestoredKv {
  readonly key: string;
  readonly value: string;
  readonly modRevision: number;
  readonly version: number;
}

interface Effect {
  readonly op: Op;
  readonly value: string;
  /** Known for acknowledged writes; undefined for unknown (info) ones. */
  readonly revision: number | undefined;
  readonly version: number | undefined;
}

/** The write each register op may have made, or undefined when it made none. */
function effectOf(op: Op): Effect | undefined {
  if (op.type === 'fail' || op.key === undefined) return undefined;
  let value: string;
  if (op.f === 'write') value = String((op.input as { value: number }).value);
  else if (op.f === 'cas') value = String((op.input as { to: number }).to);
  else return undefined;
  if (op.type === 'info') return { op, value, revision: undefined, version: undefined };
  const out = op.output as { succeeded?: boolean; version?: number } | null;
  if (op.f === 'cas' && out?.succeeded !== true) return undefined;
  return { op, value, revision: op.revision, version: out?.version };
}

/** Problems (empty when the restored state is exactly the history's state at `revision`). */
export function checkRestoredRegister(
  ops: readonly Op[],
  restored: readonly RestoredKv[],
  revision: number,
): string[] {
  const problems: string[] = [];
  const effects = new Map<string, Effect[]>();
  for (const op of ops) {
    const e = effectOf(op);
    if (e === undefined || op.key === undefined) continue;
    const list = effects.get(op.key) ?? [];
    list.push(e);
    effects.set(op.key, list);
  }
  // Revisions are global: a revision one key's acknowledged write took is no other key's.
  const ackedAt = new Map<number, string>();
  for (const [key, list] of effects)
    for (const e of list) if (e.revision !== undefined) ackedAt.set(e.revision, key);
  const byKey = new Map(restored.map((kv) => [kv.key, kv]));
  for (const kv of restored) {
    if (!effects.has(kv.key))
      problems.push(`${kv.key}: restored (value ${kv.value}, revision ${kv.modRevision}) but no op wrote it`);
  }
  for (const [key, list] of effects) {
    const acked = list.filter((e) => e.revision !== undefined);
    const newestAcked = acked
      .filter((e) => (e.revision ?? 0) <= revision)
      .reduce<Effect | undefined>((a, e) => (a === undefined || (e.revision ?? 0) > (a.revision ?? 0) ? e : a), undefined);
    const kv = byKey.get(key);
    if (kv === undefined) {
      if (newestAcked !== undefined)
        problems.push(
          `${key}: missing, but op ${newestAcked.op.id} was acknowledged at revision ${newestAcked.revision} <= ${revision} (value ${newestAcked.value})`,
        );
      continue;
    }
    if (kv.modRevision > revision) {
      problems.push(`${key}: restored at revision ${kv.modRevision}, after the snapshot's ${revision}`);
      continue;
    }
    if (newestAcked !== undefined && (newestAcked.revision ?? 0) > kv.modRevision) {
      problems.push(
        `${key}: restored at revision ${kv.modRevision} (value ${kv.value}), but op ${newestAcked.op.id} was acknowledged at revision ${newestAcked.revision} <= ${revision} (value ${newestAcked.value})`,
      );
      continue;
    }
    const named = acked.find((e) => e.revision === kv.modRevision);
    if (named !== undefined) {
      if (named.value !== kv.value || (named.version !== undefined && named.version !== kv.version))
        problems.push(
          `${key}: revision ${kv.modRevision} holds value ${kv.value} version ${kv.version}, but op ${named.op.id} wrote value ${named.value} version ${String(named.version)} there`,
        );
      continue;
    }
    const unknown = list.find((e) => e.revision === undefined && e.value === kv.value);
    const other = ackedAt.get(kv.modRevision);
    if (other !== undefined)
      problems.push(`${key}: restored at revision ${kv.modRevision}, which an acknowledged write to ${other} took`);
    else if (unknown === undefined)
      problems.push(
        `${key}: restored value ${kv.value} at revision ${kv.modRevision}, which no acknowledged or unknown write explains`,
      );
  }
  return problems;
}
