/**
 * The shape of a loaded configuration: every etcd setting tsetcd supports, in
 * camelCase with units, deeply readonly (loadConfig also freezes it).
 *
 * Invariants (established by build + validate, relied on by server, http, cli):
 * - heartbeatIntervalMs > 0 and 5 * heartbeatIntervalMs <= electionTimeoutMs <= 50000.
 * - name appears in initialCluster; every URL list is non-empty where etcd needs one.
 * - an https/unixs listen URL implies its side has certFile+keyFile or autoTls, and
 *   every file named in clientTls/peerTls existed when the config was loaded.
 * - durations are milliseconds (fractional below 1 ms), sizes are bytes, 0 keeps
 *   etcd's meaning for that setting (documented per field).
 */

/** A parsed URL; read host/port through urls.ts helpers (default ports are elided by URL). */
export type ConfigUrl = Readonly<URL>;

export type ClusterState = 'new' | 'existing';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal';
export type LogFormat = 'json' | 'console';
export type MetricsLevel = 'basic' | 'extensive';
export type TlsVersion = 'TLS1.2' | 'TLS1.3';
/** '' : etcd's nop provider (no tokens; Authenticate always fails). */
export type AuthTokenType = 'simple' | 'jwt' | '';

export interface InitialClusterMember {
  readonly name: string;
  readonly peerUrls: readonly ConfigUrl[];
}

/** --cert-file ... or the client-transport-security / peer-transport-security block. */
export interface TransportSecurity {
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  /** Certificate this member presents when it dials as a client (defaults to certFile). */
  readonly clientCertFile: string | undefined;
  readonly clientKeyFile: string | undefined;
  readonly clientCertAuth: boolean;
  readonly trustedCaFile: string | undefined;
  readonly autoTls: boolean;
  readonly allowedCn: readonly string[];
  readonly allowedHostname: readonly string[];
  /** --client-crl-file / --peer-crl-file (flags only: etcd has no YAML key for it). */
  readonly crlFile: string | undefined;
  /** Peer side only (--peer-skip-client-san-verification); always false for clients. */
  readonly skipClientSanVerification: boolean;
  /**
   * etcd's rule (client/pkg/transport TLSInfo.ServerConfig): a trusted CA file OR
   * client-cert-auth makes the listener require and verify a client certificate.
   */
  readonly requireClientCert: boolean;
}

/** periodic: retention as a duration (bare number = hours); revision: keep N revisions. 0 = off. */
export type AutoCompaction =
  | { readonly mode: 'periodic'; readonly retentionMs: number }
  | { readonly mode: 'revision'; readonly retentionRevisions: number };

/** etcd 3.6 --feature-gates (3.5's --experimental-* booleans map onto these). */
export interface FeatureGates {
  readonly initialCorruptCheck: boolean;
  readonly compactHashCheck: boolean;
  readonly leaseCheckpoint: boolean;
  readonly leaseCheckpointPersist: boolean;
  readonly stopGrpcServiceOnDefrag: boolean;
  readonly txnModeWriteWithSharedBuffer: boolean;
  readonly setMemberLocalAddr: boolean;
}

export interface Config {
  /** The YAML file this came from, or undefined when built from flags/env. */
  readonly configFile: string | undefined;

  // member
  readonly name: string;
  readonly dataDir: string;
  /** '' in etcd = <data-dir>/member/wal; here undefined. */
  readonly walDir: string | undefined;
  readonly snapshotCount: number;
  readonly snapshotCatchupEntries: number;
  readonly maxSnapshots: number;
  readonly maxWals: number;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly initialElectionTickAdvance: boolean;
  /** As configured: 0 = etcd's default 2 GiB, negative = no quota. */
  readonly quotaBackendBytes: number;
  /** Effective quota in bytes, or undefined when disabled. */
  readonly quotaBackendBytesLimit: number | undefined;
  readonly maxTxnOps: number;
  readonly maxRequestBytes: number;
  readonly maxConcurrentStreams: number;
  readonly grpcKeepaliveMinTimeMs: number;
  readonly grpcKeepaliveIntervalMs: number;
  readonly grpcKeepaliveTimeoutMs: number;
  readonly socketReusePort: boolean;
  readonly socketReuseAddress: boolean;
  readonly raftReadTimeoutMs: number;
  readonly raftWriteTimeoutMs: number;

  // listeners and advertised addresses
  readonly listenPeerUrls: readonly ConfigUrl[];
  readonly listenClientUrls: readonly ConfigUrl[];
  /** When non-empty, HTTP moves off the gRPC port onto these. */
  readonly listenClientHttpUrls: readonly ConfigUrl[];
  readonly listenMetricsUrls: readonly ConfigUrl[];
  readonly initialAdvertisePeerUrls: readonly ConfigUrl[];
  readonly advertiseClientUrls: readonly ConfigUrl[];

  // clustering
  readonly initialCluster: readonly InitialClusterMember[];
  /** initial-cluster exactly as it was resolved (after etcd's name-only default rewrite). */
  readonly initialClusterRaw: string;
  readonly initialClusterToken: string;
  readonly initialClusterState: ClusterState;
  readonly strictReconfigCheck: boolean;
  readonly preVote: boolean;
  readonly forceNewCluster: boolean;

  // security
  readonly clientTls: TransportSecurity;
  readonly peerTls: TransportSecurity;
  /** Go names as configured (empty = library defaults). */
  readonly cipherSuites: readonly string[];
  /** OpenSSL names for the TLS 1.2 suites above that this Node can negotiate, in order. */
  readonly opensslCipherSuites: readonly string[];
  /** Node's `ciphers` option value, or undefined to keep Node's defaults. */
  readonly opensslCiphers: string | undefined;
  readonly tlsMinVersion: TlsVersion;
  /** undefined = highest available (etcd's ""). */
  readonly tlsMaxVersion: TlsVersion | undefined;
  readonly selfSignedCertValidityYears: number;
  readonly cors: readonly string[];
  readonly hostWhitelist: readonly string[];

  // compaction
  readonly autoCompactionMode: 'periodic' | 'revision';
  /** As configured ("0", "1", "1h", "1000"). */
  readonly autoCompactionRetention: string;
  readonly autoCompaction: AutoCompaction;
  readonly compactionBatchLimit: number;
  readonly compactionSleepIntervalMs: number;

  // observability
  readonly metrics: MetricsLevel;
  readonly enablePprof: boolean;
  readonly enableGrpcGateway: boolean;
  readonly logger: 'zap';
  readonly logLevel: LogLevel;
  /** stderr, stdout, systemd/journal or file paths ("default" is stored as stderr). */
  readonly logOutputs: readonly string[];
  readonly logFormat: LogFormat;
  readonly enableLogRotation: boolean;
  readonly logRotationConfigJson: string;

  // auth
  /** As configured, e.g. "simple" or "jwt,pub-key=...,priv-key=...,sign-method=RS256". */
  readonly authToken: string;
  readonly authTokenType: AuthTokenType;
  readonly authTokenOptions: Readonly<Record<string, string>>;
  readonly bcryptCost: number;
  readonly authTokenTtlSeconds: number;

  // timings, checks and limits
  /** 0 disables periodic watch progress notifications. */
  readonly watchProgressNotifyIntervalMs: number;
  readonly warningApplyDurationMs: number;
  readonly warningUnaryRequestDurationMs: number;
  readonly maxLearners: number;
  /** 0 disables the periodic corruption check. */
  readonly corruptCheckTimeMs: number;
  readonly compactHashCheckTimeMs: number;
  readonly featureGates: FeatureGates;

  /** Unsafe: never fsync (etcd's --unsafe-no-fsync). */
  readonly unsafeNoFsync: boolean;
}
