/**
 * A single-member consensus node with the Raft core's Ready contract (propose ->
 * ready -> persist -> persisted -> apply -> advance), used until src/raft is wired in
 * by the cluster issue. With one voter every entry is committed as soon as it is
 * durable in the local WAL, which is exactly what Raft decides for a one-member
 * cluster; the seam (ConsensusNode) is the one the Raft core fills.
 *
 * Invariants: committedEntries never go beyond what persisted() reported (etcd #14370:
 * a one-member cluster must not apply before the WAL fsync); entries are handed out
 * for persistence once and for apply once, in index order.
 */
import { assert } from '../shared/assert.js';
import type { Entry, HardState, Ready, ReadState } from '../raft/types.js';
import { EntryType, StateType } from '../raft/types.js';

export interface ConsensusStatus {
  readonly id: bigint;
  readonly lead: bigint;
  readonly term: number;
  readonly commit: number;
  readonly isLeader: boolean;
  readonly isLearner: boolean;
}

/** What the server needs from a consensus node; the Raft core's RawNode satisfies it. */
export interface ConsensusNode {
  propose(data: Uint8Array): void;
  readIndex(context: Uint8Array): void;
  tick(): void;
  hasReady(): boolean;
  ready(): Ready;
  persisted(index: number, term: number): void;
  advance(rd: Ready): void;
  status(): ConsensusStatus;
}

export interface SoloNodeInit {
  readonly id: bigint;
  /** Entries recovered from the WAL, all durable, in index order. */
  readonly entries: readonly Entry[];
  readonly hardState: HardState | undefined;
  /** Highest index already applied to the state db. */
  readonly applied: number;
}

export class SoloNode implements ConsensusNode {
  private readonly id: bigint;
  private readonly term: number;
  private lastIndex: number;
  /** Highest index known durable; every durable entry is committed (one voter). */
  private commit: number;
  private applied: number;
  private unstable: Entry[] = [];
  /** Entries durable but not yet handed out for apply. */
  private toApply: Entry[] = [];
  private readStates: ReadState[] = [];
  private lastSavedHardState: HardState;
  private softStateReported = false;

  constructor(init: SoloNodeInit) {
    this.id = init.id;
    const last = init.entries[init.entries.length - 1];
    this.lastIndex = last?.index ?? init.applied;
    // A restart starts a new term, as an election would; the first run starts at 1.
    this.term = Math.max(init.hardState?.term ?? 0, last?.term ?? 0) + 1;
    this.commit = this.lastIndex;
    this.applied = init.applied;
    this.toApply = init.entries.filter((e) => e.index > init.applied);
    this.lastSavedHardState = init.hardState ?? { term: 0, vote: 0n, commit: 0 };
    // Raft's new leader appends an empty entry of its term; it also lets the server
    // know when everything before it is applied.
    this.unstable.push({ term: this.term, index: ++this.lastIndex, type: EntryType.Normal, data: new Uint8Array(0) });
  }

  propose(data: Uint8Array): void {
    this.unstable.push({ term: this.term, index: ++this.lastIndex, type: EntryType.Normal, data });
  }

  /** With one voter the commit index is confirmed by the member itself. */
  readIndex(context: Uint8Array): void {
    this.readStates.push({ index: this.commit, requestCtx: context });
  }

  tick(): void {}

  hasReady(): boolean {
    return (
      this.unstable.length > 0 ||
      this.toApply.length > 0 ||
      this.readStates.length > 0 ||
      this.hardStateChanged()
    );
  }

  ready(): Ready {
    const hardState = this.currentHardState();
    const readStates = this.readStates;
    this.readStates = [];
    const rd: Ready = {
      readStates,
      entries: this.unstable,
      committedEntries: this.toApply,
      messages: [],
      mustSync: this.unstable.length > 0 || hardState.term !== this.lastSavedHardState.term,
      ...(this.hardStateChanged() ? { hardState } : {}),
      ...(this.softStateReported ? {} : { softState: { lead: this.id, raftState: StateType.Leader } }),
    };
    this.softStateReported = true;
    return rd;
  }

  persisted(index: number, term: number): void {
    assert(index <= this.lastIndex, `persisted(${index}) beyond last index ${this.lastIndex}`);
    assert(term <= this.term, `persisted term ${term} above current ${this.term}`);
    if (index > this.commit) this.commit = index;
  }

  advance(rd: Ready): void {
    if (rd.hardState !== undefined) this.lastSavedHardState = rd.hardState;
    // Entries handed out for persistence are now durable (the server called persisted()).
    const persistedUpTo = this.commit;
    this.unstable = this.unstable.filter((e) => e.index > persistedUpTo);
    const newlyDurable = rd.entries.filter((e) => e.index <= persistedUpTo);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) this.applied = lastApplied.index;
    this.toApply = this.toApply.filter((e) => e.index > this.applied).concat(newlyDurable);
  }

  status(): ConsensusStatus {
    return { id: this.id, lead: this.id, term: this.term, commit: this.commit, isLeader: true, isLearner: false };
  }

  private currentHardState(): HardState {
    return { term: this.term, vote: this.id, commit: this.commit };
  }

  private hardStateChanged(): boolean {
    const hs = this.lastSavedHardState;
    return hs.term !== this.term || hs.vote !== this.id || hs.commit !== this.commit;
  }
}
