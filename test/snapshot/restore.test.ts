// `snapshot restore` against files our bbolt writer lays out as etcd's backend: the data
// dir it makes opens as a member of the initial cluster (identity, raft snapshot marker
// covering the bootstrap entries, applied index), holds the snapshot's key records,
// compaction revision, leases, alarms and auth records byte for byte, and the snapshot's own
// members are gone. Bad files and an existing data dir are refused with one line, and
// nothing is left behind. Real etcd files: test/integration/snapshot-restore.test.ts.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { etcdBackendRecords, revisionKey, type EtcdBackendCut, type KeyBucketEntry } from '../../src/bbolt/etcd-layout.js';
import { encodeAlarm } from '../../src/bbolt/etcd-proto.js';
import { bboltBytes } from '../../src/bbolt/stream.js';
import { AUTH_ENABLED_KEY, userKey } from '../../src/auth/records.js';
import { computeClusterId, computeMemberId } from '../../src/cluster/ids.js';
import { Membership } from '../../src/cluster/membership.js';
import { decodeLeaseRecord, leaseRecordKey } from '../../src/lease/index.js';
import { encodeKeyValue } from '../../src/mvcc/kv-codec.js';
import { MemberStorage } from '../../src/server/member-storage.js';
import { leaseId } from '../../src/shared/ids.js';
import { nullLogger } from '../../src/shared/logger.js';
import { restoreSnapshot, RestoreError, type RestoreRequest } from '../../src/snapshot/restore.js';
import { forEachInRange } from '../../src/storage/backend.js';
import { nodeFileLayer } from '../../src/storage/node-file-layer.js';
import { ALARM_PREFIX, KEY_PREFIX } from '../../src/storage/schema.js';
import { removeWhenTestProcessExits } from '../helpers/cleanup.js';

const dir = mkdtempSync(join(tmpdir(), 'tsetcd-restore-unit-'));
removeWhenTestProcessExits(dir);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LEASE = 0x390da24eab3bcc08n;
const TOKEN = 'kube-etcd-cluster';
const MEMBERS = [
  { name: 'n1', peerUrls: ['https://127.0.0.1:2380'] },
  { name: 'n2', peerUrls: ['https://127.0.0.1:2381'] },
  { name: 'n3', peerUrls: ['https://127.0.0.1:2382'] },
];

function kv(key: string, value: string, create: number, mod: number, version: number, lease = 0n): Buffer {
  return encodeKeyValue({
    key: Buffer.from(key),
    value: Buffer.from(value),
    createRevision: create,
    modRevision: mod,
    version,
    lease: leaseId(lease),
  }).bytes;
}

/** A history as etcd leaves it after a compaction at 4: a@2, b deleted at 4 (tombstone compacted away), leased l@5, a@6 (txn sub 1: c@6). */
const KEYS: KeyBucketEntry[] = [
  { key: revisionKey({ main: 2, sub: 0 }), value: kv('a', '1', 2, 2, 1) },
  { key: revisionKey({ main: 5, sub: 0 }), value: kv('l', 'x', 5, 5, 1, LEASE) },
  { key: revisionKey({ main: 6, sub: 0 }), value: kv('a', '2', 2, 6, 2) },
  { key: revisionKey({ main: 6, sub: 1 }), value: kv('c', '3', 6, 6, 1) },
  { key: revisionKey({ main: 7, sub: 0 }, true), value: kv('c', '', 0, 0, 0) },
];

function cut(overrides: Partial<EtcdBackendCut> = {}): EtcdBackendCut {
  return {
    keys: () => KEYS,
    consistentIndex: 42n,
    scheduledCompactRev: 4,
    finishedCompactRev: 4,
    leases: [{ id: LEASE, ttl: 600n, remainingTtl: 0n }],
    members: [{ id: 0xaaaan, name: 'old', peerUrls: ['http://10.0.0.1:2380'], clientUrls: [], isLearner: false }],
    removedMembers: [0xbbbbn],
    clusterVersion: '3.4.0',
    alarms: [{ memberId: 0xaaaan, alarm: 1 }],
    auth: { enabled: false, revision: 1n, users: [{ name: Buffer.from('root'), value: Buffer.from([10, 4, 114, 111, 111, 116]) }], roles: [] },
    ...overrides,
  };
}

async function snapshotFile(name: string, c: EtcdBackendCut, trailer = true): Promise<string> {
  const image = await bboltBytes(etcdBackendRecords(c));
  const path = join(dir, name);
  writeFileSync(path, trailer ? Buffer.concat([image, createHash('sha256').update(image).digest()]) : image);
  return path;
}

function request(file: string, target: string, extra: Partial<RestoreRequest> = {}): RestoreRequest {
  return {
    snapshotPath: file,
    dataDir: join(dir, target, 'dat', 'default.etcd'),
    walDir: join(dir, target, 'wal'),
    name: 'n2',
    members: MEMBERS,
    token: TOKEN,
    skipHashCheck: false,
    fs: nodeFileLayer,
    logger: nullLogger,
    tempSuffix: '.restoring-test',
    ...extra,
  };
}

describe('snapshot restore into a tsetcd data dir', () => {
  it('makes a member of the initial cluster holding the snapshot data', async () => {
    const file = await snapshotFile('good.db', cut());
    const progress: Array<[number, number]> = [];
    const req = request(file, 'good', { onProgress: (d, t) => progress.push([d, t]) });
    const result = await restoreSnapshot(req);
    const ids = MEMBERS.map((m) => computeMemberId(m.peerUrls, TOKEN));
    expect(result.memberId).toBe(ids[1]);
    expect(result.clusterId).toBe(computeClusterId(ids));
    expect(result.snapshotRevision).toBe(7);
    expect(progress.at(-1)).toEqual([KEYS.length, 1]);
    expect(readdirSync(join(dir, 'good', 'dat'))).toEqual(['default.etcd']);

    const { storage, recovered } = await MemberStorage.open({
      dataDir: req.dataDir,
      walDir: req.walDir,
      fs: nodeFileLayer,
      logger: nullLogger,
      newIdentity: { memberId: ids[0] ?? result.memberId, clusterId: result.clusterId },
      unsafeNoFsync: false,
    });
    try {
      expect(recovered.fresh).toBe(false);
      expect(recovered.memberId).toBe(result.memberId);
      expect(recovered.clusterId).toBe(result.clusterId);
      expect(recovered.appliedIndex).toBe(3);
      expect(recovered.entries).toEqual([]);
      expect(recovered.snapshot?.metadata).toEqual({ index: 3, term: 1, confState: { voters: [...ids].sort((a, b) => (a < b ? -1 : 1)), learners: [] } });
      expect(recovered.hardState).toEqual({ term: 1, vote: 0n, commit: 3 });
      expect(storage.store.currentRevision).toBe(7);
      expect(storage.store.compactRevision).toBe(4);
      const keyRecords: Array<[string, string]> = [];
      await forEachInRange(storage.backend, { gte: Buffer.from([KEY_PREFIX]), lt: Buffer.from([KEY_PREFIX + 1]) }, (k, v) => {
        keyRecords.push([k.subarray(1).toString('hex'), v.toString('hex')]);
      });
      expect(keyRecords).toEqual(KEYS.map((e) => [Buffer.from(e.key).toString('hex'), Buffer.from(e.value).toString('hex')]));
      const lease = await storage.backend.get(leaseRecordKey(leaseId(LEASE)));
      expect(lease === undefined ? undefined : decodeLeaseRecord(lease)).toEqual({ id: LEASE, ttlSeconds: 600, remainingTtlSeconds: 0 });
      const members = (await Membership.load(storage.backend)).members();
      expect(members.map((m) => [m.id, m.name, m.peerUrls])).toEqual(
        MEMBERS.map((m, i) => [ids[i], m.name, m.peerUrls]).sort((a, b) => ((a[0] ?? 0n) < (b[0] ?? 0n) ? -1 : 1)),
      );
      expect((await Membership.load(storage.backend)).isRemoved(0xbbbbn)).toBe(false);
      const alarms: string[] = [];
      await forEachInRange(storage.backend, { gte: Buffer.from([ALARM_PREFIX]), lt: Buffer.from([ALARM_PREFIX + 1]) }, (k, v) => {
        alarms.push(`${k.subarray(1).toString('hex')}=${v.toString('hex')}`);
      });
      expect(alarms).toEqual([`${Buffer.from(encodeAlarm({ memberId: 0xaaaan, alarm: 1 })).toString('hex')}=`]);
      expect(await storage.backend.get(AUTH_ENABLED_KEY)).toEqual(Buffer.from([0]));
      expect(await storage.backend.get(userKey('root'))).toEqual(Buffer.from([10, 4, 114, 111, 111, 116]));
    } finally {
      await storage.close();
    }
  });

  it('keeps the compaction revision when it is above the last record, as etcd (a compacted tombstone)', async () => {
    const file = await snapshotFile('compact-above.db', cut({ keys: () => KEYS.slice(0, 1), scheduledCompactRev: 4, finishedCompactRev: 4 }));
    const req = request(file, 'compact-above');
    await restoreSnapshot(req);
    const { storage } = await MemberStorage.open({
      dataDir: req.dataDir,
      walDir: req.walDir,
      fs: nodeFileLayer,
      logger: nullLogger,
      newIdentity: { memberId: computeMemberId(['x'], 'y'), clusterId: computeClusterId([]) },
      unsafeNoFsync: false,
    });
    try {
      expect(storage.store.currentRevision).toBe(4);
      expect(storage.store.compactRevision).toBe(4);
    } finally {
      await storage.close();
    }
  });

  it('restores a file without a trailer only with skipHashCheck (a copied member/snap/db)', async () => {
    const file = await snapshotFile('no-trailer.db', cut(), false);
    await expect(restoreSnapshot(request(file, 'no-trailer'))).rejects.toThrow(/snapshot missing hash but --skip-hash-check=false/);
    expect(existsSync(join(dir, 'no-trailer'))).toBe(false);
    await restoreSnapshot(request(file, 'no-trailer', { skipHashCheck: true }));
    expect(existsSync(join(dir, 'no-trailer', 'dat', 'default.etcd', 'member', 'tsetcd'))).toBe(true);
  });

  it('refuses bad files with one line and leaves nothing behind', async () => {
    const good = await snapshotFile('base.db', cut());
    const bytes = Buffer.from(await import('node:fs').then((f) => f.readFileSync(good)));
    const variants: Array<[string, Buffer, RegExp, Partial<RestoreRequest>]> = [
      ['truncated', bytes.subarray(0, bytes.length - 4096 - 100), /snapshot missing hash/, {}],
      ['truncated-skip', bytes.subarray(0, bytes.length - 32 - 4096), /bbolt: /, { skipHashCheck: true }],
      ['flipped', Buffer.from(bytes).fill(0x5a, 4096 * 2 + 100, 4096 * 2 + 101), /SHA-256 mismatch/, {}],
      ['wrong-trailer', Buffer.concat([bytes.subarray(0, bytes.length - 32), Buffer.alloc(32, 7)]), /SHA-256 mismatch/, {}],
      ['empty', Buffer.alloc(0), /snapshot missing hash/, { skipHashCheck: false }],
      ['garbage-skip', Buffer.alloc(8192, 0x41), /: bbolt: /, { skipHashCheck: true }],
    ];
    const foreign = await bboltBytes(async function* () {
      yield { bucket: [Buffer.from('users')] };
      yield { bucket: [Buffer.from('users')], key: Buffer.from('alice'), value: Buffer.from('1') };
    });
    variants.push(['not-etcd', Buffer.concat([foreign, createHash('sha256').update(foreign).digest()]), /not an etcd backend/, {}]);
    for (const [name, content, message, extra] of variants) {
      const file = join(dir, `${name}.db`);
      writeFileSync(file, content);
      const err = await restoreSnapshot(request(file, name, extra)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, name).toBeInstanceOf(RestoreError);
      const text = (err as Error).message;
      expect(text, name).toMatch(message);
      expect(text.includes('\n'), name).toBe(false);
      expect(existsSync(join(dir, name)), `${name}: nothing left behind`).toBe(false);
    }
  });

  it("refuses an existing data dir or WAL dir with etcd's message", async () => {
    const file = await snapshotFile('exists.db', cut());
    const req = request(file, 'exists');
    await restoreSnapshot(req);
    await expect(restoreSnapshot(req)).rejects.toThrow(`data-dir ${JSON.stringify(req.dataDir)} exists`);
    await expect(restoreSnapshot({ ...req, dataDir: join(dir, 'exists', 'other') })).rejects.toThrow(`wal-dir ${JSON.stringify(req.walDir)} exists`);
    await expect(restoreSnapshot(request(join(dir, 'missing.db'), 'missing'))).rejects.toThrow(/^open .*missing\.db: no such file or directory$/);
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });
});
