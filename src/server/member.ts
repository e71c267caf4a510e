/**
 * Assembles one running member from its Config: storage, consensus node, server, the
 * v3 gRPC services and HTTP endpoints on every client URL, and the metrics URLs.
 * This is the process shell's composition root; everything below it takes its
 * collaborators by injection.
 */
import { join } from 'node:path';
import type { Config } from '../config/index.js';
import { formatUrl, urlHostPort } from '../config/index.js';
import type { Logger } from '../shared/logger.js';
import { systemClock } from '../shared/clock.js';
import { systemScheduler } from '../shared/scheduler.js';
import { TsetcdError } from '../shared/errors.js';
import { computeClusterId, computeMemberId } from '../cluster/ids.js';
import { nodeFileLayer } from '../storage/node-file-layer.js';
import { serveHealthEndpoints, type HealthSource } from '../http/health.js';
import { EtcdServer } from './etcd-server.js';
import { MemberStorage } from './member-storage.js';
import { openMemberCore } from './member-core.js';
import { MemberMetrics } from './metrics.js';
import { Membership, type Member } from '../cluster/membership.js';
import { systemRng } from '../shared/rng.js';
import { RequestKind } from '../apply/request.js';
import { unsafeTestBugsFromEnv, type MessageSink } from './etcd-server.js';
import { leaseHandlers } from './v3rpc/lease.js';
import { watchHandlers } from './v3rpc/watch.js';
import { memberRecipeClient } from '../concurrency/index.js';
import { electionHandlers } from './v3rpc/election.js';
import { lockHandlers } from './v3rpc/lock.js';
import { LeaderForwarder } from './lease-forward.js';
import { powerCutFileLayer } from '../storage/power-cut-file-layer.js';
import { createPeerNetwork, joinInfo, refuseIfAlreadyBootstrapped } from './network.js';
import { memberId as memberIdOf, clusterId as clusterIdOf } from '../shared/ids.js';
import { GrpcRouter } from './grpc/server.js';
import { ClientListener, type HttpHandler } from './listener.js';
import { TlsContextSource } from './tls-context.js';
import { ensureSelfCert } from './auto-tls.js';
import { toGrpcError } from './v3rpc/errors.js';
import { HeaderFiller } from './v3rpc/header.js';
import { registerServices, type AnyHandler } from './v3rpc/services.js';
import { kvHandlers } from './v3rpc/kv.js';
import { maintenanceHandlers, SERVER_VERSION, CLUSTER_VERSION } from './v3rpc/maintenance.js';
import { clusterHandlers } from './v3rpc/cluster.js';
import type { MemberId } from '../shared/ids.js';
import type { TransportSecurity } from '../config/index.js';

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

/** MoveLeader: only the leader can move leadership, and only to a voter. */
async function moveLeader(server: EtcdServer, membership: Membership, target: bigint, electionTimeoutMs: number): Promise<void> {
  const st = server.raftStatus();
  if (!st.isLeader) throw new TsetcdError('not-leader');
  const m = membership.get(target);
  if (m === undefined || m.isLearner || target === st.id) throw new TsetcdError('bad-leader-transferee');
  await server.transferLeadership(target, 5000 + 2 * electionTimeoutMs);
}

/** Picks the voter with the highest match index and transfers leadership to it. */
async function handOverLeadership(server: EtcdServer, membership: Membership, electionTimeoutMs: number, log: Logger): Promise<void> {
  const st = server.raftStatus();
  if (!st.isLeader) return;
  let best: { id: bigint; match: number } | undefined;
  for (const [id, pr] of server.progress()) {
    if (id === st.id || membership.get(id)?.isLearner !== false) continue;
    if (best === undefined || pr.match > best.match) best = { id, match: pr.match };
  }
  if (best === undefined) return;
  try {
    await server.transferLeadership(best.id, 2 * electionTimeoutMs);
    log.info({ to: best.id.toString(16) }, 'transferred leadership before stopping');
  } catch (err) {
    log.warn({ err }, 'leadership transfer before stopping failed; stopping anyway');
  }
}

/**
 * etcd's rule for promoting a learner: its match index is at least 90% of the
 * leader's. Only the leader knows the progress of each member.
 */
function learnerInSync(server: EtcdServer, id: bigint): boolean {
  const st = server.raftStatus();
  if (!st.isLeader) throw new TsetcdError('not-leader');
  const progress = server.progress();
  const leaderMatch = progress.get(st.id)?.match ?? 0;
  const learnerMatch = progress.get(id)?.match ?? 0;
  return learnerMatch >= leaderMatch * 0.9;
}

/**
 * etcd's publish: a started member proposes its name and client URLs through the log;
 * once applied it has joined the cluster (the point etcd tells systemd it is ready).
 * Retried until it succeeds or the server stops.
 */
async function publishAttributes(
  server: EtcdServer,
  id: MemberId,
  name: string,
  clientUrls: readonly string[],
  log: Logger,
): Promise<void> {
  const payload = Buffer.from(JSON.stringify({ id: id.toString(16), name, clientURLs: clientUrls }), 'utf8');
  for (let attempt = 0; ; attempt++) {
    try {
      const outcome = await server.propose(RequestKind.MemberAttributes, payload);
      if (outcome.ok) return;
      throw outcome.error;
    } catch (err) {
      if (err instanceof TsetcdError && err.code === 'stopped') throw err;
      if (attempt % 10 === 9) log.warn({ err }, 'cannot publish member attributes yet; retrying');
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export interface MemberOptions {
  /** Builds the peer network for multi-member clusters (the cluster transport). */
  readonly network?: PeerNetworkFactory;
}

/** What the member needs from the peer transport. */
export interface PeerNetwork extends MessageSink {
  start(): Promise<void>;
  addPeer(id: bigint, urls: readonly string[]): void;
  removePeer(id: bigint): void;
  stop(): Promise<void>;
  /** Monotonic ms (systemClock) since the stream to the peer connected; undefined if down. */
  activeSince(id: bigint): number | undefined;
}

export type PeerNetworkFactory = (args: {
  memberId: MemberId;
  clusterId: bigint;
  server: () => EtcdServer;
  membership: Membership;
}) => PeerNetwork;

export async function startMember(config: Config, logger: Logger, options: MemberOptions = {}): Promise<RunningMember> {
  const log = logger.child({ component: 'member' });
  const token = config.initialClusterToken;
  const initialMembers: Member[] = config.initialCluster.map((m) => {
    const peerUrls = m.peerUrls.map(formatUrl);
    return { id: computeMemberId(peerUrls, token), name: m.name, peerUrls, clientUrls: [], isLearner: false };
  });
  const selfInitial = initialMembers.find((m) => m.name === config.name);
  const myPeerUrls = config.initialAdvertisePeerUrls.map(formatUrl);
  let newIdentity = {
    memberId: selfInitial?.id ?? computeMemberId(myPeerUrls, token),
    clusterId: computeClusterId(initialMembers.map((m) => m.id)),
  };
  let joinPeers: readonly Member[] = [];
  const fileLayer = process.env['TSETCD_TEST_POWER_CUT'] === '1' ? powerCutFileLayer(nodeFileLayer) : nodeFileLayer;
  if (await MemberStorage.isFresh(fileLayer, config.dataDir)) {
    const others = initialMembers.filter((m) => m.name !== config.name);
    if (config.initialClusterState === 'new' && selfInitial !== undefined) {
      await refuseIfAlreadyBootstrapped(config, selfInitial, others);
    } else if (config.initialClusterState === 'existing') {
      const join = await joinInfo(config, others.flatMap((m) => m.peerUrls), myPeerUrls);
      newIdentity = { memberId: memberIdOf(join.memberId), clusterId: clusterIdOf(join.clusterId) };
      joinPeers = join.members;
      log.info({ memberId: join.memberId.toString(16), clusterId: join.clusterId.toString(16) }, 'joining an existing cluster');
    }
  }
  const bugs = unsafeTestBugsFromEnv(process.env);
  let removed: (() => void) | undefined;
  let network: PeerNetwork | undefined;
  const metrics = new MemberMetrics({ serverVersion: SERVER_VERSION, clusterVersion: CLUSTER_VERSION });
  const core = await openMemberCore({
    settings: config,
    storageTimers: metrics.storageTimers,
    onLeaderChange: (lead) => metrics.leaderChanged(lead),
    initialMembers,
    newIdentity,
    joinPeers,
    fs: fileLayer,
    clock: systemClock,
    scheduler: systemScheduler,
    rng: systemRng(),
    logger,
    bugs,
    makePeerLink: (args) => {
      if (!args.needsNetwork) return undefined;
      network =
        options.network !== undefined
          ? options.network(args)
          : createPeerNetwork({ ...args, config, logger, onRemoved: () => removed?.() });
      return network;
    },
    onRemoved: () => removed?.(),
  });
  const { server, storage, recovered, membership, lessor, watchHub, leaseDriver } = core;
  if (network !== undefined) {
    for (const [id, urls] of core.knownPeers) network.addPeer(id, urls);
    try {
      await network.start();
    } catch (err) {
      await storage.close();
      throw err;
    }
  }
  core.start(() => {
    let n = 0;
    for (const m of membership.members()) if (m.id !== recovered.memberId && network?.activeSince(m.id) !== undefined) n++;
    return n;
  });
  // etcd answers isLearner from its member list (for a joining member: the list the
  // peers gave it), not from raft's configuration, which a new learner only learns
  // once the leader's log or snapshot reaches it.
  const selfId = recovered.memberId;
  const isLearner = (): boolean =>
    membership.get(selfId)?.isLearner ?? joinPeers.find((m) => m.id === selfId)?.isLearner ?? server.raftStatus().isLearner;
  const forwarder = new LeaderForwarder(
    () => membership.get(server.raftStatus().lead)?.clientUrls ?? [],
    {
      certFile: config.clientTls.clientCertFile ?? config.clientTls.certFile,
      keyFile: config.clientTls.clientKeyFile ?? config.clientTls.keyFile,
      trustedCaFile: config.clientTls.trustedCaFile,
    },
  );

  const headers = new HeaderFiller({
    clusterId: recovered.clusterId,
    memberId: recovered.memberId,
    raftTerm: () => server.raftStatus().term,
    currentRevision: () => storage.store.currentRevision,
  });
  const lease = leaseHandlers(
    {
      lessor,
      clock: systemClock,
      scheduler: systemScheduler,
      rng: systemRng(),
      logger,
      requestTimeoutMs: 5000 + 2 * config.electionTimeoutMs,
      propose: (kind, payload, signal) => server.propose(kind, payload, signal),
      isReadyLeader: () => server.isReadyLeader(),
      isLeader: () => server.raftStatus().isLeader,
      hasLeader: () => server.raftStatus().lead !== 0n,
      syncLeadership: () => leaseDriver.syncLeadership(),
      confirmLeadership: async (signal) => {
        await server.linearizableReadPoint(signal);
        if (!server.isReadyLeader()) throw new TsetcdError('not-leader');
      },
      forwardToLeader: (kind, req, signal) => forwarder.forward(kind, req, signal),
    },
    headers,
  );
  const recipes = memberRecipeClient({
    get store() {
      return storage.store;
    },
    hub: watchHub,
    rng: systemRng(),
    propose: (kind, payload, signal) => server.propose(kind, payload, signal),
    linearizableReadPoint: (signal) => server.linearizableReadPoint(signal),
  });
  const handlers = new Map<string, AnyHandler>([
    ...lease.handlers,
    ...electionHandlers({ client: recipes, headers, logger }),
    ...lockHandlers({ client: recipes, headers, logger }),
    ...watchHandlers({
      hub: watchHub,
      headers,
      hasLeader: () => server.raftStatus().lead !== 0n,
      electionTimeoutMs: config.electionTimeoutMs,
      maxRequestBytes: config.maxRequestBytes,
      progressNotifyIntervalMs: config.watchProgressNotifyIntervalMs,
      scheduler: systemScheduler,
      logger,
      rng: systemRng(),
    }),
    ...kvHandlers(
      {
        get store() {
          return storage.store;
        },
        maxTxnOps: config.maxTxnOps,
        propose: (kind, payload, signal) => server.propose(kind, payload, signal),
        linearizableReadPoint: (signal) => server.linearizableReadPoint(signal),
      },
      headers,
    ),
    ...maintenanceHandlers(
      {
        get store() {
          return storage.store;
        },
        raftStatus: () => ({ ...server.raftStatus(), isLearner: isLearner() }),
        appliedIndex: () => server.appliedIndex,
        dbSizeBytes: () => storage.dbSizeBytes(),
        defragment: () => storage.defragment(),
        alarmErrors: () => [],
        forEachRecord: (fn) => storage.forEachRecord(fn),
        moveLeader: (target) => moveLeader(server, membership, target, config.electionTimeoutMs),
      },
      headers,
    ),
    ...clusterHandlers(
      {
        members: () => membership.members(),
        member: (id) => membership.get(id),
        isRemoved: (id) => membership.isRemoved(id),
        linearizableReadPoint: (signal) => server.linearizableReadPoint(signal),
        proposeConfChange: (type, m, signal) => server.proposeConfChange(type, m, signal),
        clusterToken: config.initialClusterToken,
        strictReconfigCheck: config.strictReconfigCheck,
        maxLearners: config.maxLearners,
        nowSeconds: () => Math.floor(systemClock.wallMs() / 1000),
        learnerReady: async (id) => learnerInSync(server, id),
        isLeader: () => server.raftStatus().isLeader,
        promoteOnLeader: (id, signal) => forwarder.promote(id, signal),
        selfId: recovered.memberId,
        peerActiveSinceMs: (id) => network?.activeSince(id),
        nowMs: () => systemClock.nowMs(),
      },
      headers,
    ),
  ]);
  const router = new GrpcRouter({
    maxRecvBytes: config.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    mapError: (err, path) => toGrpcError(err, path, log),
    observe: (path, kind) => metrics.grpcCall(path, kind),
  });
  registerServices(router, handlers);

  const healthSource: HealthSource = {
    hasLeader: () => server.raftStatus().lead !== 0n,
    activeAlarms: () => [],
    checkRange: async (serializable) => {
      if (!serializable) await server.linearizableReadPoint();
      await storage.store.range({ key: Buffer.from('health'), limit: 1, keysOnly: true });
    },
    isLearner,
    serverVersion: () => SERVER_VERSION,
    clusterVersion: () => CLUSTER_VERSION,
  };
  metrics.attach(
    {
      hasLeader: () => server.raftStatus().lead !== 0n,
      isLeader: () => server.raftStatus().isLeader,
      isLearner,
      committedIndex: () => server.raftStatus().commit,
      appliedIndex: () => server.appliedIndex,
      pendingProposals: () => server.pendingProposals,
      currentRevision: () => storage.store.currentRevision,
      compactRevision: () => storage.store.compactRevision,
      dbSizeBytes: () => storage.dbSizeBytes(),
    },
    recovered.memberId.toString(16),
  );
  const onHttp: HttpHandler = async (req) => {
    const health = await serveHealthEndpoints(req, healthSource);
    if (health !== undefined) return health;
    if (new URL(req.url, 'http://x').pathname === '/metrics' && req.method === 'GET') {
      const { contentType, body } = await metrics.render();
      return { status: 200, headers: { 'content-type': contentType }, body };
    }
    return { status: 404, headers: { 'content-type': 'text/plain' }, body: '404 page not found\n' };
  };

  const clientTls = tlsSourceFor(config.clientTls, config, join(config.dataDir, 'fixtures', 'client'), false);
  const listeners: ClientListener[] = [];
  const onError = (err: Error): void => log.warn({ err }, 'client listener error');
  for (const url of config.listenClientUrls) {
    const https = url.protocol === 'https:' || url.protocol === 'unixs:';
    listeners.push(
      new ClientListener({
        url,
        ...(https && clientTls !== undefined ? { tls: clientTls } : {}),
        onGrpc: (stream, hdrs) => router.route(stream, hdrs),
        onHttp,
        maxConcurrentStreams: config.maxConcurrentStreams,
        maxHttpBodyBytes: config.maxRequestBytes + GRPC_OVERHEAD_BYTES,
        onError,
      }),
    );
  }
  for (const url of config.listenMetricsUrls) {
    const https = url.protocol === 'https:';
    listeners.push(
      new ClientListener({
        url,
        ...(https && clientTls !== undefined ? { tls: clientTls } : {}),
        onGrpc: (stream) => stream.close(),
        onHttp,
        maxConcurrentStreams: 100,
        maxHttpBodyBytes: 4096,
        onError,
      }),
    );
  }
  try {
    for (const l of listeners) await l.listen();
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    await server.stop();
    throw err;
  }
  for (const url of config.listenClientUrls) log.info({ url: formatUrl(url) }, 'serving client traffic');

  const ready = publishAttributes(server, recovered.memberId, config.name, config.advertiseClientUrls.map(formatUrl), log);
  const stop = async (): Promise<void> => {
    // Like etcd on SIGTERM: a leader hands over to a caught-up voter first, so a
    // restart under systemd does not cost the cluster an election timeout.
    await handOverLeadership(server, membership, config.electionTimeoutMs, log);
    router.close();
    watchHub.close();
    await Promise.all(listeners.map((l) => l.close()));
    leaseDriver.stop();
    forwarder.close();
    await network?.stop();
    await server.stop();
  };
  return {
    server,
    memberId: recovered.memberId,
    clientPorts: listeners.slice(0, config.listenClientUrls.length).map((l) => l.port()),
    ready,
    stop,
    onRemoved: (fn) => {
      removed = fn;
    },
  };
}

function tlsSourceFor(
  sec: TransportSecurity,
  config: Config,
  autoDir: string,
  clientAuth: boolean,
): TlsContextSource | undefined {
  let certFile = sec.certFile;
  let keyFile = sec.keyFile;
  if ((certFile === undefined || keyFile === undefined) && sec.autoTls) {
    const hosts = config.listenClientUrls.map((u) => urlHostPort(u).host);
    const made = ensureSelfCert({
      dir: autoDir,
      hosts,
      validityYears: config.selfSignedCertValidityYears,
      clientAuth,
      nowMs: systemClock.wallMs(),
    });
    certFile = made.certFile;
    keyFile = made.keyFile;
  }
  if (certFile === undefined || keyFile === undefined) return undefined;
  const minVersion = config.tlsMinVersion === 'TLS1.3' ? 'TLSv1.3' : 'TLSv1.2';
  return new TlsContextSource({
    certFile,
    keyFile,
    clientCertAuth: sec.clientCertAuth,
    ...(sec.trustedCaFile !== undefined ? { trustedCaFile: sec.trustedCaFile } : {}),
    ...(sec.crlFile !== undefined ? { crlFile: sec.crlFile } : {}),
    ...(config.opensslCiphers !== undefined ? { ciphers: config.opensslCiphers } : {}),
    minVersion,
    ...(config.tlsMaxVersion !== undefined
      ? { maxVersion: config.tlsMaxVersion === 'TLS1.3' ? ('TLSv1.3' as const) : ('TLSv1.2' as const) }
      : {}),
  });
}
