/**
 * The golden-test environment (etcd-io/raft rafttest.InteractionEnv): a handful of
 * RawNodes, a mailbox per node, and commands that move the cluster one explicit step
 * at a time. Every Ready, delivered message and raft log line is printed, so a
 * scenario file reads as a transcript and any behaviour change shows up in its diff.
 *
 * Persistence follows the Ready contract of src/raft/index.ts: process-ready persists
 * into the node's MemoryStorage, reports persisted(), sends, applies (conf changes
 * included) and advances. `process-ready N persist=false` stops after sending the
 * early messages, leaving the Ready outstanding until `persist N` (a slow fsync);
 * `restart N` drops everything not persisted.
 */
import type { Logger } from '../../src/shared/logger.js';
import { SeededRng } from '../../src/shared/rng.js';
import {
  ConfChangeType,
  EntryType,
  MESSAGE_TYPE_NAMES,
  MemoryStorage,
  RawNode,
  StateType,
  STATE_NAMES,
  canSendBeforePersist,
  decodeConfChange,
  describeEntry,
  describeMessage,
  describeReady,
  isRaftError,
  type Message,
  type RaftBugs,
  type Ready,
} from '../../src/raft/index.js';
import { describeConfState } from '../../src/raft/describe.js';
import { type Command, listArg } from './datadriven.js';

interface EnvNode {
  rn: RawNode;
  readonly storage: MemoryStorage;
  readonly opts: NodeOpts;
  outstanding: { rd: Ready; late: Message[] } | undefined;
  applied: number;
}

interface NodeOpts {
  preVote: boolean;
  checkQuorum: boolean;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
}

const hex = (id: bigint): string => id.toString(16);

export class InteractionEnv {
  private readonly nodes = new Map<bigint, EnvNode>();
  private readonly mailboxes = new Map<bigint, Message[]>();
  private readonly isolated = new Set<bigint>();
  private out: string[] = [];
  private indent = '';

  constructor(private readonly bugs: RaftBugs = {}) {}

  private print(s: string): void {
    for (const line of s.split('\n')) this.out.push(this.indent + line);
  }

  private makeLogger(): Logger {
    const self: Logger = {
      debug: () => {},
      info: (_o, msg) => this.print(`INFO ${msg}`),
      warn: (_o, msg) => this.print(`WARN ${msg}`),
      error: (_o, msg) => this.print(`ERROR ${msg}`),
      child: () => self,
    };
    return self;
  }

  exec(cmd: Command): string {
    this.out = [];
    this.indent = '';
    switch (cmd.name) {
      case 'add-nodes': this.addNodes(cmd); break;
      case 'campaign': this.node(cmd, 0).rn.campaign(); break;
      case 'propose': this.node(cmd, 0).rn.propose(new TextEncoder().encode(cmd.args[1] ?? '')); break;
      case 'propose-conf-change': this.proposeConfChange(cmd); break;
      case 'process-ready': for (const id of this.ids(cmd)) this.processReady(id, cmd.kv.get('persist') !== 'false'); break;
      case 'persist': for (const id of this.ids(cmd)) this.persist(id); break;
      case 'deliver-msgs': for (const id of this.ids(cmd)) this.deliver(id, cmd.kv.get('type'), cmd.kv.get('drop') === 'true'); break;
      case 'stabilize': this.stabilize(this.ids(cmd)); break;
      case 'tick-election': { const n = this.node(cmd, 0); this.tick(n, n.rn.raft.randomizedElectionTimeout); break; }
      case 'tick-heartbeat': { const n = this.node(cmd, 0); this.tick(n, Number(cmd.kv.get('n') ?? 1)); break; }
      case 'set-randomized-election-timeout': this.node(cmd, 0).rn.raft.randomizedElectionTimeout = Number(cmd.kv.get('timeout')); break;
      case 'raft-log': this.raftLog(this.node(cmd, 0)); break;
      case 'raft-state': this.raftState(); break;
      case 'status': this.status(this.node(cmd, 0)); break;
      case 'transfer-leadership': this.mustNode(BigInt(cmd.kv.get('from') ?? '0')).rn.transferLeader(BigInt(cmd.kv.get('to') ?? '0')); break;
      case 'read-index': this.node(cmd, 0).rn.readIndex(new TextEncoder().encode(cmd.args[1] ?? '')); break;
      case 'compact': this.compact(this.node(cmd, 0), Number(cmd.args[1])); break;
      case 'isolate': this.isolated.add(BigInt(cmd.args[0] ?? '0')); break;
      case 'heal': this.isolated.clear(); break;
      case 'restart': this.restart(this.node(cmd, 0)); break;
      case 'report-unreachable': this.node(cmd, 0).rn.reportUnreachable(BigInt(cmd.args[1] ?? '0')); break;
      default: throw new Error(`unknown command ${cmd.name}`);
    }
    return this.out.join('\n');
  }

  private ids(cmd: Command): bigint[] {
    if (cmd.args.length === 0) return [...this.nodes.keys()];
    return cmd.args.map((a) => BigInt(a));
  }

  private node(cmd: Command, arg: number): EnvNode {
    return this.mustNode(BigInt(cmd.args[arg] ?? '0'));
  }

  private mustNode(id: bigint): EnvNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${hex(id)}`);
    return n;
  }

  private newRawNode(id: bigint, storage: MemoryStorage, opts: NodeOpts, applied: number): RawNode {
    return new RawNode({
      id, electionTick: 10, heartbeatTick: 1, storage, applied,
      maxSizePerMsg: opts.maxSizePerMsg, maxInflightMsgs: opts.maxInflightMsgs,
      preVote: opts.preVote, checkQuorum: opts.checkQuorum,
      rng: new SeededRng(Number(id)), logger: this.makeLogger(), bugs: this.bugs,
    });
  }

  private addNodes(cmd: Command): void {
    const n = Number(cmd.args[0] ?? '1');
    const voters = listArg(cmd.kv.get('voters'));
    const learners = listArg(cmd.kv.get('learners'));
    const index = Number(cmd.kv.get('index') ?? '0');
    const opts: NodeOpts = {
      preVote: cmd.kv.get('prevote') === 'true',
      checkQuorum: cmd.kv.get('checkquorum') === 'true',
      maxSizePerMsg: Number(cmd.kv.get('max-msg-size') ?? 1024 * 1024),
      maxInflightMsgs: Number(cmd.kv.get('max-inflight') ?? 256),
    };
    for (let k = 0; k < n; k++) {
      const id = BigInt(this.nodes.size + 1);
      const storage = new MemoryStorage();
      if (index > 0) {
        storage.applySnapshot({ metadata: { index, term: 1, confState: { voters, learners } }, data: new Uint8Array(0) });
      }
      const rn = this.newRawNode(id, storage, opts, index);
      this.nodes.set(id, { rn, storage, opts, outstanding: undefined, applied: index });
      this.mailboxes.set(id, []);
    }
  }

  private proposeConfChange(cmd: Command): void {
    const spec = cmd.args[1] ?? '';
    const types: Record<string, (typeof ConfChangeType)[keyof typeof ConfChangeType]> = {
      v: ConfChangeType.AddNode, l: ConfChangeType.AddLearnerNode, r: ConfChangeType.RemoveNode, u: ConfChangeType.UpdateNode,
    };
    const type = types[spec[0] ?? ''];
    if (type === undefined) throw new Error(`bad conf change ${spec}`);
    this.node(cmd, 0).rn.proposeConfChange({ type, nodeId: BigInt(spec.slice(1)), context: new Uint8Array(0) });
  }

  private sendAll(msgs: readonly Message[]): void {
    for (const m of msgs) {
      const box = this.mailboxes.get(m.to);
      if (box !== undefined) box.push(m);
    }
  }

  private processReady(id: bigint, persist: boolean): void {
    const n = this.mustNode(id);
    if (!n.rn.hasReady()) return;
    this.indent = '';
    this.print(`> ${hex(id)} handling Ready`);
    this.indent = '  ';
    const rd = n.rn.ready();
    this.print(describeReady(rd));
    if (!persist) {
      this.sendAll(rd.messages.filter(canSendBeforePersist));
      n.outstanding = { rd, late: rd.messages.filter((m) => !canSendBeforePersist(m)) };
      return;
    }
    n.outstanding = { rd, late: rd.messages };
    this.persist(id);
  }

  private persist(id: bigint): void {
    const n = this.mustNode(id);
    const o = n.outstanding;
    if (o === undefined) return;
    const rd = o.rd;
    if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    const last = rd.entries[rd.entries.length - 1] ?? rd.snapshot?.metadata;
    if (last !== undefined) n.rn.persisted(last.index, last.term);
    this.sendAll(o.late);
    if (rd.snapshot !== undefined) n.applied = rd.snapshot.metadata.index;
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ConfChange) {
        const cs = n.rn.applyConfChange(decodeConfChange(e.data));
        this.print(`applied conf change ${describeEntry(e)}: ${describeConfState(cs)}`);
      }
      n.applied = e.index;
    }
    n.outstanding = undefined;
    n.rn.advance();
  }

  private deliver(id: bigint, type: string | undefined, drop: boolean): void {
    const box = this.mailboxes.get(id) ?? [];
    const take = box.filter((m) => type === undefined || MESSAGE_TYPE_NAMES[m.type] === type);
    if (take.length === 0) return;
    this.mailboxes.set(id, box.filter((m) => !take.includes(m)));
    this.indent = '';
    this.print(`> ${hex(id)} receiving messages`);
    this.indent = '  ';
    const n = this.mustNode(id);
    for (const m of take) {
      if (drop || this.isolated.has(m.from) || this.isolated.has(m.to)) {
        this.print(`dropped: ${describeMessage(m)}`);
        continue;
      }
      this.print(describeMessage(m));
      this.indent = '    ';
      try {
        n.rn.step(m);
      } catch (err) {
        if (!isRaftError(err)) throw err;
        this.print(`error: ${err.message}`);
      }
      this.indent = '  ';
    }
  }

  private stabilize(ids: bigint[]): void {
    for (let round = 0; round < 1000; round++) {
      let progress = false;
      for (const id of ids) {
        if (this.mustNode(id).rn.hasReady()) {
          this.processReady(id, true);
          progress = true;
        }
      }
      for (const id of ids) {
        if ((this.mailboxes.get(id) ?? []).length > 0) {
          this.deliver(id, undefined, false);
          progress = true;
        }
      }
      if (!progress) return;
    }
    throw new Error('stabilize did not converge');
  }

  private tick(n: EnvNode, count: number): void {
    this.indent = '';
    for (let i = 0; i < count; i++) n.rn.tick();
  }

  private raftLog(n: EnvNode): void {
    const fi = n.storage.firstIndex();
    const li = n.storage.lastIndex();
    if (li < fi) {
      this.print(`log is empty: first index=${fi}, last index=${li}`);
      return;
    }
    for (const e of n.storage.entries(fi, li + 1, Number.MAX_SAFE_INTEGER)) this.print(describeEntry(e));
  }

  private raftState(): void {
    for (const [id, n] of this.nodes) {
      const st = n.rn.status();
      const cs = st.confState;
      const role = cs.voters.includes(id) ? 'Voter' : cs.learners.includes(id) ? 'Learner' : 'Non-member';
      this.print(`${hex(id)}: ${STATE_NAMES[st.softState.raftState]} (${role}) Term:${st.hardState.term} Lead:${hex(st.softState.lead)}`);
    }
  }

  private status(n: EnvNode): void {
    const st = n.rn.status();
    this.print(`Term:${st.hardState.term} Vote:${hex(st.hardState.vote)} Commit:${st.hardState.commit} Applied:${st.applied} LastIndex:${st.lastIndex} State:${STATE_NAMES[st.softState.raftState]}`);
    if (st.softState.raftState !== StateType.Leader) return;
    for (const [id, pr] of [...st.progress].sort((a, b) => (a[0] < b[0] ? -1 : 1))) this.print(`${hex(id)}: ${pr.describe()}`);
  }

  private compact(n: EnvNode, index: number): void {
    const cs = n.rn.status().confState;
    n.storage.createSnapshot(index, cs, new Uint8Array(0));
    n.storage.compact(index);
    this.raftLog(n);
  }

  private restart(n: EnvNode): void {
    n.outstanding = undefined;
    const applied = n.storage.firstIndex() - 1;
    n.applied = applied;
    n.rn = this.newRawNode(n.rn.id, n.storage, n.opts, applied);
  }
}
