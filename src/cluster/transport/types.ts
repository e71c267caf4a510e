/**
 * The transport's options, callbacks, limits and metrics (see index.ts for the
 * contract). Ids are bigint member ids; 0n is never a peer.
 */
import type { Message } from '../../raft/types.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Rng } from '../../shared/rng.js';
import type { Scheduler } from '../../shared/scheduler.js';
import type { PeerTlsOptions } from './tls.js';

/** One member as GET /members lists it (etcd's membership JSON, id in hex). */
export interface MemberJson {
  readonly id: string;
  readonly name: string;
  readonly peerURLs: readonly string[];
  readonly clientURLs: readonly string[];
  readonly isLearner: boolean;
}

/** GET /version, as etcd answers it. */
export interface VersionJson {
  readonly etcdserver: string;
  readonly etcdcluster: string;
}

/** Named limits (docs/architecture.md §6: everything that grows with input has one). */
export interface TransportLimits {
  /** Messages waiting on a peer's message stream (etcd streamBufSize: 4096). */
  readonly messageQueueMax: number;
  readonly messageQueueBytesMax: number;
  /** MsgApps waiting on a peer's append stream. */
  readonly appQueueMax: number;
  readonly appQueueBytesMax: number;
  /** Largest frame (encoded raft message) accepted from a peer. */
  readonly maxFrameBytes: number;
  /** Snapshot data is sent in chunks of at most this many bytes. */
  readonly snapshotChunkBytes: number;
  /** Snapshots in flight to one peer (raft sends one at a time). */
  readonly snapshotsInFlightMax: number;
}

export interface TransportTimings {
  /** Reconnect backoff: first delay about minMs, doubling up to maxMs, with jitter. */
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  /** A dial (TCP + TLS + HTTP/2 + response headers) must finish within this. */
  readonly dialTimeoutMs: number;
  /** HTTP/2 PING on every peer connection; no answer within the timeout = dead. */
  readonly keepaliveIntervalMs: number;
  readonly keepaliveTimeoutMs: number;
  /** A snapshot transfer making no progress for this long fails. */
  readonly snapshotIdleTimeoutMs: number;
}

export const DEFAULT_LIMITS: TransportLimits = {
  messageQueueMax: 4096,
  messageQueueBytesMax: 16 * 1024 * 1024,
  appQueueMax: 4096,
  appQueueBytesMax: 64 * 1024 * 1024,
  maxFrameBytes: 64 * 1024 * 1024,
  snapshotChunkBytes: 1024 * 1024,
  snapshotsInFlightMax: 1,
};

export const DEFAULT_TIMINGS: TransportTimings = {
  backoffMinMs: 50,
  backoffMaxMs: 1000,
  dialTimeoutMs: 3000,
  keepaliveIntervalMs: 1000,
  keepaliveTimeoutMs: 5000,
  snapshotIdleTimeoutMs: 30_000,
};

export interface PeerTransportOptions {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  /** listen-peer-urls: http:// (h2c) or https:// (TLS, ALPN h2). Port 0 picks one. */
  readonly listenUrls: readonly string[];
  /** peer-transport-security; required for https listen or peer URLs. */
  readonly tls?: PeerTlsOptions;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly rng: Rng;
  /** A raft message from a peer (not MsgSnap: that arrives after onSnapshot). */
  onMessage(m: Message): void;
  /**
   * A snapshot from a peer: stage `chunks` (the state db stream, verified chunk by
   * chunk). It must read the iterable to its end: the end is where the whole-stream
   * checksum is verified, and an iteration that throws means the data is damaged.
   * When it resolves, the transport steps `m` through onMessage. Its rejection
   * refuses the snapshot (the sender reports failure).
   */
  onSnapshot(m: Message, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /** A peer could not be reached (a send failed, a queue overflowed, a link dropped). */
  onUnreachable(id: bigint): void;
  /** The outcome of a snapshot this member sent (node.reportSnapshot). */
  onSnapshotStatus(id: bigint, ok: boolean): void;
  /** A peer answered 410: this member was removed from the cluster. */
  onRemoved?(byPeer: bigint): void;
  /** GET /members. */
  members(): readonly MemberJson[];
  /** GET /version. */
  version(): VersionJson;
  /** Whether a member id was removed from the cluster (its requests get 410). */
  isRemoved(id: bigint): boolean;
  readonly queueLimits?: Partial<TransportLimits>;
  readonly timings?: Partial<TransportTimings>;
  /**
   * One HTTP/2 PING round trip on the stream to a peer, in seconds (etcd's prober
   * feeds etcd_network_peer_round_trip_time_seconds the same way).
   */
  onRoundTrip?(id: bigint, seconds: number): void;
  /**
   * A snapshot sent to or received from a peer and installed there or here, with its
   * whole duration in seconds (etcd_network_snapshot_send/receive_total_duration_seconds,
   * which etcd observes for successes only).
   */
  onSnapshotTimed?(direction: 'send' | 'receive', id: bigint, seconds: number): void;
}

/** Counters per peer, for /metrics (etcd_network_peer_* and friends). */
export interface PeerCounters {
  sentBytes: number;
  sentMessages: number;
  receivedBytes: number;
  receivedMessages: number;
  /** Connections or requests to the peer that failed. */
  sendFailures: number;
  /** Messages dropped because a queue was full. */
  droppedOverflow: number;
  /** Messages dropped because the peer was unreachable (link down, backing off). */
  droppedUnreachable: number;
  snapshotsSent: number;
  snapshotsSendFailed: number;
  snapshotsReceived: number;
  snapshotsReceiveFailed: number;
  /** Snapshots being sent to / received from the peer now (etcd's *_inflights_total gauges). */
  snapshotsSending: number;
  snapshotsReceiving: number;
  /**
   * What the peer sent that this member could not take: a frame or message that does not
   * decode or is misaddressed, a damaged snapshot (etcd_network_peer_received_failures_total).
   */
  receiveFailures: number;
  /** Times the message stream to the peer went down (etcd_network_disconnected_peers_total). */
  disconnects: number;
  /** Leader heartbeats that could not be queued (etcd_server_heartbeat_send_failures_total). */
  heartbeatSendFailures: number;
}

export function emptyCounters(): PeerCounters {
  return {
    sentBytes: 0,
    sentMessages: 0,
    receivedBytes: 0,
    receivedMessages: 0,
    sendFailures: 0,
    droppedOverflow: 0,
    droppedUnreachable: 0,
    snapshotsSent: 0,
    snapshotsSendFailed: 0,
    snapshotsReceived: 0,
    snapshotsReceiveFailed: 0,
    snapshotsSending: 0,
    snapshotsReceiving: 0,
    receiveFailures: 0,
    disconnects: 0,
    heartbeatSendFailures: 0,
  };
}

export interface TransportMetrics {
  /** Per peer id (hex), including ids that sent to us but are not configured peers. */
  readonly peers: ReadonlyMap<bigint, Readonly<PeerCounters>>;
  /** Messages for ids that are not peers (dropped), and requests refused. */
  readonly droppedUnknownPeer: number;
  readonly refusedClusterMismatch: number;
  readonly refusedRemoved: number;
}
