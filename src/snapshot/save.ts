/**
 * The state db as etcd's backend file, for Maintenance.Snapshot (etcd
 * api/v3rpc/maintenance.go Snapshot; docs/architecture.md §3): a cut of one
 * point-in-time view of the db mapped onto etcd's buckets, laid out by the bbolt writer,
 * cut into etcd's Snapshot messages (bbolt/snapshot-file.ts). server/ serves it through
 * the port it declares (v3rpc/maintenance.ts); embed hands it streamEtcdSnapshot.
 *
 * One pass: the first message announces the image size and the image starts with the
 * metas, which name the root page and page count; both are known only once every record
 * is laid out. So the tree pages are spooled, in one read of the view, to a file in the
 * member dir (unlinked as soon as it is opened, so a crash leaves nothing behind),
 * then the metas and the spooled pages are streamed. etcd needs no spool: its backend
 * is already that file (bbolt tx.WriteTo with tx.Size() up front). The spool takes as
 * much disk as the image for the time of the save; when it cannot be written (no space,
 * read-only dir) the save falls back to two passes over the same view: a planning pass
 * that only counts pages, then the writing pass.
 *
 * Invariants:
 * - One cut, one applied index: everything is read from a single BackendReadView
 *   (LevelDB's snapshot), taken before anything is read. Every apply batch carries the
 *   applied index with its changes (member-storage.ts setAppliedIndex), so the view's
 *   meta/consistent_index is exactly the index whose state the file holds, and its
 *   meta/term that entry's term (what etcd 3.5 writes). Writes are never blocked.
 * - In the two-pass fallback both passes read the same view, so they see the same
 *   records; the writer raises if not.
 * - Bounded memory: the key bucket is streamed from the view 1,000 records at a time
 *   (the next batch read while this one is laid out); pages go to the spool through two
 *   1 MiB buffers (one being written) and come back 1 MiB at a time; only the small
 *   buckets (meta, members, leases, auth, alarms) are held whole, as the member already
 *   holds them in memory.
 * - The view, the spool and the iterator of a pass that was abandoned (a client that
 *   went away: `signal`, checked per spooled MiB) are closed by close(); the caller
 *   calls it whatever happens. The view is closed as soon as the spool is written.
 *
 * Mapping (storage/schema.ts prefixes -> etcd buckets, etcd-layout.ts writes them):
 *   'k' + revision key -> key (the marshalled mvccpb.KeyValue as stored)
 *   'm' consistent_index, term -> meta (u64 BE); scheduled/finishedCompactRev (u64 BE
 *       here) -> meta as etcd's revision keys; tsetcd's own meta keys are left out
 *   'l' + id -> lease (leasepb.Lease); 'c' members / removed -> members,
 *       members_removed (etcd's member JSON); confState (3.5) from the member records
 *   'a' -> auth, authUsers, authRoles (byte-identical, auth/records.ts)
 *   'x' + marshalled AlarmMember -> alarm
 *   cluster/clusterVersion: the version this member runs as.
 */
import { assert } from '../shared/assert.js';
import type { Logger } from '../shared/logger.js';
import { CLUSTER_VERSION } from '../shared/version.js';
import { etcdBackendRecords, type EtcdBackendCut, type EtcdMember, type KeyBucketEntry, type NamedBytes } from '../bbolt/etcd-layout.js';
import { decodeAlarm, type AlarmRecord, type LeaseRecord } from '../bbolt/etcd-proto.js';
import { bboltHead, planBbolt, writeBbolt, writeBboltBody } from '../bbolt/stream.js';
import type { SnapshotChunkOut } from '../v3rpc/maintenance.js';
import { SnapshotChunker } from '../bbolt/snapshot-file.js';
import type { BboltPlan, ByteSink } from '../bbolt/writer.js';
import { parseMembershipRecord } from '../cluster/membership.js';
import { etcdAuthLocation } from '../auth/records.js';
import { decodeLeaseRecord } from '../lease/wire.js';
import { prefixRange, type Backend, type BackendReadView } from '../storage/backend.js';
import type { FileHandle, FileLayer } from '../storage/file-layer.js';
import {
  ALARM_PREFIX,
  AUTH_PREFIX,
  KEY_PREFIX,
  LEASE_PREFIX,
  MEMBERS_PREFIX,
  META_CONSISTENT_INDEX,
  META_FINISHED_COMPACT_REV,
  META_SCHEDULED_COMPACT_REV,
  META_TERM,
  decodeUint64,
} from '../storage/schema.js';

/** Records per read of the key bucket: ~1 MiB at 1 KiB values. */
const KEY_BATCH = 1000;

async function forEachIn(view: BackendReadView, prefix: number, fn: (key: Buffer, value: Buffer) => void): Promise<void> {
  const it = view.iterator(prefixRange(Buffer.from([prefix])));
  try {
    for (;;) {
      const batch = await it.nextv(KEY_BATCH);
      if (batch.length === 0) return;
      for (const [k, v] of batch) fn(k, v);
    }
  } finally {
    await it.close();
  }
}

/** Everything but the key bucket, read from the view. */
async function smallBuckets(view: BackendReadView): Promise<Omit<EtcdBackendCut, 'keys'>> {
  const u64 = async (key: Buffer): Promise<number | undefined> => {
    const v = await view.get(key);
    return v === undefined ? undefined : decodeUint64(v);
  };
  const consistentIndex = (await u64(META_CONSISTENT_INDEX)) ?? 0;
  const term = (await u64(META_TERM)) ?? 0;
  const scheduled = await u64(META_SCHEDULED_COMPACT_REV);
  const finished = await u64(META_FINISHED_COMPACT_REV);

  const leases: LeaseRecord[] = [];
  await forEachIn(view, LEASE_PREFIX, (_k, v) => {
    const l = decodeLeaseRecord(v);
    leases.push({ id: l.id, ttl: BigInt(l.ttlSeconds), remainingTtl: BigInt(l.remainingTtlSeconds) });
  });

  const members: EtcdMember[] = [];
  const removedMembers: bigint[] = [];
  await forEachIn(view, MEMBERS_PREFIX, (k, v) => {
    const rec = parseMembershipRecord(k, v);
    if (rec === undefined) return;
    if ('member' in rec) members.push(rec.member);
    else removedMembers.push(rec.removed);
  });

  const users: NamedBytes[] = [];
  const roles: NamedBytes[] = [];
  let enabled: boolean | undefined;
  let revision: bigint | undefined;
  await forEachIn(view, AUTH_PREFIX, (k, v) => {
    const at = etcdAuthLocation(k);
    if (at === undefined) return;
    if (at.bucket === 'authUsers') users.push({ name: at.key, value: v });
    else if (at.bucket === 'authRoles') roles.push({ name: at.key, value: v });
    else if (at.key.toString('latin1') === 'authEnabled') enabled = v.length === 1 && v[0] === 1;
    else if (at.key.toString('latin1') === 'authRevision') revision = BigInt(decodeUint64(v));
  });

  const alarms: AlarmRecord[] = [];
  await forEachIn(view, ALARM_PREFIX, (k) => void alarms.push(decodeAlarm(k.subarray(1))));

  return {
    consistentIndex: BigInt(consistentIndex),
    term: BigInt(term),
    ...(scheduled === undefined ? {} : { scheduledCompactRev: scheduled }),
    ...(finished === undefined ? {} : { finishedCompactRev: finished }),
    // etcd 3.5 keeps raft's ConfState next to the consistent index; ours is the
    // member records' (every ConfChange writes both in one apply batch).
    confState: {
      voters: members.filter((m) => !m.isLearner).map((m) => m.id),
      learners: members.filter((m) => m.isLearner).map((m) => m.id),
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    },
    leases,
    members,
    removedMembers,
    clusterVersion: CLUSTER_VERSION,
    alarms,
    auth: {
      ...(enabled === undefined ? {} : { enabled }),
      ...(revision === undefined ? {} : { revision }),
      users,
      roles,
    },
  };
}

/**
 * The key bucket, streamed from the view in batches: revision key -> KeyValue, as stored.
 * The next batch is read (in LevelDB's thread) while this one is laid out.
 */
async function* keyBucket(view: BackendReadView): AsyncGenerator<readonly KeyBucketEntry[]> {
  const it = view.iterator(prefixRange(Buffer.from([KEY_PREFIX])));
  let next: Promise<Array<[Buffer, Buffer]>> | undefined;
  try {
    next = it.nextv(KEY_BATCH);
    for (;;) {
      const batch = await next;
      next = undefined;
      if (batch.length === 0) return;
      next = it.nextv(KEY_BATCH);
      // Marked handled: an abandoned pass never awaits it (close() below settles it).
      next.catch(() => undefined);
      // A plain view past the prefix byte (Buffer.subarray costs more per key).
      yield batch.map(([k, v]) => ({ key: new Uint8Array(k.buffer, k.byteOffset + 1, k.length - 1), value: v }));
    }
  } finally {
    // Runs on a finished pass and on an abandoned one (the writer's for-await returns).
    if (next !== undefined) await next.catch(() => undefined);
    await it.close();
  }
}

/** Bytes per spool write and read. */
const SPOOL_BUFFER = 1 << 20;

/** Where a save spools its tree pages: the member's file layer and dir. */
export interface SnapshotSpoolDir {
  readonly fs: FileLayer;
  readonly dir: string;
}

/** A failure of the spool file itself (not of the view or the writer): the save falls back to two passes. */
class SpoolFileError extends Error {}

let spoolSeq = 0;

/**
 * The spooled tree pages: an unlinked file written sequentially through two buffers
 * (one filling, one being written), then read back in order.
 */
class Spool implements ByteSink {
  private buf: Uint8Array = new Uint8Array(SPOOL_BUFFER);
  private spare: Uint8Array | undefined = new Uint8Array(SPOOL_BUFFER);
  private fill = 0;
  private end = 0;
  private inflight: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly fh: FileHandle,
    private readonly signal: AbortSignal | undefined,
  ) {}

  static async open(at: SnapshotSpoolDir, signal: AbortSignal | undefined): Promise<Spool> {
    const path = `${at.dir}/.snapshot-spool-${process.pid}-${++spoolSeq}`;
    const fh = await at.fs.open(path, 'create-exclusive').catch((err: unknown) => {
      throw new SpoolFileError(`open ${path}`, { cause: err });
    });
    try {
      await at.fs.unlink(path);
    } catch (err) {
      await fh.close();
      throw new SpoolFileError(`unlink ${path}`, { cause: err });
    }
    return new Spool(fh, signal);
  }

  write(bytes: Uint8Array): void | Promise<void> {
    if (this.fill + bytes.length <= this.buf.length) {
      this.buf.set(bytes, this.fill);
      this.fill += bytes.length;
      return undefined;
    }
    return this.overflow(bytes);
  }

  private async overflow(bytes: Uint8Array): Promise<void> {
    await this.flush();
    if (bytes.length > this.buf.length) {
      // An overflow run larger than the buffer: written as it is.
      await this.inflight;
      await this.writeAt(bytes);
      return;
    }
    this.buf.set(bytes, 0);
    this.fill = bytes.length;
  }

  private async writeAt(bytes: Uint8Array): Promise<void> {
    const at = this.end;
    this.end += bytes.length;
    await this.fh.write(bytes, at).catch((err: unknown) => {
      throw new SpoolFileError(`write of the snapshot spool at ${at}`, { cause: err });
    });
  }

  /** Starts writing the filled buffer once the previous write is done; fills the other meanwhile. */
  private async flush(): Promise<void> {
    if (this.signal?.aborted === true) throw this.signal.reason ?? new Error('snapshot save aborted');
    if (this.fill === 0) return;
    const filled = this.buf;
    const full = filled.subarray(0, this.fill);
    await this.inflight;
    this.buf = this.spare ?? new Uint8Array(SPOOL_BUFFER);
    this.spare = undefined;
    this.fill = 0;
    const written = this.writeAt(full).then(() => {
      this.spare = filled;
    });
    // Awaited by the next flush or finish(); marked handled until then.
    written.catch(() => undefined);
    this.inflight = written;
  }

  /** Writes what is buffered and waits for it; the spool then holds `size` bytes. */
  async finish(): Promise<number> {
    await this.flush();
    await this.inflight;
    return this.end;
  }

  /** Streams the spooled bytes into `sink` in order, reading the next MiB while the sink takes this one. */
  async copyTo(sink: ByteSink): Promise<void> {
    const read = (at: number): Promise<Uint8Array> => this.fh.read(at, Math.min(SPOOL_BUFFER, this.end - at));
    let next: Promise<Uint8Array> | undefined = this.end > 0 ? read(0) : undefined;
    try {
      for (let at = 0; next !== undefined; ) {
        const bytes = await next;
        next = undefined;
        if (bytes.length === 0) throw new SpoolFileError(`snapshot spool ended at ${at} of ${this.end} bytes`);
        at += bytes.length;
        if (at < this.end) {
          next = read(at);
          next.catch(() => undefined);
        }
        const written = sink.write(bytes);
        if (written !== undefined) await written;
      }
    } finally {
      if (next !== undefined) await next.catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inflight.catch(() => undefined);
    await this.fh.close();
  }
}

/** The state db as etcd's backend file, planned (its size is known), not yet written. */
export interface EtcdSnapshotImage {
  /** Image bytes (what remaining_bytes counts down from; the digest follows). */
  readonly size: number;
  /** The applied index the cut holds (the file's meta/consistent_index). */
  readonly consistentIndex: bigint;
  /** Streams the image into `sink` in file order, awaiting it (back-pressure). Once. */
  writeTo(sink: ByteSink): Promise<void>;
  /** Closes the view and any iterator left open; idempotent. */
  close(): Promise<void>;
}

/**
 * Takes the view, reads the small buckets and lays out the file: spooled in one pass
 * when `spool` is given and works, else planned (one pass that counts pages) and written
 * by writeTo (a second pass). The caller must close() the image, whether or not it
 * wrote it.
 */
export async function openEtcdSnapshot(
  backend: Backend,
  logger: Logger,
  spool?: SnapshotSpoolDir,
  signal?: AbortSignal,
): Promise<EtcdSnapshotImage> {
  const view = backend.readView();
  let spooled: Spool | undefined;
  try {
    const small = await smallBuckets(view);
    const records = etcdBackendRecords({ ...small, keys: () => keyBucket(view) });
    // etcd's own snapshots carry no freelist page (NoFreelistSync); bbolt rebuilds it.
    const options = { freelist: 'none' as const };
    let plan: BboltPlan | undefined;
    if (spool !== undefined) {
      try {
        spooled = await Spool.open(spool, signal);
        plan = await writeBboltBody(records, spooled, options);
        const bytes = await spooled.finish();
        const head = bboltHead(plan, options).reduce((n, p) => n + p.length, 0);
        assert(head + bytes === plan.size, 'the spool holds every page after the head');
        // The spool holds the cut now: LevelDB may drop the snapshot's old versions.
        await view.close();
      } catch (err) {
        await spooled?.close();
        spooled = undefined;
        if (!(err instanceof SpoolFileError)) throw err;
        logger.warn({ dir: spool.dir, err: err.cause ?? err }, 'could not spool the database snapshot; writing it in two passes over the same view');
        plan = undefined;
      }
    }
    plan ??= await planBbolt(records, options);
    const laidOut = plan;
    const source = spooled;
    let written = false;
    logger.debug({ totalBytes: plan.size, consistentIndex: small.consistentIndex.toString(), spooled: source !== undefined }, 'laid out the database snapshot');
    return {
      size: plan.size,
      consistentIndex: small.consistentIndex,
      writeTo: async (sink) => {
        assert(!written, 'an EtcdSnapshotImage is written once');
        written = true;
        if (source === undefined) {
          await writeBbolt(records, sink, { ...options, plan: laidOut });
          return;
        }
        for (const page of bboltHead(laidOut, options)) {
          const w = sink.write(page);
          if (w !== undefined) await w;
        }
        await source.copyTo(sink);
      },
      close: async () => {
        await source?.close();
        await view.close();
      },
    };
  } catch (err) {
    await spooled?.close();
    await view.close();
    throw err;
  }
}

/**
 * Maintenance.Snapshot: opens an image of `backend`, sends it in etcd's messages (each
 * awaited), then the digest; closes the image whatever happens, then logs how it ended
 * (etcd's lines: "sending database snapshot to client", "successfully sent ...").
 */
export async function streamEtcdSnapshot(
  backend: Backend,
  send: (chunk: SnapshotChunkOut) => Promise<void>,
  env: {
    readonly logger: Logger;
    readonly nowMs: () => number;
    /** Where to spool the image (the member dir); absent: two passes. */
    readonly spool?: SnapshotSpoolDir;
    /** The client went away: stop spooling. */
    readonly signal?: AbortSignal;
  },
): Promise<void> {
  const image = await openEtcdSnapshot(backend, env.logger, env.spool, env.signal);
  const start = env.nowMs();
  const fields = { totalBytes: image.size, consistentIndex: image.consistentIndex.toString() };
  env.logger.info(fields, 'sending database snapshot to client');
  let sent = 0;
  try {
    const chunker = new SnapshotChunker(image.size, async (chunk) => {
      await send(chunk);
      sent = image.size - chunk.remainingBytes;
    });
    await image.writeTo(chunker);
    await chunker.end();
  } catch (err) {
    await image.close();
    env.logger.warn(
      { ...fields, sentBytes: sent, tookMs: env.nowMs() - start, err },
      'database snapshot stream ended before it was complete; its read view is closed',
    );
    throw err;
  }
  await image.close();
  env.logger.info({ ...fields, tookMs: env.nowMs() - start }, 'successfully sent database snapshot to client');
}
