/**
 * The logical state a sequence of WAL records describes, and the rules that sequence
 * must obey. The writer runs every save through it (a broken rule is a bug in the
 * caller: AssertionError), and recovery runs every record read back through the same
 * rules (a broken rule is damage: WalCorruptError). Assert on write and after read.
 *
 * Rules (etcd's WAL semantics, raft's log invariants):
 * - entry: index >= 1, term >= 1, index > snapshot index. index <= lastIndex + 1 (a gap
 *   is damage). index <= lastIndex truncates the log from index (raft conflict
 *   truncation, recorded the way etcd's WAL records it). Its term is >= the term of
 *   the entry before it (terms never go down along the log).
 * - snapshot marker (S, T): S never goes down; the same S must carry the same T (each
 *   segment repeats the latest marker). If the log holds S with term T, entries after S
 *   stay (a local snapshot); otherwise the log is replaced (raft's restore after an
 *   installed snapshot), and the next entry must be S + 1.
 * - hard state: term never goes down, the vote never changes within a term once cast,
 *   commit never goes down.
 * - metadata: every copy is identical.
 *
 * Anchoring: a fresh WAL starts at index 0 (term 0). Recovery of a WAL whose first
 * segments were released (seq > 0) does not know what came before its first entry;
 * it accepts that entry's index as the start and checks at the end (`finish`) that the
 * log covers everything after the snapshot.
 * Invariant: base !== null implies items is empty or items[0].index === base.index + 1.
 */
import { assert } from '../shared/assert.js';
import { EMPTY_HARD_STATE } from './types.js';
import type { WalHardState, WalSnapshot } from './types.js';

interface IndexTerm {
  readonly index: number;
  readonly term: number;
}

export class LogState<T extends IndexTerm> {
  snapshot: WalSnapshot | null = null;
  hardState: WalHardState = EMPTY_HARD_STATE;
  metadata: Uint8Array | null = null;
  private items: T[] = [];
  /** The (index, term) just before items[0], when known. */
  private base: IndexTerm | null;

  constructor(anchored: boolean) {
    this.base = anchored ? { index: 0, term: 0 } : null;
  }

  /** Index of the last entry, or of the snapshot if the log is empty; null if unknown. */
  lastIndex(): number | null {
    const last = this.items[this.items.length - 1];
    if (last !== undefined) return last.index;
    return this.base === null ? null : this.base.index;
  }

  /** Entries after the snapshot (all of them: older ones were dropped by markers). */
  entries(): readonly T[] {
    return this.items;
  }

  /** Term of entry i if this state knows it. */
  termAt(i: number): number | null {
    if (this.base !== null && i === this.base.index) return this.base.term;
    const first = this.items[0];
    if (first === undefined || i < first.index) return null;
    return this.items[i - first.index]?.term ?? null;
  }

  appendEntry(e: T): string | null {
    if (!Number.isSafeInteger(e.index) || e.index < 1)
      return `entry index ${e.index} is not a positive integer`;
    if (!Number.isSafeInteger(e.term) || e.term < 1) return `entry ${e.index} has term ${e.term}`;
    const snapIndex = this.snapshot?.index ?? 0;
    if (e.index <= snapIndex)
      return `entry ${e.index} is at or below the snapshot index ${snapIndex}`;
    const first = this.items[0]?.index ?? (this.base === null ? null : this.base.index + 1);
    if (first === null) {
      // Unanchored and empty: this entry starts what recovery can see.
      this.items = [e];
      return null;
    }
    const last = first + this.items.length - 1;
    if (e.index > last + 1) return `gap in the log: entry ${e.index} follows index ${last}`;
    if (e.index < first) {
      if (this.base !== null) return `entry ${e.index} is below the log start ${first}`;
      this.items = [e]; // truncates everything recovery can see; still unanchored
      return null;
    }
    this.items.length = e.index - first; // conflict truncation (no-op for an append)
    const prevTerm = this.termAt(e.index - 1);
    if (prevTerm !== null && e.term < prevTerm) {
      return `term goes down: entry ${e.index} has term ${e.term} after term ${prevTerm}`;
    }
    this.items.push(e);
    return null;
  }

  applySnapshot(s: WalSnapshot): string | null {
    if (!Number.isSafeInteger(s.index) || s.index < 1)
      return `snapshot index ${s.index} is not a positive integer`;
    if (!Number.isSafeInteger(s.term) || s.term < 1)
      return `snapshot ${s.index} has term ${s.term}`;
    const cur = this.snapshot;
    if (cur !== null) {
      if (s.index < cur.index) return `snapshot index goes down from ${cur.index} to ${s.index}`;
      if (s.index === cur.index) {
        if (s.term !== cur.term)
          return `snapshot ${s.index} has term ${s.term}, earlier ${cur.term}`;
        this.snapshot = s;
        return null;
      }
      if (s.term < cur.term) return `snapshot term goes down from ${cur.term} to ${s.term}`;
    }
    const t = this.termAt(s.index);
    const last = this.lastIndex();
    if (this.base === null && this.items.length === 0) {
      // Unanchored recovery that has seen no entry yet (a repeated marker at the start
      // of a segment): the entries that follow may start after S + 1, because the ones
      // between lived in released segments. `finish` checks the end result.
    } else if (t === s.term) {
      // A local snapshot of this log: entries after S stay.
      this.items = this.items.filter((e) => e.index > s.index);
      this.base = { index: s.index, term: s.term };
    } else if (t !== null || last === null || s.index > last) {
      // The log does not hold (S, T): raft restored from the snapshot, the log restarts.
      this.items = [];
      this.base = { index: s.index, term: s.term };
    } else {
      // Unanchored recovery and S lies before what it can see: keep the log.
      assert(this.base === null, 'log state: snapshot below an anchored log start');
    }
    this.snapshot = s;
    this.checkInvariant();
    return null;
  }

  applyHardState(h: WalHardState): string | null {
    const p = this.hardState;
    if (!Number.isSafeInteger(h.term) || h.term < p.term)
      return `hard state term goes from ${p.term} to ${h.term}`;
    if (h.term === p.term && p.vote !== 0n && h.vote !== p.vote) {
      return `vote changes within term ${h.term} from ${p.vote} to ${h.vote}`;
    }
    if (!Number.isSafeInteger(h.commit) || h.commit < p.commit)
      return `commit goes from ${p.commit} to ${h.commit}`;
    this.hardState = h;
    return null;
  }

  applyMetadata(m: Uint8Array): string | null {
    if (this.metadata !== null && Buffer.compare(this.metadata, m) !== 0)
      return 'metadata differs from earlier copy';
    this.metadata = m;
    return null;
  }

  /**
   * End-of-recovery check: the log covers everything after the snapshot. On success
   * the state is anchored (entries are all > snapshot, so they start at exactly
   * snapshot + 1), and the writer goes on with the full continuity checks.
   */
  finish(): string | null {
    const first = this.items[0];
    const snapIndex = this.snapshot?.index ?? 0;
    if (first !== undefined && first.index > snapIndex + 1) {
      const missing = `${snapIndex + 1}..${first.index - 1}`;
      return `entries ${missing} are missing (log starts at ${first.index}, snapshot ${snapIndex})`;
    }
    assert(
      first === undefined || first.index === snapIndex + 1,
      'log state: entries at or below the snapshot',
    );
    this.base = { index: snapIndex, term: this.snapshot?.term ?? 0 };
    return null;
  }

  private checkInvariant(): void {
    const first = this.items[0];
    if (this.base !== null && first !== undefined) {
      assert(first.index === this.base.index + 1, 'log state: items do not follow base');
    }
  }
}
