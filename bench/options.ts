/**
 * Options of the load generator, modelled on etcd's `tools/benchmark` flags, and the
 * per-workload defaults. BenchOptions is a plain object so it can be posted to worker
 * threads unchanged; every field is set (no optional fields) after `resolveOptions`.
 */

export const WORKLOADS = [
  'put',
  'range',
  'txn-put',
  'txn-mixed',
  'watch',
  'watch-latency',
  'lease-keepalive',
  'mixed',
  'authenticate',
] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

export function isWorkload(s: string): s is WorkloadName {
  return (WORKLOADS as readonly string[]).includes(s);
}

export interface BenchOptions {
  workload: WorkloadName;
  endpoints: string[];
  /** PEM file paths; empty string = not given. */
  cacert: string;
  cert: string;
  key: string;
  clients: number;
  conns: number;
  /** Requests to send in total (0 = bounded by durationSec instead). */
  total: number;
  /** Seconds of measured load when total is 0. */
  durationSec: number;
  /** Seconds of unmeasured load before measuring (duration mode only). */
  warmupSec: number;
  /** Requests per second across all clients; 0 = as fast as the server answers. */
  rate: number;
  keySize: number;
  valSize: number;
  keySpaceSize: number;
  sequentialKeys: boolean;
  consistency: 'l' | 's';
  prefix: string;
  /** txn-put: puts per txn. */
  txnOps: number;
  /** txn-mixed: reads per write. */
  rwRatio: number;
  /** watch workloads: watchers in total, watch streams in total, distinct watched keys. */
  watchers: number;
  watchStreams: number;
  watchedKeys: number;
  /** watch workloads: puts per second that generate the events (0 = unlimited). */
  putRate: number;
  leaseTtlSec: number;
  /** mixed: objects stored before the measured phase; list page size. */
  listLimit: number;
  /** Worker threads; 0 = min(conns, available cores). */
  workers: number;
  /** Run the single share in the calling thread (tests; no worker_threads). */
  inline: boolean;
  /** `name:password` (etcd benchmark --user): every connection logs in and sends the token; '' = none. */
  user: string;
  seed: number;
}

/** etcd's benchmark defaults, plus the ones each workload needs to be meaningful. */
export const BASE_DEFAULTS: Omit<BenchOptions, 'workload' | 'endpoints'> = {
  cacert: '',
  cert: '',
  key: '',
  clients: 1,
  conns: 1,
  total: 10_000,
  durationSec: 0,
  warmupSec: 0,
  rate: 0,
  keySize: 8,
  valSize: 8,
  keySpaceSize: 1,
  sequentialKeys: false,
  consistency: 'l',
  prefix: '',
  txnOps: 1,
  rwRatio: 1,
  watchers: 0,
  watchStreams: 0,
  watchedKeys: 0,
  putRate: 0,
  leaseTtlSec: 60,
  listLimit: 500,
  workers: 0,
  inline: false,
  user: '',
  seed: 1,
};

export const WORKLOAD_DEFAULTS: Record<WorkloadName, Partial<BenchOptions>> = {
  put: {},
  range: {},
  'txn-put': {},
  'txn-mixed': { keySpaceSize: 1000 },
  // 10,000 watchers on 20 keys: each put fans out to 500 watchers.
  watch: { watchers: 10_000, watchStreams: 100, watchedKeys: 20, putRate: 200, total: 2000, keySize: 32 },
  // etcd's watch-latency: 100 watchers on one key, 100 puts/s.
  'watch-latency': { watchers: 100, watchStreams: 10, watchedKeys: 1, putRate: 100, total: 1000, keySize: 32 },
  'lease-keepalive': {},
  // kube-apiserver-like: 1 KiB objects under /registry/<resource>/<namespace>/<name>.
  mixed: { keySpaceSize: 2000, valSize: 1024, prefix: '/registry/', clients: 16, conns: 4 },
  authenticate: {},
};

/** Merges defaults under what the caller set explicitly, then validates. */
export function resolveOptions(
  workload: WorkloadName,
  endpoints: string[],
  given: Partial<BenchOptions>,
): BenchOptions {
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<BenchOptions>;
  const o: BenchOptions = { ...BASE_DEFAULTS, ...WORKLOAD_DEFAULTS[workload], ...defined, workload, endpoints };
  if (defined.durationSec !== undefined && defined.durationSec > 0 && defined.total === undefined) o.total = 0;
  validate(o);
  return o;
}

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
}

function validate(o: BenchOptions): void {
  const need = (cond: boolean, msg: string): void => {
    if (!cond) throw new OptionsError(msg);
  };
  need(o.endpoints.length > 0, '--endpoints is required');
  for (const e of o.endpoints) need(/^https?:\/\/[^/]+$/.test(e), `bad endpoint ${e}: want http(s)://host:port`);
  need(o.endpoints.every((e) => e.startsWith('http://')) || o.cacert !== '', 'https endpoints need --cacert');
  need((o.cert === '') === (o.key === ''), '--cert and --key go together');
  need(Number.isInteger(o.conns) && o.conns >= 1, '--conns must be >= 1');
  need(Number.isInteger(o.clients) && o.clients >= o.conns, '--clients must be >= --conns');
  need(o.total > 0 || o.durationSec > 0, 'give --total or --duration');
  need(o.keySpaceSize >= 1 && o.keySize >= 1 && o.valSize >= 0, 'bad key/value sizes');
  need(o.rate >= 0 && o.putRate >= 0 && o.warmupSec >= 0, 'rates and warmup must be >= 0');
  need(o.consistency === 'l' || o.consistency === 's', '--consistency is l or s');
  need(o.user === '' || o.user.includes(':'), '--user is name:password');
  need(o.workload !== 'authenticate' || o.user !== '', 'authenticate needs --user');
  need(o.txnOps >= 1 && o.txnOps <= 128, '--txn-ops must be in [1, 128] (etcd max-txn-ops)');
  need(o.workload !== 'txn-put' || o.keySpaceSize >= o.txnOps, 'txn-put: --key-space-size must be >= --txn-ops (a txn may not touch a key twice)');
  if (o.workload === 'watch' || o.workload === 'watch-latency') {
    need(o.watchers >= 1 && o.watchStreams >= 1 && o.watchStreams <= o.watchers, 'need 1 <= --streams <= --watchers');
    need(o.watchStreams >= o.conns, '--streams must be >= --conns (each connection carries a stream)');
    need(o.watchedKeys >= 1, '--watched-keys must be >= 1');
    need(o.valSize >= 8, 'watch values carry an 8-byte send time: --val-size >= 8');
  }
  if (o.workload === 'mixed') need(o.valSize >= 8, 'mixed values carry an 8-byte send time');
}
