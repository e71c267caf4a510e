/**
 * Smoke test of the load generator (bench/) against a real etcd started here on
 * loopback, with the bench's own mTLS PKI and seed-style config (bench/cluster.ts).
 * Each workload runs for about a second, in inline mode (same worker code, no
 * worker_threads, so it runs from the TypeScript sources). Asserts sane numbers:
 * non-zero throughput, no errors, ordered percentiles, and for watch every expected
 * event delivered. Fails with a clear message when the etcd binary is missing.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../bench/cluster.js';
import { EtcdClient, headerRevision } from '../../bench/etcd-client.js';
import { GrpcConn } from '../../bench/grpc-h2.js';
import type { LatencySummary } from '../../bench/histogram.js';
import { type BenchOptions, resolveOptions, type WorkloadName } from '../../bench/options.js';
import { makePki, type Pki } from '../../bench/pki.js';
import { type BenchResult, runBench, WorkerPool } from '../../bench/runner.js';
import { readSettled } from '../../bench/watch-scale.js';

function etcdAvailable(): boolean {
  try {
    execFileSync('etcd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function expectOrdered(s: LatencySummary, what: string): void {
  const seq = [s.minMs, s.p50Ms, s.p90Ms, s.p99Ms, s.maxMs];
  for (let i = 1; i < seq.length; i++) {
    expect(seq[i], `${what}: percentiles out of order ${JSON.stringify(s)}`).toBeGreaterThanOrEqual(seq[i - 1] ?? 0);
  }
  expect(s.avgMs, `${what}: avg outside [min, max]`).toBeGreaterThanOrEqual(s.minMs);
  expect(s.avgMs, `${what}: avg outside [min, max]`).toBeLessThanOrEqual(s.maxMs);
  expect(s.minMs, `${what}: non-positive latency`).toBeGreaterThan(0);
}

function expectSane(r: BenchResult): void {
  expect(r.errors, `${r.workload} errors`).toEqual({});
  expect(r.errorOps).toBe(0);
  expect(r.okOps).toBeGreaterThan(0);
  expect(r.throughputOpsPerSec).toBeGreaterThan(0);
  expect(r.latency.count).toBe(r.okOps);
  expectOrdered(r.latency, `${r.workload} all ops`);
  for (const [kind, s] of Object.entries(r.byKind)) expectOrdered(s, `${r.workload} ${kind}`);
  expect(r.generator.cpuCores).toBeGreaterThan(0);
}

describe('bench load generator against real etcd', () => {
  let dir = '';
  let pki: Pki;
  let cluster: Cluster | undefined;

  beforeAll(async () => {
    if (!etcdAvailable()) {
      throw new Error('etcd binary not found on PATH: install Debian etcd-server (apt-get install -y etcd-server)');
    }
    dir = mkdtempSync(join(tmpdir(), 'tsetcd-bench-test-'));
    mkdirSync(join(dir, 'pki'));
    pki = makePki(join(dir, 'pki'));
    cluster = await Cluster.create({
      kind: 'etcd',
      members: 1,
      dir: join(dir, 'cluster'),
      pki,
      command: { file: 'etcd', args: [] },
      startTimeoutMs: 15_000,
      extraConfig: {},
    });
    await cluster.start();
  }, 30_000);

  afterAll(async () => {
    await cluster?.stop();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  const run = (workload: WorkloadName, given: Partial<BenchOptions>): Promise<BenchResult> => {
    if (cluster === undefined) throw new Error('cluster not started');
    const opts = resolveOptions(workload, cluster.clientUrls, {
      cacert: pki.caFile,
      cert: pki.certFile,
      key: pki.keyFile,
      inline: true,
      ...given,
    });
    return runBench(opts, 20_000);
  };

  it('put: 8 clients over 2 connections for 1 s', async () => {
    const r = await run('put', { clients: 8, conns: 2, durationSec: 1, valSize: 256, keySpaceSize: 1000 });
    expectSane(r);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(900);
    expect(Object.keys(r.byKind)).toEqual(['put']);
  });

  it('range: --total is exact, linearizable and serializable', async () => {
    for (const consistency of ['l', 's'] as const) {
      const r = await run('range', { clients: 4, conns: 1, total: 300, consistency, keySpaceSize: 20 });
      expectSane(r);
      expect(r.okOps).toBe(300);
    }
  });

  it('--rate bounds the request rate', async () => {
    const r = await run('put', { clients: 4, conns: 1, durationSec: 1, rate: 100 });
    expectSane(r);
    expect(r.throughputOpsPerSec).toBeLessThan(130);
    expect(r.throughputOpsPerSec).toBeGreaterThan(50);
  });

  it('watch-latency: every expected event arrives', async () => {
    const r = await run('watch-latency', { total: 60, putRate: 100, watchers: 20, watchStreams: 4 });
    expectSane(r);
    expect(r.counters['eventsExpected']).toBe(60 * 20);
    expect(r.counters['eventsDelivered']).toBe(60 * 20);
    expect(r.eventsPerSec ?? 0).toBeGreaterThan(0);
    const delivery = r.byKind['watch-delivery'];
    expect(delivery?.count).toBe(60 * 20);
  });

  it('beforeGo runs once, after setup and before any put; a failing one fails the run', async () => {
    if (cluster === undefined) throw new Error('cluster not started');
    const c = cluster;
    const opts = resolveOptions('watch', c.clientUrls, {
      cacert: pki.caFile,
      cert: pki.certFile,
      key: pki.keyFile,
      inline: true,
      total: 20,
      putRate: 100,
      watchers: 200,
      watchStreams: 2,
      watchedKeys: 4,
      conns: 2,
      clients: 2,
    });
    const pool = new WorkerPool();
    const conn = await GrpcConn.connect(c.clientUrls[0] ?? '', c.tlsFiles);
    const revision = async (): Promise<number> =>
      headerRevision(await new EtcdClient(conn).range({ key: Buffer.from('x') }));
    const rss: number[] = [];
    const revBefore = await revision();
    let revInHook = -1;
    const r = await pool.run(opts, 20_000, {
      beforeGo: async () => {
        revInHook = await revision();
        rss.push((await readSettled(() => c.memberRssBytes(0))).bytes);
      },
    });
    const revAfter = await revision();
    conn.close();
    expectSane(r);
    expect(rss).toHaveLength(1);
    expect(revInHook).toBe(revBefore); // no put yet when the hook ran
    expect(revAfter).toBeGreaterThanOrEqual(revBefore + 20);
    expect(rss[0] ?? 0).toBeGreaterThan(1_000_000);
    expect(r.counters['watchCreateMs'] ?? 0).toBeGreaterThan(0);
    expect(r.counters['eventsDelivered']).toBe(20 * 50);
    await expect(
      pool.run(opts, 20_000, {
        beforeGo: () => Promise.reject(new Error('probe broke')),
      }),
    ).rejects.toThrow('before the start: probe broke');
  });

  it('mixed: kube-apiserver-like ops all succeed, watch events carry prev_kv', async () => {
    const r = await run('mixed', { clients: 4, conns: 2, durationSec: 1, keySpaceSize: 100, valSize: 256 });
    expectSane(r);
    expect(r.counters['watchEvents'] ?? 0).toBeGreaterThan(0);
    expect(r.counters['eventsMissingPrevKv'] ?? 0).toBe(0);
    for (const kind of ['get', 'update']) expect(r.byKind[kind]?.count ?? 0, kind).toBeGreaterThan(0);
  });

  it('lease-keepalive and txn workloads run', async () => {
    for (const workload of ['lease-keepalive', 'txn-put', 'txn-mixed'] as const) {
      const r = await run(workload, { clients: 4, conns: 1, total: 100, keySpaceSize: 20, txnOps: 4 });
      expectSane(r);
      expect(r.okOps).toBe(100);
    }
  });
});
