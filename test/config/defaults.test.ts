import { describe, expect, it } from 'vitest';
import { formatUrls, loadConfig, urlHostPort } from '../../src/config/index.js';

describe('defaults with no arguments (as plain `etcd`)', () => {
  const { config, notices } = loadConfig([], {});

  it('is member "default" with data dir default.tsetcd, never etcd\'s default.etcd', () => {
    expect(config.name).toBe('default');
    expect(config.dataDir).toBe('default.tsetcd');
    expect(config.walDir).toBeUndefined();
    expect(config.configFile).toBeUndefined();
    expect(notices.some((n) => n.includes('default name'))).toBe(true);
  });

  it('serves clients on 127.0.0.1:2379 and peers on 127.0.0.1:2380', () => {
    expect(formatUrls(config.listenClientUrls)).toBe('http://127.0.0.1:2379');
    expect(formatUrls(config.advertiseClientUrls)).toBe('http://127.0.0.1:2379');
    expect(formatUrls(config.listenPeerUrls)).toBe('http://127.0.0.1:2380');
    expect(formatUrls(config.initialAdvertisePeerUrls)).toBe('http://127.0.0.1:2380');
    expect(config.initialClusterRaw).toBe('default=http://127.0.0.1:2380');
    const first = config.listenClientUrls[0];
    expect(first && urlHostPort(first)).toEqual({ host: '127.0.0.1', port: 2379 });
  });

  it('uses etcd 3.6 defaults elsewhere', () => {
    expect(config).toMatchObject({
      snapshotCount: 10_000,
      snapshotCatchupEntries: 5_000,
      heartbeatIntervalMs: 100,
      electionTimeoutMs: 1000,
      initialElectionTickAdvance: true,
      quotaBackendBytes: 0,
      quotaBackendBytesLimit: 2 * 1024 ** 3,
      maxTxnOps: 128,
      maxRequestBytes: 1_572_864,
      maxConcurrentStreams: 4_294_967_295,
      grpcKeepaliveMinTimeMs: 5_000,
      grpcKeepaliveIntervalMs: 7_200_000,
      grpcKeepaliveTimeoutMs: 20_000,
      initialClusterToken: 'etcd-cluster',
      initialClusterState: 'new',
      strictReconfigCheck: true,
      preVote: true,
      autoCompactionMode: 'periodic',
      autoCompactionRetention: '0',
      autoCompaction: { mode: 'periodic', retentionMs: 0 },
      metrics: 'basic',
      enableGrpcGateway: true,
      logger: 'zap',
      logLevel: 'info',
      logOutputs: ['stderr'],
      logFormat: 'json',
      authToken: 'simple',
      authTokenType: 'simple',
      bcryptCost: 10,
      authTokenTtlSeconds: 300,
      watchProgressNotifyIntervalMs: 600_000,
      warningApplyDurationMs: 100,
      warningUnaryRequestDurationMs: 300,
      maxLearners: 1,
      corruptCheckTimeMs: 0,
      compactHashCheckTimeMs: 60_000,
      tlsMinVersion: 'TLS1.2',
      tlsMaxVersion: undefined,
      cipherSuites: [],
      opensslCiphers: undefined,
      selfSignedCertValidityYears: 1,
      forceNewCluster: false,
      unsafeNoFsync: false,
    });
    expect(config.clientTls.requireClientCert).toBe(false);
    expect(config.featureGates.txnModeWriteWithSharedBuffer).toBe(true);
  });
});
