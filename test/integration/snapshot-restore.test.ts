/**
 * `tsetcd snapshot status` and `tsetcd snapshot restore` on files made by real etcd 3.4.23:
 * - round trip from etcd: a real etcd with a history (puts, deletes, a txn, a lease with
 *   two keys, a compaction, more puts) -> `etcdctl snapshot save` -> `tsetcd snapshot
 *   restore` into three members started from seed-style YAML with mTLS -> a healthy
 *   cluster whose every key equals etcd's field by field, whose HashKV at the snapshot
 *   revision equals etcd's, whose lease lists its keys, whose members and cluster id are
 *   those of the initial cluster, and whose next put gets the snapshot revision + 1;
 * - `tsetcd snapshot status` prints what `etcdctl snapshot status` prints, every format;
 * - bad files (truncated, flipped bytes, wrong trailer, a bbolt file that is not etcd's,
 *   a missing file) and an existing data dir: exit 1, one line, no data dir left.
 * Needs etcd, etcdctl and openssl: fails in CI without them, skips saying why outside CI.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeClusterId, computeMemberId } from '../../src/cluster/ids.js';
import { bboltBytes } from '../../src/bbolt/stream.js';
import type { TestPki } from '../helpers/certs.js';
import { makeTestPki } from '../helpers/certs.js';
import { removeWhenTestProcessExits } from '../helpers/cleanup.js';
import { etcdctlFor, runEtcdctl, type EtcdctlResult } from '../helpers/etcdctl.js';
import { dumpMemberLogsOnFailure, startMember, stopAllMembers, TSETCD_BIN, type Member } from '../helpers/processes.js';
import { requireTools } from '../helpers/require-tool.js';
import {
  describeRun,
  etcdctlOn,
  initialClusterOf,
  parseEtcdctlJson,
  planCluster,
  specFor,
  waitForLeader,
} from './cluster/cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'tsetcd-snap-restore-'));
removeWhenTestProcessExits(dir);
const TOKEN = 'kube-etcd-cluster';
let pki: TestPki;

beforeAll(async () => {
  pki = await makeTestPki();
}, 60_000);
afterAll(stopAllMembers, 60_000);
dumpMemberLogsOnFailure();

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** bin/tsetcd with arguments, bounded to 60 s. */
function runTsetcd(args: readonly string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(TSETCD_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

function ok(r: EtcdctlResult): string {
  expect(r.code, describeRun(r)).toBe(0);
  return r.stdout;
}

interface Kv {
  key: string;
  value?: string;
  create_revision: string;
  mod_revision: string;
  version: string;
  lease?: string;
}

/** Every field as a string (etcdctl prints small int64s as numbers, large ones as we quote them). */
function kvsOf(json: string): Kv[] {
  const kvs = (parseEtcdctlJson(json) as { kvs?: Array<Record<string, unknown>> }).kvs ?? [];
  return kvs.map((kv) => Object.fromEntries(Object.entries(kv).map(([k, v]) => [k, String(v)])) as unknown as Kv);
}

function headerOf(json: string): { revision: string; cluster_id: string } {
  const h = (parseEtcdctlJson(json) as { header: { revision: unknown; cluster_id: unknown } }).header;
  return { revision: String(h.revision), cluster_id: String(h.cluster_id) };
}

function hashKvOf(json: string): { hash: string; compact_revision: string } {
  const [first] = parseEtcdctlJson(json) as Array<{ HashKV: { hash: string; compact_revision: string } }>;
  if (first === undefined) throw new Error(`no hashkv in ${json}`);
  return { hash: String(first.HashKV.hash), compact_revision: String(first.HashKV.compact_revision) };
}

/** One restored member's flags, the way an operator restores the seed cluster. */
function restoreArgs(file: string, m: Member, name: string, initialCluster: string, peerUrl: string): string[] {
  return [
    'snapshot', 'restore', file,
    `--name=${name}`,
    `--initial-cluster=${initialCluster}`,
    `--initial-cluster-token=${TOKEN}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--data-dir=${m.dataDir}`,
    `--wal-dir=${m.walDir}`,
  ];
}

describe('round trip from etcd 3.4.23', () => {
  it('etcdctl snapshot save, tsetcd snapshot restore into 3 mTLS members: the same data, revisions, lease and compaction', async (ctx) => {
    requireTools(ctx, 'etcd', 'etcdctl', 'openssl');
    const source = await startMember({ target: 'etcd', pki, name: 'snap-source' });
    const ctl = async (...args: string[]): Promise<string> => ok(await etcdctlFor(source, args));
    await ctl('put', 'foo', 'bar');
    await ctl('put', 'foo', 'bar2');
    await ctl('put', 'hello', 'world');
    await ctl('del', 'hello');
    const lease = /lease ([0-9a-f]+) granted/.exec(await ctl('lease', 'grant', '600'))?.[1] ?? '';
    expect(lease).not.toBe('');
    await ctl('put', 'leased/a', 'A', `--lease=${lease}`);
    await ctl('put', 'leased/b', 'B', `--lease=${lease}`);
    ok(await etcdctlFor(source, ['txn'], { stdin: 'value("foo") = "bar2"\n\nput txn/1 one\nput txn/2 two\ndel foo\n\nput never x\n\n' }));
    for (let i = 0; i < 50; i++) await ctl('put', `bulk/${String(i).padStart(2, '0')}`, `v${i}`.repeat(20));
    await ctl('del', 'bulk/1', '--prefix');
    const compactRev = Number(headerOf(await ctl('get', 'txn/1', '-w', 'json')).revision);
    await ctl('compaction', String(compactRev));
    await ctl('put', 'foo', 'bar3');
    await ctl('put', 'after', 'compaction');
    await ctl('put', 'big', 'B'.repeat(20_000));
    const file = join(dir, 'etcd.db');
    await ctl('snapshot', 'save', file);
    const expected = kvsOf(await ctl('get', '', '--prefix', '-w', 'json'));
    const revision = Number(headerOf(await ctl('get', 'foo', '-w', 'json')).revision);
    const hash = hashKvOf(await ctl('endpoint', 'hashkv', `--rev=${revision}`, '-w', 'json'));
    expect(hash.compact_revision).toBe(String(compactRev));
    await source.dispose();

    // status: tsetcd prints what etcdctl prints, in every format.
    for (const format of ['simple', 'table', 'json', 'fields']) {
      const theirs = await runEtcdctl(['snapshot', 'status', file, '-w', format], { endpoints: ['127.0.0.1:1'] });
      const ours = await runTsetcd(['snapshot', 'status', file, '-w', format]);
      expect(ours.code, ours.stderr).toBe(0);
      expect(ours.stdout, format).toBe(theirs.stdout);
    }

    const spec = { target: 'tsetcd' as const, pki };
    const plan = await planCluster(3, pki);
    const initialCluster = initialClusterOf(plan);
    const restores: Run[] = [];
    const members = await Promise.all(
      plan.map((p) =>
        startMember({
          ...specFor(spec, p, initialCluster),
          beforeStart: async (m) => {
            const r = await runTsetcd(restoreArgs(file, m, p.name, initialCluster, p.peerUrl));
            expect(r.code, r.stderr).toBe(0);
            expect(r.stdout).toBe('');
            restores.push(r);
          },
        }),
      ),
    );
    expect(restores).toHaveLength(3);
    // Not a terminal: progress is log lines, at most one per 10%.
    for (const r of restores) expect(r.stderr.split('\n').filter((l) => l.includes('restoring key records')).length).toBeLessThanOrEqual(11);
    await waitForLeader(members, 30_000);

    const health = await etcdctlOn(members, ['endpoint', 'health', '--cluster']);
    expect(health.code, describeRun(health)).toBe(0);
    for (const m of members) {
      const got = ok(await etcdctlFor(m, ['get', '', '--prefix', '-w', 'json']));
      expect(kvsOf(got)).toEqual(expected);
      expect(headerOf(got).revision).toBe(String(revision));
      const ours = hashKvOf(ok(await etcdctlFor(m, ['endpoint', 'hashkv', `--rev=${revision}`, '-w', 'json'])));
      expect(ours).toEqual(hash);
    }
    // Members and cluster id are the initial cluster's, as etcd computes them.
    const ids = plan.map((p) => computeMemberId([p.peerUrl], TOKEN));
    const list = parseEtcdctlJson(ok(await etcdctlOn(members, ['member', 'list', '-w', 'json']))) as {
      header: { cluster_id: string };
      members: Array<{ ID: string; name: string }>;
    };
    expect(String(list.header.cluster_id)).toBe(computeClusterId(ids).toString());
    expect(list.members.map((m) => [String(m.ID), m.name]).sort()).toEqual(plan.map((p, i) => [String(ids[i]), p.name]).sort());

    const ttl = ok(await etcdctlOn(members, ['lease', 'timetolive', lease, '--keys']));
    expect(ttl).toMatch(/granted with TTL\(600s\)/);
    expect(/attached keys\(\[(.*)\]\)/.exec(ttl)?.[1]?.split(' ').sort()).toEqual(['leased/a', 'leased/b']);
    const compacted = await etcdctlOn(members, ['get', 'foo', `--rev=${compactRev - 1}`]);
    expect(compacted.code).not.toBe(0);
    expect(compacted.stderr).toContain('required revision has been compacted');
    const put = ok(await etcdctlOn(members, ['put', 'next', 'one', '-w', 'json']));
    expect(headerOf(put).revision).toBe(String(revision + 1));
  }, 180_000);
});

describe('bad input', () => {
  it('truncated, flipped, wrong trailer, not etcd, missing, existing data dir: one line, exit 1, no data dir', async (ctx) => {
    requireTools(ctx, 'etcd', 'etcdctl', 'openssl');
    const source = await startMember({ target: 'etcd', name: 'snap-bad' });
    for (let i = 0; i < 20; i++) ok(await etcdctlFor(source, ['put', `k${i}`, `v${i}`]));
    const good = join(dir, 'bad-base.db');
    ok(await etcdctlFor(source, ['snapshot', 'save', good]));
    await source.dispose();
    const bytes = readFileSync(good);
    const flipped = Buffer.from(bytes);
    flipped[4096 * 2 + 17] = (flipped[4096 * 2 + 17] ?? 0) ^ 0xff;
    const foreign = await bboltBytes(async function* () {
      yield { bucket: [Buffer.from('users')] };
      yield { bucket: [Buffer.from('users')], key: Buffer.from('alice'), value: Buffer.from('1') };
    });
    const cases: Array<[string, Buffer | undefined, RegExp]> = [
      ['truncated', bytes.subarray(0, bytes.length - 5000), /snapshot missing hash/],
      ['flipped', flipped, /SHA-256 mismatch/],
      ['wrong-trailer', Buffer.concat([bytes.subarray(0, bytes.length - 32), Buffer.alloc(32, 1)]), /SHA-256 mismatch/],
      ['not-etcd', Buffer.concat([foreign, createHash('sha256').update(foreign).digest()]), /not an etcd backend/],
      ['missing', undefined, /no such file or directory/],
    ];
    for (const [name, content, message] of cases) {
      const file = join(dir, `${name}.db`);
      if (content !== undefined) writeFileSync(file, content);
      const target = join(dir, `bad-${name}`);
      const r = await runTsetcd(['snapshot', 'restore', file, `--data-dir=${target}`]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, name).toHaveLength(1);
      expect(lines[0], name).toMatch(/^Error: /);
      expect(lines[0], name).toMatch(message);
      expect(existsSync(target), `${name}: no data dir`).toBe(false);
      expect(readdirSync(dir).filter((n) => n.startsWith(`bad-${name}`)), `${name}: no temporary dir`).toEqual([]);
    }
    const existing = join(dir, 'existing');
    mkdirSync(existing);
    const r = await runTsetcd(['snapshot', 'restore', good, `--data-dir=${existing}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Error: data-dir ${JSON.stringify(existing)} exists\n`);
    const status = await runTsetcd(['snapshot', 'status', join(dir, 'truncated.db')]);
    expect(status.code).toBe(1);
    expect(status.stderr.trim().split('\n')).toHaveLength(1);
  }, 120_000);
});
