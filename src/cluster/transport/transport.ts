/**
 * PeerTransport: the peer side of a member (see index.ts for the contract). It owns
 * the peer listeners (peer-listener.ts + peer-handler.ts), one Peer per remote member
 * (peer.ts: two streams, snapshot sends, status), the counters, and routes each
 * outgoing raft message to the right stream:
 *   MsgApp -> the peer's msgapp stream; MsgSnap -> a snapshot request;
 *   everything else -> the peer's message stream.
 * After stop() no callback reaches the server any more.
 */
import { encodeMessage } from '../../raft/codec.js';
import { MessageType, type Message } from '../../raft/types.js';
import { assert } from '../../shared/assert.js';
import { idToHex } from '../../shared/ids.js';
import type { Logger } from '../../shared/logger.js';
import { LogLimiter } from './log-limiter.js';
import type { TransportCounters } from './peer-context.js';
import { PeerHandler } from './peer-handler.js';
import { PeerListeners } from './peer-listener.js';
import { Peer } from './peer.js';
import { PeerTlsSource } from './tls.js';
import {
  DEFAULT_LIMITS,
  DEFAULT_TIMINGS,
  emptyCounters,
  type PeerCounters,
  type PeerTransportOptions,
  type TransportLimits,
  type TransportMetrics,
  type TransportTimings,
} from './types.js';

const DROP_LOG_PERIOD_MS = 10_000;

type State = 'new' | 'started' | 'stopped';

export class PeerTransport {
  private state: State = 'new';
  private readonly peers = new Map<bigint, Peer>();
  private readonly counters = new Map<bigint, PeerCounters>();
  private readonly totals: TransportCounters = {
    droppedUnknownPeer: 0,
    refusedClusterMismatch: 0,
    refusedRemoved: 0,
  };
  private readonly tls: PeerTlsSource | undefined;
  private readonly limits: TransportLimits;
  private readonly timings: TransportTimings;
  private readonly logger: Logger;
  private readonly listeners: PeerListeners;
  private readonly dropLog = new LogLimiter(DROP_LOG_PERIOD_MS);

  constructor(private readonly opts: PeerTransportOptions) {
    assert(opts.memberId !== 0n, 'peer transport: member id 0');
    this.limits = { ...DEFAULT_LIMITS, ...opts.queueLimits };
    this.timings = { ...DEFAULT_TIMINGS, ...opts.timings };
    this.tls = opts.tls === undefined ? undefined : new PeerTlsSource(opts.tls);
    this.logger = opts.logger.child({
      component: 'rafthttp',
      localMemberId: idToHex(opts.memberId),
    });
    const handler = new PeerHandler({
      opts,
      limits: this.limits,
      metrics: this.totals,
      logger: this.logger,
      countersFor: (id) => this.countersFor(id),
      live: () => this.state === 'started',
    });
    this.listeners = new PeerListeners({
      tls: this.tls,
      clock: opts.clock,
      scheduler: opts.scheduler,
      timings: this.timings,
      logger: this.logger,
      onStream: (stream, headers) => handler.handle(stream, headers),
      onRejected: (stream, reason) => handler.rejected(stream, reason),
    });
  }

  /** Listen on every listen URL, then start dialing the peers added so far. */
  async start(): Promise<void> {
    assert(this.state === 'new', `peer transport: start() in state ${this.state}`);
    try {
      for (const url of this.opts.listenUrls) await this.listeners.listen(url);
    } catch (err) {
      await this.listeners.close();
      throw err;
    }
    this.state = 'started';
    for (const p of this.peers.values()) p.start();
    this.logger.info({ listenUrls: this.listeners.urls }, 'started peer transport');
  }

  /** The bound listen URLs (a port 0 resolved to the real port). */
  get listenUrls(): readonly string[] {
    return this.listeners.urls;
  }

  addPeer(id: bigint, urls: readonly string[]): void {
    assert(
      id !== this.opts.memberId && id !== 0n,
      `peer transport: cannot add peer ${idToHex(id)}`,
    );
    if (this.state === 'stopped') return;
    if (this.peers.has(id)) {
      this.updatePeer(id, urls);
      return;
    }
    const peer = new Peer({
      id,
      urls,
      opts: this.opts,
      tls: this.tls,
      limits: this.limits,
      timings: this.timings,
      metrics: this.totals,
      counters: this.countersFor(id),
      logger: this.logger,
      live: () => this.state === 'started',
    });
    this.peers.set(id, peer);
    this.logger.info({ remotePeerId: idToHex(id), urls }, 'added remote peer');
    if (this.state === 'started') peer.start();
  }

  updatePeer(id: bigint, urls: readonly string[]): void {
    const peer = this.peers.get(id);
    if (peer === undefined) {
      this.addPeer(id, urls);
      return;
    }
    peer.setUrls(urls);
    this.logger.info({ remotePeerId: idToHex(id), urls }, 'updated remote peer');
  }

  removePeer(id: bigint): void {
    const peer = this.peers.get(id);
    if (peer === undefined) return;
    peer.stop();
    this.peers.delete(id);
    this.logger.info({ remotePeerId: idToHex(id) }, 'removed remote peer');
  }

  /** Queue messages for their peers; never blocks, never throws for a dead peer. */
  send(msgs: readonly Message[]): void {
    let unreachable: Set<bigint> | undefined;
    for (const m of msgs) {
      const peer = this.peers.get(m.to);
      if (peer === undefined || this.state !== 'started') {
        this.totals.droppedUnknownPeer++;
        this.logger.debug(
          { to: idToHex(m.to), type: m.type },
          'ignored message for an unknown peer',
        );
        continue;
      }
      if (m.type === MessageType.Snap) {
        void this.sendSnapshot(m, noData);
        continue;
      }
      const encoded = encodeMessage(m);
      const frame = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
      if (frame.length > this.limits.maxFrameBytes) {
        // The peer would refuse it and the stream would reset for ever: refuse it here.
        peer.counters.droppedOverflow++;
        (unreachable ??= new Set()).add(m.to);
        this.logger.error(
          { remotePeerId: idToHex(m.to), type: m.type, bytes: frame.length },
          'dropped a Raft message above maxFrameBytes',
        );
        continue;
      }
      const result = peer.enqueue(m.type === MessageType.App ? 'msgapp' : 'message', frame);
      if (result === 'queued') continue;
      if (m.type === MessageType.Heartbeat) peer.counters.heartbeatSendFailures++;
      (unreachable ??= new Set()).add(m.to);
      if (result === 'overflow' && this.dropLog.allow(idToHex(m.to), this.opts.clock.nowMs())) {
        this.logger.warn(
          { remotePeerId: idToHex(m.to), dropped: peer.counters.droppedOverflow },
          'dropped internal Raft message since sending buffer is full (overloaded network)',
        );
      }
    }
    // Reported on the next turn, not from inside send(): the caller is in the middle of
    // handling a Ready, and reportUnreachable steps raft.
    if (unreachable !== undefined) {
      const ids = [...unreachable];
      this.opts.scheduler.soon(() => {
        if (this.state === 'started') for (const id of ids) this.opts.onUnreachable(id);
      });
    }
  }

  /**
   * Send a MsgSnap with the state db stream `data()` (called once, when the request
   * opens). msg.snapshot.data, if any, travels inline in the header: keep it small.
   * Reports onSnapshotStatus(to, ok) and resolves to the same ok.
   */
  async sendSnapshot(msg: Message, data: () => AsyncIterable<Uint8Array>): Promise<boolean> {
    assert(
      msg.type === MessageType.Snap && msg.snapshot !== undefined,
      'sendSnapshot: not a MsgSnap',
    );
    const peer = this.peers.get(msg.to);
    let ok = false;
    const header = encodeMessage(msg);
    if (peer === undefined || this.state !== 'started') {
      this.logger.warn({ to: idToHex(msg.to) }, 'snapshot for an unknown peer not sent');
    } else if (header.length > this.limits.maxFrameBytes) {
      this.logger.error(
        { bytes: header.length },
        'snapshot message header above maxFrameBytes; not sent',
      );
    } else {
      const lazy: AsyncIterable<Uint8Array> = {
        [Symbol.asyncIterator]: () => data()[Symbol.asyncIterator](),
      };
      ok = await peer.sendSnapshot(header, lazy);
    }
    if (this.state === 'started') this.opts.onSnapshotStatus(msg.to, ok);
    return ok;
  }

  /** Monotonic ms (opts.clock) since the peer's message stream connected; undefined if down. */
  activeSince(id: bigint): number | undefined {
    return this.peers.get(id)?.activeSince();
  }

  metrics(): TransportMetrics {
    const peers = new Map<bigint, Readonly<PeerCounters>>();
    for (const [id, c] of this.counters) peers.set(id, { ...c });
    return { peers, ...this.totals };
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    for (const p of this.peers.values()) p.stop();
    this.peers.clear();
    await this.listeners.close();
    this.logger.info({}, 'stopped peer transport');
  }

  private countersFor(id: bigint): PeerCounters {
    let c = this.counters.get(id);
    if (c === undefined) {
      c = emptyCounters();
      this.counters.set(id, c);
    }
    return c;
  }
}

async function* emptyData(): AsyncGenerator<Uint8Array> {}
const noData = (): AsyncIterable<Uint8Array> => emptyData();
