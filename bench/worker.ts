/**
 * Runs one worker's share of a run (see share.ts for the protocol). The same function
 * serves a worker thread (worker-entry.ts) and the inline mode used by tests, so both
 * paths run identical code. The worker owns its connections: it opens them in `init`,
 * closes them after `result`, and never throws across the message boundary. A worker
 * serves any number of runs in sequence (the runner's pool reuses it).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { SeededRng } from '../src/shared/rng.js';
import { EtcdClient } from './etcd-client.js';
import { GrpcConn, type TlsFiles } from './grpc-h2.js';
import type { HistogramData } from './histogram.js';
import { mixedWorkload } from './mixed-workload.js';
import type { WorkloadName } from './options.js';
import { LoadControl, Recorder } from './recorder.js';
import type { FromWorker, ToWorker, WorkerResult, WorkerSpec } from './share.js';
import { watchWorkload } from './watch-workload.js';
import type { WorkerContext, Workload } from './context.js';
import { makeValue } from './context.js';
import {
  authenticateWorkload,
  leaseKeepAliveWorkload,
  splitUser,
  putWorkload,
  rangeWorkload,
  txnMixedWorkload,
  txnPutWorkload,
} from './workloads.js';

export interface Port {
  postMessage(message: FromWorker): void;
  on(event: 'message', listener: (message: ToWorker) => void): unknown;
}

function makeWorkload(name: WorkloadName): Workload {
  switch (name) {
    case 'put':
      return putWorkload();
    case 'range':
      return rangeWorkload();
    case 'txn-put':
      return txnPutWorkload();
    case 'txn-mixed':
      return txnMixedWorkload();
    case 'lease-keepalive':
      return leaseKeepAliveWorkload();
    case 'watch':
    case 'watch-latency':
      return watchWorkload();
    case 'mixed':
      return mixedWorkload();
    case 'authenticate':
      return authenticateWorkload();
  }
}

/**
 * CPU seconds used by the calling thread so far (Linux: /proc/thread-self/stat, read
 * synchronously so the calling thread is the one described). NaN elsewhere.
 */
function threadCpuSeconds(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

export function loadTls(opts: { cacert: string; cert: string; key: string }): TlsFiles | undefined {
  if (opts.cacert === '') return undefined;
  const tls: { ca: Buffer; cert?: Buffer; key?: Buffer } = { ca: readFileSync(opts.cacert) };
  if (opts.cert !== '') tls.cert = readFileSync(opts.cert);
  if (opts.key !== '') tls.key = readFileSync(opts.key);
  return tls;
}

/** Serves one share over `port` until the result is posted. */
export function serveShare(port: Port): void {
  let ctx: WorkerContext | undefined;
  let workload: Workload | undefined;
  const conns: GrpcConn[] = [];

  const closeAll = (): void => {
    for (const c of conns) c.close();
    conns.length = 0;
  };

  const init = async (spec: WorkerSpec): Promise<void> => {
    const opts = spec.options;
    const tls = loadTls(opts);
    const clients = new Map<number, EtcdClient>();
    for (const id of spec.connIds) {
      const endpoint = opts.endpoints[id % opts.endpoints.length] ?? '';
      const conn = await GrpcConn.connect(endpoint, tls);
      conns.push(conn);
      const client = new EtcdClient(conn);
      // --user: each connection logs in once and sends its token (not the authenticate workload, whose ops are the logins)
      if (opts.user !== '' && opts.workload !== 'authenticate') conn.setToken(await client.authenticate(...splitUser(opts.user)));
      clients.set(id, client);
    }
    const rec = new Recorder();
    const rng = new SeededRng(opts.seed * 7919 + spec.workerIndex);
    ctx = {
      spec,
      opts,
      clients,
      rec,
      rng,
      load: new LoadControl(spec.total, spec.rate, opts.durationSec, opts.warmupSec, rec),
      value: makeValue(opts.valSize, rng),
    };
    workload = makeWorkload(opts.workload);
    await workload.setup(ctx);
  };

  const go = async (): Promise<WorkerResult> => {
    if (ctx === undefined || workload === undefined) throw new Error('go before init');
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = threadCpuSeconds();
    const wall0 = performance.now();
    ctx.load.start();
    await workload.run(ctx);
    workload.teardown(ctx);
    const elu = performance.eventLoopUtilization(elu0);
    const threadCpuCores = (threadCpuSeconds() - cpu0) / ((performance.now() - wall0) / 1000);
    const latency: Record<string, HistogramData> = {};
    for (const [kind, h] of ctx.rec.latency) latency[kind] = h.toData();
    return {
      workerIndex: ctx.spec.workerIndex,
      latency,
      errors: Object.fromEntries(ctx.rec.errors),
      okOps: ctx.rec.okOps,
      errorOps: ctx.rec.errorOps,
      elapsedMs: Math.max(0, ctx.rec.lastOpMs - ctx.rec.measureStartMs),
      eventLoopUtilization: elu.utilization,
      threadCpuCores,
      counters: { ...ctx.rec.counters },
    };
  };

  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'init') {
      init(msg.spec).then(
        () => port.postMessage({ type: 'ready' }),
        (err: unknown) => {
          closeAll();
          port.postMessage({ type: 'failed', error: `worker ${msg.spec.workerIndex} setup: ${String(err)}` });
        },
      );
    } else {
      go().then(
        (result) => {
          closeAll();
          port.postMessage({ type: 'result', result });
        },
        (err: unknown) => {
          closeAll();
          port.postMessage({ type: 'failed', error: `worker run: ${String(err)}` });
        },
      );
    }
  });
}
