/**
 * Safety invariants of the Raft simulation, checked after every event (and the log
 * comparison every few events), each tied to a property of the Raft paper (Figure 3):
 * - Election Safety: at most one leader per term.
 * - Leader Append-Only: a leader never overwrites or deletes entries in its log.
 * - Log Matching: same index and term ⇒ same entries up to that index.
 * - Leader Completeness: a new leader's log holds every entry committed before.
 * - State Machine Safety: every member applies the same entry at each index
 *   (checked on a hash chain of applied entries, so snapshot installs are covered).
 * Plus: committed entries never change; commit never moves back within a member's
 * life; applied <= committed <= lastIndex; the durable (term, vote) never goes back;
 * every ReadIndex answer is at least every index applied anywhere before the read began.
 * A violation throws InvariantError; counters show each check actually ran.
 */
import type { Entry, RawNode } from '../../../src/raft/index.js';
import { StateType } from '../../../src/raft/index.js';

export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

function fail(msg: string): never {
  throw new InvariantError(msg);
}

const keys = new WeakMap<Entry, string>();
/** Identity of an entry (term, type, payload); the simulation's payloads are ASCII. */
export function entryKey(e: Entry): string {
  let k = keys.get(e);
  if (k === undefined) {
    k = `${e.term}/${e.type}/${String.fromCharCode(...e.data)}`;
    keys.set(e, k);
  }
  return k;
}

export function chainHash(prev: number, e: Entry): number {
  let h = (prev ^ 0x811c9dc5) >>> 0;
  const s = `${e.index}|${entryKey(e)}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export type Property = 'electionSafety' | 'leaderAppendOnly' | 'logMatching' | 'leaderCompleteness' | 'stateMachineSafety' | 'other';

interface LeaderWatch {
  readonly term: number;
  readonly inc: number;
  lastIndex: number;
  lastTerm: number;
}

/** A live member as the checker sees it. */
export interface Observed {
  readonly id: bigint;
  readonly inc: number;
  readonly rn: RawNode;
}

export class Checker {
  readonly counts: Record<Property, number> = {
    electionSafety: 0, leaderAppendOnly: 0, logMatching: 0, leaderCompleteness: 0, stateMachineSafety: 0, other: 0,
  };
  private readonly leaderOfTerm = new Map<number, bigint>();
  private readonly leaders = new Map<bigint, LeaderWatch>();
  private readonly committed = new Map<number, string>();
  private readonly appliedHash = new Map<number, number>();
  private readonly lastCommit = new Map<string, number>();
  private readonly durable = new Map<bigint, { term: number; vote: bigint }>();
  private readonly reads = new Map<string, number>();
  maxAppliedEver = 0;

  constructor(private readonly enabled: ReadonlySet<Property> | 'all' = 'all') {}

  private on(p: Property): boolean {
    if (this.enabled !== 'all' && !this.enabled.has(p)) return false;
    this.counts[p]++;
    return true;
  }

  /** Per-event checks on every live member. */
  checkNode(n: Observed): void {
    const r = n.rn.raft;
    const log = r.log;
    if (this.on('other')) {
      if (!(log.applied <= log.committed && log.committed <= log.lastIndex())) {
        fail(`${n.id}: applied ${log.applied} <= committed ${log.committed} <= lastIndex ${log.lastIndex()} broken`);
      }
      const key = `${n.id}#${n.inc}`;
      const prev = this.lastCommit.get(key) ?? 0;
      if (log.committed < prev) fail(`${n.id}: commit went back from ${prev} to ${log.committed}`);
    }
    this.recordCommitted(n);
    if (r.state === StateType.Leader) this.checkLeader(n);
    else this.leaders.delete(n.id);
  }

  private recordCommitted(n: Observed): void {
    const log = n.rn.raft.log;
    const key = `${n.id}#${n.inc}`;
    const from = Math.max(this.lastCommit.get(key) ?? 0, log.firstIndex() - 1);
    if (log.committed <= from) {
      this.lastCommit.set(key, log.committed);
      return;
    }
    for (const e of log.slice(from + 1, log.committed + 1, Number.MAX_SAFE_INTEGER)) {
      const k = entryKey(e);
      const seen = this.committed.get(e.index);
      if (seen === undefined) this.committed.set(e.index, k);
      else if (seen !== k && this.on('stateMachineSafety')) fail(`committed entry ${e.index} differs: ${seen} vs ${k} on ${n.id}`);
    }
    this.lastCommit.set(key, log.committed);
  }

  private checkLeader(n: Observed): void {
    const r = n.rn.raft;
    const log = r.log;
    if (this.on('electionSafety')) {
      const other = this.leaderOfTerm.get(r.term);
      if (other !== undefined && other !== n.id) fail(`two leaders in term ${r.term}: ${other} and ${n.id}`);
      this.leaderOfTerm.set(r.term, n.id);
    }
    const w = this.leaders.get(n.id);
    if (w === undefined || w.term !== r.term || w.inc !== n.inc) {
      // A new leadership: it must hold every committed entry it has not compacted.
      if (this.on('leaderCompleteness')) {
        const first = log.firstIndex();
        for (const [index, k] of this.committed) {
          if (index < first) continue;
          if (index > log.lastIndex()) fail(`leader ${n.id} (term ${r.term}) lacks committed entry ${index}`);
          const e = log.slice(index, index + 1, Number.MAX_SAFE_INTEGER)[0];
          if (e === undefined || entryKey(e) !== k) fail(`leader ${n.id} (term ${r.term}) has ${e === undefined ? 'nothing' : entryKey(e)} at committed ${index} (${k})`);
        }
      }
      this.leaders.set(n.id, { term: r.term, inc: n.inc, lastIndex: log.lastIndex(), lastTerm: log.lastTerm() });
      return;
    }
    if (this.on('leaderAppendOnly')) {
      if (log.lastIndex() < w.lastIndex) fail(`leader ${n.id} log shrank from ${w.lastIndex} to ${log.lastIndex()}`);
      if (w.lastIndex >= log.firstIndex() && log.term(w.lastIndex) !== w.lastTerm) {
        fail(`leader ${n.id} overwrote entry ${w.lastIndex} (term ${w.lastTerm} -> ${log.term(w.lastIndex)})`);
      }
    }
    w.lastIndex = log.lastIndex();
    w.lastTerm = log.lastTerm();
  }

  /** Log Matching over every pair of live members (run every few events). */
  checkLogMatching(nodes: readonly Observed[]): void {
    if (!this.on('logMatching')) return;
    const logs = nodes.map((n) => {
      const log = n.rn.raft.log;
      const first = log.firstIndex();
      return { id: n.id, first, ents: log.slice(first, log.lastIndex() + 1, Number.MAX_SAFE_INTEGER) };
    });
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) {
        const la = logs[a];
        const lb = logs[b];
        if (la === undefined || lb === undefined) continue;
        const lo = Math.max(la.first, lb.first);
        const hi = Math.min(la.first + la.ents.length - 1, lb.first + lb.ents.length - 1);
        let matched = false;
        for (let i = hi; i >= lo; i--) {
          const ea = la.ents[i - la.first];
          const eb = lb.ents[i - lb.first];
          if (ea === undefined || eb === undefined) continue;
          if (!matched) {
            matched = ea.term === eb.term;
            if (!matched) continue;
          }
          if (ea !== eb && entryKey(ea) !== entryKey(eb)) fail(`log matching broken between ${la.id} and ${lb.id} at ${i}: ${entryKey(ea)} vs ${entryKey(eb)}`);
        }
      }
    }
  }

  /** A member applied entry e, reaching hash h. */
  onApply(id: bigint, index: number, h: number): void {
    if (index > this.maxAppliedEver) this.maxAppliedEver = index;
    if (!this.on('stateMachineSafety')) return;
    const seen = this.appliedHash.get(index);
    if (seen === undefined) this.appliedHash.set(index, h);
    else if (seen !== h) fail(`state machine safety: ${id} applied a different history at ${index}`);
  }

  onDurableHardState(id: bigint, term: number, vote: bigint): void {
    if (!this.on('other')) return;
    const prev = this.durable.get(id);
    if (prev !== undefined) {
      if (term < prev.term) fail(`${id}: durable term went back ${prev.term} -> ${term}`);
      if (term === prev.term && prev.vote !== 0n && vote !== prev.vote) fail(`${id}: durable vote changed within term ${term}`);
    }
    this.durable.set(id, { term, vote });
  }

  onReadRequest(ctx: string): void {
    this.reads.set(ctx, this.maxAppliedEver);
  }

  onReadState(id: bigint, ctx: string, index: number): void {
    const min = this.reads.get(ctx);
    if (min === undefined || !this.on('other')) return;
    if (index < min) fail(`stale read: ${ctx} answered at ${id} with index ${index} < ${min} applied before it began`);
  }
}
