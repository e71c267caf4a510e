/**
 * keyIndex: the revisions of one key, in etcd's generations model
 * (etcd server/storage/mvcc/key_index.go), plus the key's live value.
 *
 * A generation is one life of the key: from the put that created it to the tombstone
 * that deleted it. A tombstone ends the current generation and opens a new, empty one,
 * so the last generation is empty exactly when the key does not exist now.
 *
 * Example: put(2.0); put(3.0); tombstone(4.0); put(5.0); tombstone(6.0) on key "foo":
 *
 *   generations (oldest first):          get(atRev)
 *     {created 2, ver 3, 2.0 3.0 4.0(t)}   get(3) = 3.0, version 2, created 2
 *     {created 5, ver 2, 5.0 6.0(t)}       get(4) = none (deleted at 4)
 *     {empty}                              get(5) = 5.0, version 1, created 5
 *
 * compact(atRev) keeps, per key, the latest revision <= atRev of the generation alive at
 * atRev (or whose tombstone is exactly atRev: etcd #18089 / PR #18274) and drops older
 * revisions and older generations:
 *   compact(3): {2.0..} -> {3.0 4.0(t)} {5.0 6.0(t)} {empty}
 *   compact(4): {4.0(t)} {5.0 6.0(t)} {empty}      (tombstone AT 4 kept)
 *   compact(5): {5.0 6.0(t)} {empty}
 *   compact(7): {empty}                            -> the key leaves the index
 *
 * Invariants: generations is never empty; every generation but the last ends with a
 * tombstone and is non-empty; revisions strictly increase across the whole key;
 * the key holds a record (in the store's RecordArena) exactly when the last
 * generation is non-empty, and it is the marshalled KeyValue of its last revision
 * (the bytes the key bucket holds for it).
 *
 * Memory (docs/architecture.md §4, "Memory per key"): a key costs a few small objects,
 * so the live value is kept as its one record, not as a KeyValue object with a value
 * view (liveKV() decodes it when a read needs it); the record lives in a slab of the
 * RecordArena (no Buffer of its own), and revision arrays start at their exact size (a
 * push onto an empty array would reserve 17 slots).
 */
import { assert } from '../shared/assert.js';
import { decodeKeyValue } from './kv-codec.js';
import { RecordArena, type RecordOwner, type Slab } from './record-arena.js';
import { compareRev } from './revision.js';
import type { KeyValue } from './types.js';

/** Shared by every empty generation; never pushed to (append replaces it). */
const EMPTY_REVS: number[] = [];
/** Shared `subs` of every one-revision generation whose revision has sub 0 (most keys). */
const ZERO_SUB: number[] = [0];

export class Generation {
  /** Main revision of the put that created this generation; 0 if unknown (restored tombstone). */
  created = 0;
  /** Version of the key at the last revision in this generation (a tombstone counts). */
  ver = 0;
  mains: number[] = EMPTY_REVS;
  subs: number[] = EMPTY_REVS;

  get noRevisions(): boolean {
    return this.mains.length === 0;
  }

  get lastMain(): number {
    return this.mains[this.mains.length - 1] as number;
  }

  /** Index of the last revision with main <= atRev, or -1. */
  findRevisionIndex(atRev: number): number {
    let lo = 0;
    let hi = this.mains.length - 1;
    let result = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.mains[mid] as number) <= atRev) {
        result = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return result;
  }

  /** Appends a revision; the first one gets exact-size arrays. */
  append(main: number, sub: number): void {
    if (this.mains.length === 0) {
      this.mains = [main];
      this.subs = sub === 0 ? ZERO_SUB : [sub];
    } else {
      if (this.subs === ZERO_SUB) this.subs = [0];
      this.mains.push(main);
      this.subs.push(sub);
    }
  }

  /** Drops the revisions before index i. */
  dropBefore(i: number): void {
    if (i > 0) {
      if (this.subs === ZERO_SUB) this.subs = [0];
      this.mains.splice(0, i);
      this.subs.splice(0, i);
    }
  }
}

/** What a key looked like at some revision. */
export interface KeyRevision {
  main: number;
  sub: number;
  created: number;
  version: number;
}

/** The revisions a record carries (a KeyValue, or a scanned record's fields). */
export interface RecordRevisions {
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

/** A flat list of revisions (parallel arrays), e.g. the revisions a compaction keeps. */
export interface RevisionList {
  mains: number[];
  subs: number[];
}

/**
 * A key's index entry is itself its current (last) generation, so a key that was never
 * deleted costs one object and its revision arrays; the generations before it, ended
 * by tombstones, are in `older` (oldest first).
 */
export class KeyIndex extends Generation implements RecordOwner {
  /** The generations before the current one, oldest first; undefined when there are none. */
  older: Generation[] | undefined = undefined;
  /** Where the marshalled KeyValue of the live revision is; no slab when the key does not exist. */
  slab: Slab | undefined = undefined;
  off = 0;
  len = 0;

  constructor(readonly key: Buffer) {
    super();
  }

  get isLive(): boolean {
    return this.slab !== undefined;
  }

  /** The marshalled KeyValue of the live revision (a view); undefined when the key does not exist. */
  get liveRecord(): Buffer | undefined {
    return RecordArena.view(this);
  }

  /** The live KeyValue (decoded from its record, key shared with the index); undefined if deleted. */
  liveKV(): KeyValue | undefined {
    const r = this.liveRecord;
    return r === undefined ? undefined : decodeKeyValue(r, this.key);
  }

  /** Create revision of the live key (valid when isLive). */
  get liveCreated(): number {
    return this.current.created;
  }

  /** Version of the live key (valid when isLive). */
  get liveVersion(): number {
    return this.current.ver;
  }

  /** Main revision of the live key's last put (valid when isLive). */
  get liveMain(): number {
    return this.current.lastMain;
  }

  /** Sub revision of the live key's last put (valid when isLive). */
  get liveSub(): number {
    const g = this.current;
    return g.subs[g.subs.length - 1] as number;
  }

  /** No revisions at all: the key can leave the index. */
  get isEmpty(): boolean {
    return this.older === undefined && this.noRevisions;
  }

  private get current(): Generation {
    return this;
  }

  /** Number of generations, the current one included. */
  private get genCount(): number {
    return (this.older?.length ?? 0) + 1;
  }

  /** Generation i, oldest first (the last is the current one). */
  private gen(i: number): Generation {
    const older = this.older;
    return older !== undefined && i < older.length ? (older[i] as Generation) : this;
  }

  /** Ends the current generation (after its tombstone): it moves to `older`, a new empty one starts. */
  private endGeneration(): void {
    const g = new Generation();
    g.created = this.created;
    g.ver = this.ver;
    g.mains = this.mains;
    g.subs = this.subs;
    (this.older ??= []).push(g);
    this.created = 0;
    this.ver = 0;
    this.mains = EMPTY_REVS;
    this.subs = EMPTY_REVS;
  }

  /** Drops the n oldest generations (n < genCount). */
  private dropGenerations(n: number): void {
    const older = this.older;
    if (n === 0 || older === undefined) return;
    if (n >= older.length) this.older = undefined;
    else older.splice(0, n);
  }

  private assertAfterLast(main: number, sub: number): void {
    for (let i = this.genCount - 1; i >= 0; i--) {
      const g = this.gen(i);
      if (g.noRevisions) continue;
      const last = g.mains.length - 1;
      assert(
        compareRev(main, sub, g.mains[last] as number, g.subs[last] as number) > 0,
        `keyIndex: revision ${main}.${sub} not after ${g.mains[last]}.${g.subs[last]}`,
      );
      return;
    }
  }

  /**
   * Records a put at (main, sub) whose marshalled KeyValue is `size` bytes long, and
   * returns the arena's view the caller writes it into, at once; the caller encodes it
   * with this index's create revision and version (liveCreated, liveVersion + 1, or
   * main and 1 for a new generation), read before this call.
   */
  put(main: number, sub: number, arena: RecordArena, size: number): Buffer {
    this.assertAfterLast(main, sub);
    const g = this.current;
    if (g.noRevisions) {
      g.created = main;
      g.ver = 0;
    }
    g.append(main, sub);
    g.ver++;
    return arena.place(this, size);
  }

  /** Records a tombstone at (main, sub); the key must be live. */
  tombstone(main: number, sub: number, arena: RecordArena): void {
    assert(this.isLive, 'keyIndex: tombstone on a key that does not exist');
    this.assertAfterLast(main, sub);
    const g = this.current;
    g.append(main, sub);
    g.ver++;
    this.endGeneration();
    arena.release(this);
  }

  /**
   * Rebuilds from a record read back from the key bucket, in revision order. Records
   * before it may have been removed by compaction, so the first record of a generation
   * takes created/version from the stored KeyValue (etcd keyIndex.restore), and a
   * tombstone with nothing before it becomes a one-revision generation (etcd #19188).
   * Returns false for a record that cannot apply (a tombstone on a deleted key).
   * `belowCompaction`: the record is at or below a scheduled compaction whose deletes
   * may be partly done, so earlier revisions of its generation may be missing.
   * `record` is the record's bytes (kv decoded from it), copied into `arena` as the
   * live value.
   */
  restoreRecord(
    main: number, sub: number, tombstone: boolean, kv: RecordRevisions, record: Buffer, arena: RecordArena, belowCompaction = false,
  ): boolean {
    const g = this.current;
    if (tombstone) {
      if (g.noRevisions && !this.isEmpty) return false;
      this.assertAfterLast(main, sub);
      if (g.noRevisions) {
        g.created = 0;
        g.ver = 0;
      }
      g.append(main, sub);
      g.ver++;
      this.endGeneration();
      arena.release(this);
      return true;
    }
    this.assertAfterLast(main, sub);
    assert(kv.modRevision === main, `restore: record ${main}.${sub} has mod_revision ${kv.modRevision}`);
    if (g.noRevisions) {
      g.created = kv.createRevision;
      g.ver = kv.version;
      if (!this.isEmptyBefore()) {
        assert(kv.createRevision === main && kv.version === 1, `restore: re-created key at ${main} with version ${kv.version}`);
      }
    } else if (belowCompaction && kv.version > g.ver + 1 && kv.createRevision === g.created) {
      g.ver = kv.version; // revisions in between were compacted away
    } else {
      g.ver++;
      assert(kv.version === g.ver && kv.createRevision === g.created,
        `restore: record ${main}.${sub} version ${kv.version} does not follow ${g.ver - 1}`);
    }
    g.append(main, sub);
    arena.store(this, record);
    return true;
  }

  private isEmptyBefore(): boolean {
    return this.older === undefined;
  }

  /** The generation holding atRev, or undefined if the key did not exist at atRev. */
  private findGeneration(atRev: number): Generation | undefined {
    const last = this.genCount - 1;
    for (let i = last; i >= 0; i--) {
      const g = this.gen(i);
      if (g.noRevisions) continue;
      if (i !== last && g.lastMain <= atRev) return undefined; // deleted at or before atRev
      if ((g.mains[0] as number) <= atRev) return g;
    }
    return undefined;
  }

  /** The revision of this key visible at atRev, or undefined if it did not exist then. */
  get(atRev: number): KeyRevision | undefined {
    const g = this.findGeneration(atRev);
    if (g === undefined) return undefined;
    const n = g.findRevisionIndex(atRev);
    if (n === -1) return undefined;
    return {
      main: g.mains[n] as number,
      sub: g.subs[n] as number,
      created: g.created,
      version: g.ver - (g.mains.length - n - 1),
    };
  }

  /** Whether (main, sub) is the revision of the live value. */
  isLiveRevision(main: number, sub: number): boolean {
    if (this.slab === undefined) return false;
    const g = this.current;
    const last = g.mains.length - 1;
    return g.mains[last] === main && g.subs[last] === sub;
  }

  /** Whether the key existed at atRev (get without the allocation). */
  existsAt(atRev: number): boolean {
    const g = this.findGeneration(atRev);
    return g !== undefined && g.findRevisionIndex(atRev) !== -1;
  }

  /** etcd's doCompact: the generation and revision index a compaction at atRev keeps. */
  private doCompact(atRev: number): [genIdx: number, revIndex: number] {
    let genIdx = 0;
    let g = this.gen(0);
    const last = this.genCount - 1;
    while (genIdx < last) {
      assert(!g.noRevisions, 'keyIndex: empty generation before the last');
      if (g.lastMain >= atRev) break;
      genIdx++;
      g = this.gen(genIdx);
    }
    return [genIdx, g.findRevisionIndex(atRev)];
  }

  /**
   * Compacts at atRev and appends every revision <= atRev it keeps to `kept`.
   * Returns true if the key has no revisions left.
   */
  compact(atRev: number, kept: RevisionList): boolean {
    const [genIdx, revIndex] = this.doCompact(atRev);
    const g = this.gen(genIdx);
    if (!g.noRevisions && revIndex !== -1) g.dropBefore(revIndex);
    this.dropGenerations(genIdx);
    this.appendUpTo(atRev, kept);
    return this.isEmpty;
  }

  /**
   * etcd's keyIndex.keep, for HashKV: the revision a compaction at atRev would keep,
   * except a tombstone exactly at atRev (kept by compaction since 3.5.16, but skipped
   * by the hash so hashes stay equal to older versions').
   */
  keep(atRev: number, out: RevisionList): void {
    if (this.isEmpty) return;
    const [genIdx, revIndex] = this.doCompact(atRev);
    const g = this.gen(genIdx);
    if (g.noRevisions || revIndex === -1) return;
    if (revIndex === g.mains.length - 1 && genIdx !== this.genCount - 1) return;
    out.mains.push(g.mains[revIndex] as number);
    out.subs.push(g.subs[revIndex] as number);
  }

  /**
   * Appends the revisions <= atRev that compact(atRev) keeps, without compacting (for
   * HashKV while the index compaction is still in progress).
   */
  retainedAt(atRev: number, out: RevisionList): void {
    if (this.isEmpty) return;
    const [genIdx, revIndex] = this.doCompact(atRev);
    for (let gi = genIdx, n = this.genCount; gi < n; gi++) {
      const g = this.gen(gi);
      const from = gi === genIdx ? Math.max(revIndex, 0) : 0;
      for (let i = from; i < g.mains.length && (g.mains[i] as number) <= atRev; i++) {
        out.mains.push(g.mains[i] as number);
        out.subs.push(g.subs[i] as number);
      }
    }
  }

  /** Appends every revision with main <= atRev still in the index. */
  appendUpTo(atRev: number, out: RevisionList): void {
    for (let gi = 0, n = this.genCount; gi < n; gi++) {
      const g = this.gen(gi);
      for (let i = 0; i < g.mains.length && (g.mains[i] as number) <= atRev; i++) {
        out.mains.push(g.mains[i] as number);
        out.subs.push(g.subs[i] as number);
      }
    }
  }

  /** Number of revisions held; for tests and metrics. */
  revisionCount(): number {
    let n = 0;
    for (let gi = 0, c = this.genCount; gi < c; gi++) n += this.gen(gi).mains.length;
    return n;
  }

  describe(): string {
    return Array.from({ length: this.genCount }, (_, gi) => this.gen(gi))
      .map((g) => `{${g.mains.map((m, i) => `${m}.${g.subs[i]}`).join(' ')}}`)
      .join(' ');
  }
}
