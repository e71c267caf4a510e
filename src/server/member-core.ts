/**
 * The consensus core of one member, without sockets: storage (WAL + state db), the
 * Raft node, the applier with lease and membership state, the watch hub and the lease
 * driver, wired into an EtcdServer. The process shell (member.ts) adds the peer
 * transport, gRPC services and HTTP endpoints around it; the deterministic simulator
 * (test/sim/server) runs several of these in one process on the SimFileLayer with a
 * simulated network, clock and scheduler. One composition for both, so the simulator
 * tests the wiring that ships.
 *
 * Contract: `openMemberCore` opens (or creates) the data dir, writes the bootstrap
 * entries of a new cluster, and returns a core whose server is not started yet; the
 * caller starts its network, then calls `start()`. Nothing here reads the process
 * environment, real time or real randomness: all of it is injected.
 */
import type { Logger } from '../shared/logger.js';
import type { Clock } from '../shared/clock.js';
import type { MemberFaults } from '../shared/test-faults.js';
import type { Scheduler } from '../shared/scheduler.js';
import type { Rng } from '../shared/rng.js';
import { noObserve, type Observe } from '../shared/observe.js';
import { TsetcdError, isTsetcdError } from '../shared/errors.js';
import type { ClusterId, MemberId } from '../shared/ids.js';
import type { FileLayer } from '../storage/file-layer.js';
import { Applier } from '../apply/applier.js';
import { AlarmAction, AlarmStore, encodeAlarmRequest, type AlarmType } from '../apply/alarms.js';
import { RequestKind } from '../apply/request.js';
import { Membership, type Member } from '../cluster/membership.js';
import { ConfChangeType, type Entry, type HardState } from '../raft/index.js';
import { Lessor, LeaseDriver, minLeaseTtlSeconds, recoverAttachments } from '../lease/index.js';
import { WatchHub } from '../watch/index.js';
import { EtcdServer, type MessageSink, type ServerHooks } from './etcd-server.js';
import { MemberStorage, type OpenBackend, type RecoveredState, type StorageTimers } from './member-storage.js';
import { RaftNode } from './raft-node.js';
import { bootstrapEntries } from '../cluster/bootstrap.js';
import { forceNewClusterLog } from '../cluster/force-new-cluster.js';
import { startCompactor, type CompactionPolicy, type Compactor } from '../compactor/index.js';
import { codec } from '../shared/pb-codec.js';
import { AuthStore, SimpleTokenProvider, type TokenProvider } from '../auth/index.js';
import type * as pb from '../generated/pb.js';

/** The peer side the core drives: message delivery plus the peer list. */
export interface PeerLink extends MessageSink {
  addPeer(id: bigint, urls: readonly string[]): void;
  removePeer(id: bigint): void;
}

export interface MemberCoreSettings {
  readonly name: string;
  readonly dataDir: string;
  readonly walDir: string | undefined;
  readonly unsafeNoFsync: boolean;
  readonly initialClusterState: 'new' | 'existing';
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly preVote: boolean;
  readonly initialElectionTickAdvance: boolean;
  readonly maxRequestBytes: number;
  readonly snapshotCount: number;
  readonly snapshotCatchupEntries: number;
  /** Restart as the only voter, keeping the data (etcd --force-new-cluster). */
  readonly forceNewCluster?: boolean;
  /** auto-compaction-mode/-retention; a zero retention (the default) turns it off. */
  readonly autoCompaction?: CompactionPolicy;
  /** --warning-apply-duration (etcd's default 100 ms when absent). */
  readonly warningApplyDurationMs?: number;
}

export interface MemberCoreDeps {
  readonly settings: MemberCoreSettings;
  /** The initial cluster (bootstrap entries of a new one). */
  readonly initialMembers: readonly Member[];
  /** Identity to record when the data dir is new. */
  readonly newIdentity: { memberId: MemberId; clusterId: ClusterId };
  /** Members learned from the peers when joining an existing cluster. */
  readonly joinPeers: readonly Member[];
  readonly fs: FileLayer;
  readonly openBackend?: OpenBackend;
  readonly walSegmentBytes?: number;
  /** member/space.reserve's size (member-storage.ts); the process shell keeps one. */
  readonly spaceReserveBytes?: number;
  /** Metrics timers for WAL fsyncs and state-db commits. */
  readonly storageTimers?: StorageTimers;
  /** Counts and timings for the metrics (shared/observe.ts); storage's come with storageTimers. */
  readonly observe?: Observe;
  /** This member saw a new leader (or lost it: lead 0n), after the lease driver heard. */
  readonly onLeaderChange?: (lead: bigint, term: number, isLeader: boolean) => void;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly rng: Rng;
  readonly logger: Logger;
  /** The member's test faults (shared/test-faults.ts); never in production. */
  readonly bugs?: MemberFaults;
  /**
   * Builds the peer link once the identity is known; undefined for a single member
   * that needs no network. `server` is callable once the core is returned.
   */
  readonly makePeerLink: (args: {
    memberId: MemberId;
    clusterId: ClusterId;
    membership: Membership;
    server: () => EtcdServer;
    needsNetwork: boolean;
  }) => PeerLink | undefined;
  /** This member was removed from the cluster (the shell stops the process). */
  readonly onRemoved?: () => void;
  /**
   * The token provider (--auth-token; the shell builds it from the config). Default:
   * simple tokens on the injected clock, scheduler and rng with etcd's 300 s TTL.
   */
  readonly authTokens?: (waitApplied: (index: number, signal?: AbortSignal) => Promise<boolean>) => TokenProvider;
  /** --bcrypt-cost, for the clear passwords of log entries written by etcd 3.4. */
  readonly bcryptCost?: number;
}

export interface MemberCore {
  readonly server: EtcdServer;
  readonly storage: MemberStorage;
  readonly recovered: RecoveredState;
  readonly membership: Membership;
  readonly lessor: Lessor;
  /** The replicated alarms (NOSPACE, CORRUPT) as applied on this member. */
  readonly alarms: AlarmStore;
  /**
   * Raises an alarm through the log (etcd's AlarmRequest ACTIVATE, for this member's id
   * unless `forMember` says otherwise), so every member applies it; resolves once
   * applied here.
   */
  raiseAlarm(type: AlarmType, forMember?: bigint): Promise<void>;
  readonly watchHub: WatchHub;
  /** Users, roles, permissions and the token provider (replicated through Internal entries). */
  readonly auth: AuthStore;
  readonly leaseDriver: LeaseDriver;
  /** Auto-compaction, run while this member leads; undefined when turned off. */
  readonly compactor: Compactor | undefined;
  readonly peers: PeerLink | undefined;
  /** Every member this one knows (membership plus join peers), for the transport. */
  readonly knownPeers: ReadonlyMap<bigint, readonly string[]>;
  /**
   * Starts ticking and the Ready loop, then lease expiry. `activePeers` counts the
   * peers this member's transport is connected to (etcd's ActivePeers), for
   * initial-election-tick-advance.
   */
  start(activePeers: () => number): void;
}

/**
 * How long apply batches wait to share one state-db write: etcd's backend batch
 * interval (100 ms, with a limit of 10,000 pending writes: EtcdServer's
 * BACKEND_BATCH_LIMIT). A sequential write then costs its WAL fdatasync and no db
 * fsync of its own (docs/architecture.md §4); a restart replays the WAL from the db's
 * applied index.
 */
const BACKEND_BATCH_INTERVAL_MS = 100;
/** etcd's embed.DefaultWarningApplyDuration, for cores opened without the setting (tests). */
export const WARNING_APPLY_DURATION_MS_DEFAULT = 100;

const compactionCodec = codec<pb.CompactionRequest>('etcdserverpb.CompactionRequest');

/** etcd's adjustTicks waits this long for peer connections (rafthttp.ConnReadTimeout). */
const TICK_ADVANCE_WAIT_MS = 5000;
const TICK_ADVANCE_POLL_MS = 50;

/**
 * Opens the core in named steps: storage, the log to start raft from, the state
 * machines, the Raft node, the server and what runs beside it (lease driver,
 * compactor). On any failure the storage closes again.
 */
export async function openMemberCore(deps: MemberCoreDeps): Promise<MemberCore> {
  const { settings: cfg, logger } = deps;
  const log = logger.child({ component: 'member' });
  const { storage, recovered } = await MemberStorage.open({
    dataDir: cfg.dataDir,
    walDir: cfg.walDir,
    fs: deps.fs,
    logger,
    newIdentity: deps.newIdentity,
    unsafeNoFsync: cfg.unsafeNoFsync,
    ...(deps.openBackend !== undefined ? { openBackend: deps.openBackend } : {}),
    ...(deps.walSegmentBytes !== undefined ? { walSegmentBytes: deps.walSegmentBytes } : {}),
    ...(deps.storageTimers !== undefined ? { timers: deps.storageTimers } : {}),
    ...(deps.spaceReserveBytes !== undefined ? { spaceReserveBytes: deps.spaceReserveBytes } : {}),
  });
  try {
    const raftLog = await recoverLog(deps, storage, recovered, log);
    log.info(
      { memberId: recovered.memberId.toString(16), clusterId: recovered.clusterId.toString(16), fresh: recovered.fresh },
      recovered.fresh ? 'started a new member' : 'restarted member from its data dir (initial-cluster settings are ignored)',
    );
    const state = await openStateMachines(deps, storage);
    const electionTick = Math.max(2, Math.round(cfg.electionTimeoutMs / cfg.heartbeatIntervalMs));
    const node = newRaftNode(deps, recovered, raftLog, electionTick);
    return assemble(deps, storage, recovered, state, node, electionTick, log);
  } catch (err) {
    await storage.close();
    throw err;
  }
}

/** The entries and hard state raft starts from: a new cluster's bootstrap entries, or --force-new-cluster's rewrite. */
async function recoverLog(
  deps: MemberCoreDeps,
  storage: MemberStorage,
  recovered: RecoveredState,
  log: Logger,
): Promise<{ entries: Entry[]; hardState: HardState | undefined }> {
  const cfg = deps.settings;
  let entries = [...recovered.entries];
  let hardState = recovered.hardState;
  if (recovered.fresh && cfg.initialClusterState === 'new' && entries.length === 0) {
    const boot = bootstrapEntries(deps.initialMembers);
    await storage.save(boot.hardState, boot.entries, true);
    entries = [...boot.entries];
    hardState = boot.hardState;
  }
  if (cfg.forceNewCluster === true && !recovered.fresh && hardState !== undefined) {
    const forced = await forceNewCluster(storage, recovered, entries, hardState, log);
    entries = forced.entries;
    hardState = forced.hardState;
  }
  return { entries, hardState };
}

interface StateMachines {
  readonly membership: Membership;
  readonly auth: AuthStore;
  /** Set once the server exists: token resolution waits on its applied index. */
  readonly serverRef: { current?: EtcdServer };
  readonly lessor: Lessor;
  readonly alarms: AlarmStore;
  readonly applier: Applier;
  readonly watchHub: WatchHub;
  /** The noLeaseFencing test fault (shared/test-faults.ts). */
  readonly noLeaseFencing: boolean;
}

/** Membership, lessor (with its key attachments), the applier over them, and the watch hub. */
async function openStateMachines(deps: MemberCoreDeps, storage: MemberStorage): Promise<StateMachines> {
  const { settings: cfg, logger } = deps;
  const membership = await Membership.load(storage.backend);
  // etcd reads its members back from the v2 store at start (a recursive get).
  deps.observe?.('store.readGetRecursive', 1);
  const lessor = await Lessor.open(storage.backend, {
    minTtlSeconds: minLeaseTtlSeconds(cfg.electionTimeoutMs, cfg.heartbeatIntervalMs),
    clock: deps.clock,
    logger,
    ...(deps.observe !== undefined ? { observe: deps.observe } : {}),
  });
  await recoverAttachments(lessor, storage.store);
  const alarms = await AlarmStore.load(storage.backend);
  const serverRef: { current?: EtcdServer } = {};
  const waitApplied = (index: number, signal?: AbortSignal): Promise<boolean> =>
    serverRef.current === undefined ? Promise.resolve(false) : serverRef.current.waitApplied(index, signal);
  const tokens =
    deps.authTokens?.(waitApplied) ??
    new SimpleTokenProvider({ clock: deps.clock, scheduler: deps.scheduler, rng: deps.rng, ttlMs: 0, waitApplied });
  const auth = await AuthStore.open(storage.backend, {
    tokens,
    ...(deps.bcryptCost !== undefined ? { bcryptCost: deps.bcryptCost } : {}),
    logger: logger.child({ component: 'auth' }),
  });
  const noLeaseFencing = deps.bugs?.noLeaseFencing === true;
  const applier = new Applier({
    store: () => storage.store,
    membership,
    lessor,
    alarms,
    logger,
    bugs: { noLeaseFencing },
    auth,
  });
  // The hub asserts revisions arrive without gaps: it must exist before any apply.
  const watchHub = new WatchHub({ store: storage.store, scheduler: deps.scheduler, logger });
  applier.onChanges((events, revision) => watchHub.notify(events, revision));
  return { membership, auth, serverRef, lessor, alarms, applier, watchHub, noLeaseFencing };
}

function newRaftNode(
  deps: MemberCoreDeps,
  recovered: RecoveredState,
  raftLog: { entries: Entry[]; hardState: HardState | undefined },
  electionTick: number,
): RaftNode {
  return new RaftNode({
    id: recovered.memberId,
    electionTick,
    heartbeatTick: 1,
    preVote: deps.settings.preVote,
    checkQuorum: true,
    rng: deps.rng,
    logger: deps.logger,
    snapshot: recovered.snapshot,
    entries: raftLog.entries,
    hardState: raftLog.hardState,
    maxSizePerMsg: 1024 * 1024,
    maxInflightMsgs: 4096 / 8,
    maxUncommittedEntriesSize: 1 << 30,
    ...(deps.bugs?.learnerCountsToCommit === true ? { bugs: { learnerCountsToCommit: true } } : {}),
  });
}

/** What runs beside the server and hears of leadership changes (set once built). */
interface Companions {
  leaseDriver?: LeaseDriver;
  compactor?: Compactor;
}

/** The peer link, the EtcdServer, the lease driver and the compactor, wired together. */
function assemble(
  deps: MemberCoreDeps,
  storage: MemberStorage,
  recovered: RecoveredState,
  state: StateMachines,
  node: RaftNode,
  electionTick: number,
  log: Logger,
): MemberCore {
  const cfg = deps.settings;
  let serverRef: EtcdServer | undefined;
  const peers = deps.makePeerLink({
    memberId: recovered.memberId,
    clusterId: recovered.clusterId,
    membership: state.membership,
    server: () => {
      if (serverRef === undefined) throw new Error('server not started');
      return serverRef;
    },
    needsNetwork:
      deps.initialMembers.length > 1 ||
      cfg.initialClusterState === 'existing' ||
      state.membership.size > 1 ||
      deps.joinPeers.length > 0,
  });
  const companions: Companions = {};
  const server = new EtcdServer({
    identity: { name: cfg.name, memberId: recovered.memberId, clusterId: recovered.clusterId },
    node,
    storage,
    applier: state.applier,
    limits: {
      maxRequestBytes: cfg.maxRequestBytes,
      requestTimeoutMs: 5000 + 2 * cfg.electionTimeoutMs,
      maxCommittedMinusApplied: 5000,
      electionTimeoutMs: cfg.electionTimeoutMs,
      snapshotCount: cfg.snapshotCount,
      snapshotCatchupEntries: cfg.snapshotCatchupEntries,
      backendBatchIntervalMs: BACKEND_BATCH_INTERVAL_MS,
      warningApplyDurationMs: cfg.warningApplyDurationMs ?? WARNING_APPLY_DURATION_MS_DEFAULT,
    },
    clock: deps.clock,
    scheduler: deps.scheduler,
    logger: deps.logger,
    sink: peers ?? { send: () => {} },
    bugs: deps.bugs ?? {},
    hooks: serverHooks(deps, storage, recovered, state, peers, companions, log),
    appliedIndex: recovered.appliedIndex,
    ...(deps.observe !== undefined ? { observe: deps.observe } : {}),
  });
  serverRef = server;
  state.serverRef.current = server;
  const leaseDriver = newLeaseDriver(deps, state, server);
  companions.leaseDriver = leaseDriver;
  if (cfg.autoCompaction !== undefined) {
    const compactor = newCompactor(deps, cfg.autoCompaction, storage, server);
    if (compactor !== undefined) companions.compactor = compactor;
  }
  return {
    server,
    storage,
    recovered,
    membership: state.membership,
    lessor: state.lessor,
    alarms: state.alarms,
    raiseAlarm: async (type, forMember) => {
      const payload = encodeAlarmRequest(AlarmAction.ACTIVATE, forMember ?? recovered.memberId, type);
      const outcome = await server.propose(RequestKind.Alarm, payload);
      if (!outcome.ok) throw outcome.error;
    },
    watchHub: state.watchHub,
    auth: state.auth,
    leaseDriver,
    compactor: companions.compactor,
    peers,
    knownPeers: knownPeersOf(deps.joinPeers, state.membership, recovered.memberId),
    start: (activePeers) => {
      server.start(cfg.heartbeatIntervalMs);
      advanceTicks(deps, server, recovered, state.membership, electionTick, activePeers);
      leaseDriver.start();
    },
  };
}

/** Every member this one knows (membership plus join peers) but itself, with peer URLs. */
function knownPeersOf(joinPeers: readonly Member[], membership: Membership, self: bigint): Map<bigint, readonly string[]> {
  const known = new Map<bigint, readonly string[]>();
  for (const m of joinPeers) known.set(m.id, m.peerUrls);
  for (const m of membership.members()) known.set(m.id, m.peerUrls);
  known.delete(self);
  return known;
}

/** How the server's events reach the peer link, the shell, the lease driver and the compactor. */
function serverHooks(
  deps: MemberCoreDeps,
  storage: MemberStorage,
  recovered: RecoveredState,
  state: StateMachines,
  peers: PeerLink | undefined,
  companions: Companions,
  log: Logger,
): ServerHooks {
  const { membership, lessor, alarms, watchHub, auth } = state;
  return {
    onMembershipApplied: (cc, m) => {
      // etcd keeps members in its v2 store: an add creates a node, a removal deletes
      // one, a promotion or peer-URL update updates it (etcd_debugging_store_writes_total).
      const observe = deps.observe ?? noObserve;
      if (cc.type === ConfChangeType.RemoveNode) observe('store.writeDelete', 1);
      else if (cc.type === ConfChangeType.UpdateNode) observe('store.writeUpdate', 1);
      else observe('store.writeCreate', 1);
      if (peers === undefined || cc.nodeId === recovered.memberId) return;
      if (cc.type === ConfChangeType.RemoveNode) peers.removePeer(cc.nodeId);
      else if (m !== undefined) peers.addPeer(cc.nodeId, m.peerUrls);
    },
    onRemoved: () => {
      log.warn({}, 'this member was removed from the cluster; stopping');
      deps.onRemoved?.();
    },
    onLeaderReady: () => companions.leaseDriver?.syncLeadership(),
    onLeaderChange: (lead, term, isLeader) => {
      companions.leaseDriver?.syncLeadership();
      if (isLeader) companions.compactor?.resume();
      else companions.compactor?.pause();
      deps.onLeaderChange?.(lead, term, isLeader);
    },
    onSnapshotInstalled: async () => {
      await membership.reload(storage.backend);
      await lessor.reload(storage.backend);
      await alarms.reload(storage.backend);
      await auth.recover(storage.backend);
      await recoverAttachments(lessor, storage.store);
      watchHub.restore(storage.store);
      for (const m of membership.members()) {
        if (m.id !== recovered.memberId) peers?.addPeer(m.id, m.peerUrls);
      }
    },
  };
}

function newLeaseDriver(deps: MemberCoreDeps, state: StateMachines, server: EtcdServer): LeaseDriver {
  const noLeaseFencing = state.noLeaseFencing;
  const observe = deps.observe ?? noObserve;
  return new LeaseDriver({
    lessor: state.lessor,
    scheduler: deps.scheduler,
    logger: deps.logger,
    electionTimeoutMs: deps.settings.electionTimeoutMs,
    leadership: () => ({ isReadyLeader: server.isReadyLeader(), term: server.raftStatus().term }),
    bugs: { noLeaseFencing },
    // Expiry and checkpoints are never forwarded (docs/architecture.md §1): only a leader proposes them
    // (the no-lease-fencing test switch lets a deposed leader's proposal be forwarded).
    proposeLocal: (kind, payload) => {
      if (!server.raftStatus().isLeader && !noLeaseFencing) {
        return Promise.reject(new TsetcdError('not-leader'));
      }
      if (kind !== 'expire') return server.propose(RequestKind.LeaseCheckpoint, payload);
      // etcd counts each lease its leader revoked for expiry (server_lease_expired_total).
      return server.propose(RequestKind.LeaseExpire, payload).then((outcome) => {
        if (outcome.ok) observe('lease.expired', 1);
        return outcome;
      });
    },
  });
}

function newCompactor(
  deps: MemberCoreDeps,
  policy: CompactionPolicy,
  storage: MemberStorage,
  server: EtcdServer,
): Compactor | undefined {
  return startCompactor(policy, {
    clock: deps.clock,
    scheduler: deps.scheduler,
    logger: deps.logger.child({ component: 'compactor' }),
    currentRevision: () => storage.store.currentRevision,
    // The same path as a client's Compact, so every member applies it in log order.
    compact: async (revision) => {
      const outcome = await server.propose(RequestKind.Compaction, compactionCodec.encode({ revision }));
      if (!outcome.ok) throw outcome.error;
    },
    isAlreadyCompacted: (err) => isTsetcdError(err, 'compacted'),
  });
}

/**
 * etcd's adjustTicks: a lone member fast-forwards at once; a member of a larger
 * cluster (a fresh one knows its size from initial-cluster) waits until it is
 * connected to more than one peer, then fast-forwards to two ticks short of an
 * election, so a (pre-)vote goes out soon after start instead of a whole randomized
 * election timeout later. PreVote and CheckQuorum keep it from disrupting a live leader.
 */
function advanceTicks(
  deps: MemberCoreDeps,
  server: EtcdServer,
  recovered: RecoveredState,
  membership: Membership,
  electionTick: number,
  activePeers: () => number,
): void {
  const cfg = deps.settings;
  const clusterSize = Math.max(
    membership.size,
    recovered.fresh && cfg.initialClusterState === 'new' ? deps.initialMembers.length : 0,
  );
  if (clusterSize === 1) return server.advanceTicks(electionTick - 1);
  if (!cfg.initialElectionTickAdvance) return;
  let waitedMs = 0;
  const poll = (): void => {
    if (server.isStopped) return;
    if (activePeers() > 1) return server.advanceTicks(Math.max(0, electionTick - 2));
    waitedMs += TICK_ADVANCE_POLL_MS;
    if (waitedMs < TICK_ADVANCE_WAIT_MS) deps.scheduler.after(TICK_ADVANCE_POLL_MS, poll);
  };
  deps.scheduler.after(TICK_ADVANCE_POLL_MS, poll);
}

/**
 * --force-new-cluster on a restart: rewrites the log so this member is the only voter
 * (cluster/force-new-cluster.ts) and saves the appended member changes before raft starts;
 * applying them removes the other members through the normal apply path.
 */
async function forceNewCluster(
  storage: MemberStorage,
  recovered: RecoveredState,
  entries: readonly Entry[],
  hardState: HardState,
  log: Logger,
): Promise<{ entries: Entry[]; hardState: HardState }> {
  const self = (await Membership.load(storage.backend)).get(recovered.memberId);
  // The WAL's last hard state can lag the db: everything applied was committed.
  const lastIndex = entries.at(-1)?.index ?? recovered.snapshot?.metadata.index ?? 0;
  const commit = Math.max(hardState.commit, Math.min(recovered.appliedIndex, lastIndex));
  const forced = forceNewClusterLog({
    selfId: recovered.memberId,
    self,
    snapshot: recovered.snapshot,
    entries,
    hardState: { ...hardState, commit },
  });
  if (forced.discarded > 0) {
    log.info({ 'commit-index-from-wal': hardState.commit, 'number-of-discarded-entries': forced.discarded }, 'discarding uncommitted WAL entries');
  }
  if (forced.appended.length > 0) await storage.save(forced.hardState, [...forced.appended], true);
  log.info(
    {
      'cluster-id': recovered.clusterId.toString(16),
      'local-member-id': recovered.memberId.toString(16),
      'commit-index': forced.hardState.commit,
      'removed-member-ids': forced.removed.map((id) => id.toString(16)),
    },
    'forcing restart member',
  );
  return { entries: [...forced.kept, ...forced.appended], hardState: forced.hardState };
}
