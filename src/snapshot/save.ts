/**
 * The state db as etcd's backend file, for Maintenance.Snapshot (etcd
 * api/v3rpc/maintenance.go Snapshot; docs/architecture.md §3): a cut of one
 * point-in-time view of the db mapped onto etcd's buckets, laid out by bbolt's two-pass
 * writer, cut into etcd's Snapshot messages (bbolt/snapshot-file.ts). server/ serves
 * it through the port it declares (v3rpc/maintenance.ts); embed hands it
 * streamEtcdSnapshot.
 *
 * Invariants:
 * - One cut, one applied index: everything is read from a single BackendReadView
 *   (LevelDB's snapshot), taken before anything is read. Every apply batch carries the
 *   applied index with its changes (member-storage.ts setAppliedIndex), so the view's
 *   meta/consistent_index is exactly the index whose state the file holds, and its
 *   meta/term that entry's term (what etcd 3.5 writes). Writes are never blocked.
 * - Both writer passes (plan, to learn the size the first message announces, and write)
 *   read the same view, so they see the same records; the writer raises if not.
 * - Bounded memory: the key bucket is streamed from the view 1,000 records at a time;
 *   only the small buckets (meta, members, leases, auth, alarms) are held whole, as
 *   the member already holds them in memory.
 * - The view, and the iterator of a pass that was abandoned (a client that went away),
 *   are closed by close(); the caller calls it whatever happens.
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
import { planBbolt, writeBbolt } from '../bbolt/stream.js';
import type { SnapshotChunkOut } from '../v3rpc/maintenance.js';
import { SnapshotChunker } from '../bbolt/snapshot-file.js';
import type { ByteSink } from '../bbolt/writer.js';
import { parseMembershipRecord } from '../cluster/membership.js';
import { etcdAuthLocation } from '../auth/records.js';
import { decodeLeaseRecord } from '../lease/wire.js';
import { prefixRange, type Backend, type BackendReadView } from '../storage/backend.js';
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

/** The key bucket, streamed from the view: revision key -> KeyValue, as stored. */
async function* keyBucket(view: BackendReadView): AsyncGenerator<KeyBucketEntry> {
  const it = view.iterator(prefixRange(Buffer.from([KEY_PREFIX])));
  try {
    for (;;) {
      const batch = await it.nextv(KEY_BATCH);
      if (batch.length === 0) return;
      for (const [k, v] of batch) yield { key: k.subarray(1), value: v };
    }
  } finally {
    // Runs on a finished pass and on an abandoned one (the writer's for-await returns).
    await it.close();
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
 * Takes the view, reads the small buckets and plans the file (one pass over the key
 * bucket). The caller must close() the image, whether or not it wrote it.
 */
export async function openEtcdSnapshot(backend: Backend, logger: Logger): Promise<EtcdSnapshotImage> {
  const view = backend.readView();
  try {
    const small = await smallBuckets(view);
    const records = etcdBackendRecords({ ...small, keys: () => keyBucket(view) });
    // etcd's own snapshots carry no freelist page (NoFreelistSync); bbolt rebuilds it.
    const options = { freelist: 'none' as const };
    const plan = await planBbolt(records, options);
    let written = false;
    logger.debug({ totalBytes: plan.size, consistentIndex: small.consistentIndex.toString() }, 'planned the database snapshot');
    return {
      size: plan.size,
      consistentIndex: small.consistentIndex,
      writeTo: async (sink) => {
        assert(!written, 'an EtcdSnapshotImage is written once');
        written = true;
        await writeBbolt(records, sink, { ...options, plan });
      },
      close: () => view.close(),
    };
  } catch (err) {
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
  env: { readonly logger: Logger; readonly nowMs: () => number },
): Promise<void> {
  const image = await openEtcdSnapshot(backend, env.logger);
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
