/**
 * SimCluster: 3 or 5 Raft members (plus spare ids for membership changes) in one
 * process, driven by a seeded event loop on virtual time. Each member follows the
 * Ready contract of src/raft/index.ts in two steps, like the server: `ready` (hand
 * out the Ready, send the messages allowed before persisting) and, after a random
 * fsync latency, `persist` (write MemoryStorage, persisted(), send the rest, apply,
 * advance). Between the two the member keeps stepping messages and ticking, and a
 * crash loses the outstanding Ready: exactly what was not durable.
 *
 * Faults: message drop/duplication/delay (network.ts), symmetric and asymmetric
 * partitions, crashes and restarts. Workload: proposals, ReadIndex requests,
 * membership changes (add learner, promote, remove voter), snapshots with
 * compaction, leadership transfers. Invariants (invariants.ts) run after every event.
 */
import {
  ConfChangeType,
  EntryType,
  MemoryStorage,
  RawNode,
  StateType,
  canSendBeforePersist,
  decodeConfChange,
  isRaftError,
  MessageType,
  type ConfState,
  type Message,
  type RaftBugs,
  type Ready,
} from '../../../src/raft/index.js';
import { SeededRng } from '../../../src/shared/rng.js';
import { EventQueue } from './event-queue.js';
import { Checker, chainHash, type Property } from './invariants.js';
import { SimNetwork } from './network.js';

export interface SimOptions {
  readonly seed: number;
  readonly events: number;
  readonly checks?: ReadonlySet<Property> | 'all';
  readonly bugs?: RaftBugs;
}

const TICK = 10;
const enc = new TextEncoder();
const dec = new TextDecoder();

type Ev =
  | { at: number; seq: number; kind: 'tick'; id: bigint; inc: number }
  | { at: number; seq: number; kind: 'deliver'; m: Message }
  | { at: number; seq: number; kind: 'ready'; id: bigint; inc: number }
  | { at: number; seq: number; kind: 'persist'; id: bigint; inc: number }
  | { at: number; seq: number; kind: 'client' }
  | { at: number; seq: number; kind: 'fault' };

type DistOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type EvBody = DistOmit<Ev, 'at' | 'seq'>;

interface SimNode {
  readonly id: bigint;
  readonly storage: MemoryStorage;
  rn: RawNode | undefined;
  inc: number;
  removed: boolean;
  outstanding: { rd: Ready; late: Message[] } | undefined;
  readyScheduled: boolean;
  appIndex: number;
  appHash: number;
  confState: ConfState;
}

export class SimCluster {
  readonly rng: SeededRng;
  readonly checker: Checker;
  readonly net: SimNetwork;
  readonly nodes = new Map<bigint, SimNode>();
  private readonly q = new EventQueue<Ev>();
  private seq = 0;
  now = 0;
  eventsRun = 0;
  private counter = 0;
  private readonly spares: bigint[] = [];
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly bugs: SimOptions['bugs'];
  private readonly slowDisk: bigint;
  private readonly maxSizePerMsg: number;
  private readonly maxInflightMsgs: number;
  readonly stats = { proposals: 0, applied: 0, reads: 0, readsServed: 0, crashes: 0, snapshots: 0, confChanges: 0, leaders: 0 };

  constructor(readonly opts: SimOptions) {
    this.rng = new SeededRng(opts.seed);
    this.checker = new Checker(opts.checks ?? 'all');
    this.net = new SimNetwork(this.rng, {
      dropRate: this.rng.float() * 0.2,
      dupRate: 0.02,
      minDelay: 1,
      maxDelay: 1 + this.rng.int(12),
      longDelayRate: this.rng.float() < 0.5 ? 0.02 : 0,
    });
    this.preVote = this.rng.float() < 0.8;
    this.checkQuorum = this.rng.float() < 0.7;
    this.bugs = opts.bugs;
    const size = this.rng.float() < 0.5 ? 3 : 5;
    this.slowDisk = this.rng.float() < 0.5 ? BigInt(1 + this.rng.int(size)) : 0n;
    // One entry per append in some seeds: acks then cover old-term entries alone.
    this.maxSizePerMsg = this.rng.float() < 0.3 ? 1 : 4096;
    this.maxInflightMsgs = 1 + this.rng.int(16);
    const voters: bigint[] = [];
    for (let i = 1; i <= size; i++) voters.push(BigInt(i));
    for (let i = size + 1; i <= size + 4; i++) this.spares.push(BigInt(i));
    const cs: ConfState = { voters, learners: [] };
    for (const id of voters) {
      const storage = new MemoryStorage();
      storage.applySnapshot({ metadata: { index: 1, term: 1, confState: cs }, data: encodeApp(1, 0) });
      this.addNode(id, storage, cs);
    }
    this.schedule({ kind: 'client' }, 5);
    this.schedule({ kind: 'fault' }, 100 + this.rng.int(200));
  }

  describe(): string {
    const p = this.net.params;
    return `nodes=${[...this.nodes.keys()].length} prevote=${this.preVote} checkquorum=${this.checkQuorum} drop=${p.dropRate.toFixed(3)} delay<=${p.maxDelay} slowDisk=${this.slowDisk} maxMsg=${this.maxSizePerMsg} inflight=${this.maxInflightMsgs}`;
  }

  private schedule(e: EvBody, delay: number): void {
    const ev = e as Ev;
    ev.at = this.now + delay;
    ev.seq = this.seq++;
    this.q.push(ev);
  }

  private addNode(id: bigint, storage: MemoryStorage, cs: ConfState): SimNode {
    const n: SimNode = { id, storage, rn: undefined, inc: 0, removed: false, outstanding: undefined, readyScheduled: false, appIndex: 0, appHash: 0, confState: cs };
    this.nodes.set(id, n);
    this.start(n);
    return n;
  }

  private start(n: SimNode): void {
    const snap = n.storage.snapshot();
    const app = decodeApp(snap.data);
    n.appIndex = app.index;
    n.appHash = app.hash;
    n.confState = snap.metadata.confState;
    n.inc++;
    n.outstanding = undefined;
    n.readyScheduled = false;
    n.rn = new RawNode({
      id: n.id, electionTick: 10, heartbeatTick: 1, storage: n.storage, applied: app.index,
      maxSizePerMsg: this.maxSizePerMsg, maxInflightMsgs: this.maxInflightMsgs, maxUncommittedEntriesSize: 1 << 20,
      preVote: this.preVote, checkQuorum: this.checkQuorum, rng: new SeededRng(this.rng.int(0x7fffffff)), ...(this.bugs === undefined ? {} : { bugs: this.bugs }),
    });
    this.schedule({ kind: 'tick', id: n.id, inc: n.inc }, 1 + this.rng.int(TICK));
  }

  private live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.rn !== undefined && !n.removed);
  }

  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.live()) {
      const r = n.rn?.raft;
      if (r !== undefined && r.state === StateType.Leader && (best === undefined || r.term > (best.rn?.raft.term ?? 0))) best = n;
    }
    return best;
  }

  /** Run until `events` events have been processed. */
  run(events: number): void {
    const until = this.eventsRun + events;
    while (this.eventsRun < until) this.step();
  }

  step(): void {
    const e = this.q.pop();
    if (e === undefined) throw new Error('simulation ran out of events');
    this.now = e.at;
    this.eventsRun++;
    this.handle(e);
    this.afterEvent();
  }

  private handle(e: Ev): void {
    switch (e.kind) {
      case 'tick': {
        const n = this.nodes.get(e.id);
        if (n?.rn === undefined || n.inc !== e.inc || n.removed) return;
        n.rn.tick();
        this.schedule({ kind: 'tick', id: n.id, inc: n.inc }, TICK);
        return;
      }
      case 'deliver': return this.deliver(e.m);
      case 'ready': return this.readyStep(e.id, e.inc);
      case 'persist': return this.persistStep(e.id, e.inc);
      case 'client':
        this.clientOp();
        this.schedule({ kind: 'client' }, 1 + this.rng.int(15));
        return;
      case 'fault':
        this.fault();
        this.schedule({ kind: 'fault' }, 50 + this.rng.int(300));
        return;
    }
  }

  private afterEvent(): void {
    for (const n of this.nodes.values()) {
      const rn = n.rn;
      if (rn === undefined || n.removed) continue;
      this.checker.checkNode({ id: n.id, inc: n.inc, rn });
      if (!n.readyScheduled && n.outstanding === undefined && rn.hasReady()) {
        n.readyScheduled = true;
        this.schedule({ kind: 'ready', id: n.id, inc: n.inc }, this.rng.int(3));
      }
    }
    if (this.eventsRun % 50 === 0) this.checker.checkLogMatching(this.live().flatMap((n) => (n.rn === undefined ? [] : [{ id: n.id, inc: n.inc, rn: n.rn }])));
  }

  private send(msgs: readonly Message[]): void {
    for (const m of msgs) {
      const delays = this.net.fate();
      if (delays.length === 0) this.lost(m);
      for (const d of delays) this.schedule({ kind: 'deliver', m }, d);
    }
  }

  /** A lost snapshot is reported to its sender, as the transport would. */
  private lost(m: Message): void {
    if (m.type !== MessageType.Snap) return;
    const from = this.nodes.get(m.from);
    from?.rn?.reportSnapshot(m.to, false);
  }

  private deliver(m: Message): void {
    const n = this.nodes.get(m.to);
    if (n?.rn === undefined || n.removed || !this.net.canDeliver(m.from, m.to)) return this.lost(m);
    try {
      n.rn.step(m);
      // The transport reports a delivered snapshot, as etcd's does when the stream ends.
      if (m.type === MessageType.Snap) this.nodes.get(m.from)?.rn?.reportSnapshot(m.to, true);
    } catch (err) {
      if (isRaftError(err, 'raft/step-peer-not-found') || isRaftError(err, 'raft/proposal-dropped')) return;
      throw err;
    }
  }

  private readyStep(id: bigint, inc: number): void {
    const n = this.nodes.get(id);
    if (n?.rn === undefined || n.inc !== inc || n.removed) return;
    n.readyScheduled = false;
    if (n.outstanding !== undefined || !n.rn.hasReady()) return;
    const rd = n.rn.ready();
    for (const rs of rd.readStates) {
      this.stats.readsServed++;
      this.checker.onReadState(id, dec.decode(rs.requestCtx), rs.index);
    }
    this.send(rd.messages.filter(canSendBeforePersist));
    n.outstanding = { rd, late: rd.messages.filter((m) => !canSendBeforePersist(m)) };
    // fsync latency: 0 when there is nothing to sync; one member may have a slow disk,
    // which widens the window in which a crash loses what it already sent.
    const slow = id === this.slowDisk ? 10 + this.rng.int(40) : 0;
    this.schedule({ kind: 'persist', id, inc }, rd.mustSync ? 1 + this.rng.int(6) + slow : 0);
  }

  private persistStep(id: bigint, inc: number): void {
    const n = this.nodes.get(id);
    const rn = n?.rn;
    if (n === undefined || rn === undefined || n.inc !== inc || n.removed || n.outstanding === undefined) return;
    const { rd, late } = n.outstanding;
    if (rd.snapshot !== undefined) {
      n.storage.applySnapshot(rd.snapshot);
      const app = decodeApp(rd.snapshot.data);
      n.appIndex = app.index;
      n.appHash = app.hash;
      n.confState = rd.snapshot.metadata.confState;
      this.checker.onApply(id, app.index, app.hash);
    }
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) {
      n.storage.setHardState(rd.hardState);
      this.checker.onDurableHardState(id, rd.hardState.term, rd.hardState.vote);
    }
    const last = rd.entries[rd.entries.length - 1] ?? rd.snapshot?.metadata;
    if (last !== undefined) rn.persisted(last.index, last.term);
    this.send(late);
    for (const e of rd.committedEntries) {
      if (e.index <= n.appIndex) continue;
      if (e.index !== n.appIndex + 1) throw new Error(`${id} applies ${e.index} after ${n.appIndex}`);
      n.appHash = chainHash(n.appHash, e);
      n.appIndex = e.index;
      this.stats.applied++;
      this.checker.onApply(id, e.index, n.appHash);
      if (this.liveMarker !== '' && dec.decode(e.data) === this.liveMarker) this.liveMarkerApplied = true;
      if (e.type === EntryType.ConfChange) this.applyConfChange(n, rn, e.data);
    }
    n.outstanding = undefined;
    if (!n.removed) rn.advance();
  }

  private applyConfChange(n: SimNode, rn: RawNode, data: Uint8Array): void {
    const cc = decodeConfChange(data);
    n.confState = rn.applyConfChange(cc);
    if (cc.type === ConfChangeType.RemoveNode) {
      // The removed member shuts down once the removal is applied anywhere (etcd's
      // server stops a member that learns it was removed).
      const gone = this.nodes.get(cc.nodeId);
      if (gone !== undefined && !gone.removed && !n.confState.voters.includes(cc.nodeId) && !n.confState.learners.includes(cc.nodeId)) {
        gone.removed = true;
        gone.rn = undefined;
      }
    }
  }

  // ---- workload -------------------------------------------------------------------

  private clientOp(): void {
    const live = this.live();
    if (live.length === 0) return;
    const leader = this.leader();
    const target = leader !== undefined && this.rng.float() < 0.7 ? leader : live[this.rng.int(live.length)];
    const rn = target?.rn;
    if (target === undefined || rn === undefined) return;
    const roll = this.rng.float();
    try {
      if (roll < 0.6) {
        this.stats.proposals++;
        const batch = 1 + this.rng.int(3);
        const datas: Uint8Array[] = [];
        for (let i = 0; i < batch; i++) datas.push(enc.encode(`p${this.counter++}`));
        rn.proposeBatch(datas);
      } else if (roll < 0.85) {
        const ctx = `r${this.counter++}`;
        this.stats.reads++;
        this.checker.onReadRequest(ctx);
        rn.readIndex(enc.encode(ctx));
      } else if (roll < 0.93) {
        this.snapshot(target);
      } else if (roll < 0.96) {
        if (leader !== undefined) this.confChange(leader);
      } else if (roll < 0.98) {
        // A forced election (as after a long GC pause): competing candidates and
        // stale votes in flight are where election bugs hide.
        rn.campaign();
      } else if (leader !== undefined) {
        const voters = leader.confState.voters.filter((v) => v !== leader.id);
        const to = voters[this.rng.int(Math.max(1, voters.length))];
        if (to !== undefined) leader.rn?.transferLeader(to);
      }
    } catch (err) {
      if (!isRaftError(err, 'raft/proposal-dropped')) throw err;
    }
  }

  private snapshot(n: SimNode): void {
    const snapIndex = n.storage.snapshot().metadata.index;
    if (n.appIndex <= snapIndex || n.appIndex > n.storage.lastIndex()) return;
    n.storage.createSnapshot(n.appIndex, n.confState, encodeApp(n.appIndex, n.appHash));
    const keep = this.rng.int(20);
    const upto = Math.max(snapIndex + 1, n.appIndex - keep);
    if (upto <= n.appIndex) n.storage.compact(upto);
    this.stats.snapshots++;
  }

  private confChange(leader: SimNode): void {
    const rn = leader.rn;
    if (rn === undefined) return;
    const cs = leader.confState;
    const roll = this.rng.float();
    let type: ConfChangeType;
    let nodeId: bigint;
    const learner = cs.learners[0];
    if (learner !== undefined && roll < 0.5) {
      type = ConfChangeType.AddNode;
      nodeId = learner;
    } else if (roll < 0.75 && cs.voters.length + cs.learners.length < 6 && this.spares.length > 0) {
      type = ConfChangeType.AddLearnerNode;
      nodeId = this.spares[0] ?? 0n;
    } else if (cs.voters.length > 3) {
      type = ConfChangeType.RemoveNode;
      nodeId = cs.voters[this.rng.int(cs.voters.length)] ?? 0n;
    } else {
      return;
    }
    rn.proposeConfChange({ type, nodeId, context: new Uint8Array(0) });
    this.stats.confChanges++;
    if (type === ConfChangeType.AddLearnerNode) {
      // The new member starts empty and waits for the leader (etcd: it joins with no log).
      this.spares.shift();
      this.addNode(nodeId, new MemoryStorage(), { voters: [], learners: [] });
    }
  }

  // ---- faults ---------------------------------------------------------------------

  private fault(): void {
    const roll = this.rng.float();
    const members = [...this.nodes.values()].filter((n) => !n.removed);
    const ids = members.map((n) => n.id);
    if (roll < 0.3) {
      const victim = members[this.rng.int(members.length)];
      if (victim?.rn !== undefined) {
        this.stats.crashes++;
        victim.rn = undefined;
        victim.outstanding = undefined;
        const down = 20 + this.rng.int(300);
        this.q.push({ at: this.now + down, seq: this.seq++, kind: 'fault' });
        this.pendingRestart.push(victim.id);
      }
    } else if (roll < 0.5) {
      this.restartOne();
    } else if (roll < 0.75) {
      const shuffled = [...ids].sort(() => this.rng.float() - 0.5);
      const cut = 1 + this.rng.int(Math.max(1, shuffled.length - 1));
      this.net.partition(shuffled.slice(0, cut), shuffled.slice(cut), this.rng.float() < 0.7);
    } else {
      this.net.heal();
      this.restartOne();
    }
  }

  private readonly pendingRestart: bigint[] = [];

  private restartOne(): void {
    const id = this.pendingRestart.shift();
    if (id === undefined) return;
    const n = this.nodes.get(id);
    if (n === undefined || n.removed || n.rn !== undefined) return;
    this.start(n);
  }

  /**
   * Liveness: heal the network, stop the faults, restart every member, and require a
   * leader and a newly proposed entry applied by it within `maxTicks` ticks.
   */
  checkLiveness(maxTicks: number): number {
    this.net.heal();
    this.net.params = { ...this.net.params, dropRate: 0, dupRate: 0, longDelayRate: 0 };
    while (this.pendingRestart.length > 0) this.restartOne();
    for (const n of this.nodes.values()) if (!n.removed && n.rn === undefined) this.start(n);
    const start = this.now;
    const deadline = this.now + maxTicks * TICK;
    this.liveMarker = `live${this.counter++}`;
    this.liveMarkerApplied = false;
    // Propose the marker once per leadership (a leader may lose it by stepping down).
    let proposedTo = '';
    while (this.now < deadline) {
      const e = this.q.pop();
      if (e === undefined) break;
      this.now = e.at;
      if (e.kind === 'fault' || e.kind === 'client') continue;
      this.handle(e);
      this.afterEvent();
      if (this.liveMarkerApplied) return Math.ceil((this.now - start) / TICK);
      const leader = this.leader();
      const r = leader?.rn?.raft;
      if (leader?.rn !== undefined && r !== undefined && proposedTo !== `${leader.id}/${r.term}`) {
        try {
          leader.rn.propose(enc.encode(this.liveMarker));
          proposedTo = `${leader.id}/${r.term}`;
        } catch (err) {
          if (!isRaftError(err, 'raft/proposal-dropped')) throw err;
        }
      }
    }
    throw new Error(`liveness: no leader committed a new entry within ${maxTicks} ticks after healing (leader=${this.leader()?.id ?? 'none'})\n${this.dump()}`);
  }

  private liveMarker = '';
  private liveMarkerApplied = false;

  dump(): string {
    const lines: string[] = [];
    for (const n of this.nodes.values()) {
      const r = n.rn?.raft;
      if (r === undefined) {
        lines.push(`${n.id}: ${n.removed ? 'removed' : 'down'}`);
        continue;
      }
      lines.push(`${n.id}: ${r.stateName()} term=${r.term} lead=${r.lead} commit=${r.log.committed} applied=${r.log.applied} app=${n.appIndex} last=${r.log.lastIndex()} first=${r.log.firstIndex()} conf=${r.describeConfig()} outstanding=${n.outstanding !== undefined}`);
      if (r.state === StateType.Leader) for (const [id, pr] of r.trk.progress) lines.push(`   ${id}: ${pr.describe()}`);
    }
    return lines.join('\n');
  }
}

function encodeApp(index: number, hash: number): Uint8Array {
  return enc.encode(`${index}:${hash}`);
}

function decodeApp(data: Uint8Array): { index: number; hash: number } {
  if (data.length === 0) return { index: 0, hash: 0 };
  const [i, h] = dec.decode(data).split(':');
  return { index: Number(i), hash: Number(h) };
}
