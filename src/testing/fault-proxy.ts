/**
 * The Jepsen fault proxy: a TCP relay that one member's inbound peer connections pass
 * through (test/jepsen/cluster/netns.ts redirects them with iptables), so the nemesis can
 * make a directed link slow, lossy, narrow or stalled instead of only cut
 * (test/jepsen/README.md "The fault proxy"). No production module imports it.
 *
 * A connection from peer P to this member carries two directed links: the bytes P sends
 * are link P>self, the bytes this member answers are link self>P. Each link's fault is
 * looked up per chunk in a table keyed "fromIp>toIp" that `configure` replaces whole; a
 * link without an entry relays at once.
 *
 * What each knob does, and why at chunk granularity: the peer wire is HTTP/2 (flow
 * control windows, HPACK state), so no byte or frame can be dropped or moved inside a
 * connection without corrupting it. Faults therefore act on whole TCP reads, in order:
 * - delayMs + jitterMs: each chunk is held that long; release times never go backwards,
 *   so one connection's bytes stay in order (TCP's promise) while the message and msgapp
 *   connections, delayed independently, reorder raft messages between them.
 * - lossRate: a chunk is "lost" and retransmitted: held one more retransmission timeout
 *   (200 ms doubling per consecutive loss, Linux's minimum RTO), which is what packet loss
 *   does to a TCP stream; resetRate: the connection is reset, losing every message in
 *   flight, which is how raft messages are really lost on TCP.
 * - bytesPerSec: a token bucket on the link; the sender is paused while over 1 MiB waits.
 * - stallRate + stallMs: a chunk is split at a random byte; the head goes on, the rest is
 *   held stallMs (a stream stalled mid-message).
 *
 * Invariant: bytes of one direction are written in the order read, or the connection is
 * destroyed whole (both sockets).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Rng } from '../shared/rng.js';

export interface LinkFault {
  readonly delayMs?: number;
  readonly jitterMs?: number;
  readonly lossRate?: number;
  readonly resetRate?: number;
  readonly bytesPerSec?: number;
  readonly stallRate?: number;
  readonly stallMs?: number;
}

export interface LinkStats {
  chunks: number;
  bytes: number;
  delayed: number;
  lost: number;
  resets: number;
  stalls: number;
}

/** "fromIp>toIp" → fault. */
export type LinkTable = Readonly<Record<string, LinkFault>>;

export interface FaultProxyOptions {
  /** This member's peer address (the proxy's upstream), and the key's "self" side. */
  readonly selfIp: string;
  readonly targetHost: string;
  readonly targetPort: number;
  readonly rng: Rng;
}

const MAX_HELD_BYTES = 1024 * 1024;
const MIN_RTO_MS = 200;
const MAX_RTO_MS = 3200;

export function linkKey(fromIp: string, toIp: string): string {
  return `${fromIp}>${toIp}`;
}

export function emptyStats(): LinkStats {
  return { chunks: 0, bytes: 0, delayed: 0, lost: 0, resets: 0, stalls: 0 };
}

/** One direction of one relayed connection. */
class Pipe {
  private readonly held: { buf: Buffer; at: number }[] = [];
  private heldBytes = 0;
  private lastAt = 0;
  private bucketFreeAt = 0;
  private rto = MIN_RTO_MS;
  private timer: NodeJS.Timeout | undefined;
  private paused = false;

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly key: string,
    private readonly proxy: FaultProxy,
    private readonly reset: () => void,
  ) {
    src.on('data', (chunk: Buffer) => this.push(chunk));
    dst.on('drain', () => this.resumeIfRoom());
  }

  private push(chunk: Buffer): void {
    const f = this.proxy.faultOf(this.key);
    const s = this.proxy.statsOf(this.key);
    s.chunks++;
    s.bytes += chunk.length;
    const rng = this.proxy.rng;
    const now = performance.now();
    if (f === undefined) {
      this.enqueue(chunk, Math.max(now, this.lastAt));
      return;
    }
    if ((f.resetRate ?? 0) > 0 && rng.float() < (f.resetRate ?? 0)) {
      s.resets++;
      this.reset();
      return;
    }
    let at = now + (f.delayMs ?? 0) + (f.jitterMs ?? 0) * rng.float();
    if (at > now) s.delayed++;
    if ((f.lossRate ?? 0) > 0 && rng.float() < (f.lossRate ?? 0)) {
      s.lost++;
      at += this.rto;
      this.rto = Math.min(MAX_RTO_MS, 2 * this.rto);
    } else {
      this.rto = MIN_RTO_MS;
    }
    const bps = f.bytesPerSec ?? 0;
    if (bps > 0) {
      // The chunk arrives once its last byte went through the narrow link.
      at = Math.max(at, this.bucketFreeAt) + (1000 * chunk.length) / bps;
      this.bucketFreeAt = at;
    }
    at = Math.max(at, this.lastAt);
    if ((f.stallRate ?? 0) > 0 && chunk.length > 1 && rng.float() < (f.stallRate ?? 0)) {
      s.stalls++;
      const cut = 1 + rng.int(chunk.length - 1);
      this.enqueue(chunk.subarray(0, cut), at);
      this.enqueue(chunk.subarray(cut), at + (f.stallMs ?? 0));
      return;
    }
    this.enqueue(chunk, at);
  }

  private enqueue(buf: Buffer, at: number): void {
    this.lastAt = at;
    if (this.held.length === 0 && at <= performance.now()) {
      this.write(buf);
      return;
    }
    this.held.push({ buf, at });
    this.heldBytes += buf.length;
    if (this.heldBytes > MAX_HELD_BYTES && !this.paused) {
      this.paused = true;
      this.src.pause();
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer !== undefined) return;
    const head = this.held[0];
    if (head === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, Math.max(0, head.at - performance.now()));
  }

  private flush(): void {
    const now = performance.now();
    while (this.held.length > 0 && (this.held[0]?.at ?? Infinity) <= now + 1) {
      const h = this.held.shift();
      if (h === undefined) break;
      this.heldBytes -= h.buf.length;
      this.write(h.buf);
    }
    this.resumeIfRoom();
    this.arm();
  }

  private write(buf: Buffer): void {
    if (this.dst.destroyed) return;
    if (!this.dst.write(buf) && !this.paused) {
      this.paused = true;
      this.src.pause();
    }
  }

  private resumeIfRoom(): void {
    if (this.paused && this.heldBytes <= MAX_HELD_BYTES && !this.dst.writableNeedDrain) {
      this.paused = false;
      this.src.resume();
    }
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.held.length = 0;
    this.heldBytes = 0;
  }
}

export class FaultProxy {
  private table: LinkTable = {};
  private readonly stats = new Map<string, LinkStats>();
  private readonly server: Server;
  private readonly open = new Set<Socket>();
  readonly rng: Rng;

  constructor(private readonly opts: FaultProxyOptions) {
    this.rng = opts.rng;
    this.server = createServer((client) => this.relay(client));
  }

  listen(port: number, host = '0.0.0.0'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        const a = this.server.address();
        resolve(typeof a === 'object' && a !== null ? a.port : port);
      });
    });
  }

  configure(table: LinkTable): void {
    this.table = table;
  }

  faultOf(key: string): LinkFault | undefined {
    return this.table[key];
  }

  statsOf(key: string): LinkStats {
    let s = this.stats.get(key);
    if (s === undefined) this.stats.set(key, (s = emptyStats()));
    return s;
  }

  allStats(): Record<string, LinkStats> {
    return Object.fromEntries(this.stats);
  }

  close(): Promise<void> {
    for (const s of this.open) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket): void {
    const peerIp = (client.remoteAddress ?? '?').replace(/^::ffff:/, '');
    const upstream = connect({ host: this.opts.targetHost, port: this.opts.targetPort });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.open.add(client);
    this.open.add(upstream);
    let pipes: Pipe[] = [];
    const teardown = (): void => {
      for (const p of pipes) p.close();
      pipes = [];
      client.resetAndDestroy();
      upstream.resetAndDestroy();
      this.open.delete(client);
      this.open.delete(upstream);
    };
    pipes = [
      new Pipe(client, upstream, linkKey(peerIp, this.opts.selfIp), this, teardown),
      new Pipe(upstream, client, linkKey(this.opts.selfIp, peerIp), this, teardown),
    ];
    for (const s of [client, upstream]) {
      s.on('error', teardown);
      s.on('close', teardown);
    }
  }
}
