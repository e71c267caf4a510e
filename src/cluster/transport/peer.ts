/**
 * Everything this member holds for one remote member: its URLs, the two outbound
 * streams (message and msgapp), snapshot sends in flight, link status and counters.
 *
 * Status follows etcd's peerStatus: the peer is active from the moment its message
 * stream connected (activeSince) until that stream fails; the server uses it for
 * promote and health checks. Becoming active is logged at info, becoming inactive at
 * warn (etcd: "peer became active" / "peer became inactive").
 */
import { idToHex } from '../../shared/ids.js';
import type { Logger } from '../../shared/logger.js';
import { LogLimiter } from './log-limiter.js';
import { OutboundStream, type EnqueueResult, type StreamKind } from './outbound-stream.js';
import type { PeerContext, TransportCounters } from './peer-context.js';
import { sendSnapshotBody } from './snapshot-sender.js';
import type { PeerTlsSource } from './tls.js';
import {
  emptyCounters,
  type PeerCounters,
  type PeerTransportOptions,
  type TransportLimits,
  type TransportTimings,
} from './types.js';

/** Repeated lines about one peer's trouble: at most one per key per this period. */
const PEER_LOG_PERIOD_MS = 10_000;

export interface PeerSetup {
  readonly id: bigint;
  readonly urls: readonly string[];
  readonly opts: PeerTransportOptions;
  readonly tls: PeerTlsSource | undefined;
  readonly limits: TransportLimits;
  readonly timings: TransportTimings;
  readonly metrics: TransportCounters;
  readonly counters: PeerCounters | undefined;
  readonly logger: Logger;
  /** Whether callbacks to the server may still run (false once the transport stopped). */
  live(): boolean;
}

export class Peer {
  readonly id: bigint;
  readonly counters: PeerCounters;
  private urlList: string[];
  private readonly message: OutboundStream;
  private readonly app: OutboundStream;
  private activeSinceMs: number | undefined;
  private readonly logger: Logger;
  private readonly limiter = new LogLimiter(PEER_LOG_PERIOD_MS);
  private readonly ctx: PeerContext;
  private snapshotsInFlight = 0;
  private readonly aborter = new AbortController();

  constructor(private readonly setup: PeerSetup) {
    this.id = setup.id;
    this.urlList = [...setup.urls];
    this.counters = setup.counters ?? emptyCounters();
    this.logger = setup.logger.child({ remotePeerId: idToHex(setup.id) });
    this.ctx = this.makeContext();
    this.message = new OutboundStream('message', this.ctx);
    this.app = new OutboundStream('msgapp', this.ctx);
  }

  get urls(): readonly string[] {
    return this.urlList;
  }

  start(): void {
    this.message.start();
    this.app.start();
  }

  stop(): void {
    this.aborter.abort();
    this.message.stop();
    this.app.stop();
    this.activeSinceMs = undefined;
  }

  setUrls(urls: readonly string[]): void {
    this.urlList = [...urls];
    this.message.urlsChanged();
    this.app.urlsChanged();
  }

  /** Queue one encoded message on the stream for its kind. */
  enqueue(kind: StreamKind, frame: Buffer): EnqueueResult {
    return (kind === 'msgapp' ? this.app : this.message).enqueue(frame);
  }

  activeSince(): number | undefined {
    return this.activeSinceMs;
  }

  /** Stream a snapshot; resolves true when the peer installed it. */
  async sendSnapshot(header: Uint8Array, data: AsyncIterable<Uint8Array>): Promise<boolean> {
    if (this.snapshotsInFlight >= this.setup.limits.snapshotsInFlightMax) {
      this.logger.warn(
        { inFlight: this.snapshotsInFlight },
        'snapshot refused locally: one is already in flight',
      );
      this.counters.snapshotsSendFailed++;
      return false;
    }
    this.snapshotsInFlight++;
    this.counters.snapshotsSending++;
    const startMs = this.setup.opts.clock.nowMs();
    try {
      await sendSnapshotBody(this.ctx, header, data, this.aborter.signal);
      this.counters.snapshotsSent++;
      const elapsedMs = this.setup.opts.clock.nowMs() - startMs;
      this.setup.opts.onSnapshotTimed?.('send', this.setup.id, elapsedMs / 1000);
      this.logger.info({ tookMs: Math.round(elapsedMs) }, 'sent database snapshot to peer');
      return true;
    } catch (err) {
      this.counters.snapshotsSendFailed++;
      this.counters.sendFailures++;
      if (!this.aborter.signal.aborted) {
        this.logger.warn(
          { err: (err as Error).message },
          'failed to send database snapshot to peer',
        );
      }
      return false;
    } finally {
      this.snapshotsInFlight--;
      this.counters.snapshotsSending--;
    }
  }

  private makeContext(): PeerContext {
    const s = this.setup;
    const o = s.opts;
    return {
      localId: o.memberId,
      clusterId: o.clusterId,
      peerId: s.id,
      tls: s.tls,
      clock: o.clock,
      scheduler: o.scheduler,
      rng: o.rng,
      limits: s.limits,
      timings: s.timings,
      counters: this.counters,
      metrics: s.metrics,
      serverVersion: () => o.version().etcdserver,
      urls: () => this.urlList,
      onActive: (kind, url) => this.becameActive(kind, url),
      onInactive: (kind, reason) => this.becameInactive(kind, reason),
      onUnreachable: () => {
        if (s.live()) o.onUnreachable(s.id);
      },
      onRemoved: () => {
        if (s.live()) o.onRemoved?.(s.id);
      },
      onRoundTrip: (seconds) => o.onRoundTrip?.(s.id, seconds),
      logError: (key, msg, fields) => {
        if (this.limiter.allow(key, o.clock.nowMs())) this.logger.error(fields, msg);
      },
      logWarn: (key, msg, fields) => {
        if (this.limiter.allow(key, o.clock.nowMs())) this.logger.warn(fields, msg);
        else this.logger.debug(fields, msg);
      },
    };
  }

  private becameActive(kind: StreamKind, url: string): void {
    this.limiter.reset(`${kind}:dial`);
    if (kind !== 'message') {
      this.logger.debug({ url, streamType: kind }, 'peer stream established');
      return;
    }
    this.activeSinceMs = this.setup.opts.clock.nowMs();
    this.logger.info({ url }, 'peer became active');
  }

  private becameInactive(kind: StreamKind, reason: string): void {
    if (kind !== 'message') {
      this.logger.warn({ reason, streamType: kind }, 'lost peer stream');
      return;
    }
    if (this.activeSinceMs !== undefined) this.counters.disconnects++;
    this.activeSinceMs = undefined;
    this.logger.warn({ reason }, 'peer became inactive (message send to peer failed)');
  }
}
