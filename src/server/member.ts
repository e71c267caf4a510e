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
import { Applier } from '../apply/applier.js';
import { serveHealthEndpoints, type HealthSource } from '../http/health.js';
import { EtcdServer } from './etcd-server.js';
import { MemberStorage } from './member-storage.js';
import { SoloNode } from './solo-node.js';
import { GrpcRouter } from './grpc/server.js';
import { ClientListener, type HttpHandler } from './listener.js';
import { TlsContextSource } from './tls-context.js';
import { ensureSelfCert } from './auto-tls.js';
import { toGrpcError } from './v3rpc/errors.js';
import { HeaderFiller } from './v3rpc/header.js';
import { registerServices, type AnyHandler } from './v3rpc/services.js';
import { kvHandlers } from './v3rpc/kv.js';
import { maintenanceHandlers, SERVER_VERSION, CLUSTER_VERSION } from './v3rpc/maintenance.js';
import { clusterHandlers, type MemberInfo } from './v3rpc/cluster.js';
import type { MemberId } from '../shared/ids.js';
import type { TransportSecurity } from '../config/index.js';

/** gRPC's receive limit is max-request-bytes plus this much (etcd's grpc setting). */
const GRPC_OVERHEAD_BYTES = 512 * 1024;

export interface RunningMember {
  readonly server: EtcdServer;
  readonly memberId: MemberId;
  /** Bound client ports, in listen-client-urls order (useful with port 0). */
  readonly clientPorts: readonly number[];
  /** Resolves once the member has applied its own first entry and serves. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

export async function startMember(config: Config, logger: Logger): Promise<RunningMember> {
  const log = logger.child({ component: 'member' });
  if (config.initialCluster.length > 1) {
    throw new TsetcdError(
      'not-capable',
      'this tsetcd build serves single-member clusters only; multi-member clusters arrive with the cluster issue',
    );
  }
  const token = config.initialClusterToken;
  const ids = config.initialCluster.map((m) => computeMemberId(m.peerUrls.map(formatUrl), token));
  const me = config.initialCluster.findIndex((m) => m.name === config.name);
  const newMemberId = ids[me] ?? computeMemberId(config.initialAdvertisePeerUrls.map(formatUrl), token);
  const { storage, recovered } = await MemberStorage.open({
    dataDir: config.dataDir,
    walDir: config.walDir,
    fs: nodeFileLayer,
    logger,
    newIdentity: { memberId: newMemberId, clusterId: computeClusterId(ids) },
    unsafeNoFsync: config.unsafeNoFsync,
  });
  log.info(
    { memberId: recovered.memberId.toString(16), clusterId: recovered.clusterId.toString(16), fresh: recovered.fresh },
    recovered.fresh ? 'started a new member' : 'restarted member from its data dir (initial-cluster settings are ignored)',
  );
  const node = new SoloNode({
    id: recovered.memberId,
    entries: recovered.entries,
    hardState: recovered.hardState,
    applied: recovered.appliedIndex,
  });
  const applier = new Applier(storage.store, logger);
  const server = new EtcdServer({
    identity: { name: config.name, memberId: recovered.memberId, clusterId: recovered.clusterId },
    node,
    storage,
    applier,
    limits: {
      maxRequestBytes: config.maxRequestBytes,
      requestTimeoutMs: 5000 + 2 * config.electionTimeoutMs,
      maxCommittedMinusApplied: 5000,
    },
    clock: systemClock,
    scheduler: systemScheduler,
    logger,
    appliedIndex: recovered.appliedIndex,
  });
  server.start(config.heartbeatIntervalMs);

  const headers = new HeaderFiller({
    clusterId: recovered.clusterId,
    memberId: recovered.memberId,
    raftTerm: () => server.raftStatus().term,
    currentRevision: () => storage.store.currentRevision,
  });
  const self: MemberInfo = {
    id: recovered.memberId,
    name: config.name,
    peerUrls: config.initialAdvertisePeerUrls.map(formatUrl),
    clientUrls: config.advertiseClientUrls.map(formatUrl),
    isLearner: false,
  };
  const handlers = new Map<string, AnyHandler>([
    ...kvHandlers(
      {
        store: storage.store,
        maxTxnOps: config.maxTxnOps,
        propose: (kind, payload, signal) => server.propose(kind, payload, signal),
        linearizableReadPoint: (signal) => server.linearizableReadPoint(signal),
      },
      headers,
    ),
    ...maintenanceHandlers(
      {
        store: storage.store,
        raftStatus: () => server.raftStatus(),
        appliedIndex: () => server.appliedIndex,
        dbSizeBytes: () => storage.dbSizeBytes(),
        alarmErrors: () => [],
        forEachRecord: (fn) => storage.forEachRecord(fn),
      },
      headers,
    ),
    ...clusterHandlers(
      { members: () => [self], linearizableReadPoint: (signal) => server.linearizableReadPoint(signal) },
      headers,
    ),
  ]);
  const router = new GrpcRouter({
    maxRecvBytes: config.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    mapError: (err, path) => toGrpcError(err, path, log),
  });
  registerServices(router, handlers);

  const health: HealthSource = {
    hasLeader: () => server.raftStatus().lead !== 0n,
    activeAlarms: () => [],
    checkRange: async (serializable) => {
      if (!serializable) await server.linearizableReadPoint();
      await storage.store.range({ key: Buffer.from('health'), limit: 1, keysOnly: true });
    },
    isLearner: () => server.raftStatus().isLearner,
    serverVersion: () => SERVER_VERSION,
    clusterVersion: () => CLUSTER_VERSION,
  };
  const onHttp: HttpHandler = async (req) =>
    (await serveHealthEndpoints(req, health)) ?? {
      status: 404,
      headers: { 'content-type': 'text/plain' },
      body: '404 page not found\n',
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

  const ready = server.linearizableReadPoint();
  return {
    server,
    memberId: recovered.memberId,
    clientPorts: listeners.slice(0, config.listenClientUrls.length).map((l) => l.port()),
    ready,
    async stop() {
      router.close();
      await Promise.all(listeners.map((l) => l.close()));
      await server.stop();
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
