/**
 * The start-up, readiness and shutdown lines etcd 3.5 writes, with its messages and
 * field names, so tools that wait for them (test harnesses, operators' scripts,
 * installers) see the same moments on tsetcd (etcd embed/etcd.go, embed/serve.go,
 * etcdserver/server.go publishV3 and cluster version, etcdmain/etcd.go). Fields are
 * passed in etcd's spelling; the root logger keeps kebab-case keys as they are.
 */
import type { Config } from '../config/index.js';
import { formatUrl, urlHostPort } from '../config/index.js';
import { goDuration, type Logger } from '../shared/logger.js';
import { CLUSTER_VERSION } from '../shared/version.js';

/** etcd's publish timeout is the request timeout: 5 s + 2 election timeouts (server.go ReqTimeout). */
function publishTimeout(config: Config): string {
  return `${(5000 + 2 * config.electionTimeoutMs) / 1000}s`;
}

const hex = (id: bigint): string => id.toString(16);

export function logStartingMember(log: Logger, memberId: bigint, clusterId: bigint): void {
  log.info({ 'local-member-id': hex(memberId), 'cluster-id': hex(clusterId) }, 'starting local member');
}

export function logServing(log: Logger, config: Config, memberId: bigint): void {
  log.info(
    {
      'local-member-id': hex(memberId),
      'initial-advertise-peer-urls': config.initialAdvertisePeerUrls.map(formatUrl),
      'listen-peer-urls': config.listenPeerUrls.map(formatUrl),
      'advertise-client-urls': config.advertiseClientUrls.map(formatUrl),
      'listen-client-urls': config.listenClientUrls.map(formatUrl),
      'listen-metrics-urls': config.listenMetricsUrls.map(formatUrl),
    },
    'now serving peer/client/metrics',
  );
}

/** Once the member's attributes committed: it has joined and serves clients. */
export function logReady(log: Logger, config: Config, memberId: bigint, clusterId: bigint): void {
  log.info(
    {
      'local-member-id': hex(memberId),
      'local-member-attributes': `{Name:${config.name} ClientURLs:[${config.advertiseClientUrls.map(formatUrl).join(' ')}]}`,
      'request-path': `/0/members/${hex(memberId)}/attributes`,
      'cluster-id': hex(clusterId),
      'publish-timeout': publishTimeout(config),
    },
    'published local member to cluster through raft',
  );
  // etcd names the cluster version by major.minor here (semver MajorMinor).
  log.info({ 'cluster-version': CLUSTER_VERSION.split('.').slice(0, 2).join('.') }, 'enabled capabilities for version');
  for (const url of config.listenClientUrls) {
    const { host, port } = urlHostPort(url);
    const address = `${host}:${port}`;
    if (url.protocol === 'https:' || url.protocol === 'unixs:') log.info({ address }, 'serving client traffic securely');
    else log.info({ address }, 'serving client traffic insecurely; this is strongly discouraged!');
  }
}

export function logClosing(log: Logger, config: Config, done: boolean): void {
  log.info(
    {
      name: config.name,
      'data-dir': config.dataDir,
      'advertise-peer-urls': config.initialAdvertisePeerUrls.map(formatUrl),
      'advertise-client-urls': config.advertiseClientUrls.map(formatUrl),
    },
    done ? 'closed etcd server' : 'closing etcd server',
  );
}

/** etcd wal/wal.go warnSyncDuration: an fdatasync slower than this is logged. */
const WARN_SYNC_MS = 1000;

/**
 * Wraps a WAL fsync timer with etcd's "slow fdatasync" warning (wal/wal.go sync:
 * took, expected-duration). Real time: this is the shell.
 */
export function warnSlowSync(log: Logger, start: () => () => void): () => () => void {
  return () => {
    const stop = start();
    const t0 = performance.now();
    return () => {
      stop();
      const took = performance.now() - t0;
      if (took > WARN_SYNC_MS) log.warn({ took: goDuration(took), 'expected-duration': '1s' }, 'slow fdatasync');
    };
  };
}
