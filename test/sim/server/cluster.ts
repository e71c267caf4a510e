/**
 * A cluster of real member cores (src/server/member-core.ts: WAL, FileLogBackend state
 * db, Raft node, applier, leases, watch hub, EtcdServer) in one process, each on its
 * own SimFileLayer, joined by a simulated network that delays, drops and partitions
 * (messages cross it encoded with the raft codec, as on the wire). A crash drops the
 * member's incarnation (its timers and in-flight work die with it) and power-cuts its
 * file layer; a restart opens the data dir again through the same code as a real start.
 */
import { nullLogger } from '../../../src/shared/logger.js';
import { SeededRng, type Rng } from '../../../src/shared/rng.js';
import { SimFileLayer, type CrashMode } from '../../../src/testing/sim-file-layer.js';
import { FileLogBackend } from '../../../src/testing/file-log-backend.js';
import { computeClusterId, computeMemberId } from '../../../src/cluster/ids.js';
import type { Member } from '../../../src/cluster/membership.js';
import type { Message } from '../../../src/raft/index.js';
import type { ClusterId } from '../../../src/shared/ids.js';
import { decodeMessage, encodeMessage } from '../../../src/raft/codec.js';
import { openMemberCore, type MemberCore, type PeerLink } from '../../../src/server/member-core.js';
import type { MemberFaults } from '../../../src/shared/test-faults.js';
import type { Incarnation, SimWorld } from './world.js';
import { startWatcher, type WatchRecording } from './watchers.js';

export interface SimClusterOptions {
  readonly size: number;
  readonly seed: number;
  readonly snapshotCount: number;
  readonly snapshotCatchupEntries: number;
  readonly bugs?: MemberFaults;
  /** The WAL skips fsync (a negative control: acknowledged writes can be lost). */
  readonly unsafeNoFsync?: boolean;
}

export interface NetFaults {
  /** Probability a message is dropped. */
  drop: number;
  /** Directed links that are cut: `${from}>${to}` by member index. */
  readonly cut: Set<string>;
  /** Extra delay bound, ms. */
  maxDelayMs: number;
}

export const HEARTBEAT_MS = 100;
export const ELECTION_MS = 1000;

export class SimMember {
  core: MemberCore | undefined;
  incarnation: Incarnation;
  booting = false;
  restarts = 0;
  readonly fs: SimFileLayer;

  constructor(
    readonly index: number,
    readonly self: Member,
    private readonly cluster: SimCluster,
  ) {
    this.incarnation = { alive: false, label: `${self.name}#0` };
    // fsync takes 1-4 ms of virtual time, so writes overlap with network traffic.
    this.fs = new SimFileLayer({
      pageBytes: 512,
      sectorBytes: 128,
      beforeOp: (kind) =>
        kind === 'datasync' || kind === 'sync'
          ? cluster.world.sleep(1 + cluster.rng.int(4), this.incarnation)
          : undefined,
    });
  }

  get up(): boolean {
    return this.core !== undefined && this.incarnation.alive;
  }

  /** Starts a new incarnation; resolves when it serves (or rejects if the open fails). */
  async boot(): Promise<void> {
    // One process per data dir: a restart already under way (or done) wins.
    if (this.up || this.booting) return;
    const inc: Incarnation = { alive: true, label: `${this.self.name}#${this.restarts++}` };
    this.incarnation = inc;
    this.booting = true;
    const c = this.cluster;
    const link: PeerLink = {
      send: (msgs) => {
        if (inc.alive) for (const m of msgs) c.transmit(this.index, m);
      },
      sendSnapshot: (msg, data) => {
        if (inc.alive) c.transmitSnapshot(this.index, msg, data);
      },
      addPeer: () => {},
      removePeer: () => {},
    };
    try {
      const core = await openMemberCore({
        settings: {
          name: this.self.name,
          dataDir: `/data/${this.self.name}`,
          walDir: undefined,
          unsafeNoFsync: c.opts.unsafeNoFsync === true,
          initialClusterState: 'new',
          electionTimeoutMs: ELECTION_MS,
          heartbeatIntervalMs: HEARTBEAT_MS,
          preVote: true,
          initialElectionTickAdvance: true,
          maxRequestBytes: 1.5 * 1024 * 1024,
          snapshotCount: c.opts.snapshotCount,
          snapshotCatchupEntries: c.opts.snapshotCatchupEntries,
        },
        initialMembers: c.members.map((m) => m.self),
        newIdentity: { memberId: this.self.id, clusterId: c.clusterId },
        joinPeers: [],
        fs: this.fs,
        openBackend: (dir) => FileLogBackend.open(this.fs, dir),
        // Small segments: cheap in memory, and segment rollover and release happen.
        walSegmentBytes: 64 * 1024,
        clock: c.world.clock,
        scheduler: c.world.schedulerFor(inc),
        rng: new SeededRng(c.opts.seed * 131 + this.index * 17 + this.restarts),
        logger: nullLogger,
        bugs: c.opts.bugs ?? {},
        makePeerLink: () => link,
      });
      if (!inc.alive) return;
      core.server.onFatal = (err) => {
        if (inc.alive) c.fatal(`${inc.label}: fatal: ${String(err)}`);
      };
      this.core = core;
      c.note(`${inc.label} started (applied ${core.recovered.appliedIndex}, wal entries ${core.recovered.entries.length}, snapshot ${core.recovered.snapshot?.metadata.index ?? 0})`);
      // Every link of the simulated network counts as a connection.
      core.start(() => c.members.length - 1);
      startWatcher(core, inc, c.rng, c.watches);
    } catch (err) {
      if (inc.alive) throw err;
    } finally {
      if (this.incarnation === inc) this.booting = false;
    }
  }

  /** kill -9 (mode 'keep') or power cut ('drop' / 'random') of this member. */
  crash(mode: CrashMode): void {
    this.cluster.note(`${this.incarnation.label} crash (${mode})`);
    this.incarnation.alive = false;
    this.core = undefined;
    this.booting = false;
    this.fs.crash(this.cluster.rng, mode);
  }

  /** The delivery end of the simulated network. */
  deliver(m: Message): void {
    if (this.up) this.core?.server.step(m);
  }
}

export class SimCluster {
  readonly members: SimMember[];
  readonly clusterId: ClusterId;
  readonly rng: Rng;
  readonly faults: NetFaults = { drop: 0, cut: new Set(), maxDelayMs: 5 };
  readonly stats = { messages: 0, dropped: 0, snapshotsSent: 0, snapshotsInstalled: 0 };
  private fatalError: string | undefined;
  /** One watcher per member incarnation (watchers.ts). */
  readonly watches: WatchRecording[] = [];
  /** What happened, for the failure report (crashes, starts, snapshot installs). */
  readonly trace: string[] = [];

  note(what: string): void {
    const parts = this.members.map((m) => {
      const s = m.core?.server;
      return s === undefined ? `${m.self.name}:down` : `${m.self.name}:a${s.appliedIndex}/c${s.raftStatus().commit}/t${s.raftStatus().term}${s.raftStatus().isLeader ? 'L' : ''}`;
    });
    this.trace.push(`${this.world.now}ms ${what} [${parts.join(' ')}]`);
  }

  constructor(
    readonly world: SimWorld,
    readonly opts: SimClusterOptions,
  ) {
    this.rng = new SeededRng(opts.seed);
    const selves: Member[] = [];
    for (let i = 0; i < opts.size; i++) {
      const peerUrls = [`http://m${i + 1}:2380`];
      selves.push({ id: computeMemberId(peerUrls, 'sim'), name: `m${i + 1}`, peerUrls, clientUrls: [], isLearner: false });
    }
    this.clusterId = computeClusterId(selves.map((m) => m.id));
    this.members = selves.map((m, i) => new SimMember(i, m, this));
  }

  fatal(msg: string): void {
    this.fatalError ??= msg;
  }

  get error(): string | undefined {
    return this.fatalError;
  }

  indexOf(id: bigint): number {
    return this.members.findIndex((m) => m.self.id === id);
  }

  private linkUp(from: number, to: number): boolean {
    return !this.faults.cut.has(`${from}>${to}`);
  }

  transmit(from: number, m: Message): void {
    const to = this.indexOf(m.to);
    if (to < 0) return;
    this.stats.messages++;
    if (!this.linkUp(from, to) || this.rng.float() < this.faults.drop) {
      this.stats.dropped++;
      return;
    }
    const wire = encodeMessage(m);
    const delay = 1 + this.rng.int(this.faults.maxDelayMs + 1);
    this.world.at(delay, () => {
      if (this.linkUp(from, to)) this.members[to]?.deliver(decodeMessage(wire));
    });
  }

  /**
   * A MsgSnap travels with the sender's state db: collected from the stream now (a
   * point-in-time copy, as the transport streams it), installed on the receiver, then
   * stepped into its raft; the sender hears the outcome, as from the transport.
   */
  transmitSnapshot(from: number, msg: Message, data: () => AsyncIterable<Uint8Array>): void {
    const to = this.indexOf(msg.to);
    const sender = this.members[from];
    if (to < 0 || sender === undefined) return;
    this.stats.snapshotsSent++;
    const senderInc = sender.incarnation;
    const report = (ok: boolean): void => {
      if (senderInc.alive) sender.core?.server.reportSnapshot(msg.to, ok);
    };
    void (async () => {
      const chunks: Uint8Array[] = [];
      for await (const c of data()) chunks.push(c);
      const wire = encodeMessage(msg);
      await this.world.sleep(2 + this.rng.int(10));
      const target = this.members[to];
      if (target === undefined || !target.up || !this.linkUp(from, to)) return report(false);
      const inc = target.incarnation;
      const server = target.core?.server;
      if (server === undefined) return report(false);
      async function* replay(): AsyncGenerator<Uint8Array> {
        for (const c of chunks) yield c;
      }
      const m = decodeMessage(wire);
      try {
        await server.installSnapshot(m, replay());
      } catch (err) {
        if (inc.alive) this.fatal(`${inc.label}: snapshot install failed: ${String(err)}`);
        return report(false);
      }
      if (!inc.alive) return report(false);
      this.stats.snapshotsInstalled++;
      this.note(`${inc.label} installed a snapshot at ${m.snapshot?.metadata.index ?? 0} from m${from + 1}`);
      server.step(m);
      report(true);
    })().catch((err: unknown) => {
      if (senderInc.alive) this.fatal(`snapshot send failed: ${String(err)}`);
    });
  }

  leader(): SimMember | undefined {
    let best: SimMember | undefined;
    for (const m of this.members) {
      const st = m.up ? m.core?.server.raftStatus() : undefined;
      if (st?.isLeader === true && (best === undefined || st.term > (best.core?.server.raftStatus().term ?? 0))) best = m;
    }
    return best;
  }

  heal(): void {
    this.faults.cut.clear();
    this.faults.drop = 0;
    this.faults.maxDelayMs = 5;
  }
}

