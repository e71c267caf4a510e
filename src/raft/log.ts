/**
 * RaftLog: the log as raft sees it, durable entries in Storage followed by the
 * Unstable tail, plus the commit and apply cursors.
 *
 * Invariants (checked on every move):
 * - applied <= applying <= committed; committed <= lastIndex().
 * - committed never decreases.
 * - entries handed out for apply (nextCommittedEnts) never go past the last durable
 *   entry (docs/architecture.md §3: nothing is applied before it is durable locally), nor past an
 *   unstable snapshot that is not yet durable.
 */
import { AssertionError, assert } from '../shared/assert.js';
import { RaftError, isRaftError } from './errors.js';
import { Unstable } from './log-unstable.js';
import type { Storage } from './storage.js';
import { entrySize, type Entry, type Snapshot } from './types.js';

export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applying: number;
  applied: number;

  constructor(
    readonly storage: Storage,
    readonly maxApplyingEntsSize: number,
  ) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Term of entry i; throws RaftError compacted/unavailable outside the log. */
  term(i: number): number {
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    return this.storage.term(i);
  }

  /** Term of entry i, or 0 when it is compacted or past the end. */
  zeroTermOnOutOfBounds(i: number): number {
    try {
      return this.term(i);
    } catch (err) {
      if (isRaftError(err, 'raft/compacted') || isRaftError(err, 'raft/unavailable')) return 0;
      throw err;
    }
  }

  matchTerm(i: number, t: number): boolean {
    if (i > this.lastIndex()) return false;
    return this.zeroTermOnOutOfBounds(i) === t;
  }

  /** Candidate's log (lastIndex i, lastTerm t) is at least as up to date as ours (§5.4.1). */
  isUpToDate(i: number, t: number): boolean {
    const lt = this.lastTerm();
    return t > lt || (t === lt && i >= this.lastIndex());
  }

  /** Index of the last durable entry: everything at or below it is in Storage. */
  lastStableIndex(): number {
    if (this.unstable.snapshot !== undefined) return this.unstable.snapshot.metadata.index - 1;
    return this.unstable.offset - 1;
  }

  /**
   * Follower side of MsgApp: if (index, logTerm) matches, append the entries after
   * truncating a conflicting suffix, move commit to min(commit, last new index), and
   * return the last new index; undefined when the log does not match.
   */
  maybeAppend(index: number, logTerm: number, commit: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (!(ci > this.committed)) {
        throw new AssertionError(
          `entry ${ci} conflicts with committed entry (committed ${this.committed})`,
        );
      }
      const head = ents[0];
      assert(head !== undefined, 'maybeAppend: conflict without entries');
      this.append(ents.slice(ci - head.index));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  append(ents: readonly Entry[]): number {
    const head = ents[0];
    if (head === undefined) return this.lastIndex();
    if (!(head.index - 1 >= this.committed)) {
      throw new AssertionError(
        `append after ${head.index - 1} is below committed ${this.committed}`,
      );
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry that is new or conflicts with ours (0 if all are
   * present). Entries must be contiguous.
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest (index, term) with index <= i and term <= t in our log: the fast
   * backtracking hint (etcd findConflictByTerm). Returns [index, term].
   */
  findConflictByTerm(i: number, t: number): [number, number] {
    let index = i;
    for (let n = 0; index > 0; index--, n++) {
      assert(n <= 1_000_000_000, 'findConflictByTerm: unbounded');
      let ourTerm: number;
      try {
        ourTerm = this.term(index);
      } catch (err) {
        if (isRaftError(err)) return [index, 0];
        throw err;
      }
      if (ourTerm <= t) return [index, ourTerm];
    }
    return [0, 0];
  }

  /** Entries in [lo, hi) from Storage and Unstable, bounded by maxSizeBytes (at least one). */
  slice(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    if (!(lo <= hi)) throw new AssertionError(`slice(${lo}, ${hi})`);
    if (lo === hi) return [];
    const fi = this.firstIndex();
    if (lo < fi) throw new RaftError('raft/compacted', `slice(${lo}) below first index ${fi}`);
    if (!(hi <= this.lastIndex() + 1)) {
      throw new AssertionError(`slice(${lo}, ${hi}) past lastIndex ${this.lastIndex()}`);
    }
    const uOff = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < uOff) {
      out = this.storage.entries(lo, Math.min(hi, uOff), maxSizeBytes);
      if (out.length < Math.min(hi, uOff) - lo) return out;
    }
    if (hi > uOff) {
      const from = Math.max(lo, uOff);
      let size = 0;
      for (const e of out) size += entrySize(e);
      for (let k = from; k < hi; k++) {
        const e = this.unstable.entries[k - uOff];
        if (!(e !== undefined)) throw new AssertionError(`unstable hole at ${k}`);
        size += entrySize(e);
        if (out.length > 0 && size > maxSizeBytes) break;
        out.push(e);
      }
    }
    return out;
  }


  entries(i: number, maxSizeBytes: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxSizeBytes);
  }

  /** Commit to `index` if it is in the current term `term` (§5.4.2). */
  maybeCommit(index: number, term: number, anyTerm = false): boolean {
    if (index > this.committed && (anyTerm || this.zeroTermOnOutOfBounds(index) === term)) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  commitTo(index: number): void {
    if (this.committed >= index) return;
    if (!(index <= this.lastIndex())) {
      throw new AssertionError(
        `commit ${index} out of range [lastIndex ${this.lastIndex()}]: was the log lost?`,
      );
    }
    this.committed = index;
  }

  /** Highest index that may be handed out for apply. */
  maxAppliableIndex(): number {
    if (this.unstable.snapshot !== undefined) return this.applying;
    return Math.min(this.committed, this.lastStableIndex());
  }

  hasNextCommittedEnts(): boolean {
    return this.maxAppliableIndex() > this.applying;
  }

  nextCommittedEnts(): Entry[] {
    const hi = this.maxAppliableIndex();
    if (hi <= this.applying) return [];
    return this.slice(this.applying + 1, hi + 1, this.maxApplyingEntsSize);
  }

  acceptApplying(i: number): void {
    if (!(i <= this.committed && i >= this.applying)) {
      throw new AssertionError(`applying ${i} outside [${this.applying}, ${this.committed}]`);
    }
    this.applying = i;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    if (!(i <= this.committed && i >= this.applied)) {
      throw new AssertionError(
        `applied(${i}) out of range [applied(${this.applied}), committed(${this.committed})]`,
      );
    }
    this.applied = i;
    if (this.applying < i) this.applying = i;
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }
}
