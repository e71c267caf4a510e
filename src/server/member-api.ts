/**
 * The one face the API sees: a MemberApi wraps a member core (member-core.ts) and is
 * handed to every v3rpc service the way etcd hands its *EtcdServer to
 * NewKVServer(s), NewLeaseServer(s), ... (etcd api/v3rpc/grpc.go). It satisfies each
 * service's narrow interface (KvBackend, LeaseBackend, WatchBackend,
 * MaintenanceBackend, ClusterBackend, RecipeBackend) and, structurally, the HTTP
 * side's HealthSource and MetricsSource; the handler tests keep using small fakes of
 * those interfaces.
 *
 * Contract: every answer is read from the core at call time (nothing is cached but the
 * settings); "has a leader" and the request timeout are defined here once. The rules
 * that need raft progress (moving leadership, promoting a learner, handing over on
 * stop) live here, next to the status they read. What only the process shell can do
 * (reach the leader's client URL, ask the peer transport) comes in as `leaderHop` and
 * `peerActiveSince`.
 */
import type { Clock } from '../shared/clock.js';
import { goDuration, type Logger } from '../shared/logger.js';
import type { Backend } from '../storage/backend.js';
import type { FileLayer } from '../storage/file-layer.js';
import type { Rng } from '../shared/rng.js';
import type { Scheduler } from '../shared/scheduler.js';
import { TsetcdError } from '../shared/errors.js';
import type { Cancelation } from '../shared/cancel.js';
import { noObserve, type Observe } from '../shared/observe.js';
import { SERVER_VERSION, CLUSTER_VERSION } from '../shared/version.js';
import { RequestKind } from '../apply/request.js';
import { ALARM_NAMES, AlarmType, alarmRequestCodec, alarmText } from '../apply/alarms.js';
import type * as pb from '../generated/pb.js';
import { encodeInternal } from '../apply/internal-request.js';
import { AuthGate, type AuthInfo, type AuthRequest, type AuthStore } from '../auth/index.js';
import type { ApplyOutcome } from '../apply/applier.js';
import type { Member, Membership } from '../cluster/membership.js';
import type { ConfChange } from '../raft/types.js';
import type { Lessor } from '../lease/index.js';
import type { MvccStore } from '../mvcc/index.js';
import type { WatchHub } from '../watch/index.js';
import { memberRecipeClient, type RecipeClient } from '../concurrency/index.js';
import type { ConsensusStatus, EtcdServer } from './etcd-server.js';
import { WARNING_APPLY_DURATION_MS_DEFAULT, type MemberCore } from './member-core.js';
import type { MemberStorage } from './member-storage.js';
import { HeaderFiller } from '../v3rpc/header.js';
import { BackendQuota } from '../apply/quota.js';
import type { KvBackend, ReadTexts } from '../v3rpc/kv.js';
import type { LeaseBackend, LeaseForwardKind, LeaseForwardRequests, LeaseForwardResponses } from '../v3rpc/lease.js';
import type { WatchBackend } from '../v3rpc/watch.js';
import type { MaintenanceBackend, SnapshotChunkOut } from '../v3rpc/maintenance.js';
import type { ClusterBackend } from '../v3rpc/cluster.js';
import type { RecipeBackend } from '../v3rpc/lock.js';
import type { AuthBackend } from '../v3rpc/auth.js';

/** The member settings the API reads (a subset of config's Config, by its names). */
export interface MemberApiSettings {
  readonly maxTxnOps: number;
  readonly initialClusterToken: string;
  readonly strictReconfigCheck: boolean;
  readonly maxLearners: number;
  readonly electionTimeoutMs: number;
  readonly maxRequestBytes: number;
  readonly watchProgressNotifyIntervalMs: number;
  /** As configured: 0 = etcd's default 2 GiB, negative = no quota (apply/quota.ts). */
  readonly quotaBackendBytes: number;
  /** --warning-apply-duration: slow reads served without the log warn as slow applies do. */
  readonly warningApplyDurationMs?: number;
}

/** A follower's hop to the leader (the shell dials the leader's client URL). */
export interface LeaderHop {
  forward<K extends LeaseForwardKind>(
    kind: K,
    req: LeaseForwardRequests[K],
    signal: AbortSignal,
  ): Promise<LeaseForwardResponses[K]>;
  /** `token`: the caller's auth token, sent along so the leader checks the same identity. */
  promote(id: bigint, signal?: AbortSignal, token?: string): Promise<void>;
}

export interface MemberApiDeps {
  readonly core: MemberCore;
  readonly settings: MemberApiSettings;
  readonly leaderHop: LeaderHop;
  /** Monotonic ms since the peer transport's stream to `id` connected (etcd ActiveSince). */
  readonly peerActiveSince: (id: bigint) => number | undefined;
  /** Members the peers listed when this member joined (its learner flag before apply). */
  readonly joinPeers: readonly Member[];
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly rng: Rng;
  readonly logger: Logger;
  /** --client-cert-auth: a verified client certificate's CN is the user when no token is sent. */
  readonly clientCertAuth?: boolean;
  /** --bcrypt-cost for UserAdd/UserChangePassword (hashed here, before proposing). */
  readonly bcryptCost?: number;
  /** Maintenance.Snapshot's stream of the state db (snapshot/save.ts streamEtcdSnapshot). */
  readonly streamSnapshot: (
    backend: Backend,
    send: (chunk: SnapshotChunkOut) => Promise<void>,
    env: {
      readonly logger: Logger;
      readonly nowMs: () => number;
      readonly spool: { readonly fs: FileLayer; readonly dir: string };
      readonly signal?: AbortSignal;
    },
  ) => Promise<void>;
  /** Counts and timings for the metrics (shared/observe.ts). */
  readonly observe?: Observe;
}

/** Writes whose permission apply checks against the proposer's identity. */
const CHECKED_WRITES: ReadonlySet<RequestKind> = new Set<RequestKind>([
  RequestKind.Put,
  RequestKind.DeleteRange,
  RequestKind.Txn,
  RequestKind.LeaseRevoke,
]);

/** etcd's rule for promoting a learner: its match index is at least 90% of the leader's. */
const LEARNER_READY_FRACTION = 0.9;
const PUBLISH_RETRY_MS = 200;

export class MemberApi
  implements KvBackend, LeaseBackend, WatchBackend, MaintenanceBackend, ClusterBackend, RecipeBackend, AuthBackend
{
  readonly headers: HeaderFiller;
  readonly auth: AuthStore;
  readonly gate: AuthGate;
  readonly bcryptCost: number;
  readonly lessor: Lessor;
  readonly hub: WatchHub;
  readonly selfId: bigint;
  readonly requestTimeoutMs: number;
  readonly maxTxnOps: number;
  readonly clusterToken: string;
  readonly strictReconfigCheck: boolean;
  readonly maxLearners: number;
  readonly electionTimeoutMs: number;
  readonly maxRequestBytes: number;
  readonly progressNotifyIntervalMs: number;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly rng: Rng;
  readonly logger: Logger;
  readonly observe: Observe;
  private readonly server: EtcdServer;
  private defrags = 0;
  private readonly storage: MemberStorage;
  private readonly membership: Membership;
  private readonly log: Logger;
  readonly quota: BackendQuota;

  constructor(private readonly deps: MemberApiDeps) {
    const { core, settings } = deps;
    this.server = core.server;
    this.storage = core.storage;
    this.membership = core.membership;
    this.lessor = core.lessor;
    this.hub = core.watchHub;
    this.auth = core.auth;
    this.gate = new AuthGate(core.auth, deps.clientCertAuth === true);
    this.bcryptCost = deps.bcryptCost ?? 10;
    this.selfId = core.recovered.memberId;
    this.requestTimeoutMs = core.server.requestTimeoutMs;
    this.maxTxnOps = settings.maxTxnOps;
    this.clusterToken = settings.initialClusterToken;
    this.strictReconfigCheck = settings.strictReconfigCheck;
    this.maxLearners = settings.maxLearners;
    this.electionTimeoutMs = settings.electionTimeoutMs;
    this.maxRequestBytes = settings.maxRequestBytes;
    this.progressNotifyIntervalMs = settings.watchProgressNotifyIntervalMs;
    this.clock = deps.clock;
    this.scheduler = deps.scheduler;
    this.rng = deps.rng;
    this.logger = deps.logger;
    this.observe = deps.observe ?? noObserve;
    this.log = deps.logger.child({ component: 'member' });
    this.headers = new HeaderFiller({
      clusterId: core.recovered.clusterId,
      memberId: core.recovered.memberId,
      raftTerm: () => this.server.raftStatus().term,
      currentRevision: () => this.storage.store.currentRevision,
    });
    this.quota = new BackendQuota(settings.quotaBackendBytes, () => this.storage.dbSizeEstimate(), this.log);
  }

  // --- consensus -------------------------------------------------------------

  /** The store of the moment (a snapshot install replaces it). */
  get store(): MvccStore {
    return this.storage.store;
  }

  /**
   * Proposes a request. A Put, Txn or LeaseGrant that would take the state db past the
   * quota raises NOSPACE first and fails (etcd quotaAlarmer.check). With `caller` (a
   * client's write), a write apply checks carries the caller's identity in its entry's
   * header whether auth is on or off here (anonymous while off), so apply checks it
   * against the auth state of its own log position: a write proposed before an
   * `auth enable` and applied after it is refused as etcd refuses it (apply/request.ts).
   */
  async propose(kind: RequestKind, payload: Uint8Array, signal?: Cancelation, caller?: AuthInfo): Promise<ApplyOutcome> {
    if (!this.quota.available(kind, payload)) {
      await this.raiseAlarm(AlarmType.NOSPACE).catch((err: unknown) => {
        this.log.warn({ err }, 'cannot raise the NOSPACE alarm');
      });
      throw new TsetcdError('no-space');
    }
    return this.server.propose(kind, payload, signal, caller !== undefined && CHECKED_WRITES.has(kind) ? caller : undefined);
  }

  /** The Lock and Election recipes' loopback client, its writes proposed as `caller`'s. */
  recipeClient(caller: AuthInfo): RecipeClient {
    return memberRecipeClient(this, caller);
  }

  /** An Auth service request, as an Internal entry carrying the caller's identity. */
  proposeAuth(req: AuthRequest, caller: AuthInfo, signal?: AbortSignal): Promise<ApplyOutcome> {
    const header = { username: caller.username, authRevision: caller.revision };
    return this.server.propose(RequestKind.Internal, encodeInternal({ header, body: { type: 'auth', req } }), signal);
  }

  proposeConfChange(type: ConfChange['type'], member: Member, signal?: AbortSignal): Promise<ApplyOutcome> {
    return this.server.proposeConfChange(type, member, signal);
  }

  linearizableReadPoint(signal?: AbortSignal): Promise<void> {
    return this.server.linearizableReadPoint(signal);
  }

  /** This member knows a leader (etcd: Leader() != None). */
  hasLeader(): boolean {
    return this.server.raftStatus().lead !== 0n;
  }

  isLeader(): boolean {
    return this.server.raftStatus().isLeader;
  }

  isReadyLeader(): boolean {
    return this.server.isReadyLeader();
  }

  /**
   * etcd answers isLearner from its member list (for a joining member: the list the
   * peers gave it), not from raft's configuration, which a new learner only learns
   * once the leader's log or snapshot reaches it.
   */
  isLearner(): boolean {
    const id = this.selfId;
    return (
      this.membership.get(id)?.isLearner ??
      this.deps.joinPeers.find((m) => m.id === id)?.isLearner ??
      this.server.raftStatus().isLearner
    );
  }

  raftStatus(): ConsensusStatus {
    return { ...this.server.raftStatus(), isLearner: this.isLearner() };
  }

  appliedIndex(): number {
    return this.server.appliedIndex;
  }

  committedIndex(): number {
    return this.server.raftStatus().commit;
  }

  pendingProposals(): number {
    return this.server.pendingProposals;
  }

  currentRevision(): number {
    return this.storage.store.currentRevision;
  }

  compactRevision(): number {
    return this.storage.store.compactRevision;
  }

  /**
   * etcd's publish: a started member proposes its name and client URLs through the
   * log; once applied it has joined the cluster (the point etcd tells systemd it is
   * ready). Retried until it succeeds or the server stops. A full disk fails pending
   * proposals with 'stopped' while the member stays up (EtcdServer freezeNoSpace): that
   * is retried too, or a member restarted on a full disk would exit instead of serving
   * reads with NOSPACE (seen in the Jepsen long profile, register-disk-full-long).
   */
  async publishAttributes(name: string, clientUrls: readonly string[]): Promise<void> {
    const attrs = { id: this.selfId.toString(16), name, clientURLs: clientUrls };
    const payload = Buffer.from(JSON.stringify(attrs), 'utf8');
    for (let attempt = 0; ; attempt++) {
      try {
        const outcome = await this.server.propose(RequestKind.MemberAttributes, payload);
        if (outcome.ok) {
          // etcd sets the member's attributes node in its v2 store.
          this.observe('store.writeSet', 1);
          return;
        }
        throw outcome.error;
      } catch (err) {
        if (err instanceof TsetcdError && err.code === 'stopped' && !this.server.isFrozen) throw err;
        if (attempt % 10 === 9) this.log.warn({ err }, 'cannot publish member attributes yet; retrying');
        await new Promise<void>((resolve) => this.scheduler.after(PUBLISH_RETRY_MS, resolve));
      }
    }
  }

  // --- lease -----------------------------------------------------------------

  syncLeadership(): void {
    this.deps.core.leaseDriver.syncLeadership();
  }

  /** etcd 3.6 ensureLeadership: a ReadIndex round, then still the ready leader. */
  async confirmLeadership(signal: AbortSignal): Promise<void> {
    await this.server.linearizableReadPoint(signal);
    if (!this.server.isReadyLeader()) throw new TsetcdError('not-leader');
  }

  forwardToLeader<K extends LeaseForwardKind>(
    kind: K,
    req: LeaseForwardRequests[K],
    signal: AbortSignal,
  ): Promise<LeaseForwardResponses[K]> {
    return this.deps.leaderHop.forward(kind, req, signal);
  }

  // --- maintenance and health ---------------------------------------------------

  dbSizeBytes(): Promise<number> {
    return this.storage.dbSizeBytes();
  }

  dbSizeInUseBytes(): Promise<number> {
    return this.storage.dbSizeInUseBytes();
  }

  quotaBackendBytes(): number {
    return this.quota.reportedBytes;
  }

  async defragment(): Promise<void> {
    const started = this.clock.nowMs();
    this.defrags++;
    try {
      await this.storage.defragment();
    } finally {
      this.defrags--;
      this.observe('backend.defrag', (this.clock.nowMs() - started) / 1000);
    }
  }

  /** A defragmentation is running (etcd_disk_defrag_inflight). */
  defragInflight(): boolean {
    return this.defrags > 0;
  }

  forEachRecord(fn: (key: Buffer, value: Buffer) => void): Promise<void> {
    return this.storage.forEachRecord(fn);
  }

  /** Maintenance.Snapshot: everything applied before the call, and maybe more; followers serve it too, as etcd's do. */
  async streamSnapshot(send: (chunk: SnapshotChunkOut) => Promise<void>, signal?: AbortSignal): Promise<void> {
    await this.server.flushDb();
    await this.deps.streamSnapshot(this.storage.backend, send, {
      logger: this.log,
      nowMs: () => this.clock.nowMs(),
      spool: this.storage.snapshotSpoolDir(),
      ...(signal === undefined ? {} : { signal }),
    });
  }

  /**
   * Raised alarms as etcd's Status.errors lists them (AlarmMember.String()), and this
   * member's own NOSPACE while its disk is full (kept local: the other members' disks
   * have room, docs/architecture.md §3).
   */
  alarmErrors(): readonly string[] {
    const raised = this.deps.core.alarms.get().map(alarmText);
    const id = this.server.identity.memberId;
    const local = this.server.localAlarms().map((name) => `memberID:${id.toString()} alarm:${name} `);
    return [...new Set([...raised, ...local])];
  }

  /** Alarm names for /health ('NOSPACE', 'CORRUPT'), this member's full disk included. */
  activeAlarms(): readonly string[] {
    return [...new Set([...this.deps.core.alarms.get().map((a) => ALARM_NAMES[a.type]), ...this.server.localAlarms()])];
  }

  /** Maintenance.Alarm: every action goes through the log, as etcd's EtcdServer.Alarm. */
  async alarm(req: pb.AlarmRequest, signal?: AbortSignal): Promise<pb.AlarmResponse> {
    const outcome = await this.server.propose(RequestKind.Alarm, alarmRequestCodec.encode(req), signal);
    if (!outcome.ok) throw outcome.error;
    return outcome.response as pb.AlarmResponse;
  }

  /** Raises `type` for this member through the log (see MemberCore.raiseAlarm). */
  raiseAlarm(type: AlarmType): Promise<void> {
    return this.deps.core.raiseAlarm(type);
  }

  /**
   * etcd's warnOfExpensiveReadOnlyRangeRequest / ...ReadOnlyTxnRequest: a read slower
   * than --warning-apply-duration logs "apply request took too long" with the prefix
   * "read-only range " and counts as a slow apply (etcd_server_slow_apply_total). The
   * texts are made only for a slow read: a fast one must not pay for encoding its answer.
   */
  readTimer(): (describe: () => ReadTexts) => void {
    const started = this.clock.nowMs();
    const limitMs = this.deps.settings.warningApplyDurationMs ?? WARNING_APPLY_DURATION_MS_DEFAULT;
    return (describe) => {
      const took = this.clock.nowMs() - started;
      if (!(took > limitMs)) return;
      this.observe('server.slowApply', 1);
      const { request, response } = describe();
      this.logger.warn(
        { took: goDuration(took), 'expected-duration': goDuration(limitMs), prefix: 'read-only range ', request, response },
        'apply request took too long',
      );
    };
  }

  /** /health's read: a Range of "health" (linearizable unless asked otherwise). */
  async checkRange(serializable: boolean): Promise<void> {
    if (!serializable) await this.server.linearizableReadPoint();
    await this.storage.store.range({ key: Buffer.from('health'), limit: 1, keysOnly: true });
  }

  serverVersion(): string {
    return SERVER_VERSION;
  }

  clusterVersion(): string {
    return CLUSTER_VERSION;
  }

  /**
   * MoveLeader: only the leader can move leadership, and only to a voter. Moving it to
   * the member that already leads succeeds at once: etcd's MoveLeader waits while
   * `Lead() != transferee`, which is already false (etcdctl prints "Leadership
   * transferred from X to X"; etcdserver/server.go MoveLeader).
   */
  async moveLeader(target: bigint): Promise<void> {
    const st = this.server.raftStatus();
    if (!st.isLeader) throw new TsetcdError('not-leader');
    const m = this.membership.get(target);
    if (m === undefined || m.isLearner) throw new TsetcdError('bad-leader-transferee');
    if (target === st.id) return;
    await this.server.transferLeadership(target, this.requestTimeoutMs);
  }

  /**
   * Like etcd on SIGTERM: a leader hands over to the voter with the highest match
   * index first, so a restart under systemd does not cost the cluster an election
   * timeout. A failed transfer only delays the stop.
   */
  async handOverLeadership(): Promise<void> {
    const st = this.server.raftStatus();
    if (!st.isLeader) return;
    let best: { id: bigint; match: number } | undefined;
    for (const [id, pr] of this.server.progress()) {
      if (id === st.id || this.membership.get(id)?.isLearner !== false) continue;
      if (best === undefined || pr.match > best.match) best = { id, match: pr.match };
    }
    if (best === undefined) return;
    try {
      await this.server.transferLeadership(best.id, 2 * this.electionTimeoutMs);
      this.log.info({ to: best.id.toString(16) }, 'transferred leadership before stopping');
    } catch (err) {
      this.log.warn({ err }, 'leadership transfer before stopping failed; stopping anyway');
    }
  }

  // --- cluster -----------------------------------------------------------------

  members(): readonly Member[] {
    return this.membership.members();
  }

  member(id: bigint): Member | undefined {
    return this.membership.get(id);
  }

  isRemoved(id: bigint): boolean {
    return this.membership.isRemoved(id);
  }

  nowSeconds(): number {
    return Math.floor(this.clock.wallMs() / 1000);
  }

  nowMs(): number {
    return this.clock.nowMs();
  }

  peerActiveSinceMs(id: bigint): number | undefined {
    return this.deps.peerActiveSince(id);
  }

  /**
   * etcd's rule for promoting a learner: its match index is at least 90% of the
   * leader's. Only the leader knows the progress of each member.
   */
  async learnerReady(id: bigint): Promise<boolean> {
    const st = this.server.raftStatus();
    if (!st.isLeader) throw new TsetcdError('not-leader');
    const progress = this.server.progress();
    const leaderMatch = progress.get(st.id)?.match ?? 0;
    const learnerMatch = progress.get(id)?.match ?? 0;
    return learnerMatch >= leaderMatch * LEARNER_READY_FRACTION;
  }

  promoteOnLeader(id: bigint, signal?: AbortSignal, token?: string): Promise<void> {
    return this.deps.leaderHop.promote(id, signal, token);
  }
}
