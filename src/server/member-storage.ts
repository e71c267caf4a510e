/**
 * A member's durable state on disk (docs/architecture.md §3): the WAL (entries + hard state) and the
 * state db (LevelDB: mvcc records, meta with the applied index). It opens both, checks
 * that they agree, and offers the Ready loop its persistence steps.
 *
 *   <data-dir>/member/wal/ (or --wal-dir)   WAL segments
 *   <data-dir>/member/db/                   LevelDB
 *   <data-dir>/member/tsetcd                marker: this data dir is tsetcd's
 *   <data-dir>/member/space.reserve         zeros kept back so a start on a full disk
 *                                           can open the state db (see openWithReserve)
 *
 * Every file operation goes through the FileLayer and the state db is opened through
 * `openBackend`, so crash tests and the simulator run this module unchanged on the
 * SimFileLayer with a FileLogBackend (src/testing) (production: node:fs and LevelDB).
 *
 * Start refuses, with one line saying what to do:
 *  - a data dir holding etcd's own files (member/snap/db, or member/wal without our
 *    marker): tsetcd never opens etcd's data; migrate with snapshot save/restore;
 *  - a db whose applied index is past the WAL's last entry (db ahead of the log);
 *  - a WAL that starts after applied index + 1 (a hole between db and log).
 */
import { dirname, join } from 'node:path';
import type { Logger } from '../shared/logger.js';
import { assert } from '../shared/assert.js';
import { StartRefusal } from '../shared/errors.js';
import type { MemberId, ClusterId } from '../shared/ids.js';
import { removeTree, writeWholeFile, type FileLayer } from '../storage/file-layer.js';
import { MARKER, firstExistingAncestor, refuseEtcdDataDir } from '../storage/data-dir.js';
import { decodeMetadata, encodeMetadata } from '../wal/metadata.js';
import { checkAgreement, withCommitAtLeast } from '../wal/agreement.js';
import { SPACE_RESERVE_NAME, openWithReserve, putBackReserve } from '../storage/space-reserve.js';
import { finishStagedSwap, swapPaths } from '../storage/staged-swap.js';
import { LevelBackend } from '../storage/level-backend.js';
import { forEachInRange, type Backend, type BackendBatch } from '../storage/backend.js';
import { META_CONSISTENT_INDEX, META_INSTALLED_INDEX, META_TERM, encodeUint64, decodeUint64 } from '../storage/schema.js';
import { Wal, type WalEntry, type WalHardState } from '../wal/index.js';
import { MvccStore } from '../mvcc/index.js';
import type { Observe } from '../shared/observe.js';
import { dbSnapshotRecords, dbSnapshotStream } from '../storage/db-snapshot.js';
import { DbSizeMeter } from '../storage/db-size.js';
import type { Entry, HardState, Snapshot } from '../raft/types.js';
import { decodeConfState, encodeConfState } from '../raft/codec.js';

export interface MemberStorageOptions {
  readonly dataDir: string;
  readonly walDir: string | undefined;
  readonly fs: FileLayer;
  readonly logger: Logger;
  /** Identity to record when the data dir is new (ignored for an existing one). */
  readonly newIdentity: { memberId: MemberId; clusterId: ClusterId };
  readonly unsafeNoFsync: boolean;
  /** WAL segment size (default 64 MiB, as etcd); the simulator uses small ones. */
  readonly walSegmentBytes?: number;
  /** Opens (creating if missing) a state db in a directory; default LevelDB. */
  readonly openBackend?: OpenBackend;
  /** Timers for the metrics: each returns the function that ends the measurement. */
  readonly timers?: StorageTimers;
  /** Bytes of member/space.reserve (0 or absent: none; the simulator keeps none). */
  readonly spaceReserveBytes?: number;
}


export interface StorageTimers {
  /** One fdatasync of a WAL batch. */
  walFsync(): () => void;
  /** One synced state-db write (etcd's backend commit). */
  backendCommit(): () => void;
  /** The store's operation counts and compaction timings (shared/observe.ts). */
  readonly observe?: Observe;
  /** Monotonic ms for those timings. */
  readonly nowMs?: () => number;
}

export { SPACE_RESERVE_BYTES_DEFAULT } from '../storage/space-reserve.js';

export type OpenBackend = (dir: string) => Promise<Backend>;

const openLevel: OpenBackend = (dir) => LevelBackend.open(dir);

export interface RecoveredState {
  readonly memberId: MemberId;
  readonly clusterId: ClusterId;
  /** True when this start created the data dir. */
  readonly fresh: boolean;
  readonly hardState: HardState | undefined;
  /** The WAL's entries after its last snapshot marker, all durable. */
  readonly entries: readonly Entry[];
  /** The last snapshot marker (data lives in the state db), if any. */
  readonly snapshot: Snapshot | undefined;
  readonly appliedIndex: number;
}


export class MemberStorage {
  /**
   * Set when this start could not put back the whole space reserve: the disk is (still)
   * full, the member starts refusing writes (NOSPACE) and serves reads.
   */
  noSpaceAtStart: Error | undefined;

  private constructor(
    private readonly wal: Wal,
    private currentBackend: Backend,
    private currentStore: MvccStore,
    readonly paths: { member: string; wal: string; db: string },
    private readonly logger: Logger,
    private readonly fs: FileLayer,
    private readonly openBackend: OpenBackend,
    private readonly timers: StorageTimers | undefined,
  ) {
    this.size = new DbSizeMeter(fs, paths.db);
  }

  private readonly size: DbSizeMeter;

  /** The state db; replaced when a snapshot from the leader is installed. */
  get backend(): Backend {
    return this.currentBackend;
  }

  /**
   * Where Maintenance.Snapshot spools the image it lays out (snapshot/save.ts): the
   * member dir, on the db's file system, through the member's file layer.
   */
  snapshotSpoolDir(): { readonly fs: FileLayer; readonly dir: string } {
    return { fs: this.fs, dir: this.paths.member };
  }

  /** The MVCC store over the state db; replaced with it. */
  get store(): MvccStore {
    return this.currentStore;
  }

  /** Whether the data dir holds no tsetcd member yet (a start would create one). */
  static async isFresh(fs: FileLayer, dataDir: string): Promise<boolean> {
    return !(await fs.exists(join(dataDir, 'member', MARKER)));
  }

  static async open(opts: MemberStorageOptions): Promise<{ storage: MemberStorage; recovered: RecoveredState }> {
    const member = join(opts.dataDir, 'member');
    const paths = {
      member,
      wal: opts.walDir !== undefined && opts.walDir !== '' ? opts.walDir : join(member, 'wal'),
      db: join(member, 'db'),
    };
    const fs = opts.fs;
    const openBackend = opts.openBackend ?? openLevel;
    await refuseEtcdDataDir(fs, opts.dataDir, paths);
    const fresh = !(await fs.exists(join(member, MARKER)));
    // mkdirp may create the data dir and its parents too: each new name is durable only
    // once the directory holding it is synced, up to the first one that already existed.
    const existingAncestor = fresh ? await firstExistingAncestor(fs, opts.dataDir) : undefined;
    if (fresh) await fs.mkdirp(member);
    const walOptions = {
      unsafeNoFsync: opts.unsafeNoFsync,
      ...(opts.walSegmentBytes !== undefined ? { segmentBytes: opts.walSegmentBytes } : {}),
      ...(opts.timers !== undefined ? { fsyncTimer: opts.timers.walFsync } : {}),
    };
    let wal: Wal | undefined;
    let backend: Backend | undefined;
    try {
      let ids: { memberId: MemberId; clusterId: ClusterId };
      let entries: readonly WalEntry[] = [];
      let hardState: WalHardState | undefined;
      let snapshot: Snapshot | undefined;
      const walExists = await Wal.exists(fs, paths.wal);
      if (walExists) {
        const opened = await Wal.open(fs, paths.wal, walOptions);
        wal = opened.wal;
        ids = decodeMetadata(opened.recovered.metadata);
        entries = opened.recovered.entries;
        hardState = opened.recovered.hardState;
        const marker = opened.recovered.snapshot;
        if (marker !== null && marker.confState !== undefined) {
          snapshot = {
            metadata: { index: marker.index, term: marker.term, confState: decodeConfState(marker.confState) },
            data: new Uint8Array(0),
          };
        }
      } else {
        ids = opts.newIdentity;
      }
      // A snapshot install whose WAL marker is durable is finished before the db opens;
      // one that never reached its WAL marker is discarded.
      await finishStagedSwap(paths, fs, opts.logger, snapshot?.metadata.index ?? 0);
      // An open that finds no room releases the reserve and tries again; the reserve
      // comes back once everything is open, and what does not fit says the disk is full.
      const reservePath = join(member, SPACE_RESERVE_NAME);
      backend = await openWithReserve(fs, reservePath, () => openBackend(paths.db), opts.logger);
      const appliedBuf = await backend.get(META_CONSISTENT_INDEX);
      const appliedIndex = appliedBuf === undefined ? 0 : decodeUint64(appliedBuf);
      if (wal === undefined) {
        if (appliedIndex > 0) {
          throw new StartRefusal(
            'data-dir',
            `data dir ${opts.dataDir}: the state db is at index ${appliedIndex} but the WAL in ${paths.wal} is missing; restore the WAL from a backup, or remove this member and add it back with etcdctl member remove/add`,
          );
        }
        // member/db's name must be durable before a WAL segment can be: a power cut that
        // kept member/wal/*.wal but neither member/db nor our marker would make the next
        // start refuse the dir as etcd's (refuseEtcdDataDir), though only a crash made it.
        await fs.syncDir(member);
        wal = await Wal.create(fs, paths.wal, encodeMetadata(ids), walOptions);
      }
      const installedBuf = await backend.get(META_INSTALLED_INDEX);
      const installedIndex = installedBuf === undefined ? 0 : decodeUint64(installedBuf);
      checkAgreement(opts.dataDir, paths.wal, appliedIndex, entries, snapshot?.metadata.index ?? 0, installedIndex);
      if (fresh) {
        await writeWholeFile(fs, join(member, MARKER), Buffer.from('tsetcd data dir v1\n'));
        for (let dir = member; ; dir = dirname(dir)) {
          await fs.syncDir(dir);
          if (dir === existingAncestor || dir === dirname(dir)) break;
        }
      }
      const store = await MvccStore.open(backend, storeOptions(opts.logger, opts.timers));
      const storage = new MemberStorage(wal, backend, store, paths, opts.logger, fs, openBackend, opts.timers);
      storage.noSpaceAtStart = await putBackReserve(fs, reservePath, opts.spaceReserveBytes ?? 0, opts.logger);
      await storage.dbSizeBytes();
      return {
        storage,
        recovered: {
          ...ids,
          fresh,
          hardState: hardState !== undefined && hardState.term > 0 ? withCommitAtLeast(hardState, snapshot?.metadata.index ?? 0) : undefined,
          entries: entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: e.data })),
          snapshot,
          appliedIndex,
        },
      };
    } catch (err) {
      await backend?.close();
      await wal?.close();
      throw err;
    }
  }

  /**
   * Creates a member's data dir from a restored state db (etcd's snapshot restore,
   * clientv3/snapshot/v3_snapshot.go): `fill` writes the db, whose applied index must
   * end at `snapshot.index`; the WAL gets the identity, the given entries and hard
   * state, then a snapshot marker at `snapshot.index` (the entries up to it are covered
   * by the db, so a start replays none of them); the marker file comes last. The data
   * dir must not hold a member yet. Everything is synced before this resolves.
   */
  static async createRestored(opts: {
    readonly dataDir: string;
    readonly walDir: string | undefined;
    readonly fs: FileLayer;
    readonly logger: Logger;
    readonly identity: { memberId: MemberId; clusterId: ClusterId };
    readonly entries: readonly Entry[];
    readonly hardState: HardState;
    readonly snapshot: Snapshot['metadata'];
    readonly fill: (backend: Backend) => Promise<void>;
    readonly openBackend?: OpenBackend;
  }): Promise<void> {
    const fs = opts.fs;
    const member = join(opts.dataDir, 'member');
    const walDir = opts.walDir !== undefined && opts.walDir !== '' ? opts.walDir : join(member, 'wal');
    assert(!(await fs.exists(join(member, MARKER))), `data dir ${opts.dataDir} already holds a member`);
    const existingAncestor = await firstExistingAncestor(fs, opts.dataDir);
    await fs.mkdirp(member);
    const backend = await (opts.openBackend ?? openLevel)(join(member, 'db'));
    try {
      await opts.fill(backend);
      const applied = await backend.get(META_CONSISTENT_INDEX);
      assert(
        applied !== undefined && decodeUint64(applied) === opts.snapshot.index,
        `restored db is not at the snapshot index ${opts.snapshot.index}`,
      );
      await backend.write(backend.batch().put(META_TERM, encodeUint64(opts.snapshot.term)), { sync: true });
    } finally {
      await backend.close();
    }
    await fs.syncDir(join(member, 'db'));
    await fs.syncDir(member);
    const wal = await Wal.create(fs, walDir, encodeMetadata(opts.identity), { logger: opts.logger });
    try {
      await wal.save({
        entries: opts.entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: e.data })),
        hardState: opts.hardState,
      });
      const { index, term, confState } = opts.snapshot;
      await wal.save({ snapshot: { index, term, confState: encodeConfState(confState) } });
    } finally {
      await wal.close();
    }
    await writeWholeFile(fs, join(member, MARKER), Buffer.from('tsetcd data dir v1\n'));
    for (let dir = member; ; dir = dirname(dir)) {
      await fs.syncDir(dir);
      if (dir === existingAncestor || dir === dirname(dir)) break;
    }
  }

  /** Ready step 2: durable once this resolves (WAL fdatasync). */
  save(hardState: HardState | undefined, entries: readonly Entry[], _mustSync: boolean): Promise<void> {
    // The WAL syncs every batch; a hard-state-only save (commit moved) is cheap and
    // keeps the WAL the single source of truth for restart.
    return this.wal.save({
      entries: entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: e.data })),
      ...(hardState !== undefined ? { hardState } : {}),
    });
  }

  /** Records a snapshot marker (the state db holds the data up to index). */
  async saveSnapshotMarker(snap: Snapshot): Promise<void> {
    // etcd's snap.Save phases (snap/metrics.go): marshalling, then the write and fsync
    // of the .snap file; here the marker record and its synced WAL write.
    const now = this.timers?.nowMs;
    const started = now?.();
    const { index, term, confState } = snap.metadata;
    const record = { snapshot: { index, term, confState: encodeConfState(confState) } };
    const marshalled = now?.();
    await this.wal.save(record);
    if (now !== undefined && started !== undefined && marshalled !== undefined) {
      const end = now();
      this.timers?.observe?.('snap.saveMarshalling', (marshalled - started) / 1000);
      this.timers?.observe?.('snap.fsync', (end - marshalled) / 1000);
      this.timers?.observe?.('snap.saveTotal', (end - started) / 1000);
    }
  }

  /** Deletes WAL segments whose entries are all below `index`. */
  releaseWalTo(index: number): Promise<void> {
    return this.wal.releaseTo(index);
  }

  newApplyBatch(): BackendBatch {
    return this.backend.batch();
  }

  /** The applied index (etcd's consistent index) travels in the same batch as the changes. */
  setAppliedIndex(batch: BackendBatch, index: number, term: number): void {
    batch.put(META_CONSISTENT_INDEX, encodeUint64(index));
    batch.put(META_TERM, encodeUint64(term));
  }

  /**
   * Writes apply batches, in order, as one synced db write (later operations win, as
   * within one batch), then tells the store they are durable. Every db write is synced,
   * so the db never holds an unsynced write a power cut could lose out of order.
   */
  writeApplyBatch(batch: BackendBatch): Promise<void> {
    return this.writeApplyBatches([batch]);
  }

  async writeApplyBatches(batches: readonly BackendBatch[]): Promise<void> {
    const now = this.timers?.nowMs;
    const started = now?.();
    let merged: BackendBatch;
    if (batches.length === 1 && batches[0] !== undefined) merged = batches[0];
    else {
      merged = this.backend.batch();
      for (const b of batches) {
        for (const op of b.ops) {
          if (op.type === 'put') merged.put(op.key, op.value);
          else merged.del(op.key);
        }
      }
    }
    const merging = started !== undefined && now !== undefined ? now() - started : undefined;
    const done = this.timers?.backendCommit();
    const writing = now?.();
    await this.backend.write(merged, { sync: true });
    done?.();
    this.size.wrote(merged);
    if (merging !== undefined && writing !== undefined && now !== undefined) {
      // etcd's bbolt commit phases: spill (pages built), rebalance, write (to disk and
      // synced). Here: merging the apply batches, nothing (LevelDB never rebalances), and
      // the synced LevelDB write.
      this.timers?.observe?.('backend.commitSpill', merging / 1000);
      this.timers?.observe?.('backend.commitRebalance', 0);
      this.timers?.observe?.('backend.commitWrite', (now() - writing) / 1000);
    }
    for (const b of batches) this.store.batchDurable(b);
  }

  /** The state db as a point-in-time stream of records (for a follower's snapshot). */
  snapshotStream(): AsyncIterable<Uint8Array> {
    const stream = dbSnapshotStream(this.currentBackend);
    const now = this.timers?.nowMs;
    const observe = this.timers?.observe;
    if (now === undefined || observe === undefined) return stream;
    // etcd_disk_backend_snapshot_duration_seconds: from the first read to the last byte.
    return (async function* timed(): AsyncGenerator<Uint8Array> {
      const started = now();
      yield* stream;
      observe('backend.snapshot', (now() - started) / 1000);
    })();
  }

  /**
   * Installs a state db received from the leader, restartably (docs/architecture.md §3), the way
   * etcd commits a snapshot: the WAL marker is the commit point.
   *   1. stage the db in member/db.staging, sync it, sync member/ (the name);
   *   2. write member/db.staged (the snapshot index), sync member/;
   *   3. record the snapshot marker in the WAL (fdatasync): committed;
   *   4. swap: db -> db.old, db.staging -> db (renames inside member/, each atomic),
   *      sync member/, drop db.old and db.staged, reopen.
   * A crash before 3 leaves the old db and a staging that the next start discards; a
   * crash after 3 leaves a staging that the next start swaps in before opening the db.
   * Returns the applied index of the installed db.
   */
  async installSnapshot(snap: Snapshot, chunks: AsyncIterable<Uint8Array>): Promise<number> {
    const fs = this.fs;
    const now = this.timers?.nowMs;
    const started = now?.();
    const { staging, staged: stagedMarker } = swapPaths(this.paths);
    await removeTree(fs, staging);
    await removeTree(fs, stagedMarker);
    const staged = await this.openBackend(staging);
    let batch = staged.batch();
    let records = 0;
    let appliedIndex: number;
    try {
      for await (const [k, v] of dbSnapshotRecords(chunks)) {
        batch.put(k, v);
        records++;
        if (batch.length >= 1000) {
          await staged.write(batch, { sync: false });
          batch = staged.batch();
        }
      }
      await staged.write(batch, { sync: false });
      const applied = await staged.get(META_CONSISTENT_INDEX);
      assert(applied !== undefined, 'snapshot db has no applied index');
      appliedIndex = decodeUint64(applied);
      assert(
        appliedIndex >= snap.metadata.index,
        `snapshot db applied index ${appliedIndex} is below the snapshot index ${snap.metadata.index}`,
      );
      const syncing = now?.();
      await staged.write(staged.batch().put(META_INSTALLED_INDEX, applied), { sync: true });
      if (syncing !== undefined && now !== undefined) this.timers?.observe?.('snap.dbFsync', (now() - syncing) / 1000);
    } finally {
      await staged.close();
    }
    await fs.syncDir(staging);
    await fs.syncDir(this.paths.member);
    await writeWholeFile(fs, stagedMarker, Buffer.from(`${snap.metadata.index}\n`));
    await fs.syncDir(this.paths.member);
    await this.saveSnapshotMarker(snap);
    await this.currentStore.close();
    await this.currentBackend.close();
    await finishStagedSwap(this.paths, fs, this.logger, snap.metadata.index);
    this.currentBackend = await this.openBackend(this.paths.db);
    this.currentStore = await MvccStore.open(this.currentBackend, storeOptions(this.logger, this.timers));
    await this.dbSizeBytes();
    if (started !== undefined && now !== undefined) this.timers?.observe?.('snap.dbSaveTotal', (now() - started) / 1000);
    this.logger.info({ records, snapshotIndex: snap.metadata.index, appliedIndex }, 'installed a snapshot from the leader');
    return appliedIndex;
  }

  /** etcd's Defragment: the state db drops deleted and compacted records from its files. */
  async defragment(): Promise<void> {
    await this.currentBackend.compactAll();
    await this.dbSizeBytes();
  }

  /**
   * etcd's Backend.Size(): the bytes of the state db's files on disk, measured now
   * (docs/architecture.md §3). Also refreshes dbSizeEstimate.
   */
  dbSizeBytes(): Promise<number> {
    return this.size.measure();
  }

  /**
   * dbSizeBytes without touching the disk, for the quota check on every write: the
   * last measurement plus the bytes written since (LevelDB appends every write to its
   * log), re-measured in the background once enough was written.
   */
  dbSizeEstimate(): number {
    return this.size.estimate();
  }

  /**
   * etcd's Backend.SizeInUse(): the key + value bytes of the records the store holds
   * (uncompressed), at most dbSize, since LevelDB compresses its tables
   * (docs/architecture.md §3).
   */
  async dbSizeInUseBytes(): Promise<number> {
    const size = await this.dbSizeBytes();
    return Math.min(size, Math.max(this.currentStore.recordBytes(), 1));
  }

  /** Bytes written to WAL segments since this member started (etcd_disk_wal_write_bytes_total). */
  walBytesWritten(): number {
    return this.wal.stats().bytesWritten;
  }

  async forEachRecord(fn: (key: Buffer, value: Buffer) => void): Promise<void> {
    await forEachInRange(this.backend, {}, (k, v) => {
      fn(k, v);
    });
  }

  async close(): Promise<void> {
    await this.wal.close();
    await this.currentStore.close();
    await this.currentBackend.close();
  }
}

/** The store's options: the same metrics hooks for the first store and every reopened one. */
function storeOptions(logger: Logger, timers: StorageTimers | undefined): { logger: Logger; observe?: Observe; nowMs?: () => number } {
  return {
    logger,
    ...(timers?.observe !== undefined ? { observe: timers.observe } : {}),
    ...(timers?.nowMs !== undefined ? { nowMs: timers.nowMs } : {}),
  };
}
