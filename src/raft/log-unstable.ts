/**
 * Unstable: the tail of the log (and possibly an incoming snapshot) that is not yet
 * durable. Entries leave it when the server reports them persisted (stableTo), after
 * which raft reads them from Storage.
 *
 * Invariants:
 * - entries[k].index === offset + k; if a snapshot is present, offset === snapshot index + 1.
 * - offset <= offsetInProgress <= offset + entries.length: entries below
 *   offsetInProgress were handed out in a Ready and are being written.
 * - snapshotInProgress implies snapshot !== undefined.
 */
import { AssertionError } from '../shared/assert.js';
import type { Entry, Snapshot } from './types.js';

export class Unstable {
  snapshot: Snapshot | undefined = undefined;
  entries: Entry[] = [];
  offset: number;
  snapshotInProgress = false;
  offsetInProgress: number;

  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index;
  }

  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.metadata.index === i) {
        return this.snapshot.metadata.term;
      }
      return undefined;
    }
    const e = this.entries[i - this.offset];
    return e === undefined ? undefined : e.term;
  }

  /** Entries not yet handed out in a Ready. */
  nextEntries(): Entry[] {
    const inProgress = this.offsetInProgress - this.offset;
    if (inProgress >= this.entries.length) return [];
    return this.entries.slice(inProgress);
  }

  nextSnapshot(): Snapshot | undefined {
    return this.snapshot === undefined || this.snapshotInProgress ? undefined : this.snapshot;
  }

  /** Mark everything currently unstable as handed out. */
  acceptInProgress(): void {
    if (this.entries.length > 0) this.offsetInProgress = this.offset + this.entries.length;
    if (this.snapshot !== undefined) this.snapshotInProgress = true;
  }

  /**
   * Entries up to (i, t) are durable. Ignored when the entry at i was since replaced
   * (its term differs) or is not unstable: the report is then about a log we no longer have.
   */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined || gt !== t || i < this.offset) return;
    const num = i + 1 - this.offset;
    this.entries = this.entries.slice(num);
    this.offset = i + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
  }

  stableSnapTo(i: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === i) {
      this.snapshot = undefined;
      this.snapshotInProgress = false;
    }
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = s;
    this.snapshotInProgress = false;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const head = ents[0];
    if (head === undefined) return;
    const fromIndex = head.index;
    if (fromIndex === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (fromIndex <= this.offset) {
      // Replace all unstable entries; the snapshot (if any) stays.
      this.entries = ents.slice();
      this.offset = fromIndex;
      this.offsetInProgress = this.offset;
    } else {
      const keep = this.slice(this.offset, fromIndex);
      for (const e of ents) keep.push(e);
      this.entries = keep;
      this.offsetInProgress = Math.min(this.offsetInProgress, fromIndex);
    }
  }

  slice(lo: number, hi: number): Entry[] {
    if (!(lo <= hi && lo >= this.offset && hi <= this.offset + this.entries.length)) {
      throw new AssertionError(
        `unstable.slice(${lo}, ${hi}) out of [${this.offset}, ` +
          `${this.offset + this.entries.length}]`,
      );
    }
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
