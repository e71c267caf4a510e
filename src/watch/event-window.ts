/**
 * The events of the most recent revisions, in memory, as apply handed them to the hub.
 *
 * Why it exists: apply notifies the hub before the revision's state-db batch is in the
 * backend (the batch is written after the whole Ready is applied), so a catch-up read
 * from the backend can find the newest revisions missing. The window holds them until
 * they are old enough, and serves most catch-ups (a client resuming a few revisions
 * back) without I/O. The hub reads the backend only below the window, and a revision
 * missing from both is not durable yet: the hub retries shortly (see hub.ts).
 *
 * Invariants: revisions are contiguous, [first, last]; bounded by `maxRevisions` and
 * `maxBytes` (oldest dropped first; the newest revision always stays). Pure data
 * structure: synchronous, no timers.
 */
import { assert } from '../shared/assert.js';
import type { MvccEvent } from '../mvcc/types.js';
import { eventBytes, type RevisionEvents } from './types.js';

interface Entry extends RevisionEvents {
  readonly bytes: number;
}

export class EventWindow {
  /** Slots before `head` are dropped (undefined, so they hold no memory) and are
   *  compacted away lazily. */
  private entries: Array<Entry | undefined> = [];
  /** Index of the oldest live entry in `entries`. */
  private head = 0;
  private bytes = 0;

  constructor(
    private readonly maxRevisions: number,
    private readonly maxBytes: number,
  ) {
    assert(maxRevisions >= 1 && maxBytes >= 1, 'event window limits must be positive');
  }

  get length(): number {
    return this.entries.length - this.head;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /** Oldest revision held, or undefined when empty. */
  get firstRevision(): number | undefined {
    return this.entries[this.head]?.revision;
  }

  get lastRevision(): number | undefined {
    return this.entries[this.entries.length - 1]?.revision;
  }

  push(revision: number, events: readonly MvccEvent[]): void {
    const last = this.lastRevision;
    assert(
      last === undefined || revision === last + 1,
      `event window: revision ${revision} after ${last}`,
    );
    let bytes = 0;
    for (const e of events) bytes += eventBytes(e);
    this.entries.push({ revision, events, bytes });
    this.bytes += bytes;
    while (this.length > 1 && (this.length > this.maxRevisions || this.bytes > this.maxBytes)) {
      this.dropOldest();
    }
  }

  /** Whether every revision in [from, lastRevision] is held (true when from > last). */
  covers(from: number): boolean {
    const first = this.firstRevision;
    return first !== undefined && from >= first;
  }

  /**
   * Revisions [from, to] (clamped to what is held), stopping after `maxBytes` of events
   * (at least one revision). `from` must be covered.
   */
  slice(from: number, to: number, maxBytes: number): RevisionEvents[] {
    const first = this.firstRevision;
    assert(first !== undefined && from >= first, `event window: revision ${from} not held`);
    const out: RevisionEvents[] = [];
    let bytes = 0;
    for (let i = this.head + (from - first); i < this.entries.length; i++) {
      const e = this.entries[i] as Entry;
      if (e.revision > to) break;
      if (out.length > 0 && bytes + e.bytes > maxBytes) break;
      out.push(e);
      bytes += e.bytes;
    }
    return out;
  }

  clear(): void {
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
  }

  private dropOldest(): void {
    const e = this.entries[this.head] as Entry;
    this.bytes -= e.bytes;
    this.entries[this.head] = undefined;
    this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
