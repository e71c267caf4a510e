/**
 * The Wal: group-committed, crash-safe appends of Raft state (docs/architecture.md §3, §4).
 *
 * Write path: save() checks the records against the log rules (log-state.ts; a broken
 * rule is the caller's bug: AssertionError), encodes them and queues them. One flush
 * loop takes everything queued, frames it as ONE batch, writes it at an explicit
 * offset and fdatasyncs it; only then do those saves resolve. Saves queued meanwhile
 * form the next batch (group commit). So at most one write + fdatasync is in flight,
 * and at a crash at most the last batch is not durable (recover.ts relies on it).
 *
 * Segments: when a batch does not fit in the current segment, the segment is cut:
 * truncate and fsync it, take the preallocated temp file, write a header batch
 * (crc seed, metadata, latest snapshot marker, latest hard state), fdatasync, rename
 * to the segment name, fsync the directory. Every segment thus describes itself, and
 * releaseTo() may delete older ones.
 *
 * Failure: any I/O error fails the Wal for good (fsyncgate: a failed fsync leaves the
 * file state unknown; never retry). Every pending and later save rejects with it; the
 * server must stop.
 */
import { posix } from 'node:path';
import { assert } from '../shared/assert.js';
import { TsetcdError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { nullLogger } from '../shared/logger.js';
import { isNoSpace, type FileHandle, type FileLayer } from '../storage/file-layer.js';
import { encodeFrame, frameBytes } from './frame.js';
import { LogState } from './log-state.js';
import { encodeRecords } from './record.js';
import type { WalRecord } from './record.js';
import { listSegments, recoverWal } from './recover.js';
import type { SegmentInfo } from './recover.js';
import { SegmentPipeline, prepareFile, segmentName } from './segment.js';
import { WalIoError } from './errors.js';
import type {
  WalEntry,
  WalHardState,
  WalOptions,
  WalRecovered,
  WalSaveRequest,
  WalSnapshot,
  WalStats,
} from './types.js';

export const SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024;
export const BATCH_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;

interface Queued {
  readonly payload: Buffer;
  readonly snapshot: WalSnapshot | undefined;
  readonly hardState: WalHardState | undefined;
  readonly maxEntryIndex: number;
  readonly seq: number;
}

interface Waiter {
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

interface Tail {
  readonly fh: FileHandle;
  readonly info: SegmentInfo;
  offset: number;
  hasData: boolean;
}

interface Resolved {
  readonly segmentBytes: number;
  readonly batchBytesMax: number;
  readonly unsafeNoFsync: boolean;
  readonly preallocate: boolean;
  readonly logger: Logger;
  readonly fsyncTimer: (() => () => void) | undefined;
}

function resolveOptions(o: WalOptions): Resolved {
  const r = {
    segmentBytes: o.segmentBytes ?? SEGMENT_BYTES_DEFAULT,
    batchBytesMax: o.batchBytesMax ?? BATCH_BYTES_MAX_DEFAULT,
    unsafeNoFsync: o.unsafeNoFsync ?? false,
    preallocate: o.preallocate ?? true,
    logger: (o.logger ?? nullLogger).child({ component: 'wal' }),
    fsyncTimer: o.fsyncTimer,
  };
  assert(
    Number.isSafeInteger(r.segmentBytes) && r.segmentBytes >= 1024,
    `segmentBytes ${r.segmentBytes}`,
  );
  assert(
    Number.isSafeInteger(r.batchBytesMax) && r.batchBytesMax > 0,
    `batchBytesMax ${r.batchBytesMax}`,
  );
  return r;
}

export class Wal {
  private readonly queue: Queued[] = [];
  private readonly waiters: Waiter[] = [];
  private issuedSeq = 0;
  private durableSeq = 0;
  private flushing = false;
  private closed = false;
  private failure: unknown = undefined;
  private releasing: Promise<void> = Promise.resolve();
  private writtenSnapshot: WalSnapshot | null;
  private writtenHardState: WalHardState;
  private writtenLastIndex: number;
  private counters = { saves: 0, writes: 0, fsyncs: 0, bytesWritten: 0 };
  private readonly pipeline: SegmentPipeline;

  private constructor(
    private readonly fs: FileLayer,
    private readonly dir: string,
    private readonly opts: Resolved,
    private readonly state: LogState<WalEntry>,
    private readonly segments: SegmentInfo[],
    private tail: Tail,
    private lastCrc: number,
  ) {
    this.writtenSnapshot = state.snapshot;
    this.writtenHardState = state.hardState;
    this.writtenLastIndex = state.lastIndex() ?? 0;
    const size = opts.preallocate ? opts.segmentBytes : 0;
    // Preallocation starts after the first write, not here: a start on a nearly full
    // disk leaves the room it has to the state db's open (server/member-storage.ts).
    this.pipeline = new SegmentPipeline(fs, dir, size, !opts.unsafeNoFsync, (err) =>
      warnNoPreallocation(opts.logger, dir, size, err),
    );
  }

  /** Whether `dir` holds a WAL (at least one segment). */
  static async exists(fs: FileLayer, dir: string): Promise<boolean> {
    if (!(await fs.exists(dir))) return false;
    return (await listSegments(fs, dir)).segs.length > 0;
  }

  /** Creates a WAL holding `metadata` in `dir` (created if needed; must hold no WAL). */
  static async create(
    fs: FileLayer,
    dir: string,
    metadata: Uint8Array,
    options: WalOptions = {},
  ): Promise<Wal> {
    const opts = resolveOptions(options);
    const sync = !opts.unsafeNoFsync;
    const created = await mkdirpDurable(fs, dir, sync);
    const { segs, tmp } = await listSegments(fs, dir);
    assert(segs.length === 0, `wal: ${dir} already holds a WAL`);
    await removeTemps(fs, dir, tmp, sync);
    const state = new LogState<WalEntry>(true);
    assert(state.applyMetadata(metadata) === null, 'metadata');
    const tmpPath = posix.join(dir, 'create.tmp');
    const size = opts.preallocate ? opts.segmentBytes : 0;
    const fh = await prepareFile(fs, tmpPath, size, sync, (err) =>
      warnNoPreallocation(opts.logger, dir, size, err),
    );
    const name = segmentName(0, 0);
    const header = encodeFrame(
      encodeRecords([
        { kind: 'crcSeed', seed: 0 },
        { kind: 'metadata', data: metadata },
      ]),
      0,
    );
    await fh.write(header.bytes, 0);
    if (sync) await fh.datasync();
    await fs.rename(tmpPath, posix.join(dir, name));
    if (sync) for (const d of [dir, ...created]) await fs.syncDir(d);
    const info: SegmentInfo = { name, seq: 0, maxEntryIndex: 0 };
    opts.logger.info({ dir, segment: name }, 'created wal');
    return new Wal(
      fs,
      dir,
      opts,
      state,
      [info],
      { fh, info, offset: header.bytes.length, hasData: false },
      header.crc,
    );
  }

  /**
   * Opens and recovers a WAL: deletes leftover temp files, reads and checks every
   * segment, cuts a torn last batch (zeroing it durably), and positions for appends.
   * Throws WalCorruptError on anything a crash cannot explain.
   */
  static async open(
    fs: FileLayer,
    dir: string,
    options: WalOptions = {},
  ): Promise<{ wal: Wal; recovered: WalRecovered }> {
    const opts = resolveOptions(options);
    const sync = !opts.unsafeNoFsync;
    const r = await recoverWal(fs, dir);
    await removeTemps(fs, dir, r.tmpNames, sync);
    const last = r.segments[r.segments.length - 1];
    assert(last !== undefined, 'recovered wal without segments');
    const fh = await fs.open(posix.join(dir, last.name), 'rw');
    if (r.dirtyEnd > r.endOffset) {
      // A torn batch that was never acknowledged. Zero it durably before anything new
      // goes after it, so no later crash can mix its bytes with new ones (etcd ZeroToEnd).
      opts.logger.warn(
        { segment: last.name, offset: r.endOffset, bytes: r.dirtyEnd - r.endOffset },
        'cutting torn last batch of wal',
      );
      try {
        await fh.write(Buffer.alloc(r.dirtyEnd - r.endOffset), r.endOffset);
        if (sync) await fh.datasync();
      } catch (err) {
        // A full disk may refuse even an overwrite (copy-on-write file systems): cut the
        // file at the batch instead, which needs no room; appends then extend it.
        if (!isNoSpace(err)) throw err;
        await fh.truncate(r.endOffset);
        if (sync) await fh.sync();
      }
    }
    const tail: Tail = { fh, info: last, offset: r.endOffset, hasData: r.lastHasData };
    const wal = new Wal(fs, dir, opts, r.state, r.segments, tail, r.lastCrc);
    opts.logger.info(
      {
        dir,
        segments: r.segments.length,
        snapshotIndex: r.recovered.snapshot?.index ?? 0,
        entries: r.recovered.entries.length,
      },
      'opened wal',
    );
    return { wal, recovered: r.recovered };
  }

  /** Reads a WAL without changing anything (tools, tests). A torn tail reads as absent. */
  static async readAll(fs: FileLayer, dir: string): Promise<WalRecovered> {
    return (await recoverWal(fs, dir)).recovered;
  }

  /**
   * Appends one Ready's state: snapshot marker, then entries, then hard state. Resolves
   * once a fdatasync covers it (with unsafeNoFsync: once written). An empty request is
   * a barrier: it resolves when every earlier save is durable. Records that break the
   * log rules throw an AssertionError synchronously.
   */
  save(req: WalSaveRequest): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new TsetcdError('stopped', 'wal: closed'));
    const records: WalRecord[] = [];
    let maxEntryIndex = 0;
    if (req.snapshot !== undefined) {
      check(this.state.applySnapshot(req.snapshot));
      records.push({ kind: 'snapshot', snapshot: req.snapshot });
    }
    for (const entry of req.entries ?? []) {
      check(this.state.appendEntry(entry));
      records.push({ kind: 'entry', entry });
      maxEntryIndex = Math.max(maxEntryIndex, entry.index);
    }
    if (req.hardState !== undefined) {
      check(this.state.applyHardState(req.hardState));
      records.push({ kind: 'hardState', hardState: req.hardState });
    }
    if (records.length === 0) return this.barrier();
    const seq = ++this.issuedSeq;
    this.queue.push({
      payload: encodeRecords(records),
      snapshot: req.snapshot,
      hardState: req.hardState,
      maxEntryIndex,
      seq,
    });
    this.counters.saves++;
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
    this.kick();
    return p;
  }

  /**
   * Deletes whole segments, oldest first, whose entries are all below `index`, never
   * the last one, and never past the latest durable snapshot marker (entries after it
   * are still needed to recover). Each unlink is followed by a directory fsync, so a
   * crash leaves a contiguous run of segments.
   */
  releaseTo(index: number): Promise<void> {
    if (this.closed) return Promise.reject(new TsetcdError('stopped', 'wal: closed'));
    const run = async (): Promise<void> => {
      if (this.failure !== undefined) throw this.failure;
      const limit = Math.min(index, this.writtenSnapshot?.index ?? 0);
      while (this.segments.length > 1) {
        const oldest = this.segments[0] as SegmentInfo;
        if (oldest.maxEntryIndex >= limit || oldest === this.tail.info) break;
        try {
          await this.fs.unlink(posix.join(this.dir, oldest.name));
          if (!this.opts.unsafeNoFsync) await this.fs.syncDir(this.dir);
        } catch (cause) {
          const err = new WalIoError('release', posix.join(this.dir, oldest.name), cause);
          this.fail(err); // a failed directory fsync leaves the directory unknown
          throw err;
        }
        this.segments.shift();
        this.opts.logger.info({ segment: oldest.name, index: limit }, 'released wal segment');
      }
    };
    const p = this.releasing.then(run);
    this.releasing = p.catch(() => undefined);
    return p;
  }

  /** Waits for queued saves to become durable, then closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true; // later saves and releases reject; queued ones still complete
    await this.barrier().catch(() => undefined);
    await this.releasing;
    await this.pipeline.close();
    await this.tail.fh.close().catch(() => undefined);
  }

  stats(): WalStats {
    return { ...this.counters, segments: this.segments.length };
  }

  /** The last entry index saved (queued), or the snapshot index if the log is empty. */
  lastIndex(): number {
    return this.state.lastIndex() ?? 0;
  }

  private barrier(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.durableSeq === this.issuedSeq) return Promise.resolve();
    const seq = this.issuedSeq;
    return new Promise<void>((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = true;
    // A microtask, not a timer: saves issued in the same synchronous turn join the batch.
    queueMicrotask(() => void this.flushLoop());
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0 && this.failure === undefined) await this.flushOnce();
    } catch (err) {
      this.fail(err);
    } finally {
      this.flushing = false;
    }
  }

  private async flushOnce(): Promise<void> {
    const batch: Queued[] = [];
    let bytes = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0] as Queued;
      if (batch.length > 0 && bytes + next.payload.length > this.opts.batchBytesMax) break;
      batch.push(next);
      bytes += next.payload.length;
      this.queue.shift();
    }
    const payload =
      batch.length === 1
        ? (batch[0] as Queued).payload
        : Buffer.concat(batch.map((q) => q.payload));
    if (this.tail.hasData && this.tail.offset + frameBytes(payload.length) > this.opts.segmentBytes)
      await this.cut();
    const frame = encodeFrame(payload, this.lastCrc);
    const fh = this.tail.fh;
    // The handle may have been opened under the temp name it had before its rename.
    const file = this.tailFile();
    await io('write', file, () => fh.write(frame.bytes, this.tail.offset));
    this.counters.writes++;
    this.counters.bytesWritten += frame.bytes.length;
    if (!this.opts.unsafeNoFsync) {
      const done = this.opts.fsyncTimer?.();
      await io('fdatasync', file, () => fh.datasync());
      done?.();
      this.counters.fsyncs++;
    }
    this.tail.offset += frame.bytes.length;
    this.tail.hasData = true;
    this.lastCrc = frame.crc;
    this.maybePrepareNext();
    for (const q of batch) {
      if (q.snapshot !== undefined) this.writtenSnapshot = q.snapshot;
      if (q.hardState !== undefined) this.writtenHardState = q.hardState;
      if (q.maxEntryIndex > 0) this.writtenLastIndex = q.maxEntryIndex;
      this.tail.info.maxEntryIndex = Math.max(this.tail.info.maxEntryIndex, q.maxEntryIndex);
    }
    this.durableSeq = (batch[batch.length - 1] as Queued).seq;
    while (this.waiters.length > 0 && (this.waiters[0] as Waiter).seq <= this.durableSeq) {
      (this.waiters.shift() as Waiter).resolve();
    }
  }

  private tailPath: { name: string; path: string } | undefined;

  /** The tail segment's path, joined once per segment name (a join per flush showed in profiles). */
  private tailFile(): string {
    const name = this.tail.info.name;
    const c = this.tailPath;
    if (c !== undefined && c.name === name) return c.path;
    const path = posix.join(this.dir, name);
    this.tailPath = { name, path };
    return path;
  }

  /** Preallocation of the next segment starts when the current one is half full. */
  private maybePrepareNext(): void {
    if (this.tail.offset >= this.opts.segmentBytes / 2) this.pipeline.start();
  }

  /** Seals the current segment and starts the next (see the module comment). */
  private async cut(): Promise<void> {
    try {
      await this.cutSegment();
    } catch (err) {
      throw err instanceof WalIoError ? err : new WalIoError('segment cut', posix.join(this.dir, this.tail.info.name), err);
    }
  }

  private async cutSegment(): Promise<void> {
    const sync = !this.opts.unsafeNoFsync;
    const next = await this.pipeline.take();
    const old = this.tail;
    // etcd truncates a sealed segment to its used size: recovery then reads no zeros.
    await old.fh.truncate(old.offset);
    if (sync) {
      await old.fh.sync();
      this.counters.fsyncs++;
    }
    const metadata = this.state.metadata;
    assert(metadata !== null, 'wal without metadata');
    const records: WalRecord[] = [
      { kind: 'crcSeed', seed: this.lastCrc },
      { kind: 'metadata', data: metadata },
    ];
    if (this.writtenSnapshot !== null)
      records.push({ kind: 'snapshot', snapshot: this.writtenSnapshot });
    const hs = this.writtenHardState;
    if (hs.term !== 0 || hs.vote !== 0n || hs.commit !== 0)
      records.push({ kind: 'hardState', hardState: hs });
    const header = encodeFrame(encodeRecords(records), this.lastCrc);
    await next.fh.write(header.bytes, 0);
    if (sync) {
      await next.fh.datasync();
      this.counters.fsyncs++;
    }
    const seq = old.info.seq + 1;
    const info: SegmentInfo = {
      name: segmentName(seq, this.writtenLastIndex + 1),
      seq,
      maxEntryIndex: 0,
    };
    await this.fs.rename(next.path, posix.join(this.dir, info.name));
    if (sync) await this.fs.syncDir(this.dir);
    this.segments.push(info);
    this.tail = { fh: next.fh, info, offset: header.bytes.length, hasData: false };
    this.lastCrc = header.crc;
    await old.fh.close();
    this.opts.logger.info({ segment: info.name }, 'cut wal segment');
  }

  private fail(err: unknown): void {
    if (this.failure === undefined) {
      this.failure = err;
      // Full or failing, the Wal takes no more writes: what the failed batch held is not
      // durable and is never acknowledged (docs/architecture.md §3).
      this.opts.logger.error(
        { err },
        isNoSpace(err)
          ? 'wal found no space left on device; the failed batch is not durable, no more writes'
          : 'wal failed; state on disk is unknown, the member must stop',
      );
    }
    this.queue.length = 0;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}

/** Runs one file call of the write path; a failure names the call and the file. */
async function io(op: string, file: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    throw new WalIoError(op, file, err);
  }
}

/** mkdir -p, returning the directories whose entries changed (to fsync). */
async function mkdirpDurable(fs: FileLayer, dir: string, sync: boolean): Promise<string[]> {
  const missing: string[] = [];
  let d = posix.normalize(dir);
  while (!(await fs.exists(d))) {
    missing.push(d);
    const parent = posix.dirname(d);
    if (parent === d) break;
    d = parent;
  }
  if (missing.length === 0) return [];
  await fs.mkdirp(dir);
  const parents = missing.map((m) => posix.dirname(m));
  if (!sync) return [];
  return parents;
}

async function removeTemps(
  fs: FileLayer,
  dir: string,
  names: readonly string[],
  sync: boolean,
): Promise<void> {
  for (const name of names) await fs.unlink(posix.join(dir, name));
  if (names.length > 0 && sync) await fs.syncDir(dir);
}

function check(err: string | null): void {
  assert(err === null, `wal: save breaks the log rules: ${err}`);
}

/** etcd's warning when a WAL file cannot be preallocated; the segment grows as written. */
function warnNoPreallocation(logger: Logger, dir: string, sizeBytes: number, err: unknown): void {
  logger.warn(
    { dir, 'segment-bytes': sizeBytes, error: err instanceof Error ? err.message : String(err) },
    'failed to preallocate space when creating a new WAL',
  );
}
