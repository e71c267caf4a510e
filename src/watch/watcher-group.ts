/**
 * A set of watchers indexed by what they watch (etcd mvcc/watcher_group.go): single-key
 * watchers in a map by key, range watchers in an interval tree by [key, end). Used for
 * the hub's synced watchers (every applied revision is matched against it) and for the
 * watchers of one catch-up pass.
 *
 * Example: add w1 on "a", w2 on ["a","c"), w3 on ["b", +inf) -> match("a") = {w1, w2},
 * match("b") = {w2, w3}, match("c") = {w3}, match("0") = {}.
 *
 * Pure data structure: synchronous, no timers, no I/O. Invariant: `size` equals the
 * number of watchers reachable through the map and the tree.
 */
import { assert } from '../shared/assert.js';
import type { MvccEvent } from '../mvcc/types.js';
import { IntervalTree } from './interval-tree.js';
import type { RevisionEvents } from './types.js';
import type { Watcher } from './watcher.js';

/** A Buffer as a map key: latin1 maps every byte to one char, so it is exact. */
function keyString(key: Buffer): string {
  return key.toString('latin1');
}

export class WatcherGroup {
  private readonly keyWatchers = new Map<string, Set<Watcher>>();
  private readonly ranges = new IntervalTree<Set<Watcher>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(w: Watcher): void {
    let set: Set<Watcher> | undefined;
    if (w.end === undefined) {
      const k = keyString(w.key);
      set = this.keyWatchers.get(k);
      if (set === undefined) {
        set = new Set();
        this.keyWatchers.set(k, set);
      }
    } else {
      set = this.ranges.get(w.key, w.end);
      if (set === undefined) {
        set = new Set();
        this.ranges.insert(w.key, w.end, set);
      }
    }
    assert(!set.has(w), 'watcher group: watcher added twice');
    set.add(w);
    this.count++;
  }

  /** Removes w; returns whether it was in the group. */
  delete(w: Watcher): boolean {
    if (w.end === undefined) {
      const k = keyString(w.key);
      const set = this.keyWatchers.get(k);
      if (set === undefined || !set.delete(w)) return false;
      if (set.size === 0) this.keyWatchers.delete(k);
    } else {
      const set = this.ranges.get(w.key, w.end);
      if (set === undefined || !set.delete(w)) return false;
      if (set.size === 0) this.ranges.delete(w.key, w.end);
    }
    this.count--;
    return true;
  }

  /** Calls fn for every watcher whose key or range contains `key`. */
  forEachMatch(key: Buffer, fn: (w: Watcher) => void): void {
    if (this.count === 0) return;
    const set = this.keyWatchers.get(keyString(key));
    if (set !== undefined) for (const w of set) fn(w);
    if (this.ranges.size > 0) {
      this.ranges.stab(key, (s) => {
        for (const w of s) fn(w);
      });
    }
  }

  /** Whether any watcher watches `key`. */
  contains(key: Buffer): boolean {
    return this.keyWatchers.has(keyString(key)) || this.ranges.intersects(key);
  }

  /** Every watcher (order unspecified). */
  *all(): IterableIterator<Watcher> {
    for (const set of this.keyWatchers.values()) yield* set;
    for (const set of this.ranges.values()) yield* set;
  }

  /** Checks the index (tests). */
  check(): void {
    let n = 0;
    for (const s of this.keyWatchers.values()) {
      assert(s.size > 0, 'watcher group: empty key set kept');
      n += s.size;
    }
    this.ranges.check();
    for (const s of this.ranges.values()) {
      assert(s.size > 0, 'watcher group: empty range set kept');
      n += s.size;
    }
    assert(n === this.count, `watcher group: size ${this.count} but ${n} watchers`);
  }
}

/**
 * Groups the events of consecutive revisions by watcher (etcd newWatcherBatch): each
 * watcher of `group` gets the events that match its interval and filters with
 * revision >= its minRev, in revision order. Watchers with nothing left are absent.
 */
export function batchByWatcher(
  group: WatcherGroup,
  revisions: readonly RevisionEvents[],
): Map<Watcher, MvccEvent[]> {
  const out = new Map<Watcher, MvccEvent[]>();
  if (group.size === 0) return out;
  for (const { revision, events } of revisions) {
    for (const e of events) {
      group.forEachMatch(e.kv.key, (w) => {
        if (revision < w.minRev || !w.accepts(e)) return;
        const list = out.get(w);
        if (list === undefined) out.set(w, [e]);
        else list.push(e);
      });
    }
  }
  return out;
}
