/**
 * `tsetcd snapshot restore`: an etcd snapshot file (from `etcdctl snapshot save`
 * against etcd 3.4/3.5 or tsetcd, or a member/snap/db copied from a stopped etcd with
 * skipHashCheck) to a new tsetcd data dir, the way etcd's restore makes one
 * (clientv3/snapshot/v3_snapshot.go saveDB + saveWALAndSnap):
 *   - the snapshot's keys (every revision and tombstone), compaction revisions, leases
 *     (TTLs restart when a leader takes them over, as etcd's lessor does), alarms and
 *     auth records are copied into the state db (docs/architecture.md §3);
 *   - the snapshot's members and removed members are dropped; the members are those of
 *     the initial cluster, with ids from the peer URLs and token as etcd computes them;
 *   - the log is the new cluster's bootstrap (one AddNode per member at term 1, the
 *     same bytes on every member) covered by a raft snapshot marker at its last index,
 *     and the db's applied index is that index: a start replays nothing and raft's
 *     configuration is the initial cluster. So each member restored from the same
 *     file with the same flags forms the new cluster, and revisions continue after the
 *     snapshot's.
 * Nothing is left behind on failure: the data dir (and a separate WAL dir) are built
 * under temporary names beside the targets and renamed into place at the end. Every
 * failure is a RestoreError with a one-line message naming the problem.
 */
import { dirname, join } from 'node:path';
import { BboltFormatError } from '../bbolt/errors.js';
import { encodeAlarm } from '../bbolt/etcd-proto.js';
import { readEtcdBackend, type EtcdBackendContents, type Revision } from '../bbolt/etcd-layout.js';
import { BboltDb } from '../bbolt/reader.js';
import { SHA256_SIZE, snapshotImageLength } from '../bbolt/snapshot-file.js';
import { AUTH_DISABLED, AUTH_ENABLED, AUTH_ENABLED_KEY, AUTH_REVISION_KEY, roleKey, userKey } from '../auth/records.js';
import { computeClusterId, computeMemberId } from '../cluster/ids.js';
import { Membership, type Member } from '../cluster/membership.js';
import { encodeLeaseRecord, leaseRecordKey } from '../lease/index.js';
import { bootstrapEntries } from '../cluster/bootstrap.js';
import { MemberStorage } from '../server/member-storage.js';
import { firstExistingAncestor } from '../storage/data-dir.js';
import { removeTree, type FileLayer } from '../storage/file-layer.js';
import type { Backend, BackendBatch } from '../storage/backend.js';
import { LevelBackend } from '../storage/level-backend.js';
import { LevelTableWriter } from '../storage/level-tables.js';
import {
  ALARM_PREFIX,
  KEY_PREFIX,
  META_CONSISTENT_INDEX,
  META_FINISHED_COMPACT_REV,
  META_SCHEDULED_COMPACT_REV,
  encodeUint64,
} from '../storage/schema.js';
import { leaseId, type ClusterId, type MemberId } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import { openFileSource, SnapshotFileError, type FileSource } from './file-source.js';

export class RestoreError extends Error {
  override readonly name = 'RestoreError';
}

export interface RestoreRequest {
  readonly snapshotPath: string;
  readonly dataDir: string;
  /** A WAL dir outside the data dir; undefined or '' for <data-dir>/member/wal. */
  readonly walDir: string | undefined;
  /** This member's name: one of `members`. */
  readonly name: string;
  /** The initial cluster, each member's peer URLs in etcd's string form. */
  readonly members: ReadonlyArray<{ readonly name: string; readonly peerUrls: readonly string[] }>;
  readonly token: string;
  readonly skipHashCheck: boolean;
  readonly fs: FileLayer;
  readonly logger: Logger;
  /** Suffix of the temporary names the dirs are built under (e.g. ".restoring-<pid>"). */
  readonly tempSuffix: string;
  /** Called as key records are copied: records so far and the fraction done (1 at the end). */
  readonly onProgress?: (records: number, fraction: number) => void;
}

export interface RestoreResult {
  readonly memberId: MemberId;
  readonly clusterId: ClusterId;
  /** The snapshot's revision (its key bucket's last), and the store's after restore. */
  readonly snapshotRevision: number;
  readonly compactRevision: number | undefined;
  readonly keyRecords: number;
  readonly leases: number;
}

export async function restoreSnapshot(req: RestoreRequest): Promise<RestoreResult> {
  const { fs } = req;
  if (await fs.exists(req.dataDir)) throw new RestoreError(`data-dir ${JSON.stringify(req.dataDir)} exists`);
  const separateWal = req.walDir !== undefined && req.walDir !== '';
  if (separateWal && (await fs.exists(req.walDir))) throw new RestoreError(`wal-dir ${JSON.stringify(req.walDir)} exists`);
  const members = initialMembers(req);
  const self = members.find((m) => m.name === req.name);
  if (self === undefined) throw new RestoreError(`couldn't find local name ${JSON.stringify(req.name)} in the initial cluster configuration`);
  const identity = { memberId: self.id, clusterId: computeClusterId(members.map((m) => m.id)) };

  const source = openSource(req.snapshotPath);
  const tmpData = `${req.dataDir}${req.tempSuffix}`;
  const tmpWal = separateWal ? `${req.walDir}${req.tempSuffix}` : undefined;
  let keyRecords = 0;
  // Parents the restore creates go too on failure (with --skip-hash-check a damaged file
  // may fail the walk after they were made).
  const existing = await Promise.all([tmpData, tmpWal ?? tmpData].map((d) => firstExistingAncestor(fs, dirname(d))));
  try {
    // The hash before anything is written or logged: a damaged file gets one line. (In
    // the walk's pass it would save a read of the file from the page cache, about 5% of
    // a restore's CPU, but the progress lines would come before the verdict.)
    checkHash(source, req);
    const contents = readBackend(source, req.snapshotPath);
    req.logger.info(
      { path: req.snapshotPath, 'data-dir': req.dataDir, 'wal-dir': req.walDir ?? join(req.dataDir, 'member', 'wal') },
      'restoring snapshot',
    );
    const boot = bootstrapEntries(members);
    const index = boot.hardState.commit;
    await removeTree(fs, tmpData);
    if (tmpWal !== undefined) await removeTree(fs, tmpWal);
    await MemberStorage.createRestored({
      dataDir: tmpData,
      walDir: tmpWal,
      fs,
      logger: req.logger,
      identity,
      entries: boot.entries,
      hardState: boot.hardState,
      snapshot: { index, term: boot.hardState.term, confState: { voters: members.map((m) => m.id).sort(compareIds), learners: [] } },
      // The key records (nearly all the bytes) go straight into table files, then the
      // db opens on them and takes the small records through ordinary batches.
      openBackend: async (dir) => {
        keyRecords = await writeKeyTables(fs, dir, contents, { path: req.snapshotPath, imageSize: source.size, onProgress: req.onProgress });
        return LevelBackend.open(dir);
      },
      fill: (backend) => fillStateDb(backend, contents, { members, appliedIndex: index }),
    });
    // The WAL first: a data dir in place always has its WAL.
    if (tmpWal !== undefined && req.walDir !== undefined) await renameDurably(fs, tmpWal, req.walDir);
    await renameDurably(fs, tmpData, req.dataDir);
    const compactRevision = contents.finishedCompactRev ?? contents.scheduledCompactRev;
    req.logger.info({ path: req.snapshotPath, 'data-dir': req.dataDir }, 'restored snapshot');
    return {
      ...identity,
      snapshotRevision: contents.lastRevision,
      compactRevision,
      keyRecords,
      leases: contents.leases.length,
    };
  } catch (err) {
    await removeTree(fs, tmpData).catch(() => undefined);
    if (tmpWal !== undefined) await removeTree(fs, tmpWal).catch(() => undefined);
    await removeCreatedParents(fs, tmpData, existing[0]);
    if (tmpWal !== undefined) await removeCreatedParents(fs, tmpWal, existing[1]);
    if (err instanceof BboltFormatError || err instanceof SnapshotFileError) {
      throw new RestoreError(`snapshot ${req.snapshotPath}: ${err.message}`);
    }
    throw err;
  } finally {
    source.close();
  }
}

function compareIds(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function initialMembers(req: RestoreRequest): Member[] {
  return req.members.map((m) => ({
    id: computeMemberId(m.peerUrls, req.token),
    name: m.name,
    peerUrls: [...m.peerUrls],
    clientUrls: [],
    isLearner: false,
  }));
}

function openSource(path: string): FileSource {
  try {
    return openFileSource(path);
  } catch (err) {
    if (err instanceof SnapshotFileError) throw new RestoreError(err.message);
    throw err;
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** etcd's saveDB hash rules: a trailer is required unless skipped, and must match. */
function checkHash(source: FileSource, req: RestoreRequest): void {
  const { hasTrailer, imageLength } = snapshotImageLength(source.size);
  if (req.skipHashCheck) return;
  if (!hasTrailer) {
    throw new RestoreError(
      `snapshot ${req.snapshotPath}: snapshot missing hash but --skip-hash-check=false (its ${source.size} bytes are not whole pages plus a 32-byte SHA-256: truncated, or a member/snap/db copy that needs --skip-hash-check)`,
    );
  }
  const actual = source.sha256(imageLength);
  const expected = source.read(imageLength, SHA256_SIZE);
  if (Buffer.compare(actual, expected) !== 0) {
    throw new RestoreError(
      `snapshot ${req.snapshotPath}: SHA-256 mismatch: the trailer says ${hex(expected)}, the image hashes to ${hex(actual)} (the file is corrupt)`,
    );
  }
}

function readBackend(source: FileSource, path: string): EtcdBackendContents {
  const db = BboltDb.open(source);
  const contents = readEtcdBackend(db);
  if (db.bucket(Buffer.from('key')) === undefined) throw new RestoreError(`snapshot ${path}: bbolt: not an etcd backend: no key bucket`);
  return contents;
}

/**
 * A key record must look like an mvccpb.KeyValue: field 1 (the user key, non-empty) first,
 * as etcd and tsetcd marshal it. A full decode is left to the member's start (mvcc's
 * restore); this catches a foreign "key" bucket without paying for it per record.
 */
function checkKeyRecord(e: { value: Uint8Array; revision: Revision }, path: string): void {
  const v = e.value;
  let len = 0;
  let shift = 0;
  let i = 1;
  for (; i < v.length && i < 6; i++) {
    const b = v[i] ?? 0;
    len += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) break;
  }
  if (v[0] !== 0x0a || len === 0 || i + 1 + len > v.length) {
    throw new RestoreError(`snapshot ${path}: key bucket record at revision ${e.revision.main}.${e.revision.sub} is not an mvccpb.KeyValue`);
  }
}

/**
 * The key bucket as the state db's 'k' records (storage/schema.ts), written as LevelDB
 * table files in one pass over the file (storage/level-tables.ts): each record is
 * copied once, with no per-record batch. A bad record stops the load (the caller
 * removes the unfinished dir).
 */
async function writeKeyTables(
  fs: FileLayer,
  dir: string,
  contents: EtcdBackendContents,
  opts: {
    readonly path: string;
    readonly imageSize: number;
    readonly onProgress: ((records: number, fraction: number) => void) | undefined;
  },
): Promise<number> {
  const writer = await LevelTableWriter.create(fs, dir);
  const key = Buffer.allocUnsafe(64);
  key[0] = KEY_PREFIX;
  let done = 0;
  // Progress by bytes copied against the file's size (counting records first would
  // cost a walk of the file).
  let bytes = 0;
  try {
    for (const e of contents.keys()) {
      checkKeyRecord(e, opts.path);
      key.set(e.key, 1);
      writer.add(key.subarray(0, 1 + e.key.length), e.value);
      done++;
      bytes += e.key.length + e.value.length + 16;
      if (writer.wantsFlush) {
        await writer.flush();
        opts.onProgress?.(done, Math.min(0.99, bytes / opts.imageSize));
      }
    }
    await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  opts.onProgress?.(done, 1);
  return done;
}

/**
 * The snapshot's other records under our state-db layout (storage/schema.ts), applied
 * index last, synced.
 */
async function fillStateDb(
  backend: Backend,
  contents: EtcdBackendContents,
  opts: { readonly members: readonly Member[]; readonly appliedIndex: number },
): Promise<void> {
  const batch: BackendBatch = backend.batch();
  if (contents.scheduledCompactRev !== undefined) batch.put(META_SCHEDULED_COMPACT_REV, encodeUint64(contents.scheduledCompactRev));
  if (contents.finishedCompactRev !== undefined) batch.put(META_FINISHED_COMPACT_REV, encodeUint64(contents.finishedCompactRev));
  for (const l of contents.leases) {
    const id = leaseId(l.id);
    batch.put(leaseRecordKey(id), encodeLeaseRecord({ id, ttlSeconds: Number(l.ttl), remainingTtlSeconds: Number(l.remainingTtl) }));
  }
  // Alarms stay, as in etcd's restore (its alarm bucket is copied with the file).
  for (const a of contents.alarms) batch.put(Buffer.concat([Buffer.from([ALARM_PREFIX]), encodeAlarm(a)]), Buffer.alloc(0));
  const membership = new Membership();
  for (const m of opts.members) membership.add(m, batch);
  if (contents.auth.enabled !== undefined) batch.put(AUTH_ENABLED_KEY, contents.auth.enabled ? AUTH_ENABLED : AUTH_DISABLED);
  if (contents.auth.revision !== undefined) batch.put(AUTH_REVISION_KEY, encodeUint64(Number(contents.auth.revision)));
  const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
  for (const u of contents.auth.users) batch.put(userKey(text(u.name)), Buffer.from(u.value));
  for (const r of contents.auth.roles) batch.put(roleKey(text(r.name)), Buffer.from(r.value));
  await backend.write(batch, { sync: false });
  await backend.write(backend.batch().put(META_CONSISTENT_INDEX, encodeUint64(opts.appliedIndex)), { sync: true });
}

/** Removes the (empty) directories between `path` and the ancestor that existed before. */
async function removeCreatedParents(fs: FileLayer, path: string, existed: string | undefined): Promise<void> {
  for (let d = dirname(path); existed !== undefined && d !== existed && d.startsWith(existed); d = dirname(d)) {
    const removed = await fs.rmdir(d).then(
      () => true,
      () => false,
    );
    if (!removed) return;
  }
}

async function renameDurably(fs: FileLayer, from: string, to: string): Promise<void> {
  await fs.rename(from, to);
  const parent = join(to, '..');
  await fs.syncDir(parent);
}
