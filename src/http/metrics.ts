/**
 * The member's Prometheus metrics, served on /metrics of every client URL and of
 * listen-metrics-urls, in the text exposition format: every family etcd 3.4.23
 * exposes (./metric-families.ts; Go's go_* aside) with etcd's names, help, types,
 * labels and buckets, so etcd's dashboards and the etcd-mixin alerts
 * (docs/alerts/etcd-alerts.yml) work unchanged; Node's runtime metrics (prom-client's
 * nodejs_* and process_*) beside them.
 *
 * Where each value comes from:
 * - gauges read the member at scrape time (MetricsSource: raft status, store, watch
 *   hub, peer transport counters, WAL bytes, defrag and snapshot flags);
 * - counters and histograms of events are fed as they happen: core modules report
 *   `Observation`s (shared/observe.ts) through `observe`, storage times WAL fsyncs and
 *   commits through `storageTimers`, the gRPC router reports each call through
 *   `grpcCall`, the HTTP side its /health answers and scrapes;
 * - grpc_server_* series are pre-initialised for every method of the services etcd
 *   registers and every code, as go-grpc-prometheus' InitializeMetrics does, so rate()
 *   alerts see zeros rather than no series.
 * Families etcd only shows once something happened (labelled ones) are left out of the
 * exposition until they have a series, as client_golang does. Families of parts tsetcd
 * does not have (the v2 store's TTL keys and watchers, the gRPC proxy) stay at 0, as
 * they do on an etcd member that never serves them.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Observation, Observe } from '../shared/observe.js';
import type { StorageTimers } from '../server/member-storage.js';
import { FAMILIES, GRPC_CODE_NAMES, type FamilyName } from './metric-families.js';

/** One peer's transport counters (cluster/transport PeerCounters, the fields read here). */
export interface PeerTraffic {
  readonly sentBytes: number;
  readonly receivedBytes: number;
  readonly sendFailures: number;
  readonly disconnects: number;
  readonly heartbeatSendFailures: number;
  readonly snapshotsSent: number;
  readonly snapshotsSendFailed: number;
  readonly snapshotsReceived: number;
  readonly snapshotsReceiveFailed: number;
  readonly snapshotsSending: number;
  readonly snapshotsReceiving: number;
  readonly receiveFailures: number;
}

/** The watch hub's counts (watch WatchHubStats, the fields read here). */
export interface WatchCounts {
  readonly streams: number;
  readonly synced: number;
  readonly unsynced: number;
  readonly victims: number;
  readonly pendingEvents: number;
}

/** What one gRPC call reports (grpc CallObserver's shape). */
export interface GrpcCallObserver {
  received(bytes: number): void;
  sent(bytes: number): void;
  ended(code: number): void;
}

/** What the gauges read at scrape time (the MemberApi, plus the peer network). */
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
  /** etcd's SizeInUse: the bytes the store's records take. */
  dbSizeInUseBytes(): Promise<number>;
  /** etcd_server_quota_backend_bytes: quota-backend-bytes, the default for 0. */
  quotaBackendBytes(): number;
  keyCount(): number;
  openReads(): number;
  watchStats(): WatchCounts;
  walBytesWritten(): number;
  defragInflight(): boolean;
  installingSnapshot(): boolean;
  /** Members this one has a peer stream to (ids), with whether it is up now. */
  peerLinks(): ReadonlyMap<bigint, { readonly active: boolean }>;
  /** Per peer id, including ids that only sent to this member. */
  peerTraffic(): ReadonlyMap<bigint, PeerTraffic>;
  /** The auth store's revision; undefined until one is wired (etcd starts at 1). */
  authRevision?(): number;
}

export interface MetricsIdentity {
  readonly serverVersion: string;
  readonly clusterVersion: string;
  /** The runtime's version (etcd labels etcd_server_go_version with Go's). */
  readonly runtimeVersion: string;
  /** Monotonic ms (the shell's clock), for the timings core modules report. */
  readonly nowMs: () => number;
  /**
   * `--metrics extensive`: etcd then enables go-grpc-prometheus' handling-time histogram
   * (embed/etcd.go), which the mixin's slow-gRPC alert reads.
   */
  readonly extensive?: boolean;
}

/** go-grpc-prometheus' handling-time histogram (client_golang's DefBuckets). */
const GRPC_HANDLING_SECONDS = {
  name: 'grpc_server_handling_seconds',
  help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
  labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
} as const;

/** A gRPC service and its methods, to pre-initialise their series. */
export interface GrpcServiceMethods {
  readonly service: string;
  readonly methods: ReadonlyArray<{ readonly name: string; readonly kind: keyof typeof GRPC_TYPES }>;
}

const GRPC_TYPES = { unary: 'unary', server: 'server_stream', bidi: 'bidi_stream' } as const;

type Family = Counter | Gauge | Histogram;

/** Which family (or families, for etcd's duplicated debugging names) each observation feeds. */
const OBSERVED: Record<Observation, readonly FamilyName[]> = {
  'mvcc.range': ['etcd_mvcc_range_total', 'etcd_debugging_mvcc_range_total'],
  'mvcc.put': ['etcd_mvcc_put_total', 'etcd_debugging_mvcc_put_total'],
  'mvcc.delete': ['etcd_mvcc_delete_total', 'etcd_debugging_mvcc_delete_total'],
  'mvcc.txn': ['etcd_mvcc_txn_total', 'etcd_debugging_mvcc_txn_total'],
  'mvcc.putBytes': ['etcd_debugging_mvcc_total_put_size_in_bytes'],
  'mvcc.compactionKeys': ['etcd_debugging_mvcc_db_compaction_keys_total'],
  'mvcc.compactionTotalMs': ['etcd_debugging_mvcc_db_compaction_total_duration_milliseconds'],
  'mvcc.compactionPauseMs': ['etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds'],
  'mvcc.indexCompactionPauseMs': ['etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds'],
  'mvcc.hash': ['etcd_mvcc_hash_duration_seconds'],
  'mvcc.hashRev': ['etcd_mvcc_hash_rev_duration_seconds'],
  'lease.granted': ['etcd_debugging_lease_granted_total'],
  'lease.ttl': ['etcd_debugging_lease_ttl_total'],
  'lease.renewed': ['etcd_debugging_lease_renewed_total'],
  'lease.revoked': ['etcd_debugging_lease_revoked_total'],
  'lease.expired': ['etcd_debugging_server_lease_expired_total'],
  'server.proposalFailed': ['etcd_server_proposals_failed_total'],
  'server.readIndexFailed': ['etcd_server_read_indexes_failed_total'],
  'server.slowReadIndex': ['etcd_server_slow_read_indexes_total'],
  'server.slowApply': ['etcd_server_slow_apply_total'],
  'server.learnerPromoted': ['etcd_server_learner_promote_successes'],
  'watch.events': ['etcd_debugging_mvcc_events_total'],
  'backend.defrag': ['etcd_disk_backend_defrag_duration_seconds'],
  'backend.snapshot': ['etcd_disk_backend_snapshot_duration_seconds'],
  'backend.commitWrite': ['etcd_debugging_disk_backend_commit_write_duration_seconds'],
  'backend.commitSpill': ['etcd_debugging_disk_backend_commit_spill_duration_seconds'],
  'backend.commitRebalance': ['etcd_debugging_disk_backend_commit_rebalance_duration_seconds'],
  'snap.dbFsync': ['etcd_snap_db_fsync_duration_seconds'],
  'snap.dbSaveTotal': ['etcd_snap_db_save_total_duration_seconds'],
  'snap.fsync': ['etcd_snap_fsync_duration_seconds'],
  'snap.saveMarshalling': ['etcd_debugging_snap_save_marshalling_duration_seconds'],
  'snap.saveTotal': ['etcd_debugging_snap_save_total_duration_seconds'],
  'store.readGetRecursive': [],
  'store.writeCreate': [],
  'store.writeSet': [],
  'store.writeUpdate': [],
  'store.writeDelete': [],
};

/** v2-store observations: the action label of etcd_debugging_store_{reads,writes}_total. */
const STORE_ACTIONS: Partial<Record<Observation, readonly ['etcd_debugging_store_reads_total' | 'etcd_debugging_store_writes_total', string]>> = {
  'store.readGetRecursive': ['etcd_debugging_store_reads_total', 'getRecursive'],
  'store.writeCreate': ['etcd_debugging_store_writes_total', 'create'],
  'store.writeSet': ['etcd_debugging_store_writes_total', 'set'],
  'store.writeUpdate': ['etcd_debugging_store_writes_total', 'update'],
  'store.writeDelete': ['etcd_debugging_store_writes_total', 'delete'],
};

export class MemberMetrics {
  readonly registry = new Registry();
  private readonly families = new Map<FamilyName, Family>();
  /** Per routed path: its labels and counter children (paths are the fixed service set). */
  private readonly grpcMethods = new Map<string, GrpcMethod>();
  private readonly clientRequestChildren = new Map<string, Tally>();
  /** Every per-call tally, added into its series before a scrape (flushTallies). */
  private readonly tallies: Tally[] = [];
  private readonly counterObservations = new Map<Observation, Tally>();
  private grpcReceivedBytes: Tally | undefined;
  private grpcSentBytes: Tally | undefined;
  private source: MetricsSource | undefined;
  private localIdHex = '';
  /** Last totals copied from the transport, per family and labels. */
  private readonly totals = new Map<string, number>();
  private readonly nowMs: () => number;
  /** Present only with `--metrics extensive`, as etcd registers it only then. */
  private readonly handlingSeconds: Histogram | undefined;

  constructor(id: MetricsIdentity) {
    this.nowMs = id.nowMs;
    this.handlingSeconds =
      id.extensive === true
        ? new Histogram({ ...GRPC_HANDLING_SECONDS, labelNames: [...GRPC_HANDLING_SECONDS.labelNames], buckets: [...GRPC_HANDLING_SECONDS.buckets], registers: [this.registry] })
        : undefined;
    collectDefaultMetrics({ register: this.registry });
    for (const [name, def] of Object.entries(FAMILIES) as Array<[FamilyName, (typeof FAMILIES)[FamilyName]]>) {
      const common = {
        name,
        help: def.help,
        registers: [this.registry],
        ...('labels' in def ? { labelNames: [...def.labels] } : {}),
      };
      const read = this.readerFor(name);
      if (def.type === 'counter') this.families.set(name, new Counter(common));
      else if (def.type === 'histogram') {
        this.families.set(name, new Histogram({ ...common, buckets: 'buckets' in def ? [...def.buckets] : [] }));
      } else this.families.set(name, new Gauge(read !== undefined ? { ...common, collect: read } : common));
    }
    this.gauge('etcd_server_version').set({ server_version: id.serverVersion }, 1);
    this.gauge('etcd_cluster_version').set({ cluster_version: id.clusterVersion }, 1);
    this.gauge('etcd_server_go_version').set({ server_go_version: id.runtimeVersion }, 1);
    for (const code of ['200', '500', '503']) this.counter('promhttp_metric_handler_requests_total').inc({ code }, 0);
    // Observations that feed only unlabelled counters (mvcc.put on every applied put...)
    // are tallied and added before a scrape, like the per-call gRPC counts.
    for (const [what, names] of Object.entries(OBSERVED) as Array<[Observation, readonly FamilyName[]]>) {
      const families = names.map((n) => this.families.get(n));
      if (families.length === 0 || STORE_ACTIONS[what] !== undefined) continue;
      if (!families.every((f): f is Counter => f instanceof Counter)) continue;
      this.counterObservations.set(what, this.tally({ inc: (n) => families.forEach((f) => f.inc(n)) }));
    }
  }

  /** The running member; gauges read nothing before it is set. */
  attach(source: MetricsSource, memberIdHex: string): void {
    this.source = source;
    this.localIdHex = memberIdHex;
    this.gauge('etcd_server_id').set({ server_id: memberIdHex }, 1);
  }

  /** Counts and timings of the core modules (shared/observe.ts). */
  readonly observe: Observe = (what, value) => {
    const tally = this.counterObservations.get(what);
    if (tally !== undefined) {
      tally.n += value;
      return;
    }
    const store = STORE_ACTIONS[what];
    if (store !== undefined) {
      this.counter(store[0]).inc({ action: store[1] }, value);
      return;
    }
    for (const name of OBSERVED[what]) {
      const f = this.families.get(name);
      if (f instanceof Histogram) f.observe(value);
      else if (f !== undefined) f.inc(value);
    }
  };

  /** Timers for MemberStorage (WAL fsync, backend commit), with its other observations. */
  readonly storageTimers: StorageTimers = {
    walFsync: () => this.histogram('etcd_disk_wal_fsync_duration_seconds').startTimer(),
    backendCommit: () => this.histogram('etcd_disk_backend_commit_duration_seconds').startTimer(),
    observe: this.observe,
    nowMs: () => this.nowMs(),
  };

  /** A PING round trip to a peer (etcd_network_peer_round_trip_time_seconds). */
  peerRoundTrip(id: bigint, seconds: number): void {
    this.histogram('etcd_network_peer_round_trip_time_seconds').observe({ To: id.toString(16) }, seconds);
  }

  /** A snapshot sent to or received from a peer and installed (etcd rafthttp's timers). */
  peerSnapshotTimed(direction: 'send' | 'receive', id: bigint, seconds: number): void {
    const peer = id.toString(16);
    if (direction === 'send') this.histogram('etcd_network_snapshot_send_total_duration_seconds').observe({ To: peer }, seconds);
    else this.histogram('etcd_network_snapshot_receive_total_duration_seconds').observe({ From: peer }, seconds);
  }

  /** Series for every method x code of the services etcd registers (InitializeMetrics). */
  initializeGrpc(services: readonly GrpcServiceMethods[]): void {
    for (const s of services) {
      for (const m of s.methods) {
        const method = this.grpcMethod(`/${s.service}/${m.name}`, m.kind);
        for (let code = 0; code < GRPC_CODE_NAMES.length; code++) method.handled(code);
      }
    }
  }

  /**
   * A gRPC call started (GrpcRouter's observe hook): go-grpc-prometheus' counters,
   * etcd's client request count by client-api-version, and bytes to and from clients.
   */
  grpcCall(path: string, kind: keyof typeof GRPC_TYPES, metadata: Record<string, string | string[] | undefined>): GrpcCallObserver {
    // Every RPC passes here: label children are made once per method (and code).
    const m = this.grpcMethod(path, kind);
    m.started.n++;
    const startMs = m.handling === undefined ? 0 : this.nowMs();
    const version = metadata['client-api-version'];
    const v = (Array.isArray(version) ? version[0] : version) ?? 'unknown';
    this.clientRequests(kind === 'unary' ? 'unary' : 'stream', v).n++;
    const received = (this.grpcReceivedBytes ??= this.tally(this.counter('etcd_network_client_grpc_received_bytes_total')));
    const sent = (this.grpcSentBytes ??= this.tally(this.counter('etcd_network_client_grpc_sent_bytes_total')));
    return {
      received: (bytes) => {
        m.msgReceived.n++;
        received.n += bytes;
      },
      sent: (bytes) => {
        m.msgSent.n++;
        sent.n += bytes;
      },
      ended: (code) => {
        m.handled(code).n++;
        m.handling?.observe((this.nowMs() - startMs) / 1000);
      },
    };
  }

  /** A leader change seen by this member (etcd counts every new leader, not losses). */
  leaderChanged(lead: bigint): void {
    if (lead !== 0n) this.counter('etcd_server_leader_changes_seen_total').inc();
  }

  /** A /health answer (etcd_server_health_success / _failures). */
  healthChecked(ok: boolean): void {
    this.counter(ok ? 'etcd_server_health_success' : 'etcd_server_health_failures').inc();
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    const inFlight = this.gauge('promhttp_metric_handler_requests_in_flight');
    inFlight.inc();
    try {
      this.flushTallies();
      this.syncPeerCounters();
      const body = withoutEmptyFamilies(await this.registry.metrics());
      this.counter('promhttp_metric_handler_requests_total').inc({ code: '200' });
      return { contentType: this.registry.contentType, body };
    } catch (err) {
      this.counter('promhttp_metric_handler_requests_total').inc({ code: '500' });
      throw err;
    } finally {
      inFlight.dec();
    }
  }

  /** etcd_server_client_requests_total's tally for one call type and client version, made once. */
  private clientRequests(type: 'unary' | 'stream', version: string): Tally {
    const key = `${type} ${version}`;
    let c = this.clientRequestChildren.get(key);
    if (c === undefined) {
      c = this.tally(this.counter('etcd_server_client_requests_total').labels({ type, client_api_version: version }));
      this.clientRequestChildren.set(key, c);
    }
    return c;
  }

  /**
   * A count kept as a plain number and added into `into` before each scrape: prom-client
   * builds and hashes a label string on every inc(), and a unary call made seven of them,
   * a measurable share of a put's CPU (docs/architecture.md §4).
   */
  private tally(into: { inc(value: number): void }): Tally {
    const t = { n: 0, into };
    this.tallies.push(t);
    return t;
  }

  private flushTallies(): void {
    for (const t of this.tallies) {
      if (t.n === 0) continue;
      const n = t.n;
      t.n = 0;
      t.into.inc(n);
    }
  }

  private grpcMethod(path: string, kind: keyof typeof GRPC_TYPES): GrpcMethod {
    let m = this.grpcMethods.get(path);
    if (m === undefined) {
      const parts = /^\/([^/]+)\/([^/]+)$/.exec(path);
      const labels = { grpc_type: GRPC_TYPES[kind], grpc_service: parts?.[1] ?? '', grpc_method: parts?.[2] ?? '' };
      const handledFamily = this.counter('grpc_server_handled_total');
      const handled = new Map<number, Tally>();
      const started = this.counter('grpc_server_started_total').labels(labels);
      const msgReceived = this.counter('grpc_server_msg_received_total').labels(labels);
      const msgSent = this.counter('grpc_server_msg_sent_total').labels(labels);
      // go-grpc-prometheus pre-registers the series: they show as zeros before any call.
      started.inc(0);
      this.handlingSeconds?.zero(labels);
      msgReceived.inc(0);
      msgSent.inc(0);
      m = {
        started: this.tally(started),
        msgReceived: this.tally(msgReceived),
        msgSent: this.tally(msgSent),
        // go-grpc-prometheus pre-registers the histogram's series with the counters'.
        handling: this.handlingSeconds?.labels(labels),
        handled: (code) => {
          let h = handled.get(code);
          if (h === undefined) {
            const child = handledFamily.labels({ ...labels, grpc_code: GRPC_CODE_NAMES[code] ?? String(code) });
            child.inc(0);
            h = this.tally(child);
            handled.set(code, h);
          }
          return h;
        },
      };
      this.grpcMethods.set(path, m);
    }
    return m;
  }

  /** The scrape-time reader of a gauge, or undefined for gauges set as events happen. */
  private readerFor(name: FamilyName): ((this: Gauge) => void | Promise<void>) | undefined {
    const current = (): MetricsSource | undefined => this.source;
    const local = (): string => this.localIdHex;
    const simple = (fn: (s: MetricsSource) => number) =>
      function (this: Gauge): void {
        const s = current();
        if (s !== undefined) this.set(fn(s));
      };
    const flag = (b: boolean): number => (b ? 1 : 0);
    switch (name) {
      case 'etcd_server_has_leader':
        return simple((s) => flag(s.hasLeader()));
      case 'etcd_server_is_leader':
        return simple((s) => flag(s.isLeader()));
      case 'etcd_server_is_learner':
        return simple((s) => flag(s.isLearner()));
      case 'etcd_server_proposals_committed_total':
        return simple((s) => s.committedIndex());
      case 'etcd_server_proposals_applied_total':
        return simple((s) => s.appliedIndex());
      case 'etcd_server_proposals_pending':
        return simple((s) => s.pendingProposals());
      case 'etcd_server_snapshot_apply_in_progress_total':
        return simple((s) => flag(s.installingSnapshot()));
      case 'etcd_debugging_mvcc_current_revision':
        return simple((s) => s.currentRevision());
      case 'etcd_debugging_mvcc_compact_revision':
        return simple((s) => s.compactRevision());
      case 'etcd_debugging_mvcc_keys_total':
        return simple((s) => s.keyCount());
      case 'etcd_mvcc_db_open_read_transactions':
        return simple((s) => s.openReads());
      case 'etcd_debugging_mvcc_watch_stream_total':
        return simple((s) => s.watchStats().streams);
      case 'etcd_debugging_mvcc_watcher_total':
        return simple((s) => {
          const w = s.watchStats();
          return w.synced + w.unsynced + w.victims;
        });
      case 'etcd_debugging_mvcc_slow_watcher_total':
        return simple((s) => {
          const w = s.watchStats();
          return w.unsynced + w.victims;
        });
      case 'etcd_debugging_mvcc_pending_events_total':
        return simple((s) => s.watchStats().pendingEvents);
      case 'etcd_disk_wal_write_bytes_total':
        return simple((s) => s.walBytesWritten());
      case 'etcd_disk_defrag_inflight':
        return simple((s) => flag(s.defragInflight()));
      case 'etcd_debugging_auth_revision':
        return simple((s) => s.authRevision?.() ?? 1);
      case 'etcd_server_quota_backend_bytes':
        return simple((s) => s.quotaBackendBytes());
      case 'etcd_mvcc_db_total_size_in_bytes':
      case 'etcd_debugging_mvcc_db_total_size_in_bytes':
        return async function (this: Gauge): Promise<void> {
          const s = current();
          if (s !== undefined) this.set(await s.dbSizeBytes());
        };
      case 'etcd_mvcc_db_total_size_in_use_in_bytes':
        return async function (this: Gauge): Promise<void> {
          const s = current();
          if (s !== undefined) this.set(await s.dbSizeInUseBytes());
        };
      case 'etcd_network_active_peers':
        return function (this: Gauge): void {
          const s = current();
          if (s === undefined) return;
          for (const [id, link] of s.peerLinks()) this.set({ Local: local(), Remote: id.toString(16) }, flag(link.active));
        };
      case 'os_fd_used':
        return function (this: Gauge): void {
          this.set(openFds());
        };
      case 'os_fd_limit':
        return function (this: Gauge): void {
          this.set(processLimit('Max open files'));
        };
      case 'process_virtual_memory_max_bytes':
        return function (this: Gauge): void {
          this.set(processLimit('Max address space'));
        };
      default:
        return undefined;
    }
  }

  /** Copies the transport's per-peer counters into their families (called before a scrape). */
  private syncPeerCounters(): void {
    const s = this.source;
    if (s === undefined) return;
    const local = this.localIdHex;
    let heartbeatFailures = 0;
    for (const [id, t] of s.peerTraffic()) {
      const peer = id.toString(16);
      heartbeatFailures += t.heartbeatSendFailures;
      this.setCounter('etcd_network_peer_sent_bytes_total', { To: peer }, t.sentBytes);
      this.setCounter('etcd_network_peer_received_bytes_total', { From: peer }, t.receivedBytes);
      this.setCounter('etcd_network_peer_sent_failures_total', { To: peer }, t.sendFailures);
      this.setCounter('etcd_network_disconnected_peers_total', { Local: local, Remote: peer }, t.disconnects);
      this.setCounter('etcd_network_snapshot_send_success', { To: peer }, t.snapshotsSent);
      this.setCounter('etcd_network_snapshot_send_failures', { To: peer }, t.snapshotsSendFailed);
      this.setCounter('etcd_network_snapshot_receive_success', { From: peer }, t.snapshotsReceived);
      this.setCounter('etcd_network_snapshot_receive_failures', { From: peer }, t.snapshotsReceiveFailed);
      this.setCounter('etcd_network_peer_received_failures_total', { From: peer }, t.receiveFailures);
      // Gauges: a series appears once a snapshot went that way, then follows the count.
      if (t.snapshotsSent + t.snapshotsSendFailed + t.snapshotsSending > 0) {
        this.gauge('etcd_network_snapshot_send_inflights_total').set({ To: peer }, t.snapshotsSending);
      }
      if (t.snapshotsReceived + t.snapshotsReceiveFailed + t.snapshotsReceiving > 0) {
        this.gauge('etcd_network_snapshot_receive_inflights_total').set({ From: peer }, t.snapshotsReceiving);
      }
    }
    this.setCounter('etcd_server_heartbeat_send_failures_total', undefined, heartbeatFailures);
  }

  private counter(name: FamilyName): Counter {
    const f = this.families.get(name);
    if (!(f instanceof Counter)) throw new Error(`${name} is not a counter`);
    return f;
  }

  /** Raises a counter (child) to a total kept elsewhere: the transport's counters. */
  private setCounter(name: FamilyName, labels: Record<string, string> | undefined, total: number): void {
    const key = `${name}${JSON.stringify(labels ?? {})}`;
    const seen = this.totals.get(key);
    // Like etcd's labelled counters, a peer's series appears once something was counted.
    if (seen === undefined && total === 0 && labels !== undefined) return;
    // A source that restarted from 0 (a removed and re-added peer) counts on from there.
    const delta = seen === undefined || total < seen ? total : total - seen;
    this.totals.set(key, total);
    const c = this.counter(name);
    if (labels === undefined) c.inc(delta);
    else c.inc(labels, delta);
  }

  private gauge(name: FamilyName): Gauge {
    const f = this.families.get(name);
    if (!(f instanceof Gauge)) throw new Error(`${name} is not a gauge`);
    return f;
  }

  private histogram(name: FamilyName): Histogram {
    const f = this.families.get(name);
    if (!(f instanceof Histogram)) throw new Error(`${name} is not a histogram`);
    return f;
  }
}

/** A count not yet added into its prom-client series (`into`). */
interface Tally {
  n: number;
  readonly into: { inc(value: number): void };
}

interface GrpcMethod {
  readonly started: Tally;
  readonly msgReceived: Tally;
  readonly msgSent: Tally;
  readonly handling: Histogram.Internal<string> | undefined;
  handled(code: number): Tally;
}

/**
 * client_golang leaves a family out of the exposition while it has no series; prom-client
 * prints its HELP and TYPE lines anyway. Drop those, so the families shown are the ones
 * etcd would show after the same activity.
 */
function withoutEmptyFamilies(text: string): string {
  const out: string[] = [];
  let header: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# HELP ')) {
      header = [line];
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      header.push(line);
      continue;
    }
    if (line === '') continue;
    if (header.length > 0) {
      out.push(...header);
      header = [];
    }
    out.push(line);
  }
  return `${out.join('\n')}\n`;
}

function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

/** A soft limit from /proc/self/limits; "unlimited" as client_golang reports it (2^64 - 1). */
function processLimit(which: string): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(which));
    const soft = line?.slice(which.length).trim().split(/\s+/)[0];
    if (soft === undefined) return 0;
    return soft === 'unlimited' ? 18446744073709551615 : Number(soft);
  } catch {
    return 0;
  }
}
