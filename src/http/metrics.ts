/**
 * The member's Prometheus metrics, served on /metrics of every client URL and of
 * listen-metrics-urls, in the text exposition format, with etcd's metric names, help
 * strings and histogram buckets, so dashboards and alerts written for etcd (has_leader,
 * leader changes, proposals, WAL fsync and backend commit latency, db size) keep
 * working. prom-client adds the standard process_* and nodejs_* metrics.
 *
 * Gauges read the member on scrape (collect callbacks); the two latency histograms
 * are fed by timers the storage layer calls around each fsync and db commit; leader
 * changes are counted as the server reports them. A metric etcd has and tsetcd cannot
 * fill truthfully is left out rather than reported as zero.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StorageTimers } from '../server/member-storage.js';

/** What the gauges read at scrape time. */
export interface MetricsSource {
  hasLeader(): boolean;
  isLeader(): boolean;
  isLearner(): boolean;
  committedIndex(): number;
  appliedIndex(): number;
  pendingProposals(): number;
  currentRevision(): number;
  compactRevision(): number;
  dbSizeBytes(): Promise<number>;
  dbSizeInUseBytes(): Promise<number>;
  /** etcd_server_quota_backend_bytes: quota-backend-bytes, the default for 0. */
  quotaBackendBytes(): number;
}

export interface MetricsVersions {
  readonly serverVersion: string;
  readonly clusterVersion: string;
}

/** grpc-go's code names, as go-grpc-prometheus labels them (codes.Code.String()). */
const GRPC_CODE_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists',
  'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange',
  'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
] as const;

const GRPC_TYPES = { unary: 'unary', server: 'server_stream', bidi: 'bidi_stream' } as const;

/** etcd: prometheus.ExponentialBuckets(0.001, 2, 14), 1 ms to 8.192 s. */
const DISK_BUCKETS = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);

export class MemberMetrics {
  readonly registry = new Registry();
  private readonly leaderChanges: Counter;
  private readonly walFsync: Histogram;
  private readonly backendCommit: Histogram;
  private readonly serverId: Gauge;
  private readonly grpcStarted: Counter;
  private readonly grpcHandled: Counter;
  /** Per routed path: its labels and counter children (paths are the fixed service set). */
  private readonly grpcMethods = new Map<
    string,
    { labels: Record<string, string>; started: Counter.Internal; handled: Map<number, Counter.Internal> }
  >();
  private source: MetricsSource | undefined;

  constructor(id: MetricsVersions) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const current = (): MetricsSource | undefined => this.source;
    const read = (fn: (s: MetricsSource) => number) =>
      function (this: Gauge): void {
        // `this` is the gauge being collected; the source is set once the member runs.
        const s = current();
        if (s !== undefined) this.set(fn(s));
      };
    const gauge = (name: string, help: string, fn: (s: MetricsSource) => number): Gauge =>
      new Gauge({ name, help, registers, collect: read(fn) });
    gauge('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.', (s) => (s.hasLeader() ? 1 : 0));
    gauge('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.', (s) => (s.isLeader() ? 1 : 0));
    gauge('etcd_server_is_learner', 'Whether or not this member is a learner. 1 if is, 0 otherwise.', (s) => (s.isLearner() ? 1 : 0));
    gauge('etcd_server_proposals_committed_total', 'The total number of consensus proposals committed.', (s) => s.committedIndex());
    gauge('etcd_server_proposals_applied_total', 'The total number of consensus proposals applied.', (s) => s.appliedIndex());
    gauge('etcd_server_proposals_pending', 'The current number of pending proposals to commit.', (s) => s.pendingProposals());
    gauge('etcd_debugging_mvcc_current_revision', 'The current revision of store.', (s) => s.currentRevision());
    gauge('etcd_debugging_mvcc_compact_revision', 'The revision of the last compaction in store.', (s) => s.compactRevision());
    gauge('etcd_server_quota_backend_bytes', 'Current backend storage quota size in bytes.', (s) => s.quotaBackendBytes());
    const asyncGauge = (name: string, help: string, fn: (s: MetricsSource) => Promise<number>): Gauge =>
      new Gauge({
        name,
        help,
        registers,
        async collect(this: Gauge): Promise<void> {
          const s = current();
          if (s !== undefined) this.set(await fn(s));
        },
      });
    asyncGauge('etcd_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', (s) => s.dbSizeBytes());
    asyncGauge('etcd_mvcc_db_total_size_in_use_in_bytes', 'Total size of the underlying database logically in use in bytes.', (s) => s.dbSizeInUseBytes());
    this.leaderChanges = new Counter({
      name: 'etcd_server_leader_changes_seen_total',
      help: 'The number of leader changes seen.',
      registers,
    });
    this.serverId = new Gauge({
      name: 'etcd_server_id',
      help: "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
      labelNames: ['server_id'],
      registers,
    });
    new Gauge({
      name: 'etcd_server_version',
      help: "Which version is running. 1 for 'server_version' label with current version.",
      labelNames: ['server_version'],
      registers,
    }).set({ server_version: id.serverVersion }, 1);
    new Gauge({
      name: 'etcd_cluster_version',
      help: "Which version is running. 1 for 'cluster_version' label with current cluster version",
      labelNames: ['cluster_version'],
      registers,
    }).set({ cluster_version: id.clusterVersion }, 1);
    this.walFsync = new Histogram({
      name: 'etcd_disk_wal_fsync_duration_seconds',
      help: 'The latency distributions of fsync called by WAL.',
      buckets: DISK_BUCKETS,
      registers,
    });
    this.grpcStarted = new Counter({
      name: 'grpc_server_started_total',
      help: 'Total number of RPCs started on the server.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
      registers,
    });
    this.grpcHandled = new Counter({
      name: 'grpc_server_handled_total',
      help: 'Total number of RPCs completed on the server, regardless of success or failure.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'],
      registers,
    });
    this.backendCommit = new Histogram({
      name: 'etcd_disk_backend_commit_duration_seconds',
      help: 'The latency distributions of commit called by backend.',
      buckets: DISK_BUCKETS,
      registers,
    });
  }

  /** The running member; gauges read nothing before it is set. */
  attach(source: MetricsSource, memberIdHex: string): void {
    this.source = source;
    this.serverId.set({ server_id: memberIdHex }, 1);
  }

  /** Timers for MemberStorage (WAL fsync, backend commit). */
  readonly storageTimers: StorageTimers = {
    walFsync: () => this.walFsync.startTimer(),
    backendCommit: () => this.backendCommit.startTimer(),
  };

  /**
   * A gRPC call started (GrpcRouter's observe hook); the returned function records how
   * it ended, with go-grpc-prometheus' labels.
   */
  grpcCall(path: string, kind: keyof typeof GRPC_TYPES): (code: number) => void {
    // Every RPC passes here: label children are made once per method (and code), so a
    // call costs two counter increments, not a label parse and hash each time.
    let m = this.grpcMethods.get(path);
    if (m === undefined) {
      const parts = /^\/([^/]+)\/([^/]+)$/.exec(path);
      const labels = { grpc_type: GRPC_TYPES[kind], grpc_service: parts?.[1] ?? '', grpc_method: parts?.[2] ?? '' };
      m = { labels, started: this.grpcStarted.labels(labels), handled: new Map() };
      this.grpcMethods.set(path, m);
    }
    m.started.inc();
    const method = m;
    return (code) => {
      let h = method.handled.get(code);
      if (h === undefined) {
        h = this.grpcHandled.labels({ ...method.labels, grpc_code: GRPC_CODE_NAMES[code] ?? String(code) });
        method.handled.set(code, h);
      }
      h.inc();
    };
  }

  /** A leader change seen by this member (etcd counts every new leader, not losses). */
  leaderChanged(lead: bigint): void {
    if (lead !== 0n) this.leaderChanges.inc();
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
