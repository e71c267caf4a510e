/**
 * The Maintenance service (etcd api/v3rpc/maintenance.go), the parts a member serves
 * locally (Status, Hash, HashKV, Defragment, Snapshot) and Alarm through the log.
 *
 * Snapshot streams the state db as etcd's snapshot file (snapshot/save.ts: 32 KiB
 * blobs counting remaining_bytes down, then the SHA-256 digest with remaining_bytes 0),
 * with no header and no version, as etcd 3.4 and 3.5 send it. Each blob waits for the
 * HTTP/2 stream to drain; a client that goes away ends the stream at the next blob.
 *
 * With auth on (etcd 3.5.29+ rows of the auth matrix): Hash, HashKV, Defragment and Snapshot need
 * root and answer a refusal raw (code Unknown, `auth: ...`); MoveLeader and Alarm
 * ACTIVATE/DEACTIVATE need root; Alarm GET needs an identity; Status needs nothing.
 *
 * Status reports a 3.5.x semver version (kube-apiserver enables watch progress
 * requests only for >= 3.5.13) and dbSize > 0 (etcdctl 3.6 divides by it).
 */
import Long from 'long';
import type * as pb from '../generated/pb.js';
import { toBigInt, toNumber } from '../shared/pb-codec.js';
import type { MvccStore } from '../mvcc/index.js';
import type { HeaderFiller } from './header.js';
import type { AnyHandler } from './services.js';
import { crc32c } from '../shared/crc32c.js';
import { SERVER_VERSION } from '../shared/version.js';
import { Status } from '../shared/grpc-status.js';
import { GrpcError } from '../grpc/status.js';
import type { CallContext, StreamWriter } from '../grpc/server.js';

/** The consensus facts Status reports; the server's raft node produces them. */
export interface ConsensusStatus {
  readonly id: bigint;
  readonly lead: bigint;
  readonly term: number;
  readonly commit: number;
  readonly isLeader: boolean;
  readonly isLearner: boolean;
}
import { AuthError, OPEN_GATE, internalAuthMessage, type AuthGate } from '../auth/index.js';
import type { Observe } from '../shared/observe.js';

export interface MaintenanceBackend {
  readonly store: MvccStore;
  raftStatus(): ConsensusStatus;
  appliedIndex(): number;
  /** Bytes the state db takes on disk. */
  dbSizeBytes(): Promise<number>;
  /** The part of it in use (docs/architecture.md §3). */
  dbSizeInUseBytes(): Promise<number>;
  /** Raised alarms as etcd's Status.errors lists them ("memberID:<id> alarm:NOSPACE "). */
  alarmErrors(): readonly string[];
  /** Maintenance.Alarm through the log; the answer without its header. */
  alarm(req: pb.AlarmRequest, signal?: AbortSignal): Promise<pb.AlarmResponse>;
  /** Hands leadership to `target` (this member must be the leader). */
  moveLeader(target: bigint): Promise<void>;
  /** Compacts the state db's files; Defragment stays UNIMPLEMENTED without it. */
  defragment?: () => Promise<void>;
  /** All state-db records in key order, for the whole-backend Hash. */
  forEachRecord(fn: (key: Buffer, value: Buffer) => void): Promise<void>;
  /** Hash and HashKV durations (etcd_mvcc_hash_duration_seconds, _hash_rev_). */
  readonly observe?: Observe;
  nowMs?(): number;
  /**
   * Streams the state db as etcd's snapshot file (snapshot/save.ts): `send` gets each
   * message in order and is awaited (back-pressure); a throw from it ends the stream.
   * `signal` aborts when the client goes away, before the first message too.
   */
  streamSnapshot(send: (chunk: SnapshotChunkOut) => Promise<void>, signal?: AbortSignal): Promise<void>;
}

/** One Snapshot message: image bytes still to come after this blob, and the blob. */
export interface SnapshotChunkOut {
  readonly remainingBytes: number;
  readonly blob: Uint8Array;
}

/** What a client that went away gets (grpc-go's text for a canceled context). */
function canceled(): GrpcError {
  return new GrpcError(Status.CANCELLED, 'context canceled');
}

/**
 * The admin check of Defragment, Snapshot, Hash and HashKV: etcd returns the auth error
 * raw there (maintenance.go), so the client sees code Unknown with the internal text.
 */
async function adminRaw(gate: AuthGate, ctx: CallContext): Promise<void> {
  try {
    await gate.admin(ctx);
  } catch (err) {
    if (err instanceof AuthError) throw new GrpcError(Status.UNKNOWN, internalAuthMessage(err.code));
    throw err;
  }
}

export function maintenanceHandlers(s: MaintenanceBackend, h: HeaderFiller, gate: AuthGate = OPEN_GATE): Map<string, AnyHandler> {
  const status = async (): Promise<pb.StatusResponse> => {
    const st = s.raftStatus();
    const dbSize = await s.dbSizeBytes();
    const dbSizeInUse = await s.dbSizeInUseBytes();
    const res: pb.StatusResponse = {
      header: h.header(),
      version: SERVER_VERSION,
      dbSize,
      leader: Long.fromBigInt(st.lead, true),
      raftIndex: st.commit,
      raftTerm: st.term,
      raftAppliedIndex: s.appliedIndex(),
      dbSizeInUse,
      isLearner: st.isLearner,
    };
    // etcd maintenance.go Status: "no leader" first, then one entry per alarm.
    const errors: string[] = [];
    if (st.lead === 0n) errors.push('etcdserver: no leader');
    errors.push(...s.alarmErrors());
    if (errors.length > 0) res.errors = errors;
    return res;
  };

  const timed = async <T>(what: 'mvcc.hash' | 'mvcc.hashRev', fn: () => Promise<T>): Promise<T> => {
    const started = s.nowMs?.();
    const r = await fn();
    if (started !== undefined && s.nowMs !== undefined) s.observe?.(what, (s.nowMs() - started) / 1000);
    return r;
  };

  const hashKV = async (req: pb.HashKVRequest, ctx: CallContext): Promise<pb.HashKVResponse> => {
    await adminRaw(gate, ctx);
    const r = await timed('mvcc.hashRev', () => s.store.hashKV(toNumber(req.revision)));
    return {
      header: h.header(r.revision),
      hash: r.hash,
      compactRevision: r.compactRevision,
      hashRevision: r.hashRevision,
    };
  };

  // Hash is over the whole backend and only meaningful between tsetcd members (etcd
  // hashes its bbolt file); it exists for etcd's functional tests and `endpoint hash`.
  const hash = async (_req: pb.HashRequest, ctx: CallContext): Promise<pb.HashResponse> => {
    await adminRaw(gate, ctx);
    let crc = 0;
    await timed('mvcc.hash', () =>
      s.forEachRecord((k, v) => {
        crc = crc32c(v, crc32c(k, crc));
      }),
    );
    return { header: h.header(), hash: crc };
  };

  const alarm = async (req: pb.AlarmRequest, ctx: CallContext): Promise<pb.AlarmResponse> => {
    // etcd 3.5.29+: listing needs an identity, raising or disarming needs root.
    if ((req.action ?? 0) === 0) await gate.identified(ctx);
    else await gate.admin(ctx);
    const res = await s.alarm(req, ctx.signal);
    return { header: h.header(), alarms: res.alarms ?? [] };
  };

  const moveLeader = async (req: pb.MoveLeaderRequest, ctx: CallContext): Promise<pb.MoveLeaderResponse> => {
    await gate.admin(ctx);
    await s.moveLeader(toBigInt(req.targetID, true));
    return { header: h.header() };
  };

  // Called as a method: the member API is a class, so the function alone loses `this`.
  const canDefrag = s.defragment !== undefined;
  const defragment = async (_req: pb.DefragmentRequest, ctx: CallContext): Promise<pb.DefragmentResponse> => {
    await adminRaw(gate, ctx);
    await s.defragment?.();
    return { header: h.header() };
  };

  const snapshot = async (_req: pb.SnapshotRequest, ctx: CallContext, out: StreamWriter<pb.SnapshotResponse>): Promise<void> => {
    await adminRaw(gate, ctx);
    await s.streamSnapshot(async (chunk) => {
      if (ctx.signal.aborted || out.closed) throw canceled();
      if (!out.write({ remainingBytes: chunk.remainingBytes, blob: chunk.blob })) await out.drained();
      if (ctx.signal.aborted) throw canceled();
    }, ctx.signal);
  };

  return new Map<string, AnyHandler>([
    ['/etcdserverpb.Maintenance/Status', { kind: 'unary', fn: status }],
    ['/etcdserverpb.Maintenance/Snapshot', { kind: 'server', fn: snapshot }],
    ['/etcdserverpb.Maintenance/HashKV', { kind: 'unary', fn: hashKV }],
    ['/etcdserverpb.Maintenance/Hash', { kind: 'unary', fn: hash }],
    ['/etcdserverpb.Maintenance/Alarm', { kind: 'unary', fn: alarm }],
    ['/etcdserverpb.Maintenance/MoveLeader', { kind: 'unary', fn: moveLeader }],
    ...(canDefrag
      ? [['/etcdserverpb.Maintenance/Defragment', { kind: 'unary', fn: defragment }] as const]
      : []),
  ]);
}
