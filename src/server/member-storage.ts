/**
 * A member's durable state on disk (DESIGN §3): the WAL (entries + hard state) and the
 * state db (LevelDB: mvcc records, meta with the applied index). It opens both, checks
 * that they agree, and offers the Ready loop its persistence steps.
 *
 *   <data-dir>/member/wal/ (or --wal-dir)   WAL segments
 *   <data-dir>/member/db/                   LevelDB
 *   <data-dir>/member/tsetcd                marker: this data dir is tsetcd's
 *
 * Start refuses, with one line saying what to do:
 *  - a data dir holding etcd's own files (member/snap/db, or member/wal without our
 *    marker): tsetcd never opens etcd's data; migrate with snapshot save/restore;
 *  - a db whose applied index is past the WAL's last entry (db ahead of the log);
 *  - a WAL that starts after applied index + 1 (a hole between db and log).
 */
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '../shared/logger.js';
import { assert } from '../shared/assert.js';
import { memberId, clusterId, type MemberId, type ClusterId } from '../shared/ids.js';
import type { FileLayer } from '../storage/file-layer.js';
import { LevelBackend } from '../storage/level-backend.js';
import { BackendBatch, forEachInRange } from '../storage/backend.js';
import { META_CONSISTENT_INDEX, META_TERM, encodeUint64, decodeUint64 } from '../storage/schema.js';
import { Wal, type WalEntry, type WalHardState } from '../wal/index.js';
import { MvccStore } from '../mvcc/index.js';
import { dbSnapshotRecords, dbSnapshotStream } from './db-snapshot.js';
import type { Entry, HardState, Snapshot } from '../raft/types.js';
import { decodeConfState, encodeConfState } from '../raft/codec.js';

export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

export interface MemberStorageOptions {
  readonly dataDir: string;
  readonly walDir: string | undefined;
  readonly fs: FileLayer;
  readonly logger: Logger;
  /** Identity to record when the data dir is new (ignored for an existing one). */
  readonly newIdentity: { memberId: MemberId; clusterId: ClusterId };
  readonly unsafeNoFsync: boolean;
}

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

const MARKER = 'tsetcd';

export class MemberStorage {
  private constructor(
    private readonly wal: Wal,
    private currentBackend: LevelBackend,
    private currentStore: MvccStore,
    readonly paths: { member: string; wal: string; db: string },
    private readonly logger: Logger,
  ) {}

  /** The state db; replaced when a snapshot from the leader is installed. */
  get backend(): LevelBackend {
    return this.currentBackend;
  }

  /** The MVCC store over the state db; replaced with it. */
  get store(): MvccStore {
    return this.currentStore;
  }

  /** Whether the data dir holds no tsetcd member yet (a start would create one). */
  static isFresh(dataDir: string): boolean {
    return !existsSync(join(dataDir, 'member', MARKER));
  }

  static async open(opts: MemberStorageOptions): Promise<{ storage: MemberStorage; recovered: RecoveredState }> {
    const member = join(opts.dataDir, 'member');
    const paths = {
      member,
      wal: opts.walDir !== undefined && opts.walDir !== '' ? opts.walDir : join(member, 'wal'),
      db: join(member, 'db'),
    };
    refuseEtcdDataDir(opts.dataDir, paths);
    // A snapshot install that crashed after staging completed is finished first.
    await finishStagedSwap(paths, opts.fs, opts.logger);
    const fresh = !(await opts.fs.exists(join(member, MARKER)));
    if (fresh) {
      await mkdir(member, { recursive: true, mode: 0o700 });
    }
    const backend = await LevelBackend.open(paths.db);
    try {
      const appliedBuf = await backend.get(META_CONSISTENT_INDEX);
      const appliedIndex = appliedBuf === undefined ? 0 : decodeUint64(appliedBuf);
      const walOptions = { unsafeNoFsync: opts.unsafeNoFsync };
      let wal: Wal;
      let ids: { memberId: MemberId; clusterId: ClusterId };
      let entries: readonly WalEntry[] = [];
      let hardState: WalHardState | undefined;
      let snapshot: Snapshot | undefined;
      if (await Wal.exists(opts.fs, paths.wal)) {
        const opened = await Wal.open(opts.fs, paths.wal, walOptions);
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
        if (appliedIndex > 0) {
          throw new DataDirError(
            `data dir ${opts.dataDir}: the state db is at index ${appliedIndex} but the WAL in ${paths.wal} is missing; restore the WAL from a backup, or remove this member and add it back with etcdctl member remove/add`,
          );
        }
        ids = opts.newIdentity;
        wal = await Wal.create(opts.fs, paths.wal, encodeMetadata(ids), walOptions);
      }
      checkAgreement(opts.dataDir, paths.wal, appliedIndex, entries, snapshot?.metadata.index ?? 0);
      if (fresh) {
        await writeFile(join(member, MARKER), 'tsetcd data dir v1\n', { mode: 0o600 });
        await opts.fs.syncDir(member);
        await opts.fs.syncDir(dirname(member));
      }
      const store = await MvccStore.open(backend, { logger: opts.logger });
      const storage = new MemberStorage(wal, backend, store, paths, opts.logger);
      return {
        storage,
        recovered: {
          ...ids,
          fresh,
          hardState: hardState !== undefined && hardState.term > 0 ? hardState : undefined,
          entries: entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: e.data })),
          snapshot,
          appliedIndex,
        },
      };
    } catch (err) {
      await backend.close();
      throw err;
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
  saveSnapshotMarker(snap: Snapshot): Promise<void> {
    const { index, term, confState } = snap.metadata;
    return this.wal.save({ snapshot: { index, term, confState: encodeConfState(confState) } });
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

  async writeApplyBatch(batch: BackendBatch): Promise<void> {
    await this.backend.write(batch, { sync: true });
    this.store.batchDurable(batch);
  }

  /** The state db as a point-in-time stream of records (for a follower's snapshot). */
  snapshotStream(): AsyncIterable<Uint8Array> {
    return dbSnapshotStream(this.currentBackend);
  }

  /**
   * Installs a state db received from the leader, restartably (DESIGN §3):
   * stage it in member/snap/staging and sync it; mark staging complete; record the
   * snapshot in the WAL; swap it in by rename; fsync the parent; reopen. A crash at
   * any step leaves either the old db (staging incomplete: discarded at start) or a
   * complete staging that the next start swaps in before opening anything.
   * Returns the applied index of the installed db.
   */
  async installSnapshot(snap: Snapshot, chunks: AsyncIterable<Uint8Array>, fs: FileLayer): Promise<number> {
    const snapDir = join(this.paths.member, 'snap');
    const staging = join(snapDir, 'staging');
    await rm(staging, { recursive: true, force: true });
    await rm(join(snapDir, STAGED), { force: true });
    await mkdir(snapDir, { recursive: true, mode: 0o700 });
    const staged = await LevelBackend.open(staging);
    let batch = staged.batch();
    let records = 0;
    try {
      for await (const [k, v] of dbSnapshotRecords(chunks)) {
        batch.put(k, v);
        records++;
        if (batch.length >= 1000) {
          await staged.write(batch, { sync: false });
          batch = staged.batch();
        }
      }
      await staged.write(batch, { sync: true });
      const applied = await staged.get(META_CONSISTENT_INDEX);
      assert(applied !== undefined, 'snapshot db has no applied index');
    } finally {
      await staged.close();
    }
    await fs.syncDir(staging);
    await writeFile(join(snapDir, STAGED), `${snap.metadata.index}\n`);
    await fs.syncDir(snapDir);
    await this.saveSnapshotMarker(snap);
    await this.currentStore.close();
    await this.currentBackend.close();
    await finishStagedSwap(this.paths, fs, this.logger);
    this.currentBackend = await LevelBackend.open(this.paths.db);
    this.currentStore = await MvccStore.open(this.currentBackend, { logger: this.logger });
    const appliedBuf = await this.currentBackend.get(META_CONSISTENT_INDEX);
    const appliedIndex = appliedBuf === undefined ? 0 : decodeUint64(appliedBuf);
    this.logger.info({ records, snapshotIndex: snap.metadata.index, appliedIndex }, 'installed a snapshot from the leader');
    return appliedIndex;
  }

  async dbSizeBytes(): Promise<number> {
    let total = 0;
    for (const name of await readdir(this.paths.db)) {
      try {
        total += (await stat(join(this.paths.db, name))).size;
      } catch {
        /* a file LevelDB removed meanwhile */
      }
    }
    return Math.max(total, 1);
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

const STAGED = 'staged';

/**
 * Finish a staged snapshot swap: if member/snap/staged exists, staging is complete:
 * move the old db aside, rename staging into place, fsync, then drop the old db and
 * the marker. Without the marker, staging is incomplete and is discarded.
 */
async function finishStagedSwap(paths: { member: string; db: string }, fs: FileLayer, logger: Logger): Promise<void> {
  const snapDir = join(paths.member, 'snap');
  const staging = join(snapDir, 'staging');
  if (!existsSync(join(snapDir, STAGED))) {
    if (existsSync(staging)) await rm(staging, { recursive: true, force: true });
    return;
  }
  const old = `${paths.db}.old`;
  if (existsSync(staging)) {
    await rm(old, { recursive: true, force: true });
    if (existsSync(paths.db)) await rename(paths.db, old);
    await rename(staging, paths.db);
    await fs.syncDir(paths.member);
    await fs.syncDir(snapDir);
  }
  await rm(old, { recursive: true, force: true });
  await rm(join(snapDir, STAGED), { force: true });
  await fs.syncDir(snapDir);
  logger.info({ db: paths.db }, 'swapped in the state db received in a snapshot');
}

function refuseEtcdDataDir(dataDir: string, paths: { member: string; wal: string }): void {
  const marker = join(paths.member, MARKER);
  const etcdDb = join(paths.member, 'snap', 'db');
  const hasEtcdWal =
    !existsSync(marker) && existsSync(paths.wal) && readdirSync(paths.wal).some((n) => n.endsWith('.wal'));
  if (existsSync(etcdDb) || (hasEtcdWal && !existsSync(join(paths.member, 'db')))) {
    throw new DataDirError(
      `data dir ${dataDir} holds etcd's own data files (member/snap/db, member/wal); tsetcd does not open etcd's data dir. ` +
        `The migration path etcd users know ('etcdctl snapshot save' then a snapshot restore into a new data dir) is not built yet; ` +
        `today, start tsetcd on a new data dir and copy the keys from the running etcd cluster with 'etcdctl make-mirror' (docs/upgrade.md).`,
    );
  }
}

function checkAgreement(
  dataDir: string,
  walDir: string,
  appliedIndex: number,
  entries: readonly WalEntry[],
  snapshotIndex: number,
): void {
  const first = entries[0];
  const last = entries[entries.length - 1];
  const lastIndex = last?.index ?? snapshotIndex;
  if (appliedIndex > lastIndex) {
    throw new DataDirError(
      `data dir ${dataDir}: the state db has applied index ${appliedIndex} but the WAL in ${walDir} ends at ${lastIndex}; the WAL lost entries the db holds. Restore this member from a snapshot or remove it and re-add it to the cluster`,
    );
  }
  if (first !== undefined && first.index > appliedIndex + 1) {
    throw new DataDirError(
      `data dir ${dataDir}: the WAL in ${walDir} starts at index ${first.index} but the state db is only at ${appliedIndex}; entries in between are missing. Restore this member from a snapshot or remove it and re-add it to the cluster`,
    );
  }
}

function encodeMetadata(ids: { memberId: MemberId; clusterId: ClusterId }): Uint8Array {
  const b = Buffer.alloc(17);
  b[0] = 1; // metadata version
  b.writeBigUInt64BE(ids.memberId, 1);
  b.writeBigUInt64BE(ids.clusterId, 9);
  return b;
}

function decodeMetadata(data: Uint8Array): { memberId: MemberId; clusterId: ClusterId } {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  assert(b.length === 17 && b[0] === 1, `unknown WAL metadata (${b.length} bytes)`);
  return { memberId: memberId(b.readBigUInt64BE(1)), clusterId: clusterId(b.readBigUInt64BE(9)) };
}
