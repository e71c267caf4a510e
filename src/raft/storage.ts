/**
 * Storage: the read-only view of the durable log that the Raft core queries, and
 * MemoryStorage, the in-memory implementation the server fills as it persists.
 *
 * Contract (etcd-io/raft storage.go): raft only reads. The server appends entries,
 * sets the hard state and applies snapshots here *after* they are durable, and before
 * it reports them with RawNode.persisted()/advance(). Everything Storage returns is
 * therefore durable.
 *
 * MemoryStorage layout: `ents[0]` is a dummy entry holding the index and term of the
 * last compacted entry (the snapshot point); `ents[i]` has index `ents[0].index + i`.
 * Invariant: indexes in `ents` are contiguous; firstIndex() = ents[0].index + 1.
 */
import { AssertionError, assert } from '../shared/assert.js';
import { RaftError } from './errors.js';
import {
  EMPTY_BYTES,
  EMPTY_HARD_STATE,
  EntryType,
  entrySize,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
} from './types.js';

export interface InitialState {
  readonly hardState: HardState;
  readonly confState: ConfState;
}

export interface Storage {
  initialState(): InitialState;
  /** Entries in [lo, hi), at least one if any, stopping before maxSizeBytes is exceeded. */
  entries(lo: number, hi: number, maxSizeBytes: number): Entry[];
  /** Term of entry i, for i in [firstIndex()-1, lastIndex()]. */
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

/** Take entries from `ents[from..to)` while the byte budget lasts (always at least one). */
export function limitedEnd(
  ents: readonly Entry[],
  from: number,
  to: number,
  maxSizeBytes: number,
): number {
  let size = 0;
  let end = from;
  while (end < to) {
    const e = ents[end];
    assert(e !== undefined, 'limitedEnd: hole in entries');
    size += entrySize(e);
    if (end > from && size > maxSizeBytes) break;
    end++;
  }
  return end;
}

export class MemoryStorage implements Storage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = {
    metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
    data: EMPTY_BYTES,
  };
  private ents: Entry[] = [{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES }];

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  private offset(): number {
    return this.dummy().index;
  }

  private dummy(): Entry {
    const d = this.ents[0];
    assert(d !== undefined, 'MemoryStorage: missing dummy entry');
    return d;
  }

  entries(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    const offset = this.offset();
    if (lo <= offset) throw new RaftError('raft/compacted', `entries(${lo}) at or below ${offset}`);
    if (hi > this.lastIndex() + 1) {
      throw new RaftError('raft/unavailable', `entries(${lo}, ${hi}) past ${this.lastIndex()}`);
    }
    const from = lo - offset;
    const end = limitedEnd(this.ents, from, hi - offset, maxSizeBytes);
    return this.ents.slice(from, end);
  }

  term(i: number): number {
    const offset = this.offset();
    if (i < offset) throw new RaftError('raft/compacted', `term(${i}) below ${offset}`);
    const e = this.ents[i - offset];
    if (e === undefined) {
      throw new RaftError('raft/unavailable', `term(${i}) past ${this.lastIndex()}`);
    }
    return e.term;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replace the contents with a snapshot (a follower installing one, or a restart). */
  applySnapshot(snap: Snapshot): void {
    const { index, term } = snap.metadata;
    if (index <= this.snap.metadata.index) throw new RaftError('raft/snap-out-of-date', `${index}`);
    this.snap = snap;
    this.ents = [{ term, index, type: EntryType.Normal, data: EMPTY_BYTES }];
  }

  /**
   * Record a snapshot at applied index i (i <= lastIndex) so the log before it can be
   * compacted; `confState` is the configuration as of i.
   */
  createSnapshot(i: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) throw new RaftError('raft/snap-out-of-date', `${i}`);
    if (!(i <= this.lastIndex())) {
      throw new AssertionError(`createSnapshot(${i}) past lastIndex ${this.lastIndex()}`);
    }
    this.snap = { metadata: { index: i, term: this.term(i), confState }, data };
    return this.snap;
  }

  /** Discard entries up to and including compactIndex (keeping its term as the dummy). */
  compact(compactIndex: number): void {
    const offset = this.offset();
    if (compactIndex <= offset) throw new RaftError('raft/compacted', `compact(${compactIndex})`);
    if (!(compactIndex <= this.lastIndex())) {
      throw new AssertionError(`compact(${compactIndex}) past lastIndex ${this.lastIndex()}`);
    }
    const i = compactIndex - offset;
    const term = this.term(compactIndex);
    const rest = this.ents.slice(i + 1);
    rest.unshift({ term, index: compactIndex, type: EntryType.Normal, data: EMPTY_BYTES });
    this.ents = rest;
  }

  /**
   * Append durable entries. An entry whose index is already present replaces it and
   * everything after (conflict truncation); entries at or below the snapshot are ignored.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const head = entries[0];
    assert(head !== undefined, 'append: empty');
    const lastNew = head.index + entries.length - 1;
    if (lastNew < first) return;
    const skip = first > head.index ? first - head.index : 0;
    const fromIndex = head.index + skip;
    const at = fromIndex - this.offset();
    if (!(at <= this.ents.length)) {
      throw new AssertionError(`append: gap, last ${this.lastIndex()}, appending ${fromIndex}`);
    }
    if (at < this.ents.length) this.ents.length = at;
    for (let k = skip; k < entries.length; k++) {
      const e = entries[k];
      assert(e !== undefined && e.index === this.lastIndex() + 1, 'append: entries not contiguous');
      this.ents.push(e);
    }
  }
}
