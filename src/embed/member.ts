/**
 * Starts one member from its Config, as etcd's embed.StartEtcd does, in named steps:
 *
 *   resolveIdentity      who this member is; for a fresh data dir, whether it joins
 *   openCore             storage, Raft node, applier, watch hub, lease driver
 *                        (server/member-core.ts, the part the simulator runs too)
 *   startPeerNetwork     the cluster transport, when there are peers
 *   buildGrpcRouter      the v3 services over one MemberApi (server/member-api.ts)
 *   buildHttpHandler     /health, /version, /metrics (src/http)
 *   listen               every client and metrics URL
 *   publishAttributes    name and client URLs through the log: the member has joined
 *
 * and `stop`, the same steps backwards. This module is the process shell: the only
 * place that reads the environment and uses the real clock, scheduler, randomness and
 * files; everything below takes them by injection.
 */
import { join } from 'node:path';
import { constants as h2constants } from 'node:http2';
import type { Config } from '../config/index.js';
import { formatUrl, parseGoDurationMs, urlHostPort } from '../config/index.js';
import { nullLogger, type Logger } from '../shared/logger.js';
import { systemClock } from '../shared/clock.js';
import { systemScheduler } from '../shared/scheduler.js';
import { systemRng } from '../shared/rng.js';
import { StartRefusal, TsetcdError } from '../shared/errors.js';
import { SERVER_VERSION, CLUSTER_VERSION } from '../shared/version.js';
import { memberId as memberIdOf, clusterId as clusterIdOf, type MemberId } from '../shared/ids.js';
import { computeClusterId, computeMemberId } from '../cluster/ids.js';
import type { Member } from '../cluster/membership.js';
import { nodeFileLayer } from '../storage/node-file-layer.js';
import { powerCutFileLayer } from '../storage/power-cut-file-layer.js';
import {
  FSYNC_EIO_TRIGGER,
  fsyncEioFileLayer,
  SLOW_FSYNC_TRIGGER,
  slowFsyncFileLayer,
} from '../storage/sync-fault-file-layer.js';
import type { FileLayer } from '../storage/file-layer.js';
import type { EtcdServer } from '../server/etcd-server.js';
import { faultNames, testFaultsFromEnv } from '../shared/test-faults.js';
import { MemberStorage, SPACE_RESERVE_BYTES_DEFAULT } from '../server/member-storage.js';
import { openMemberCore, type MemberCore } from '../server/member-core.js';
import { MemberApi } from '../server/member-api.js';
import { streamEtcdSnapshot } from '../snapshot/save.js';
import { GrpcRouter, type CallObserver } from '../grpc/server.js';
import { toGrpcError } from '../v3rpc/errors.js';
import { registerServices } from '../v3rpc/services.js';
import { kvHandlers } from '../v3rpc/kv.js';
import { leaseHandlers } from '../v3rpc/lease.js';
import { watchHandlers } from '../v3rpc/watch.js';
import { maintenanceHandlers } from '../v3rpc/maintenance.js';
import { clusterHandlers } from '../v3rpc/cluster.js';
import { electionHandlers } from '../v3rpc/election.js';
import { lockHandlers } from '../v3rpc/lock.js';
import { logRequestStats } from '../v3rpc/request-stats.js';
import { HEALTH_SERVICE, ServingStatus, registerHealth } from '../grpc/health.js';
import { authHandlers } from '../v3rpc/auth.js';
import { AuthOptionsError, createTokenProvider, cryptoRng, type TokenProvider } from '../auth/index.js';
import { readFileSync } from 'node:fs';
import { MemberMetrics, type GrpcCallObserver, type GrpcServiceMethods, type MetricsSource } from '../http/metrics.js';
import { SERVICES } from '../generated/pb.js';
import { memberHttpHandler } from '../http/router.js';
import { Gateway, type GatewayDispatch } from '../http/gateway.js';
import { servePprof } from '../http/pprof.js';
import { startGcStats } from './gc-stats.js';
import { CpuProfileBusy, InspectorProfiler } from './profiler.js';
import type { HttpHandler } from '../http/types.js';
import { TlsContextSource } from '../tls/index.js';
import { ensureSelfCert } from './auto-tls.js';
import { ClientListener, type GrpcStreamHandler } from './client-listener.js';
import { FirstStart, checkDataDir, probePeerPorts, tlsProblems } from './preflight.js';
import { LeaderForwarder } from './lease-forward.js';
import { initialCorruptCheck, startCorruptMonitor, type CorruptCheckDeps } from './corrupt-check.js';
import { AlarmType } from '../generated/pb.js';
import { logClosing, logReady, logServing, logStartingMember, warnSlowSync } from './lifecycle-log.js';
import {
  createPeerNetwork,
  joinInfo,
  refuseIfAlreadyBootstrapped,
  type PeerNetwork,
  type PeerNetworkFactory,
} from './network.js';

/** gRPC's receive limit is max-request-bytes plus this much (etcd's grpc setting). */
const GRPC_OVERHEAD_BYTES = 512 * 1024;

export interface RunningMember {
  readonly server: EtcdServer;
  readonly memberId: MemberId;
  /** Bound client ports, in listen-client-urls order (useful with port 0). */
  readonly clientPorts: readonly number[];
  /** Resolves once the member has published its name and client URLs (it joined). */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
  /** Called when the member learns it was removed from the cluster. */
  onRemoved(fn: () => void): void;
}

export interface MemberOptions {
  /** Builds the peer network for multi-member clusters (the cluster transport). */
  readonly network?: PeerNetworkFactory;
}


/**
 * Everything that can fail is checked before the data dir is created or changed
 * (preflight.ts: certificates, the data dir, peer ports; then the client listeners bind),
 * and a first start that fails after all removes what it created: the next start
 * bootstraps from the configuration it is given, not from a half-made identity.
 */
export async function startMember(config: Config, logger: Logger, options: MemberOptions = {}): Promise<RunningMember> {
  const log = logger.child({ component: 'member' });
  reportUnsafeSwitches(config, log);
  startGcStats(process.env, log);
  const problem = tlsProblems(config)[0];
  if (problem !== undefined) throw new StartRefusal('tls', `cannot start: ${problem}`);
  checkAuthToken(config);
  await checkDataDir(config, log);
  await probePeerPorts(config);
  const firstStart = (await MemberStorage.isFresh(nodeFileLayer, config.dataDir)) ? await FirstStart.record(config) : undefined;
  const removal = new RemovalSignal();
  const identity = await resolveIdentity(config, log);
  const late: LateHandlers = { router: undefined, http: undefined, authEnabled: undefined };
  const listeners = await listen(config, late, log);
  try {
    return await startOnListeners(config, logger, options, identity, removal, listeners, late);
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    await firstStart?.undo(log);
    throw err;
  }
}

/** The member behind listeners already bound: the core, the peer network, the API. */
async function startOnListeners(
  config: Config,
  logger: Logger,
  options: MemberOptions,
  identity: Identity,
  removal: RemovalSignal,
  listeners: readonly ClientListener[],
  late: LateHandlers,
): Promise<RunningMember> {
  const log = logger.child({ component: 'member' });
  const metrics = new MemberMetrics({
    serverVersion: SERVER_VERSION,
    clusterVersion: CLUSTER_VERSION,
    runtimeVersion: process.version,
    nowMs: () => systemClock.nowMs(),
    extensive: config.metrics === 'extensive',
  });
  const { core, network } = await openCore(config, logger, identity, metrics, removal, options);
  logStartingMember(log, core.recovered.memberId, core.recovered.clusterId);
  await startPeerNetwork(core, network);
  const forwarder = new LeaderForwarder(() => core.membership.get(core.server.raftStatus().lead)?.clientUrls ?? [], {
    certFile: config.clientTls.clientCertFile ?? config.clientTls.certFile,
    keyFile: config.clientTls.clientKeyFile ?? config.clientTls.keyFile,
    trustedCaFile: config.clientTls.trustedCaFile,
  });
  const corruptDeps = corruptCheckDeps(core, forwarder, log);
  // etcd checks before it serves clients, once the peers are reachable (embed/etcd.go).
  if (config.featureGates.initialCorruptCheck) {
    await initialCorruptCheck(corruptDeps).catch(async (err: unknown) => {
      forwarder.close();
      await network?.stop();
      await core.server.stop();
      throw err;
    });
  }
  const api = new MemberApi({
    core,
    settings: config,
    leaderHop: forwarder,
    peerActiveSince: (id) => network?.activeSince(id),
    joinPeers: identity.joinPeers,
    clock: systemClock,
    scheduler: systemScheduler,
    rng: systemRng(),
    logger,
    clientCertAuth: config.clientTls.clientCertAuth,
    bcryptCost: config.bcryptCost,
    streamSnapshot: streamEtcdSnapshot,
    observe: metrics.observe,
  });
  const router = buildGrpcRouter(config, api, metrics, log);
  late.router = router;
  late.http = buildHttpHandler(api, metrics, core, network);
  late.authEnabled = () => api.gate.enabled;
  const memberId = core.recovered.memberId;
  logServing(log, config, memberId);
  const corruptMonitor = config.corruptCheckTimeMs > 0 ? startCorruptMonitor(corruptDeps, config.corruptCheckTimeMs) : undefined;
  const ready = api
    .publishAttributes(config.name, config.advertiseClientUrls.map(formatUrl))
    .then(() => logReady(log, config, memberId, core.recovered.clusterId));
  const stop = async (): Promise<void> => {
    logClosing(log, config, false);
    await api.handOverLeadership();
    router.close();
    core.watchHub.close();
    await Promise.all(listeners.map((l) => l.close()));
    core.leaseDriver.stop();
    core.compactor?.stop();
    corruptMonitor?.stop();
    forwarder.close();
    await network?.stop();
    await core.server.stop();
    core.auth.tokenProvider.close();
    logClosing(log, config, true);
  };
  return {
    server: core.server,
    memberId: core.recovered.memberId,
    clientPorts: listeners.slice(0, config.listenClientUrls.length).map((l) => l.port()),
    ready,
    stop,
    onRemoved: (fn) => removal.on(fn),
  };
}

/** The corruption checks over this member's store, its peers' client URLs and the log. */
function corruptCheckDeps(core: MemberCore, forwarder: LeaderForwarder, log: Logger): CorruptCheckDeps {
  const self = core.recovered.memberId;
  return {
    selfId: self,
    localHash: async () => {
      const r = await core.storage.store.hashKV(0);
      return { hash: r.hash, revision: r.revision, compactRevision: r.compactRevision };
    },
    peers: () => core.membership.members().filter((m) => m.id !== self).map((m) => ({ id: m.id, clientUrls: m.clientUrls })),
    fetch: (url, revision) => forwarder.hashKV(url, revision),
    isLeader: () => core.server.raftStatus().isLeader,
    readIndex: () => core.server.linearizableReadPoint(),
    // Member id 0: etcd 3.4 does not know which side is damaged (etcdserver/corrupt.go).
    raiseCorrupt: () => core.raiseAlarm(AlarmType.CORRUPT, 0n),
    scheduler: systemScheduler,
    logger: log,
  };
}

/** The process learns of its removal from the core or from a peer's 410. */
class RemovalSignal {
  private fn: (() => void) | undefined;
  on(fn: () => void): void {
    this.fn = fn;
  }
  fire(): void {
    this.fn?.();
  }
}

interface Identity {
  readonly initialMembers: readonly Member[];
  /** Identity to record when the data dir is new. */
  readonly newIdentity: { memberId: MemberId; clusterId: ReturnType<typeof clusterIdOf> };
  /** Members the peers listed when joining an existing cluster. */
  readonly joinPeers: readonly Member[];
  readonly fs: FileLayer;
}

/**
 * Who this member is (etcd bootstrap.go): from initial-cluster for a new cluster;
 * for a fresh data dir, the peers decide: a new cluster that already knows this member
 * as started is refused (it lost its data), and joining an existing one asks them for
 * the cluster and member ids. A data dir that holds an identity keeps it (openCore).
 */
/**
 * Logs each test-only switch this member runs with, one line apiece ("UNSAFE TEST SWITCH
 * <name> IS ON"), from the parsed settings that turn it on: test/jepsen/bites.test.ts
 * starts a member with a switch and requires its line, so a switch name that only
 * appears somewhere in the code never passes for a switch (docs/architecture.md §5).
 */
function reportUnsafeSwitches(config: Config, log: Logger): void {
  const on = faultNames(testFaultsFromEnv(process.env));
  if (config.unsafeNoFsync) on.push('unsafe-no-fsync');
  for (const name of on) log.warn({ switch: name }, `UNSAFE TEST SWITCH ${name} IS ON`);
}

async function resolveIdentity(config: Config, log: Logger): Promise<Identity> {
  const token = config.initialClusterToken;
  const initialMembers: Member[] = config.initialCluster.map((m) => {
    const peerUrls = m.peerUrls.map(formatUrl);
    return { id: computeMemberId(peerUrls, token), name: m.name, peerUrls, clientUrls: [], isLearner: false };
  });
  const self = initialMembers.find((m) => m.name === config.name);
  const myPeerUrls = config.initialAdvertisePeerUrls.map(formatUrl);
  const faults = testFaultsFromEnv(process.env);
  const base = faults.powerCut === true ? powerCutFileLayer(nodeFileLayer) : nodeFileLayer;
  const eio = faults.fsyncEio === true ? fsyncEioFileLayer(base, `${config.dataDir}/${FSYNC_EIO_TRIGGER}`) : base;
  const fs = faults.slowFsync === true ? slowFsyncFileLayer(eio, `${config.dataDir}/${SLOW_FSYNC_TRIGGER}`) : eio;
  const computed: Identity = {
    initialMembers,
    newIdentity: {
      memberId: self?.id ?? computeMemberId(myPeerUrls, token),
      clusterId: computeClusterId(initialMembers.map((m) => m.id)),
    },
    joinPeers: [],
    fs,
  };
  if (!(await MemberStorage.isFresh(fs, config.dataDir))) return computed;
  const others = initialMembers.filter((m) => m.name !== config.name);
  if (config.initialClusterState === 'new' && self !== undefined) {
    await refuseIfAlreadyBootstrapped(config, self, others);
    return computed;
  }
  if (config.initialClusterState !== 'existing') return computed;
  const join = await joinInfo(config, others.flatMap((m) => m.peerUrls), myPeerUrls);
  log.info({ memberId: join.memberId.toString(16), clusterId: join.clusterId.toString(16) }, 'joining an existing cluster');
  return {
    ...computed,
    newIdentity: { memberId: memberIdOf(join.memberId), clusterId: clusterIdOf(join.clusterId) },
    joinPeers: join.members,
  };
}

/** Opens the member core on the real clock, scheduler and files; builds the peer network it asks for. */
async function openCore(
  config: Config,
  logger: Logger,
  identity: Identity,
  metrics: MemberMetrics,
  removal: RemovalSignal,
  options: MemberOptions,
): Promise<{ core: MemberCore; network: PeerNetwork | undefined }> {
  let network: PeerNetwork | undefined;
  const core = await openMemberCore({
    settings: config,
    storageTimers: {
      ...metrics.storageTimers,
      walFsync: warnSlowSync(logger.child({ component: 'wal' }), () => metrics.storageTimers.walFsync()),
      backendCommit: () => metrics.storageTimers.backendCommit(),
    },
    spaceReserveBytes: SPACE_RESERVE_BYTES_DEFAULT,
    observe: metrics.observe,
    onLeaderChange: (lead) => metrics.leaderChanged(lead),
    initialMembers: identity.initialMembers,
    newIdentity: identity.newIdentity,
    joinPeers: identity.joinPeers,
    fs: identity.fs,
    clock: systemClock,
    scheduler: systemScheduler,
    rng: systemRng(),
    logger,
    bugs: testFaultsFromEnv(process.env),
    authTokens: (waitApplied) => tokenProviderFor(config, waitApplied, logger),
    bcryptCost: config.bcryptCost,
    makePeerLink: (args) => {
      if (!args.needsNetwork) return undefined;
      network =
        options.network !== undefined
          ? options.network(args)
          : createPeerNetwork({
              ...args,
              config,
              logger,
              onRemoved: () => removal.fire(),
              onRoundTrip: (id, seconds) => metrics.peerRoundTrip(id, seconds),
              onSnapshotTimed: (direction, id, seconds) => metrics.peerSnapshotTimed(direction, id, seconds),
            });
      return network;
    },
    onRemoved: () => removal.fire(),
  }).catch((err: unknown) => {
    // Another running member holds the state db's lock (classic-level LEVEL_LOCKED).
    const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
    if (cause?.code !== 'LEVEL_LOCKED') throw err;
    throw new StartRefusal(
      'in-use',
      `cannot start: the data dir ${config.dataDir} is in use by another running member (its state db is locked)`,
      { cause: err },
    );
  });
  return { core, network };
}

/** --auth-token as etcd reads it (auth/store.go NewTokenProvider), on real time and crypto randomness. */
function tokenProviderFor(
  config: Config,
  waitApplied: (index: number, signal?: AbortSignal) => Promise<boolean>,
  logger: Logger,
): TokenProvider {
  return createTokenProvider(config.authToken, {
    clock: systemClock,
    scheduler: systemScheduler,
    rng: cryptoRng(),
    simpleTtlSeconds: config.authTokenTtlSeconds,
    waitApplied,
    readFile: (path) => readFileSync(path),
    parseDurationMs: parseGoDurationMs,
    logger: logger.child({ component: 'auth' }),
  });
}

/**
 * --auth-token is read (its key files parsed) before anything is created, so a bad
 * option or key refuses the start with one line (etcd exits at NewTokenProvider, before
 * its data dir holds a member).
 */
function checkAuthToken(config: Config): void {
  try {
    tokenProviderFor(config, () => Promise.resolve(true), nullLogger).close();
  } catch (err) {
    if (!(err instanceof AuthOptionsError)) throw err;
    throw new StartRefusal('auth-token', `cannot start: --auth-token: ${err.message}`, { cause: err });
  }
}

/**
 * Connects to the known peers, then starts the core: ticking, the Ready loop, lease
 * expiry. initial-election-tick-advance counts the peers connected (etcd ActivePeers).
 */
async function startPeerNetwork(core: MemberCore, network: PeerNetwork | undefined): Promise<void> {
  if (network !== undefined) {
    for (const [id, urls] of core.knownPeers) network.addPeer(id, urls);
    try {
      await network.start();
    } catch (err) {
      await core.storage.close();
      throw err;
    }
  }
  const self = core.recovered.memberId;
  core.start(() => {
    let n = 0;
    for (const m of core.membership.members()) if (m.id !== self && network?.activeSince(m.id) !== undefined) n++;
    return n;
  });
}

/**
 * One gRPC call's metrics and etcd 3.5's unary interceptor (every call's stats at debug
 * level, a slow one as a warning). One object per call, no closures: it is made for
 * every request (docs/architecture.md §4).
 */
class CallStats implements CallObserver {
  private readonly t0 = performance.now();
  private readonly startMs = Date.now();
  private request: unknown;
  private response: unknown;

  constructor(
    private readonly call: GrpcCallObserver,
    private readonly path: string,
    private readonly kind: 'unary' | 'server' | 'bidi',
    private readonly remote: (() => string | undefined) | undefined,
    private readonly log: Logger,
    private readonly debug: boolean,
    private readonly warnAfterMs: number,
  ) {}

  received(bytes: number): void {
    this.call.received(bytes);
  }

  sent(bytes: number): void {
    this.call.sent(bytes);
  }

  answered(request: unknown, response: unknown): void {
    this.request = request;
    this.response = response;
  }

  ended(code: number): void {
    this.call.ended(code);
    if (this.kind !== 'unary') return;
    logRequestStats(this.log, this.debug, this.warnAfterMs, {
      path: this.path,
      startMs: this.startMs,
      tookMs: performance.now() - this.t0,
      remote: this.remote,
      request: this.request,
      response: this.response,
    });
  }
}

/** Every etcd v3 service over the one MemberApi (etcd api/v3rpc/grpc.go Server). */
function buildGrpcRouter(config: Config, api: MemberApi, metrics: MemberMetrics, log: Logger): GrpcRouter {
  const h = api.headers;
  const gate = api.gate;
  const debugLogging = config.logLevel === 'debug';
  const router = new GrpcRouter({
    maxRecvBytes: config.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    mapError: (err, path) => toGrpcError(err, path, log),
    observe: (path, kind, md, remote) => new CallStats(metrics.grpcCall(path, kind, md), path, kind, remote, log, debugLogging, config.warningUnaryRequestDurationMs),
  });
  registerServices(
    router,
    new Map([
      ...kvHandlers(api, h, gate),
      ...authHandlers(api, h),
      ...leaseHandlers(api, h, gate),
      ...watchHandlers(api, h, gate),
      ...maintenanceHandlers(api, h, gate),
      ...clusterHandlers(api, h, gate),
      ...electionHandlers(api, h, gate),
      ...lockHandlers(api, h, gate),
    ]),
  );
  // etcd 3.5's rule: "" (all of etcd's services) is SERVING while the member knows a
  // leader and no alarm is raised.
  registerHealth(
    router,
    (service) =>
      service !== ''
        ? undefined
        : api.hasLeader() && api.activeAlarms().length === 0
          ? ServingStatus.SERVING
          : ServingStatus.NOT_SERVING,
    systemScheduler,
  );
  metrics.initializeGrpc(grpcPrometheusServices());
  return router;
}

/**
 * The services whose series go-grpc-prometheus pre-initialises in etcd: those
 * registered on its gRPC server before grpc_prometheus.Register (etcd api/v3rpc/grpc.go),
 * i.e. not Election and Lock, which embed registers later.
 */
function grpcPrometheusServices(): GrpcServiceMethods[] {
  const out: GrpcServiceMethods[] = [];
  for (const svc of Object.values(SERVICES)) {
    if (svc.name === 'v3electionpb.Election' || svc.name === 'v3lockpb.Lock') continue;
    out.push({
      service: svc.name,
      methods: Object.values(svc.methods).map((m) => ({
        name: m.name,
        kind: m.requestStream ? ('bidi' as const) : m.responseStream ? ('server' as const) : ('unary' as const),
      })),
    });
  }
  out.push({ service: HEALTH_SERVICE, methods: [{ name: 'Check', kind: 'unary' }, { name: 'Watch', kind: 'server' }] });
  return out;
}

/** /health, /livez, /readyz, /version and /metrics, read from the same MemberApi. */
function buildHttpHandler(
  api: MemberApi,
  metrics: MemberMetrics,
  core: MemberCore,
  network: PeerNetwork | undefined,
): HttpHandler {
  const self = core.recovered.memberId;
  const source: MetricsSource = {
    hasLeader: () => api.hasLeader(),
    isLeader: () => api.isLeader(),
    isLearner: () => api.isLearner(),
    committedIndex: () => api.committedIndex(),
    appliedIndex: () => api.appliedIndex(),
    pendingProposals: () => api.pendingProposals(),
    currentRevision: () => api.currentRevision(),
    compactRevision: () => api.compactRevision(),
    dbSizeBytes: () => api.dbSizeBytes(),
    dbSizeInUseBytes: () => api.dbSizeInUseBytes(),
    quotaBackendBytes: () => api.quotaBackendBytes(),
    keyCount: () => core.storage.store.keyCount(),
    openReads: () => core.storage.store.openReads,
    watchStats: () => core.watchHub.stats(),
    walBytesWritten: () => core.storage.walBytesWritten(),
    defragInflight: () => api.defragInflight(),
    installingSnapshot: () => core.server.installingSnapshot,
    peerLinks: () => {
      const links = new Map<bigint, { active: boolean }>();
      if (network === undefined) return links;
      for (const m of api.members()) {
        if (m.id !== self) links.set(m.id, { active: network.activeSince(m.id) !== undefined });
      }
      return links;
    },
    peerTraffic: () => network?.metrics().peers ?? new Map(),
  };
  metrics.attach(source, self.toString(16));
  return memberHttpHandler(api, metrics);
}

/** The router and HTTP handler, set once the member behind the listeners exists. */
interface LateHandlers {
  router: GrpcRouter | undefined;
  http: HttpHandler | undefined;
  /** Whether auth is enabled, once the member runs. */
  authEnabled: (() => boolean) | undefined;
}

/** The gateway's calls go to the router once there is one; before that: unavailable. */
function lateDispatch(late: LateHandlers): GatewayDispatch {
  return {
    invoke: (path, call) =>
      late.router !== undefined ? late.router.invoke(path, call) : Promise.reject(new TsetcdError('stopped', 'the member is starting')),
  };
}

/**
 * One listener per client URL (gRPC and HTTP) and per metrics URL (HTTP; gRPC streams
 * are closed), bound before the data dir is touched (etcd's embed binds first too). If
 * any cannot listen, all close: a start refusal. Until the member behind them exists,
 * gRPC streams are refused and HTTP answers 503.
 *
 * Refused, not closed: HTTP/2's REFUSED_STREAM promises the request was not processed
 * (RFC 7540 §8.1.4), so gRPC clients retry it once by themselves and report UNAVAILABLE
 * "Stream refused by server", a definite failure; a plain close (NO_ERROR, no status)
 * reached clients as INTERNAL "Call ended without gRPC status", which a client must take
 * for a write of unknown fate (test/jepsen/README.md "Every unknown explained"). etcd
 * serves no client connection until its server runs (embed.StartEtcd: serveClients after
 * Server.Start), so its clients wait out their deadline instead.
 */
async function listen(config: Config, late: LateHandlers, log: Logger): Promise<ClientListener[]> {
  const onGrpc: GrpcStreamHandler = (stream, hdrs) => {
    if (late.router !== undefined) late.router.route(stream, hdrs);
    else stream.close(h2constants.NGHTTP2_REFUSED_STREAM);
  };
  const onHttp: HttpHandler = (req) =>
    late.http !== undefined
      ? late.http(req)
      : Promise.resolve({ status: 503, headers: { 'content-type': 'text/plain' }, body: 'the member is starting\n' });
  const clientTls = tlsSourceFor(config, join(config.dataDir, 'fixtures', 'client'));
  const onError = (err: Error): void => log.warn({ err }, 'client listener error');
  const gateway = config.enableGrpcGateway
    ? new Gateway({
        dispatch: lateDispatch(late),
        maxRequestBytes: config.maxRequestBytes + GRPC_OVERHEAD_BYTES,
        cors: config.cors,
        refuseCommonName: () => config.clientTls.clientCertAuth && late.authEnabled?.() === true,
      })
    : undefined;
  const onClientHttp = withPprof(config, onHttp, log);
  const make = (url: URL, metricsOnly: boolean): ClientListener => {
    const https = url.protocol === 'https:' || (!metricsOnly && url.protocol === 'unixs:');
    return new ClientListener({
      url,
      ...(https && clientTls !== undefined ? { tls: clientTls } : {}),
      onGrpc: metricsOnly ? (stream) => stream.close() : onGrpc,
      onHttp: metricsOnly ? onHttp : onClientHttp,
      ...(gateway !== undefined && !metricsOnly ? { onHttpStream: gateway } : {}),
      maxConcurrentStreams: metricsOnly ? 100 : config.maxConcurrentStreams,
      maxHttpBodyBytes: metricsOnly ? 4096 : config.maxRequestBytes + GRPC_OVERHEAD_BYTES,
      onError,
    });
  };
  const listeners = [
    ...config.listenClientUrls.map((u) => make(u, false)),
    ...config.listenMetricsUrls.map((u) => make(u, true)),
  ];
  try {
    for (const l of listeners) await l.listen();
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    const code = err instanceof Error && 'code' in err ? err.code : undefined;
    if (err instanceof Error && (code === 'EADDRINUSE' || code === 'EACCES')) {
      throw new StartRefusal('listen', `cannot listen: ${err.message}`, { cause: err });
    }
    throw err;
  }
  return listeners;
}

/**
 * --enable-pprof: /debug/pprof/ on the client URLs only (etcd registers it with the
 * client handlers), profiles from this process's V8 (./profiler.ts).
 */
function withPprof(config: Config, onHttp: HttpHandler, log: Logger): HttpHandler {
  if (!config.enablePprof) return onHttp;
  const profiler = new InspectorProfiler();
  log.info({ path: '/debug/pprof' }, 'pprof is enabled');
  const never = new AbortController().signal;
  return async (req) => {
    try {
      return (await servePprof(req, profiler, () => systemClock.wallMs(), never)) ?? (await onHttp(req));
    } catch (err) {
      if (!(err instanceof CpuProfileBusy)) throw err;
      return { status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `Could not enable CPU profiling: ${err.message}\n` };
    }
  };
}

/** client-transport-security as a reloading TLS source (auto-tls makes a self-signed pair). */
function tlsSourceFor(config: Config, autoDir: string): TlsContextSource | undefined {
  const sec = config.clientTls;
  let certFile = sec.certFile;
  let keyFile = sec.keyFile;
  if ((certFile === undefined || keyFile === undefined) && sec.autoTls) {
    const made = ensureSelfCert({
      dir: autoDir,
      hosts: config.listenClientUrls.map((u) => urlHostPort(u).host),
      validityYears: config.selfSignedCertValidityYears,
      clientAuth: false,
      nowMs: systemClock.wallMs(),
    });
    certFile = made.certFile;
    keyFile = made.keyFile;
  }
  if (certFile === undefined || keyFile === undefined) return undefined;
  const version = (v: 'TLS1.2' | 'TLS1.3'): 'TLSv1.2' | 'TLSv1.3' => (v === 'TLS1.3' ? 'TLSv1.3' : 'TLSv1.2');
  return new TlsContextSource({
    certFile,
    keyFile,
    clientCertAuth: sec.clientCertAuth,
    ...(sec.trustedCaFile !== undefined ? { trustedCaFile: sec.trustedCaFile } : {}),
    ...(sec.crlFile !== undefined ? { crlFile: sec.crlFile } : {}),
    ...(config.opensslCiphers !== undefined ? { ciphers: config.opensslCiphers } : {}),
    minVersion: version(config.tlsMinVersion),
    ...(config.tlsMaxVersion !== undefined ? { maxVersion: version(config.tlsMaxVersion) } : {}),
  });
}
