/**
 * Maintenance.Snapshot against tsetcd, judged by the real tools (docs/backup-restore.md):
 * - `etcdctl snapshot save` against a 1-member tsetcd and against a FOLLOWER of a
 *   3-member mTLS tsetcd, each with a history (puts, deletes, a txn, a lease with keys, a
 *   physical compaction, more puts); real `etcdctl snapshot status` reads the file; real
 *   `etcdctl snapshot restore` + a real etcd 3.4.23 on the restored dir serves the same
 *   keys field by field, the lease with its keys, the compact revision, and
 *   `endpoint hashkv --rev R` equal to tsetcd's;
 * - a client killed mid-stream (a child process that reads one message, stalls, and is
 *   SIGKILLed): the member logs that the stream ended and its read view is closed, keeps
 *   serving, and a later save is whole; the first message is etcd's (no header, a 32 KiB
 *   blob, remaining_bytes counting down);
 * - a save under write load: writes keep being acknowledged during the save (their p99
 *   is printed), and the restored state equals the source at the snapshot's revision.
 * Needs etcd, etcdctl and openssl: fails in CI without them, skips saying why outside CI.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as pb from '../../src/generated/pb.js';
import { codec } from '../../src/shared/pb-codec.js';
import type { TestPki } from '../helpers/certs.js';
import { makeTestPki } from '../helpers/certs.js';
import { removeWhenTestProcessExits } from '../helpers/cleanup.js';
import { parseGetKvs, type EtcdctlResult } from '../helpers/etcdctl.js';
import { connectMember, expectOk } from '../helpers/grpc-client.js';
import { freePort } from '../helpers/ports.js';
import type { Member } from '../helpers/processes.js';
import { dumpMemberLogsOnFailure, sleep, startMember, stopAllMembers } from '../helpers/processes.js';
import { requireTools } from '../helpers/require-tool.js';
import { describeRun, etcdctlOn, logSince, logSize, parseEtcdctlJson, startCluster, waitFor, waitForLeader } from './cluster/cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'tsetcd-snapsave-'));
removeWhenTestProcessExits(dir);
let pki: TestPki;

beforeAll(async () => {
  pki = await makeTestPki();
}, 60_000);
afterAll(async () => {
  await stopAllMembers();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);
dumpMemberLogsOnFailure();

function ok(r: EtcdctlResult): string {
  if (r.code !== 0) throw new Error(describeRun(r));
  return r.stdout;
}

/** hashkv -w json without the header (cluster and member ids differ after a restore). */
function hashKvOf(json: string): { hash: string; compact_revision: string } {
  const doc = parseEtcdctlJson(json) as Array<{ HashKV: { hash: number | string; compact_revision?: number | string } }>;
  const h = doc[0]?.HashKV;
  return { hash: String(h?.hash), compact_revision: String(h?.compact_revision ?? 0) };
}

interface History {
  readonly leaseId: string;
  readonly compactRev: number;
}

/** Puts, deletes, a txn, a lease with two keys, a physical compaction, more puts. */
async function writeHistory(on: readonly Member[], bulk: number): Promise<History> {
  const ctl = async (...args: string[]): Promise<string> => ok(await etcdctlOn(on, args));
  await ctl('put', 'foo', 'bar');
  await ctl('put', 'foo', 'bar2');
  await ctl('put', 'hello', 'world');
  await ctl('del', 'hello');
  const txn = ['', 'put t/a 1', 'put t/b 2', 'del foo', '', '', ''].join('\n');
  ok(await etcdctlOn(on, ['txn'], { stdin: txn }));
  for (let i = 0; i < bulk; i++) await ctl('put', `bulk/${String(i).padStart(3, '0')}`, `v${i}-${'x'.repeat(i % 7 === 0 ? 3000 : 40)}`);
  await ctl('del', 'bulk/00', '--prefix');
  const leaseId = /lease ([0-9a-f]+) granted/.exec(await ctl('lease', 'grant', '900'))?.[1] ?? '';
  await ctl('put', 'leased/1', 'a', `--lease=${leaseId}`);
  await ctl('put', 'leased/2', 'b', `--lease=${leaseId}`);
  const compactRev = Number(/"revision":"?(\d+)/.exec(await ctl('get', 'foo', '-w', 'json'))?.[1]) - 2;
  await ctl('compaction', String(compactRev), '--physical');
  await ctl('put', 'foo', 'bar3');
  await ctl('put', 't/a', 'after-compaction');
  await ctl('put', 'leased/1', 'a2', `--lease=${leaseId}`);
  return { leaseId, compactRev };
}

/** `etcdctl snapshot restore` into a fresh dir, then a real etcd 3.4.23 started on it. */
async function restoreIntoEtcd(file: string, tag: string): Promise<Member> {
  const peerPort = await freePort();
  const name = `restored-${tag}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const dataDir = join(dir, `restored-${tag}`);
  const restore = await etcdctlOn([], [
    'snapshot', 'restore', file, `--data-dir=${dataDir}`, `--name=${name}`,
    `--initial-cluster=${name}=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`,
  ], { endpoints: ['127.0.0.1:1'] });
  ok(restore);
  return startMember({
    target: 'etcd',
    name,
    peerPort,
    initialCluster: `${name}=${peerUrl}`,
    extraConfig: { 'data-dir': dataDir, 'wal-dir': join(dataDir, 'member', 'wal') },
  });
}

interface StatusJson {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}

async function snapshotStatus(file: string): Promise<StatusJson> {
  const r = await etcdctlOn([], ['snapshot', 'status', file, '-w', 'json'], { endpoints: ['127.0.0.1:1'] });
  return JSON.parse(ok(r)) as StatusJson;
}

/**
 * The restored etcd serves what the source served at `rev`: every key field by field,
 * the compact revision (and nothing below it), HashKV at `rev`, the lease's keys.
 */
async function expectSameState(source: readonly Member[], restored: Member, rev: number, history: History): Promise<void> {
  const src = parseGetKvs(ok(await etcdctlOn(source, ['get', '', '--prefix', `--rev=${rev}`, '-w', 'json'])));
  const dst = parseGetKvs(ok(await etcdctlOn([restored], ['get', '', '--prefix', '-w', 'json'])));
  expect(src.length).toBeGreaterThan(5);
  expect(dst).toEqual(src);
  const status = parseEtcdctlJson(ok(await etcdctlOn([restored], ['endpoint', 'status', '-w', 'json']))) as Array<{ Status: { header: { revision: string | number } } }>;
  expect(Number(status[0]?.Status.header.revision)).toBe(rev);
  const srcHash = hashKvOf(ok(await etcdctlOn(source.slice(0, 1), ['endpoint', 'hashkv', `--rev=${rev}`, '-w', 'json'])));
  const dstHash = hashKvOf(ok(await etcdctlOn([restored], ['endpoint', 'hashkv', `--rev=${rev}`, '-w', 'json'])));
  expect(dstHash).toEqual(srcHash);
  expect(dstHash.compact_revision).toBe(String(history.compactRev));
  const below = await etcdctlOn([restored], ['get', 'foo', `--rev=${history.compactRev - 1}`]);
  expect(below.stderr).toContain('required revision has been compacted');
  ok(await etcdctlOn([restored], ['get', 'foo', `--rev=${history.compactRev}`]));
  const ttl = ok(await etcdctlOn([restored], ['lease', 'timetolive', history.leaseId, '--keys']));
  const m = /^lease ([0-9a-f]+) granted with TTL\((\d+)s\), remaining\((\d+)s\), attached keys\(\[(.*)\]\)/.exec(ttl);
  expect(m, ttl).not.toBeNull();
  expect(m?.[2]).toBe('900');
  // etcd lists a lease's keys in map order: compare them as a set.
  expect((m?.[4] ?? '').split(' ').sort()).toEqual(['leased/1', 'leased/2']);
}

describe('etcdctl snapshot save against tsetcd, restored by etcdctl into a real etcd 3.4.23', () => {
  it('one member: status reads it, etcd serves the same keys, lease, compact revision and HashKV', async (ctx) => {
    requireTools(ctx, 'etcd', 'etcdctl', 'openssl');
    const m = await startMember({ target: 'tsetcd', name: 'save-one', pki });
    const history = await writeHistory([m], 40);
    const file = join(dir, 'one.db');
    ok(await etcdctlOn([m], ['snapshot', 'save', file]));
    const rev = Number(/"revision":"?(\d+)/.exec(ok(await etcdctlOn([m], ['get', 'foo', '-w', 'json'])))?.[1]);
    const status = await snapshotStatus(file);
    expect(status.revision).toBe(rev);
    expect(status.totalSize).toBe(statSync(file).size - 32);
    expect(status.totalKey).toBeGreaterThan(40);
    const restored = await restoreIntoEtcd(file, 'one');
    await expectSameState([m], restored, rev, history);
    // The restored etcd continues the revisions.
    const put = JSON.parse(ok(await etcdctlOn([restored], ['put', 'next', '1', '-w', 'json']))) as { header: { revision: number } };
    expect(put.header.revision).toBe(rev + 1);
    await restored.dispose();
    await m.dispose();
  }, 120_000);

  it('three members with mTLS, saved from a follower: the same state as the leader at that revision', async (ctx) => {
    requireTools(ctx, 'etcd', 'etcdctl', 'openssl');
    const members = await startCluster({ target: 'tsetcd', pki });
    const { leader } = await waitForLeader(members, 20_000);
    const history = await writeHistory([leader], 20);
    const follower = members.find((x) => x !== leader) as Member;
    // The follower has applied everything the leader acknowledged before it answers.
    const rev = Number(/"revision":"?(\d+)/.exec(ok(await etcdctlOn([leader], ['get', 'foo', '-w', 'json'])))?.[1]);
    await waitFor('the follower to apply the history', 10_000, async () => {
      const r = await etcdctlOn([follower], ['get', 'foo', '--consistency=s', '-w', 'json']);
      return Number(/"revision":"?(\d+)/.exec(r.stdout)?.[1]) === rev ? true : undefined;
    }, 100);
    const file = join(dir, 'follower.db');
    const saved = await etcdctlOn([follower], ['snapshot', 'save', file]);
    ok(saved);
    expect(saved.stderr).toContain(follower.clientUrl.replace('https://', ''));
    expect((await snapshotStatus(file)).revision).toBe(rev);
    const restored = await restoreIntoEtcd(file, 'three');
    await expectSameState([leader], restored, rev, history);
    await restored.dispose();
    await Promise.all(members.map((x) => x.dispose()));
  }, 180_000);
});

const SLOW_CLIENT = `
const http2 = require('node:http2');
const s = http2.connect(process.argv[1]);
const req = s.request({ ':method': 'POST', ':path': '/etcdserverpb.Maintenance/Snapshot', 'content-type': 'application/grpc', te: 'trailers' });
req.end(Buffer.alloc(5));
let buf = Buffer.alloc(0);
req.on('data', (c) => {
  buf = Buffer.concat([buf, c]);
  if (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
    req.pause();
    process.stdout.write(buf.subarray(5, 5 + buf.readUInt32BE(1)).toString('base64') + '\\n');
    req.removeAllListeners('data');
  }
});
setInterval(() => {}, 1000);
`;

describe('a snapshot client killed mid-stream', () => {
  it('ends the stream with its read view closed; the member keeps serving and saves again in full', async (ctx) => {
    requireTools(ctx, 'etcdctl');
    const m = await startMember({ target: 'tsetcd', name: 'save-cancel' });
    const client = connectMember(m);
    const value = Buffer.alloc(1024, 7);
    for (let i = 0; i < 400; i++) expectOk(await client.put({ key: Buffer.from(`big/${i}`), value }), 'put');
    const mark = logSize(m);
    const child = spawn(process.execPath, ['-e', SLOW_CLIENT, m.clientUrl], { stdio: ['ignore', 'pipe', 'inherit'] });
    const first = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('no first snapshot message in 10 s')), 10_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) {
          clearTimeout(timer);
          resolve(out.trim());
        }
      });
    });
    const msg = codec<pb.SnapshotResponse>('etcdserverpb.SnapshotResponse').decode(Buffer.from(first, 'base64'));
    // etcd's first message: no header, a full 32 KiB blob, the rest of the image still to come.
    expect(msg.header ?? undefined).toBeUndefined();
    expect(msg.blob?.length).toBe(32 * 1024);
    expect(Number(msg.remainingBytes)).toBeGreaterThan(400 * 1024);
    expect(Number(msg.remainingBytes) % 4096).toBe(0);
    await sleep(300); // the member is now waiting for the stalled stream to drain
    child.kill('SIGKILL');
    await waitFor('the member to log the end of the cancelled stream', 10_000, async () =>
      logSince(m, mark).includes('its read view is closed') ? true : undefined, 100);
    const log = logSince(m, mark);
    expect(log).not.toContain('successfully sent database snapshot');
    // Still serving reads and writes, and a whole snapshot afterwards.
    expectOk(await client.put({ key: Buffer.from('after-cancel'), value: Buffer.from('1') }), 'put after cancel');
    const file = join(dir, 'after-cancel.db');
    ok(await etcdctlOn([m], ['snapshot', 'save', file]));
    const status = await snapshotStatus(file);
    const rev = Number(expectOk(await client.range({ key: Buffer.from('after-cancel') }), 'range').header?.revision);
    expect(status.revision).toBe(rev);
    expect(status.totalKey).toBeGreaterThanOrEqual(401);
    expect(logSince(m, mark)).toContain('successfully sent database snapshot');
    client.close();
    await m.dispose();
  }, 90_000);
});

describe('snapshot save under write load', () => {
  it('writes keep flowing during the save and the restored state equals the source at the snapshot revision', async (ctx) => {
    requireTools(ctx, 'etcd', 'etcdctl', 'openssl');
    const m = await startMember({ target: 'tsetcd', name: 'save-load', pki });
    const history = await writeHistory([m], 10);
    const client = connectMember(m);
    const value = Buffer.alloc(1024, 1);
    for (let i = 0; i < 2000; i += 100) {
      const ops = Array.from({ length: 100 }, (_, j) => ({ requestPut: { key: Buffer.from(`load/${i + j}`), value } }));
      expectOk(await client.txn({ success: ops }), 'bulk txn');
    }
    let writing = true;
    const latencies: Array<{ at: number; ms: number }> = [];
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; writing; i++) {
        const t0 = performance.now();
        expectOk(await client.put({ key: Buffer.from(`load/w${w}/${i % 50}`), value: Buffer.from(`${i}`) }), 'put under load');
        latencies.push({ at: t0, ms: performance.now() - t0 });
      }
    });
    await sleep(300);
    const file = join(dir, 'load.db');
    const t0 = performance.now();
    ok(await etcdctlOn([m], ['snapshot', 'save', file], { timeoutMs: 60_000 }));
    const t1 = performance.now();
    await sleep(200);
    writing = false;
    await Promise.all(writers);
    client.close();
    const during = latencies.filter((l) => l.at >= t0 && l.at + l.ms <= t1).map((l) => l.ms).sort((a, b) => a - b);
    const outside = latencies.filter((l) => l.at + l.ms < t0 || l.at > t1).map((l) => l.ms).sort((a, b) => a - b);
    const q = (xs: readonly number[], f: number): string => (xs[Math.min(xs.length - 1, Math.floor(f * xs.length))] ?? NaN).toFixed(1);
    console.log(`snapshot save of ${statSync(file).size} bytes took ${(t1 - t0).toFixed(0)} ms (etcdctl end to end); ` +
      `${during.length} puts (4 writers) acknowledged during it: p50 ${q(during, 0.5)} ms, p99 ${q(during, 0.99)} ms, max ${q(during, 1)} ms; ` +
      `${outside.length} before/after it: p50 ${q(outside, 0.5)} ms, p99 ${q(outside, 0.99)} ms`);
    expect(during.length).toBeGreaterThan(0);
    const rev = (await snapshotStatus(file)).revision;
    const restored = await restoreIntoEtcd(file, 'load');
    await expectSameState([m], restored, rev, history);
    // Writes were acknowledged after the cut too: the source moved on past it.
    const now = Number(/"revision":"?(\d+)/.exec(ok(await etcdctlOn([m], ['get', 'foo', '-w', 'json'])))?.[1]);
    expect(now).toBeGreaterThan(rev);
    expect(readFileSync(file).length % 512).toBe(32);
    await restored.dispose();
    await m.dispose();
  }, 180_000);
});
