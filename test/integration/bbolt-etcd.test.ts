// Our bbolt reader and writer against the real thing, both ways:
// - files made by a real etcd 3.4.23 in this test (a history of puts, deletes, a txn, a
//   lease with a key, a 20 KB value, a physical compaction, more puts): two
//   `etcdctl snapshot save` files (before and after a defrag) and the member/snap/db of
//   the stopped member, read by our reader: tx.Check-clean, the same dump as real bbolt
//   (bboltcheck, built here with Debian's Go), the same `snapshot status` as etcdctl,
//   and the key bucket's mvccpb.KeyValue records giving what `etcdctl get -w json` says;
// - files made by our writer (random ones, the etcd data rewritten, a crafted 0xFFFF
//   freelist) opened by real bbolt with tx.Check, and the etcd data rewritten by us then
//   `etcdctl snapshot status` and `snapshot restore` and served by a real etcd.
// Needs etcd, etcdctl, go and bbolt's Go source: fails in CI without them, skips saying why outside CI.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import Long from 'long';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdBackendRecords, readEtcdBackend } from '../../src/bbolt/etcd-layout.js';
import { snapshotStatus } from '../../src/bbolt/etcd-status.js';
import { BboltDb, bytesSource } from '../../src/bbolt/reader.js';
import { verifySnapshotHash } from '../../src/bbolt/snapshot-file.js';
import { bboltBytes } from '../../src/bbolt/stream.js';
import { codec } from '../../src/shared/pb-codec.js';
import { craftFreelist } from '../bbolt/craft.js';
import { dbModel, dumpLines, records, recordsOf } from '../bbolt/model.js';
import { bboltToolsMissing, buildBboltCheck, requireBboltTools, runBboltCheck } from '../bbolt/tools.js';
import { removeWhenTestProcessExits } from '../helpers/cleanup.js';
import { etcdctlFor, parseGetKvs, runEtcdctl, type EtcdctlKv, type EtcdctlResult } from '../helpers/etcdctl.js';
import { dumpMemberLogsOnFailure, startMember, stopAllMembers, type Member } from '../helpers/processes.js';

interface KeyValue {
  key: Uint8Array;
  createRevision: Long;
  modRevision: Long;
  version: Long;
  value: Uint8Array;
  lease: Long;
}

const dir = mkdtempSync(join(tmpdir(), 'tsetcd-bbolt-'));
removeWhenTestProcessExits(dir);
let checker = '';
let source: Member;
let leaseId = '';
let compactRev = 0;
let expectedKvs: EtcdctlKv[] = [];
const files: Record<'save' | 'saveAfterDefrag' | 'memberDb', string> = {
  save: join(dir, 'save.db'),
  saveAfterDefrag: join(dir, 'save-defrag.db'),
  memberDb: join(dir, 'member.db'),
};

function ok(r: EtcdctlResult): string {
  if (r.code !== 0) throw new Error(`${r.command} -> ${r.code}: ${r.stderr}`);
  return r.stdout;
}

function withTrailer(image: Uint8Array): Uint8Array {
  const out = new Uint8Array(image.length + 32);
  out.set(image);
  out.set(createHash('sha256').update(image).digest(), image.length);
  return out;
}

async function etcdctlStatus(file: string): Promise<Record<string, number>> {
  const out = ok(await runEtcdctl(['snapshot', 'status', file, '-w', 'json'], { endpoints: ['127.0.0.1:1'] }));
  return JSON.parse(out) as Record<string, number>;
}

/** The latest live KeyValue per user key, from a key bucket walked in revision order. */
function latestFromKeyBucket(db: BboltDb): EtcdctlKv[] {
  const kvCodec = codec<KeyValue>('mvccpb.KeyValue');
  const bucket = db.bucket(Buffer.from('key'));
  if (bucket === undefined) throw new Error('no key bucket');
  const live = new Map<string, EtcdctlKv>();
  let prevMain = -1n;
  for (const e of bucket.entries()) {
    expect([17, 18]).toContain(e.key.length);
    const dv = new DataView(e.key.buffer, e.key.byteOffset, e.key.length);
    const main = dv.getBigUint64(0, false);
    expect(e.key[8]).toBe(0x5f);
    expect(main).toBeGreaterThanOrEqual(prevMain);
    prevMain = main;
    const kv = kvCodec.decode(e.value);
    const userKey = Buffer.from(kv.key).toString('base64');
    if (e.key.length === 18) {
      expect(e.key[17]).toBe(0x74); // 't': a tombstone holds only the user key
      expect(kv.value.length).toBe(0);
      live.delete(userKey);
      continue;
    }
    expect(kv.modRevision.toString()).toBe(main.toString());
    live.set(userKey, {
      key: userKey,
      value: Buffer.from(kv.value).toString('base64'),
      create_revision: kv.createRevision.toString(),
      mod_revision: kv.modRevision.toString(),
      version: kv.version.toString(),
      lease: kv.lease.toString(),
    });
  }
  return [...live.values()].sort((a, b) => Buffer.compare(Buffer.from(a.key, 'base64'), Buffer.from(b.key, 'base64')));
}

beforeAll(async () => {
  if (bboltToolsMissing()) return; // each test then fails (CI) or skips, saying why
  const building = buildBboltCheck(dir);
  source = await startMember({ target: 'etcd', name: 'bbolt-src' });
  const ctl = async (...args: string[]): Promise<string> => ok(await etcdctlFor(source, args));
  await ctl('put', 'foo', 'bar');
  await ctl('put', 'foo', 'bar2');
  await ctl('put', 'hello', 'world');
  await ctl('del', 'hello');
  leaseId = /lease ([0-9a-f]+) granted/.exec(await ctl('lease', 'grant', '600'))?.[1] ?? '';
  await ctl('put', 'leased', 'v', `--lease=${leaseId}`);
  for (let t = 0; t < 3; t++) {
    const puts = Array.from({ length: 100 }, (_, i) => `put bulk/${t}${String(i).padStart(2, '0')} ${'x'.repeat(150)}${t}${i}`);
    ok(await etcdctlFor(source, ['txn'], { stdin: ['', ...puts, '', '', ''].join('\n') }));
  }
  await ctl('put', 'big', 'B'.repeat(20_000));
  await ctl('del', 'bulk/0', '--prefix');
  compactRev = Number(/"revision":(\d+)/.exec(await ctl('get', 'foo', '-w', 'json'))?.[1]);
  await ctl('compaction', String(compactRev), '--physical');
  await ctl('put', 'foo', 'bar3');
  await ctl('put', 'after', 'compaction');
  await ctl('snapshot', 'save', files.save);
  await ctl('defrag');
  await ctl('snapshot', 'save', files.saveAfterDefrag);
  expectedKvs = parseGetKvs(await ctl('get', '', '--prefix', '-w', 'json'));
  await source.stop();
  copyFileSync(join(source.dataDir, 'member', 'snap', 'db'), files.memberDb);
  checker = await building;
}, 120_000);

afterAll(async () => {
  await stopAllMembers();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);
dumpMemberLogsOnFailure();

describe('bbolt files made by a real etcd 3.4.23, read by ours', () => {
  for (const which of ['save', 'saveAfterDefrag', 'memberDb'] as const) {
    it(`${which}: tx.Check-clean, the dump real bbolt gives, etcdctl's status, and etcdctl get's keys`, async (ctx) => {
      requireBboltTools(ctx);
      const file = files[which];
      const bytes = new Uint8Array(readFileSync(file));
      expect(bytes.length % 512).toBe(which === 'memberDb' ? 0 : 32);
      if (which !== 'memberDb') expect(verifySnapshotHash(bytesSource(bytes)).ok).toBe(true);
      const db = BboltDb.open(bytesSource(bytes));
      expect(db.pageSize).toBe(4096);
      expect(db.meta.freelist).toBeNull(); // etcd's NoFreelistSync
      expect(db.check()).toEqual([]);
      const real = await runBboltCheck(checker, file);
      expect(real.code, real.stderr).toBe(0);
      expect(dumpLines(db)).toEqual(real.lines);
      expect(snapshotStatus(db)).toEqual(await etcdctlStatus(file));
      expect(latestFromKeyBucket(db)).toEqual(expectedKvs);
      // The key bucket is a real tree (root branch over leaves), the others inline.
      expect(db.bucket(Buffer.from('key'))?.isInline).toBe(false);
      expect(db.bucket(Buffer.from('members'))?.isInline).toBe(true);
      const lease = db.bucket(Buffer.from('lease'))?.get(Buffer.from(leaseId.padStart(16, '0'), 'hex'));
      expect(lease, `lease ${leaseId}`).toBeDefined();
      const finished = db.bucket(Buffer.from('meta'))?.get(Buffer.from('finishedCompactRev'));
      expect(finished?.length).toBe(17);
      expect(Number(Buffer.from(finished ?? new Uint8Array(17)).readBigUInt64BE(0))).toBe(compactRev);
    });
  }
});

describe("etcd's backend layout on real etcd files", () => {
  it('decodes every bucket of a real snapshot, and re-encoding the decoded cut gives the same bytes', async (ctx) => {
    requireBboltTools(ctx);
    for (const which of ['save', 'memberDb'] as const) {
      const db = BboltDb.open(bytesSource(new Uint8Array(readFileSync(files[which]))));
      const cut = readEtcdBackend(db);
      expect(cut.finishedCompactRev).toBe(compactRev);
      expect(cut.scheduledCompactRev).toBe(compactRev);
      expect(cut.consistentIndex).toBeGreaterThan(0n);
      expect(cut.clusterVersion).toBe('3.4.0');
      expect(cut.members.map((m) => [m.name, m.peerUrls, m.clientUrls, m.isLearner])).toEqual([
        ['bbolt-src', [source.peerUrl], [source.clientUrl], false],
      ]);
      // etcdctl prints ids with %016x: a leading zero shows up one run in sixteen.
      expect(cut.leases.map((l) => [l.id, l.ttl])).toEqual([[BigInt(`0x${leaseId}`), 600n]]);
      expect(cut.lastRevision).toBe(snapshotStatus(db).revision);
      const again = await bboltBytes(etcdBackendRecords(cut));
      expect(dumpLines(BboltDb.open(bytesSource(again))).slice(1)).toEqual(dumpLines(db).slice(1));
    }
  });
});

describe('bbolt files made by our writer, opened by real bbolt and etcd', () => {
  it('random files: real bbolt tx.Check passes and dumps what we wrote', async (ctx) => {
    requireBboltTools(ctx);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(dbModel, fc.constantFrom(4096, 8192, 65536), fc.constantFrom<'page' | 'none'>('page', 'none'), async (model, pageSize, freelist) => {
        const img = await bboltBytes(() => records(model), { pageSize, freelist });
        const file = join(dir, `ours-${n++}.db`);
        writeFileSync(file, img);
        const real = await runBboltCheck(checker, file);
        expect(real.code, real.stderr + real.lines.filter((l) => l.startsWith('checkerr')).join('\n')).toBe(0);
        expect(real.lines).toEqual(dumpLines(BboltDb.open(bytesSource(img))));
        rmSync(file);
      }),
      { numRuns: 15 },
    );
  });

  it('a stored freelist in both forms (array and 0xFFFF count) reads the same in real bbolt', async (ctx) => {
    requireBboltTools(ctx);
    const img = await bboltBytes(() => recordsOf(BboltDb.open(bytesSource(new Uint8Array(readFileSync(files.save))))));
    for (const form of ['array', 'overflow-count'] as const) {
      const crafted = craftFreelist(img, 4, form);
      const file = join(dir, `freelist-${form}.db`);
      writeFileSync(file, crafted.bytes);
      const real = await runBboltCheck(checker, file);
      expect(real.code, real.lines.join('\n')).toBe(0);
      expect(real.lines).toEqual(dumpLines(BboltDb.open(bytesSource(crafted.bytes))));
    }
    // Unlisted free pages: real bbolt and ours report the same pages.
    const unlisted = craftFreelist(img, 2, 'array', false);
    const file = join(dir, 'freelist-unlisted.db');
    writeFileSync(file, unlisted.bytes);
    const real = await runBboltCheck(checker, file);
    expect(real.code).toBe(2);
    expect(real.lines.filter((l) => l.startsWith('checkerr')).map((l) => l.slice('checkerr '.length))).toEqual(
      BboltDb.open(bytesSource(unlisted.bytes)).check(),
    );
  });

  it("etcd's snapshot rewritten by us: same status hash, restore works, a real etcd serves the same keys", async (ctx) => {
    requireBboltTools(ctx);
    const original = BboltDb.open(bytesSource(new Uint8Array(readFileSync(files.save))));
    const wanted = await etcdctlStatus(files.save);
    for (const freelist of ['page', 'none'] as const) {
      const img = await bboltBytes(() => recordsOf(original), { freelist });
      const file = join(dir, `rewritten-${freelist}.db`);
      writeFileSync(file, withTrailer(img));
      const real = await runBboltCheck(checker, file);
      expect(real.code, real.lines.join('\n')).toBe(0);
      expect(real.lines.slice(1)).toEqual(dumpLines(original).slice(1));
      // The status hash covers logical content only, so it must equal etcd's own file's.
      const status = await etcdctlStatus(file);
      expect({ ...status, totalSize: 0 }).toEqual({ ...wanted, totalSize: 0 });
      expect(status['totalSize']).toBe(img.length);
      expect(snapshotStatus(BboltDb.open(bytesSource(img)))).toEqual(status);
    }
    // Restore our file into a fresh member's dirs and let real etcd serve it.
    const target = await startMember({ target: 'etcd', name: 'bbolt-dst' });
    await target.stop();
    rmSync(target.dataDir, { recursive: true, force: true });
    rmSync(target.walDir, { recursive: true, force: true });
    const restore = await runEtcdctl(
      [
        'snapshot',
        'restore',
        join(dir, 'rewritten-none.db'),
        `--name=${target.name}`,
        `--data-dir=${target.dataDir}`,
        `--wal-dir=${target.walDir}`,
        `--initial-cluster=${target.name}=${target.peerUrl}`,
        '--initial-cluster-token=kube-etcd-cluster',
        `--initial-advertise-peer-urls=${target.peerUrl}`,
      ],
      { endpoints: ['127.0.0.1:1'], timeoutMs: 60_000 },
    );
    expect(restore.code, restore.stderr).toBe(0);
    await target.start();
    expect(parseGetKvs(ok(await etcdctlFor(target, ['get', '', '--prefix', '-w', 'json'])))).toEqual(expectedKvs);
    // The compaction survived: below it is compacted, at it is served.
    const below = await etcdctlFor(target, ['get', 'foo', `--rev=${compactRev - 1}`]);
    expect(below.stderr).toMatch(/required revision has been compacted/);
    expect(ok(await etcdctlFor(target, ['get', 'foo', `--rev=${compactRev}`, '--print-value-only'])).trim()).toBe('bar2');
    expect(ok(await etcdctlFor(target, ['lease', 'timetolive', leaseId, '--keys']))).toMatch(/attached keys\(\[leased\]\)/);
  }, 120_000);
});
