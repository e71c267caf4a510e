/**
 * The Go load generator (bench/go/loadgen, on etcd 3.4's clientv3): its flags follow
 * BenchOptions, and built offline from Debian's sources it drives a real etcd over the
 * bench's mTLS with sane figures (put with 8 clients over 2 connections, txn-put, range
 * linearizable and serializable with an exact --total, the scale profile's `load`
 * writing every key once, and its `mix` over those keys: paginated lists of exactly the
 * asked object count, paced Txn updates, a prev_kv watcher that got every write's event,
 * lease churn). One build (~30 s cold) serves every case.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../bench/cluster.js';
import { EtcdClient } from '../../bench/etcd-client.js';
import { buildGoLoadgen, goArgs, runGoLoadgen, runGoRaw } from '../../bench/go-client.js';
import { GrpcConn } from '../../bench/grpc-h2.js';
import { resolveOptions } from '../../bench/options.js';
import { makePki } from '../../bench/pki.js';
import { mixMetrics, mixOf } from '../../bench/scale-mix.js';
import { requireFile, requireTools } from '../helpers/require-tool.js';

describe('Go load generator', () => {
  it('maps BenchOptions to its flags; refuses workloads it does not have', () => {
    const o = resolveOptions('put', ['https://127.0.0.1:1', 'https://127.0.0.1:2'], {
      clients: 64,
      conns: 8,
      durationSec: 2,
      warmupSec: 0.5,
      valSize: 1024,
      sequentialKeys: true,
      cacert: 'ca.pem',
      cert: 'c.pem',
      key: 'k.pem',
    });
    const a = goArgs(o);
    expect(a).toContain('--endpoints=https://127.0.0.1:1,https://127.0.0.1:2');
    expect(a).toContain('--clients=64');
    expect(a).toContain('--conns=8');
    expect(a).toContain('--duration=2s');
    expect(a).toContain('--warmup=0.5s');
    expect(a).toContain('--sequential-keys');
    expect(a).toContain('--cert=c.pem');
    expect(a).not.toContain('--total=0');
    expect(() => goArgs(resolveOptions('watch', ['http://127.0.0.1:1'], {}))).toThrow(/no "watch" workload/);
  });

  const dir = mkdtempSync(join(tmpdir(), 'tsetcd-go-loadgen-'));
  let cluster: Cluster | undefined;
  afterAll(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  it('drives a real etcd over mTLS: put, txn-put, range l/s, load, mix', async (ctx) => {
    requireTools(ctx, 'go', 'etcd');
    requireFile(ctx, '/usr/share/gocode/src/go.etcd.io/etcd/clientv3/client.go', 'apt-get install -y golang-etcd-server-dev');
    mkdirSync(join(dir, 'pki'));
    const pki = makePki(join(dir, 'pki'));
    const [bin] = await Promise.all([
      buildGoLoadgen(dir),
      (async () => {
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
      })(),
    ]);
    const urls = cluster?.clientUrls ?? [];
    const tls = { cacert: pki.caFile, cert: pki.certFile, key: pki.keyFile };
    const put = await runGoLoadgen(bin, resolveOptions('put', urls, { ...tls, clients: 8, conns: 2, durationSec: 1, valSize: 1024 }), 30_000);
    expect(put.errors).toEqual({});
    expect(put.okOps).toBeGreaterThan(0);
    expect(put.elapsedMs).toBeGreaterThanOrEqual(950);
    const l = put.latency;
    expect([l.minMs, l.p50Ms, l.p90Ms, l.p99Ms, l.maxMs]).toEqual([...[l.minMs, l.p50Ms, l.p90Ms, l.p99Ms, l.maxMs]].sort((a, b) => a - b));
    expect(l.minMs).toBeGreaterThan(0);
    expect(put.generator.cpuCores).toBeGreaterThan(0);
    const txn = await runGoLoadgen(bin, resolveOptions('txn-put', urls, { ...tls, clients: 4, conns: 1, total: 200, txnOps: 4, keySpaceSize: 100 }), 30_000);
    expect(txn.errors).toEqual({});
    expect(txn.okOps).toBe(200);
    for (const consistency of ['l', 's'] as const) {
      const r = await runGoLoadgen(bin, resolveOptions('range', urls, { ...tls, clients: 4, conns: 1, total: 300, consistency, keySpaceSize: 20 }), 30_000);
      expect(r.errors).toEqual({});
      expect(r.okOps).toBe(300);
    }
    // load: every key of [from, to) once, 1 KiB random values.
    const args = ['--workload=load', `--endpoints=${urls.join(',')}`, '--clients=8', '--conns=2', '--from=0', '--to=500', '--prefix=/load/', '--key-size=16'];
    const load = await runGoRaw(bin, [...args, `--cacert=${tls.cacert}`, `--cert=${tls.cert}`, `--key=${tls.key}`], 30_000);
    expect(load.okOps).toBe(500);
    const conn = await GrpcConn.connect(urls[0] ?? '', cluster?.tlsFiles);
    try {
      const r = await new EtcdClient(conn).range({ key: Buffer.from('/load/'), rangeEnd: Buffer.from('/load0'), countOnly: true });
      expect(Number(r.count)).toBe(500);
      const one = await new EtcdClient(conn).range({ key: Buffer.from('/load/0000000007') });
      const v = one.kvs?.[0]?.value ?? Buffer.alloc(0);
      expect(v.length).toBe(1024);
      expect(new Set(v).size).toBeGreaterThan(200); // random, not a repeated pattern
    } finally {
      conn.close();
    }
    // mix over the 500 loaded keys: lists of 200 in pages of 50, 4 paced Txn writers.
    const mixFlags = ['--workload=mix', `--endpoints=${urls.join(',')}`, '--clients=4', '--conns=2', '--from=0', '--to=500', '--prefix=/load/', '--key-size=16'];
    const mixOpts = ['--list-objects=200', '--page-size=50', '--rate=200', '--lease-ttl=10', '--warmup=0.2s', '--duration=1s'];
    const mix = await runGoRaw(bin, [...mixFlags, ...mixOpts, `--cacert=${tls.cacert}`, `--cert=${tls.cert}`, `--key=${tls.key}`], 60_000);
    expect(mix.errors).toEqual({});
    const m = mixMetrics(mix);
    expect(m['lists']).toBeGreaterThan(0);
    expect(m['list_p99']).toBeGreaterThanOrEqual(m['page_p99'] ?? Number.NaN);
    expect(mix.okOps).toBeGreaterThan(50); // ~200 offered in 1 s
    expect(mix.okOps).toBeLessThan(400);
    expect(m['lease_cycles']).toBeGreaterThan(0);
    expect(m['prevkv_missing']).toBe(0);
    const x = mixOf(mix);
    expect(x?.listObjects).toBe(200);
    // The revision cache was filled before the writes: without it every first update of a key conflicts.
    expect(x?.conflicts).toBeLessThan(mix.okOps / 10);
    // Every applied write (updates, lease puts and deletes, warm-up included) reached the watcher.
    expect(x?.watchEvents).toBeGreaterThanOrEqual(x?.watchExpected ?? Number.NaN);
    expect(x?.watchExpected).toBeGreaterThan(mix.okOps + 2 * (m['lease_cycles'] ?? 0) - 1);
  }, 120_000);
});
