/**
 * Auth data carries over between a real etcd 3.4.23 and the auth store, both ways,
 * through etcd's own backend file (the `auth`, `authUsers` and `authRoles` buckets):
 *
 * 1. etcd -> store: users (with a password, a non-ASCII password, no password), roles
 *    with every permission shape, auth enabled. etcd is stopped and its member/snap/db
 *    read with src/bbolt. Every stored User and Role re-encodes to the same bytes, Go's
 *    bcrypt hashes verify here, and a store opened on those records makes the same
 *    permission decisions etcd made for the limited user, at the same auth revision.
 * 2. store -> etcd: records written by the store (hashes made here with bcryptjs, cost
 *    4) replace etcd's auth buckets in a db written with src/bbolt; `etcdctl snapshot
 *    restore` takes it and a new etcd starts on it. etcd logs the users in with their
 *    passwords (so it accepts these hashes), refuses a wrong one, reports the store's
 *    auth revision and enforces the store's grants as the store does.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BboltDb, bytesSource } from '../../src/bbolt/reader.js';
import { etcdBackendRecords, readEtcdBackend, type EtcdBackendContents } from '../../src/bbolt/etcd-layout.js';
import { bboltBytes } from '../../src/bbolt/stream.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import { AuthStore } from '../../src/auth/store.js';
import { prepareUserAdd } from '../../src/auth/identity.js';
import { verifyPassword } from '../../src/auth/password.js';
import {
  AUTH_ENABLED,
  AUTH_ENABLED_KEY,
  AUTH_REVISION_KEY,
  decodeRole,
  decodeUser,
  encodeRole,
  encodeUser,
  roleKey,
  userKey,
} from '../../src/auth/records.js';
import { encodeUint64 } from '../../src/storage/schema.js';
import { NopTokenProvider } from '../../src/auth/token-options.js';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { freePorts } from '../helpers/ports.js';
import { dumpMemberLogsOnFailure, startMember, stopAllMembers } from '../helpers/processes.js';
import { removeWhenTestProcessExits } from '../helpers/cleanup.js';
import { requireTools } from '../helpers/require-tool.js';
import { makeHarness, rootAt } from '../auth/harness.js';
import { b64, etcdAuthRevision, gatewayCall, gatewayLogin, PERM_NAMES } from '../auth/gateway.js';

afterAll(async () => {
  dumpMemberLogsOnFailure();
  await stopAllMembers();
});

const GATEWAY = { 'enable-grpc-gateway': true };
const ALICE_PW = 'pässwörd ✓ with spaces';

/** [type, key, range_end] grants of role `app`: prefix, single key, from-key, range. */
const GRANTS: Array<[0 | 1 | 2, string, string]> = [
  [2, 'app/', 'app0'],
  [0, 'ro', ''],
  [1, 'zz', '\0'],
  [0, 'a', 'c'],
];

/** [write?, key, range_end] requests alice makes. */
const PROBES: Array<[boolean, string, string]> = [
  [false, 'app/x', ''],
  [true, 'app/x', ''],
  [false, 'app/', 'app0'],
  [false, 'app/', '\0'],
  [false, 'ro', ''],
  [true, 'ro', ''],
  [true, 'zzz', ''],
  [false, 'zzz', ''],
  [true, 'zz', '\0'],
  [false, 'a', 'c'],
  [false, 'a', 'd'],
  [false, 'b', 'a'],
  [false, 'other', ''],
];

const lb = (s: string): Buffer => Buffer.from(s, 'latin1');

async function etcdDecisions(url: string, token: string): Promise<string[]> {
  const out: string[] = [];
  for (const [write, key, end] of PROBES) {
    const r = write
      ? await gatewayCall(url, '/v3/kv/deleterange', { key: b64(lb(key)), range_end: b64(lb(end)) }, token)
      : await gatewayCall(url, '/v3/kv/range', { key: b64(lb(key)), range_end: b64(lb(end)) }, token);
    out.push(r.ok ? 'ok' : r.message);
  }
  return out;
}

function storeDecisions(store: AuthStore): string[] {
  const alice = { username: 'alice', revision: store.revision };
  return PROBES.map(([write, key, end]) =>
    (write ? store.isDeleteRangePermitted(alice, lb(key), lb(end)) : store.isRangePermitted(alice, lb(key), lb(end))) ? 'ok' : 'etcdserver: permission denied',
  );
}

let fromEtcd: EtcdBackendContents | undefined;

describe('auth records between etcd 3.4.23 and the store', () => {
  it("etcd -> store: same bytes, Go's bcrypt hashes verify, same decisions at the same revision", async (ctx) => {
    requireTools(ctx, 'etcd');
    const m = await startMember({ target: 'etcd', extraConfig: GATEWAY });
    const url = m.clientUrl;
    const ok = async (path: string, body: object): Promise<void> => {
      const r = await gatewayCall(url, path, body);
      expect([path, r.ok ? 'ok' : r.message]).toEqual([path, 'ok']);
    };
    await ok('/v3/auth/user/add', { name: 'root', password: 'rootpw' });
    await ok('/v3/auth/user/add', { name: 'alice', password: ALICE_PW });
    await ok('/v3/auth/user/add', { name: 'kube', options: { no_password: true } });
    await ok('/v3/auth/role/add', { name: 'app' });
    for (const [t, key, end] of GRANTS) await ok('/v3/auth/role/grant', { name: 'app', perm: { permType: PERM_NAMES[t], key: b64(lb(key)), range_end: b64(lb(end)) } });
    await ok('/v3/auth/user/grant', { user: 'root', role: 'root' });
    await ok('/v3/auth/user/grant', { user: 'alice', role: 'app' });
    await ok('/v3/auth/user/grant', { user: 'kube', role: 'app' });
    await ok('/v3/auth/enable', {});
    const revision = await etcdAuthRevision(url);
    const theirs = await etcdDecisions(url, await gatewayLogin(url, 'alice', ALICE_PW));
    await m.stop();

    const contents = readEtcdBackend(BboltDb.open(bytesSource(readFileSync(join(m.dataDir, 'member', 'snap', 'db')))));
    fromEtcd = contents;
    expect(contents.auth.enabled).toBe(true);
    expect(contents.auth.revision).toBe(BigInt(revision));
    expect(contents.auth.users.map((u) => Buffer.from(u.name).toString())).toEqual(['alice', 'kube', 'root']);
    for (const u of contents.auth.users) expect(encodeUser(decodeUser(u.value))).toEqual(Buffer.from(u.value));
    for (const r of contents.auth.roles) expect(encodeRole(decodeRole(r.value))).toEqual(Buffer.from(r.value));
    const users = new Map(contents.auth.users.map((u) => [Buffer.from(u.name).toString(), decodeUser(u.value)]));
    expect(users.get('alice')?.password.toString()).toMatch(/^\$2a\$10\$/);
    expect(await verifyPassword(ALICE_PW, users.get('alice')?.password ?? Buffer.alloc(0))).toBe(true);
    expect(await verifyPassword('rootpw', users.get('root')?.password ?? Buffer.alloc(0))).toBe(true);
    expect(await verifyPassword('wrong', users.get('root')?.password ?? Buffer.alloc(0))).toBe(false);
    expect(users.get('kube')).toMatchObject({ noPassword: true, password: Buffer.alloc(0), roles: ['app'] });

    const backend = new MemoryBackend();
    const batch = backend.batch();
    batch.put(AUTH_ENABLED_KEY, AUTH_ENABLED);
    batch.put(AUTH_REVISION_KEY, encodeUint64(revision));
    for (const u of contents.auth.users) batch.put(userKey(Buffer.from(u.name).toString()), Buffer.from(u.value));
    for (const r of contents.auth.roles) batch.put(roleKey(Buffer.from(r.name).toString()), Buffer.from(r.value));
    await backend.write(batch, { sync: true });
    const store = await AuthStore.open(backend, { tokens: new NopTokenProvider() });
    expect(store.status()).toEqual({ enabled: true, authRevision: revision });
    expect(storeDecisions(store)).toEqual(theirs);
    expect(theirs).toContain('etcdserver: permission denied');
    expect(await store.checkPassword('alice', ALICE_PW)).toBe(revision);
    await expect(store.checkPassword('kube', '')).rejects.toMatchObject({ code: 'auth-no-password-user' });
  }, 120_000);

  it('store -> etcd: etcd restores the store\'s records, logs its bcrypt hashes in and enforces its grants', async (ctx) => {
    requireTools(ctx, 'etcd', 'etcdctl');
    if (fromEtcd === undefined) throw new Error('needs the db of the test before');
    // the store's side: users, hashes made here, the same role, auth enabled
    const h = await makeHarness();
    const add = async (name: string, password: string): Promise<void> => {
      await h.apply({ op: 'userAdd', req: await prepareUserAdd({ name, password }, 4) }, rootAt(h));
    };
    await add('root', 'rootpw');
    await add('alice', ALICE_PW);
    await h.apply({ op: 'roleAdd', req: { name: 'app' } });
    for (const [t, key, end] of GRANTS) await h.apply({ op: 'roleGrantPermission', req: { name: 'app', perm: { permType: t, key: lb(key), rangeEnd: lb(end) } } });
    await h.apply({ op: 'userGrantRole', req: { user: 'root', role: 'root' } });
    await h.apply({ op: 'userGrantRole', req: { user: 'alice', role: 'app' } });
    await h.apply({ op: 'authEnable' });
    const store = h.store;
    expect(store.getUser('alice')?.password.toString()).toMatch(/^\$2a\$04\$/);

    const named = (names: string[], get: (n: string) => Buffer) => names.map((n) => ({ name: Buffer.from(n), value: get(n) }));
    const cut = {
      ...fromEtcd,
      auth: {
        enabled: true,
        revision: BigInt(store.revision),
        users: named(['alice', 'root'], (n) => encodeUser(store.getUser(n) ?? assertNever(n))),
        roles: named(['app'], (n) => encodeRole(store.getRole(n) ?? assertNever(n))),
      },
    };
    const image = await bboltBytes(etcdBackendRecords(cut));
    const dir = mkdtempSync(join(tmpdir(), 'tsetcd-auth-restore-'));
    removeWhenTestProcessExits(dir);
    const file = join(dir, 'snapshot.db');
    writeFileSync(file, Buffer.concat([image, createHash('sha256').update(image).digest()]));
    const [clientPort = 0, peerPort = 0] = await freePorts(2);
    const name = 'restored';
    const peer = `http://127.0.0.1:${peerPort}`;
    const dataDir = join(dir, 'data');
    const restore = await runEtcdctl(
      ['snapshot', 'restore', file, `--name=${name}`, `--data-dir=${dataDir}`, `--initial-cluster=${name}=${peer}`, `--initial-advertise-peer-urls=${peer}`, '--initial-cluster-token=kube-etcd-cluster'],
      { endpoints: ['http://127.0.0.1:1'] },
    );
    expect([restore.command, restore.code, restore.stderr]).toEqual([restore.command, 0, expect.any(String)]);
    const m = await startMember({
      target: 'etcd',
      name,
      clientPorts: [clientPort],
      peerPort,
      extraConfig: { ...GATEWAY, 'data-dir': dataDir, 'wal-dir': join(dataDir, 'member', 'wal') },
    });
    try {
      const url = m.clientUrl;
      expect(await etcdAuthRevision(url)).toBe(store.revision);
      const wrong = await gatewayCall(url, '/v3/auth/authenticate', { name: 'alice', password: 'nope' });
      expect(wrong).toEqual({ ok: false, message: 'etcdserver: authentication failed, invalid user ID or password' });
      await gatewayLogin(url, 'root', 'rootpw');
      expect(await etcdDecisions(url, await gatewayLogin(url, 'alice', ALICE_PW))).toEqual(storeDecisions(store));
    } finally {
      await m.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

function assertNever(n: string): never {
  throw new Error(`missing record ${n}`);
}
