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
 * RecordArena (no Buffer of its own), and a generation of one revision (most keys) holds
 * it in number fields, with no array.
 */
import { assert } from '../shared/assert.js';
import { compareKeyAt, type KeyedEntry } from './btree.js';
import { decodeKeyValue } from './kv-codec.js';
import { RecordArena, type KeyHolder, type RecordOwner, type Slab } from './record-arena.js';
import { compareRev } from './revision.js';
import type { KeyValue } from './types.js';

/**
 * One generation's revisions. Most keys hold one revision (written once, or compacted
 * down to one), so a single revision is kept in two number fields and no array; from
 * the second on, all of them are in one array of (main, sub) pairs, oldest first, which
 * goes again when a compaction leaves one.
 */
export class Generation {
  /** Main revision of the put that created this generation; 0 if unknown (restored tombstone). */
  created = 0;
  /** Version of the key at the last revision in this generation (a tombstone counts). */
  ver = 0;
  /** The only revision, when there is one (main 0: none, mains start at 1) and `revs` is undefined. */
  private m = 0;
  private s = 0;
  /** Two or more revisions: main at 2i, sub at 2i + 1; undefined otherwise. */
  private revs: number[] | undefined = undefined;

  get noRevisions(): boolean {
    return this.revs === undefined && this.m === 0;
  }

  /** Number of revisions. */
  get count(): number {
    const r = this.revs;
    return r !== undefined ? r.length >>> 1 : this.m === 0 ? 0 : 1;
  }

  mainAt(i: number): number {
    const r = this.revs;
    return r !== undefined ? (r[2 * i] as number) : this.m;
  }

  subAt(i: number): number {
    const r = this.revs;
    return r !== undefined ? (r[2 * i + 1] as number) : this.s;
  }

  get lastMain(): number {
    const r = this.revs;
    return r !== undefined ? (r[r.length - 2] as number) : this.m;
  }

  get lastSub(): number {
    const r = this.revs;
    return r !== undefined ? (r[r.length - 1] as number) : this.s;
  }

  /** Index of the last revision with main <= atRev, or -1. */
  findRevisionIndex(atRev: number): number {
    const r = this.revs;
    if (r === undefined) return this.m !== 0 && this.m <= atRev ? 0 : -1;
    let lo = 0;
    let hi = (r.length >>> 1) - 1;
    let result = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((r[2 * mid] as number) <= atRev) {
        result = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return result;
  }

  /** Appends a revision. */
  append(main: number, sub: number): void {
    const r = this.revs;
    if (r !== undefined) {
      r.push(main, sub);
    } else if (this.m === 0) {
      this.m = main;
      this.s = sub;
    } else {
      this.revs = [this.m, this.s, main, sub];
      this.m = 0;
      this.s = 0;
    }
  }

  /** Drops the revisions before index i. */
  dropBefore(i: number): void {
    const r = this.revs;
    if (i <= 0 || r === undefined) return;
    if (r.length - 2 * i === 2) {
      this.m = r[2 * i] as number;
      this.s = r[2 * i + 1] as number;
      this.revs = undefined;
    } else {
      r.splice(0, 2 * i);
    }
  }

  /** Moves this generation's revisions to `to` (a new Generation) and leaves this one empty. */
  protected moveRevisionsTo(to: Generation): void {
    to.created = this.created;
    to.ver = this.ver;
    to.m = this.m;
    to.s = this.s;
    to.revs = this.revs;
    this.created = 0;
    this.ver = 0;
    this.m = 0;
    this.s = 0;
    this.revs = undefined;
  }
}

const EMPTY_KEY = Buffer.alloc(0);

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
export class KeyIndex extends Generation implements RecordOwner, KeyHolder, KeyedEntry {
  /**
   * The key: bytes [koff, koff + klen) of kbuf (a key slab of the record arena, or a
   * Buffer of the key's own), so the index holds no Buffer object per key; `key` makes
   * a view when a caller needs one.
   */
  kbuf: Buffer;
  koff: number;
  klen: number;
  /** The generations before the current one, oldest first; undefined when there are none. */
  older: Generation[] | undefined = undefined;
  /** Where the marshalled KeyValue of the live revision is; no slab when the key does not exist. */
  slab: Slab | undefined = undefined;
  off = 0;
  len = 0;

  /** The key is kbuf's bytes, or set later by RecordArena.ownKey (new KeyIndex() then). */
  constructor(kbuf: Buffer = EMPTY_KEY) {
    super();
    this.kbuf = kbuf;
    this.koff = 0;
    this.klen = kbuf.length;
  }

  /** The key as a Buffer: a new view of its bytes each call. */
  get key(): Buffer {
    return this.kbuf.subarray(this.koff, this.koff + this.klen);
  }

  keyView(): Buffer {
    return this.key;
  }

  compareKeyTo(b: Buffer): number {
    return compareKeyAt(this.kbuf, this.koff, this.klen, b);
  }

  /**
   * Byte order of this key against other's, without views (a range sorted by key
   * compares n log n pairs: a JS loop, not Buffer.compare's range-checked native call).
   */
  compareKeyWith(other: KeyIndex): number {
    const a = this.kbuf;
    const b = other.kbuf;
    const ao = this.koff;
    const bo = other.koff;
    const n = this.klen < other.klen ? this.klen : other.klen;
    for (let i = 0; i < n; i++) {
      const d = (a[ao + i] as number) - (b[bo + i] as number);
      if (d !== 0) return d;
    }
    return this.klen - other.klen;
  }

  /** Whether the key is src[start, end). */
  keyEquals(src: Buffer, start: number, end: number): boolean {
    return end - start === this.klen && src.compare(this.kbuf, this.koff, this.koff + this.klen, start, end) === 0;
  }

  get isLive(): boolean {
    return this.slab !== undefined;
  }

  /** The marshalled KeyValue of the live revision (a view); undefined when the key does not exist. */
  get liveRecord(): Buffer | undefined {
    return RecordArena.view(this);
  }

  /** The live KeyValue (decoded from its record, the key a view of the record too); undefined if deleted. */
  liveKV(): KeyValue | undefined {
    const r = this.liveRecord;
    return r === undefined ? undefined : decodeKeyValue(r);
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
    return this.current.lastSub;
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
    this.moveRevisionsTo(g);
    (this.older ??= []).push(g);
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
      assert(
        compareRev(main, sub, g.lastMain, g.lastSub) > 0,
        `keyIndex: revision ${main}.${sub} not after ${g.lastMain}.${g.lastSub}`,
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
      if (g.mainAt(0) <= atRev) return g;
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
      main: g.mainAt(n),
      sub: g.subAt(n),
      created: g.created,
      version: g.ver - (g.count - n - 1),
    };
  }

  /** Whether (main, sub) is the revision of the live value. */
  isLiveRevision(main: number, sub: number): boolean {
    if (this.slab === undefined) return false;
    const g = this.current;
    return g.lastMain === main && g.lastSub === sub;
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
    if (revIndex === g.count - 1 && genIdx !== this.genCount - 1) return;
    out.mains.push(g.mainAt(revIndex));
    out.subs.push(g.subAt(revIndex));
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
      for (let i = from, n = g.count; i < n && g.mainAt(i) <= atRev; i++) {
        out.mains.push(g.mainAt(i));
        out.subs.push(g.subAt(i));
      }
    }
  }

  /** Appends every revision with main <= atRev still in the index. */
  appendUpTo(atRev: number, out: RevisionList): void {
    for (let gi = 0, n = this.genCount; gi < n; gi++) {
      const g = this.gen(gi);
      for (let i = 0, n = g.count; i < n && g.mainAt(i) <= atRev; i++) {
        out.mains.push(g.mainAt(i));
        out.subs.push(g.subAt(i));
      }
    }
  }

  /** Number of revisions held; for tests and metrics. */
  revisionCount(): number {
    let n = 0;
    for (let gi = 0, c = this.genCount; gi < c; gi++) n += this.gen(gi).count;
    return n;
  }

  describe(): string {
    return Array.from({ length: this.genCount }, (_, gi) => this.gen(gi))
      .map((g) => `{${Array.from({ length: g.count }, (_, i) => `${g.mainAt(i)}.${g.subAt(i)}`).join(' ')}}`)
      .join(' ');
  }
}
