/**
 * What an outbound stream or snapshot send needs from its peer and the transport:
 * identity, injected time and randomness, limits, counters and the callbacks that
 * report link state. Built by Peer (peer.ts); kept as an interface so the stream code
 * does not depend on the transport class.
 */
import type { Clock } from '../../shared/clock.js';
import type { Rng } from '../../shared/rng.js';
import type { Scheduler } from '../../shared/scheduler.js';
import type { StreamKind } from './outbound-stream.js';
import type { PeerTlsSource } from './tls.js';
import type { PeerCounters, TransportLimits, TransportTimings } from './types.js';

/** Transport-wide counters (mutable; exposed read-only through metrics()). */
export interface TransportCounters {
  droppedUnknownPeer: number;
  refusedClusterMismatch: number;
  refusedRemoved: number;
}

export interface PeerContext {
  readonly localId: bigint;
  readonly clusterId: bigint;
  readonly peerId: bigint;
  readonly tls: PeerTlsSource | undefined;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly rng: Rng;
  readonly limits: TransportLimits;
  readonly timings: TransportTimings;
  readonly counters: PeerCounters;
  readonly metrics: TransportCounters;
  serverVersion(): string;
  /** The peer's current URLs. */
  urls(): readonly string[];
  onActive(kind: StreamKind, url: string): void;
  onInactive(kind: StreamKind, reason: string): void;
  onUnreachable(): void;
  onRemoved(): void;
  /** One PING round trip to the peer, in seconds. */
  onRoundTrip(seconds: number): void;
  /** Rate-limited logging per (peer, key): the first line always passes. */
  logError(key: string, msg: string, fields: object): void;
  logWarn(key: string, msg: string, fields: object): void;
}
