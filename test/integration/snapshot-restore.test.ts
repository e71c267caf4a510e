/**
 * `tsetcd snapshot status` and `tsetcd snapshot restore` on files made by real etcd 3.4.23,
 * following docs/upgrade.md and docs/backup-restore.md:
 * - from etcd: a 3-member etcd cluster (seed-style YAML, mTLS) with a history (puts,
 *   deletes, a txn, a lease with two keys, a compaction, more puts) -> `etcdctl snapshot
 *   save` -> `tsetcd snapshot restore` on every member, started on the same ports and
 *   flags -> a healthy cluster whose every key equals etcd's field by field, whose
 *   HashKV at the snapshot revision equals etcd's, whose lease lists its keys, whose
 *   members and cluster id are etcd's, and whose next put gets the snapshot revision + 1;
 * - back to etcd: more history on that tsetcd cluster -> `etcdctl snapshot save` against
 *   it -> real `etcdctl snapshot restore` on every member -> a 3-member etcd cluster
 *   serving the same keys, HashKV, compaction, leases and cluster id;
 * - `tsetcd snapshot status` prints what `etcdctl snapshot status` prints, every format;
 * - bad files (truncated, flipped bytes, wrong trailer, a bbolt file that is not etcd's,
 *   a missing file) and an existing data dir: exit 1, one line, no data dir left;
 * - a snapshot whose last record is below its compaction revision restores at the
 *   compaction revision, on etcd and on tsetcd alike.
 * Needs etcd, etcdctl and openssl: fails in CI without them, skips saying why outside CI.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeClusterId, computeMemberId } from '../../src/cluster/ids.js';
import { etcdBackendRecords, revisionKey } from '../../src/bbolt/etcd-layout.js';
import { bboltBytes } from '../../src/bbolt/stream.js';
import { encodeKeyValue } from '../../src/mvcc/kv-codec.js';
import { leaseId } from '../../src/shared/ids.js';
import type { TestPki } from '../helpers/certs.js';
import { makeTestPki } from '../helpers/certs.js';
import { removeWhenTestProcessExits } from '../helpers/cleanup.js';
import { etcdctlFor, runEtcdctl, type EtcdctlResult } from '../helpers/etcdctl.js';
import { dumpMemberLogsOnFailure, startMember, stopAllMembers, TSETCD_BIN, type Member, type Target } from '../helpers/processes.js';
import { requireTools } from '../helpers/require-tool.js';
import {
  describeRun,
  etcdctlOn,
  initialClusterOf,
  parseEtcdctlJson,
  planCluster,
  specFor,
  waitForLeader,
  type MemberPorts,
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

/** What a cluster serves at one moment, to compare the next cluster with. */
interface Served {
  readonly kvs: Kv[];
  readonly revision: number;
  readonly hash: { hash: string; compact_revision: string };
}

async function served(m: Member, revision?: number): Promise<Served> {
  const got = ok(await etcdctlFor(m, ['get', '', '--prefix', '-w', 'json']));
  const rev = revision ?? Number(headerOf(got).revision);
  const hash = hashKvOf(ok(await etcdctlFor(m, ['endpoint', 'hashkv', `--rev=${rev}`, '-w', 'json'])));
  return { kvs: kvsOf(got), revision: rev, hash };
}

/** Every member serves `want`: the same keys field by field, revision and HashKV at it. */
async function expectServes(members: readonly Member[], want: Served): Promise<void> {
  for (const m of members) {
    const got = await served(m, want.revision);
    expect(got.kvs, m.describe()).toEqual(want.kvs);
    expect(got.hash, m.describe()).toEqual(want.hash);
  }
}

/** The seed's restore flags for one planned member (docs/upgrade.md step 5). */
function seedRestoreFlags(p: MemberPorts, initialCluster: string, m: Member): string[] {
  return [
    `--name=${p.name}`,
    `--initial-cluster=${initialCluster}`,
    `--initial-cluster-token=${TOKEN}`,
    `--initial-advertise-peer-urls=${p.peerUrl}`,
    `--data-dir=${m.dataDir}`,
    `--wal-dir=${m.walDir}`,
  ];
}

/** Starts one cluster on the plan's ports, each member restored from `file` before its first start. */
async function restoredCluster(target: Target, plan: readonly MemberPorts[], file: string): Promise<{ members: Member[]; stderr: string[] }> {
  const initialCluster = initialClusterOf(plan);
  const stderr: string[] = [];
  const members = await Promise.all(
    plan.map((p) =>
      startMember({
        ...specFor({ target, pki }, p, initialCluster),
        beforeStart: async (m) => {
          const flags = seedRestoreFlags(p, initialCluster, m);
          const r =
            target === 'tsetcd'
              ? await runTsetcd(['snapshot', 'restore', file, ...flags])
              : await runEtcdctl(['snapshot', 'restore', file, ...flags], { endpoints: ['127.0.0.1:1'] });
          expect(r.code, r.stderr).toBe(0);
          stderr.push(r.stderr);
        },
      }),
    ),
  );
  await waitForLeader(members, 30_000);
  const health = await etcdctlOn(members, ['endpoint', 'health']);
  expect(health.code, describeRun(health)).toBe(0);
  ok(await etcdctlOn(members, ['endpoint', 'status', '-w', 'table']));
  return { members, stderr };
}

async function clusterIdOf(members: readonly Member[]): Promise<string> {
  const list = parseEtcdctlJson(ok(await etcdctlOn(members, ['member', 'list', '-w', 'json']))) as { header: { cluster_id: unknown } };
  return String(list.header.cluster_id);
}

describe('migration both ways with etcd 3.4.23 (docs/upgrade.md, docs/backup-restore.md)', () => {
  it('3-member etcd -> snapshot save -> tsetcd snapshot restore x3 (seed-style mTLS) -> the same data; then back to a 3-member etcd', async (ctx) => {
    requireTools(ctx, 'etcd', 'etcdctl', 'openssl');
    const plan = await planCluster(3, pki);
    const initialCluster = initialClusterOf(plan);
    const etcd = await Promise.all(plan.map((p) => startMember(specFor({ target: 'etcd', pki }, p, initialCluster))));
    await waitForLeader(etcd, 30_000);
    const [first] = etcd;
    if (first === undefined) throw new Error('no member');
    const ctl = async (...args: string[]): Promise<string> => ok(await etcdctlOn(etcd, args));
    await ctl('put', 'foo', 'bar');
    await ctl('put', 'foo', 'bar2');
    await ctl('put', 'hello', 'world');
    await ctl('del', 'hello');
    const lease = /lease ([0-9a-f]+) granted/.exec(await ctl('lease', 'grant', '600'))?.[1] ?? '';
    expect(lease).not.toBe('');
    await ctl('put', 'leased/a', 'A', `--lease=${lease}`);
    await ctl('put', 'leased/b', 'B', `--lease=${lease}`);
    ok(await etcdctlOn(etcd, ['txn'], { stdin: 'value("foo") = "bar2"\n\nput txn/1 one\nput txn/2 two\ndel foo\n\nput never x\n\n' }));
    for (let i = 0; i < 50; i++) await ctl('put', `bulk/${String(i).padStart(2, '0')}`, `v${i}`.repeat(20));
    await ctl('del', 'bulk/1', '--prefix');
    const compactRev = Number(headerOf(await ctl('get', 'txn/1', '-w', 'json')).revision);
    await ctl('compaction', String(compactRev));
    await ctl('put', 'foo', 'bar3');
    await ctl('put', 'after', 'compaction');
    await ctl('put', 'big', 'B'.repeat(20_000));
    // docs/upgrade.md step 3: writers stopped, one snapshot from one member, checked.
    const file = join(dir, 'migrate.db');
    ok(await etcdctlFor(first, ['snapshot', 'save', file]));
    const before = await served(first);
    expect(before.hash.compact_revision).toBe(String(compactRev));
    const etcdClusterId = await clusterIdOf(etcd);
    await Promise.all(etcd.map((m) => m.dispose()));

    // snapshot status: tsetcd prints what etcdctl prints, in every format.
    for (const format of ['simple', 'table', 'json', 'fields']) {
      const theirs = await runEtcdctl(['snapshot', 'status', file, '-w', format], { endpoints: ['127.0.0.1:1'] });
      const ours = await runTsetcd(['snapshot', 'status', file, '-w', format]);
      expect(ours.code, ours.stderr).toBe(0);
      expect(ours.stdout, format).toBe(theirs.stdout);
    }

    // Steps 5-7: restore on every member, start on the same ports and flags.
    const tsetcd = await restoredCluster('tsetcd', plan, file);
    // Not a terminal: progress is log lines, at most one per 10%.
    for (const e of tsetcd.stderr) expect(e.split('\n').filter((l) => l.includes('restoring key records')).length).toBeLessThanOrEqual(11);
    await expectServes(tsetcd.members, before);
    // Members and cluster id: the initial cluster's, as etcd computed them for the source.
    const ids = plan.map((p) => computeMemberId([p.peerUrl], TOKEN));
    expect(await clusterIdOf(tsetcd.members)).toBe(computeClusterId(ids).toString());
    expect(await clusterIdOf(tsetcd.members)).toBe(etcdClusterId);
    const list = parseEtcdctlJson(ok(await etcdctlOn(tsetcd.members, ['member', 'list', '-w', 'json']))) as { members: Array<{ ID: unknown; name: string }> };
    expect(list.members.map((m) => [String(m.ID), m.name]).sort()).toEqual(plan.map((p, i) => [String(ids[i]), p.name]).sort());
    const ttl = ok(await etcdctlOn(tsetcd.members, ['lease', 'timetolive', lease, '--keys']));
    expect(ttl).toMatch(/granted with TTL\(600s\)/);
    expect(/attached keys\(\[(.*)\]\)/.exec(ttl)?.[1]?.split(' ').sort()).toEqual(['leased/a', 'leased/b']);
    const compacted = await etcdctlOn(tsetcd.members, ['get', 'foo', `--rev=${compactRev - 1}`]);
    expect(compacted.code).not.toBe(0);
    expect(compacted.stderr).toContain('required revision has been compacted');
    const put = ok(await etcdctlOn(tsetcd.members, ['put', 'next', 'one', '-w', 'json']));
    expect(headerOf(put).revision).toBe(String(before.revision + 1));

    // And back (docs/upgrade.md, tsetcd to etcd): more history on tsetcd, a snapshot from
    // one member, etcdctl snapshot restore on every member, a real etcd cluster serving it.
    const tctl = async (...args: string[]): Promise<string> => ok(await etcdctlOn(tsetcd.members, args));
    const lease2 = /lease ([0-9a-f]+) granted/.exec(await tctl('lease', 'grant', '900'))?.[1] ?? '';
    await tctl('put', 'back/leased', 'L', `--lease=${lease2}`);
    ok(await etcdctlOn(tsetcd.members, ['txn'], { stdin: '\nput back/1 one\ndel after\n\n\n' }));
    const compactRev2 = Number(headerOf(await tctl('put', 'back/2', 'two', '-w', 'json')).revision);
    await tctl('compaction', String(compactRev2));
    await tctl('put', 'back/3', 'three');
    const [member] = tsetcd.members;
    if (member === undefined) throw new Error('no member');
    const back = join(dir, 'back.db');
    ok(await etcdctlFor(member, ['snapshot', 'save', back]));
    const fromTsetcd = await served(member);
    expect(fromTsetcd.hash.compact_revision).toBe(String(compactRev2));
    ok(await runEtcdctl(['snapshot', 'status', back, '-w', 'table'], { endpoints: ['127.0.0.1:1'] }));
    await Promise.all(tsetcd.members.map((m) => m.dispose()));
    const etcdAgain = await restoredCluster('etcd', plan, back);
    await expectServes(etcdAgain.members, fromTsetcd);
    expect(await clusterIdOf(etcdAgain.members)).toBe(etcdClusterId);
    for (const [id, keys] of [
      [lease, ['leased/a', 'leased/b']],
      [lease2, ['back/leased']],
    ] as const) {
      const t = ok(await etcdctlOn(etcdAgain.members, ['lease', 'timetolive', id, '--keys']));
      expect(/attached keys\(\[(.*)\]\)/.exec(t)?.[1]?.split(' ').sort()).toEqual(keys);
    }
    const put2 = ok(await etcdctlOn(etcdAgain.members, ['put', 'next', 'two', '-w', 'json']));
    expect(headerOf(put2).revision).toBe(String(fromTsetcd.revision + 1));
  }, 300_000);
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

describe.each<Target>(['etcd', 'tsetcd'])('a snapshot whose last record is below its compaction revision (%s)', (target) => {
  // Not bad input: etcd leaves one whenever the newest revisions were deletes and a
  // compaction at the last of them dropped their tombstones. etcd 3.4.23 restores it at
  // the compaction revision; so must tsetcd.
  it('restores at the compaction revision', async (ctx) => {
    requireTools(ctx, 'etcd', 'etcdctl', 'openssl');
    const kv = encodeKeyValue({ key: Buffer.from('a'), value: Buffer.from('1'), createRevision: 2, modRevision: 2, version: 1, lease: leaseId(0n) }).bytes;
    const image = await bboltBytes(
      etcdBackendRecords({
        keys: () => [{ key: revisionKey({ main: 2, sub: 0 }), value: kv }],
        consistentIndex: 5n,
        scheduledCompactRev: 4,
        finishedCompactRev: 4,
        leases: [],
        members: [],
        removedMembers: [],
        alarms: [],
        auth: { users: [], roles: [] },
      }),
    );
    const file = join(dir, `below-${target}.db`);
    writeFileSync(file, Buffer.concat([image, createHash('sha256').update(image).digest()]));
    const m = await startMember({
      target,
      name: 'below',
      beforeStart: async (member) => {
        const flags = [`--name=below`, `--initial-cluster=below=${member.peerUrl}`, `--initial-advertise-peer-urls=${member.peerUrl}`, `--initial-cluster-token=${TOKEN}`, `--data-dir=${member.dataDir}`, `--wal-dir=${member.walDir}`];
        const r = target === 'tsetcd' ? await runTsetcd(['snapshot', 'restore', file, ...flags]) : await runEtcdctl(['snapshot', 'restore', file, ...flags], { endpoints: ['127.0.0.1:1'] });
        expect(r.code, r.stderr).toBe(0);
      },
    });
    const got = ok(await etcdctlFor(m, ['get', 'a', '-w', 'json']));
    expect(headerOf(got).revision).toBe('4');
    expect(kvsOf(got).map((x) => x.mod_revision)).toEqual(['2']);
    expect(headerOf(ok(await etcdctlFor(m, ['put', 'b', '1', '-w', 'json']))).revision).toBe('5');
    const old = await etcdctlFor(m, ['get', 'a', '--rev=3']);
    expect(old.stderr).toContain('required revision has been compacted');
    await m.dispose();
  }, 60_000);
});

