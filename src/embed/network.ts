/**
 * The member's peer network: the cluster transport configured from
 * peer-transport-security, delivering raft messages to the server and serving the
 * member list to peers. Also the start-up questions a fresh member asks its peers
 * (etcd etcdserver/bootstrap.go): "was I already bootstrapped?" and, when joining an
 * existing cluster, "which cluster and which member am I?".
 */
import type { Config } from '../config/index.js';
import { urlHostPort } from '../config/index.js';
import type { Logger } from '../shared/logger.js';
import { systemClock } from '../shared/clock.js';
import { systemScheduler } from '../shared/scheduler.js';
import { systemRng } from '../shared/rng.js';
import { StartRefusal, TsetcdError } from '../shared/errors.js';
import { SERVER_VERSION, CLUSTER_VERSION } from '../shared/version.js';
import { join } from 'node:path';
import { PeerTransport, fetchMembers, type PeerTlsOptions, type RemoteMembers, type TransportMetrics } from '../cluster/transport/index.js';
import type { Member, Membership } from '../cluster/membership.js';
import type { MemberId } from '../shared/ids.js';
import { ensureSelfCert } from './auto-tls.js';
import type { EtcdServer, MessageSink } from '../server/etcd-server.js';

/** What the member needs from the peer transport. */
export interface PeerNetwork extends MessageSink {
  start(): Promise<void>;
  addPeer(id: bigint, urls: readonly string[]): void;
  removePeer(id: bigint): void;
  stop(): Promise<void>;
  /** Monotonic ms (systemClock) since the stream to the peer connected; undefined if down. */
  activeSince(id: bigint): number | undefined;
  /** The transport's counters per peer (for /metrics). */
  metrics(): TransportMetrics;
}

export type PeerNetworkFactory = (args: {
  memberId: MemberId;
  clusterId: bigint;
  server: () => EtcdServer;
  membership: Membership;
}) => PeerNetwork;

export function peerTlsOptions(config: Config): PeerTlsOptions | undefined {
  const sec = config.peerTls;
  let certFile = sec.certFile;
  let keyFile = sec.keyFile;
  let insecure = false;
  if ((certFile === undefined || keyFile === undefined) && sec.autoTls) {
    const made = ensureSelfCert({
      dir: join(config.dataDir, 'fixtures', 'peer'),
      hosts: config.listenPeerUrls.map((u) => urlHostPort(u).host),
      validityYears: config.selfSignedCertValidityYears,
      clientAuth: true,
      nowMs: systemClock.wallMs(),
    });
    certFile = made.certFile;
    keyFile = made.keyFile;
    insecure = true;
  }
  if (certFile === undefined || keyFile === undefined) return undefined;
  return {
    certFile,
    keyFile,
    clientCertAuth: sec.clientCertAuth,
    ...(sec.clientCertFile !== undefined ? { clientCertFile: sec.clientCertFile } : {}),
    ...(sec.clientKeyFile !== undefined ? { clientKeyFile: sec.clientKeyFile } : {}),
    ...(sec.trustedCaFile !== undefined ? { trustedCaFile: sec.trustedCaFile } : {}),
    ...(sec.crlFile !== undefined ? { crlFile: sec.crlFile } : {}),
    ...(config.opensslCiphers !== undefined ? { ciphers: config.opensslCiphers } : {}),
    minVersion: config.tlsMinVersion === 'TLS1.3' ? 'TLSv1.3' : 'TLSv1.2',
    allowedCn: sec.allowedCn,
    allowedHostname: sec.allowedHostname,
    skipClientSanVerification: sec.skipClientSanVerification,
    insecureSkipVerify: insecure,
  };
}

export function createPeerNetwork(args: {
  config: Config;
  logger: Logger;
  memberId: bigint;
  clusterId: bigint;
  server: () => EtcdServer;
  membership: Membership;
  onRemoved: () => void;
  /** A PING round trip to a peer, in seconds (for /metrics). */
  onRoundTrip?: (id: bigint, seconds: number) => void;
  /** A snapshot sent or received and installed, with its duration (for /metrics). */
  onSnapshotTimed?: (direction: 'send' | 'receive', id: bigint, seconds: number) => void;
}): PeerNetwork {
  const { config, membership } = args;
  const tls = peerTlsOptions(config);
  const transport = new PeerTransport({
    memberId: args.memberId,
    clusterId: args.clusterId,
    listenUrls: config.listenPeerUrls.map((u) => u.toString()),
    ...(tls !== undefined ? { tls } : {}),
    logger: args.logger,
    clock: systemClock,
    scheduler: systemScheduler,
    rng: systemRng(),
    onMessage: (m) => args.server().step(m),
    onSnapshot: (m, chunks) => args.server().installSnapshot(m, chunks),
    onUnreachable: (id) => args.server().reportUnreachable(id),
    onSnapshotStatus: (id, ok) => args.server().reportSnapshot(id, ok),
    onRemoved: () => args.onRemoved(),
    members: () => membership.members().map(memberJson),
    version: () => ({ etcdserver: SERVER_VERSION, etcdcluster: CLUSTER_VERSION }),
    isRemoved: (id) => membership.isRemoved(id),
    ...(args.onRoundTrip !== undefined ? { onRoundTrip: args.onRoundTrip } : {}),
    ...(args.onSnapshotTimed !== undefined ? { onSnapshotTimed: args.onSnapshotTimed } : {}),
  });
  return {
    start: () => transport.start(),
    addPeer: (id, urls) => transport.addPeer(id, urls),
    removePeer: (id) => transport.removePeer(id),
    send: (msgs) => transport.send(msgs),
    sendSnapshot: (msg, data) => void transport.sendSnapshot(msg, data),
    stop: () => transport.stop(),
    activeSince: (id) => transport.activeSince(id),
    metrics: () => transport.metrics(),
  };
}

function memberJson(m: Member): { id: string; name: string; peerURLs: string[]; clientURLs: string[]; isLearner: boolean } {
  return {
    id: m.id.toString(16),
    name: m.name,
    peerURLs: [...m.peerUrls],
    clientURLs: [...m.clientUrls],
    isLearner: m.isLearner,
  };
}

/**
 * etcd's isMemberBootstrapped: a fresh data dir with initial-cluster-state new, while
 * the peers already know this member as started (it published client URLs), means the
 * member lost its data; bootstrapping again would fork the cluster. Peers that do not
 * answer (a cluster starting together) are no evidence either way.
 */
export async function refuseIfAlreadyBootstrapped(config: Config, self: Member, others: readonly Member[]): Promise<void> {
  const urls = others.flatMap((m) => m.peerUrls);
  if (urls.length === 0) return;
  let remote: RemoteMembers;
  try {
    remote = await fetchMembers(urls, peerTlsOptions(config), { timeoutMs: 1000 });
  } catch {
    return;
  }
  const known = remote.members.find((m) => m.id === self.id);
  if (known !== undefined && known.clientURLs.length > 0) {
    throw new StartRefusal(
      'cluster',
      `member ${self.id.toString(16)} has already been bootstrapped; its data dir is new, so it lost its data: ` +
        `remove it with 'etcdctl member remove ${self.id.toString(16)}', add it back with 'etcdctl member add', ` +
        `and start it with initial-cluster-state: existing`,
    );
  }
}

/** Joining an existing cluster: ask the peers for the cluster id and our member id. */
export async function joinInfo(
  config: Config,
  peerUrlsOfOthers: readonly string[],
  myPeerUrls: readonly string[],
): Promise<{ clusterId: bigint; memberId: bigint; members: readonly Member[] }> {
  let remote: RemoteMembers;
  try {
    remote = await fetchMembers(peerUrlsOfOthers, peerTlsOptions(config), { timeoutMs: 3000 });
  } catch (err) {
    // No peer answered (the message lists what each said): the join cannot start.
    if (err instanceof TsetcdError) throw new StartRefusal('cluster', err.message, { cause: err });
    throw err;
  }
  const me = remote.members.find((m) => m.peerURLs.some((u) => myPeerUrls.includes(u)));
  if (me === undefined) {
    throw new StartRefusal(
      'cluster',
      `this member's peer URLs (${myPeerUrls.join(',')}) are not in the cluster's member list; add it first with 'etcdctl member add'`,
    );
  }
  return {
    clusterId: remote.clusterId,
    memberId: me.id,
    members: remote.members.map((m) => ({
      id: m.id as Member['id'],
      name: m.name,
      peerUrls: m.peerURLs,
      clientUrls: m.clientURLs,
      isLearner: m.isLearner,
    })),
  };
}
