// The auth store's management rules, revision bumps, errors, stored bytes and
// recovery, as etcd 3.4.23 behaves (auth reference §1, §2, §6) with 3.5's validation.
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import { prepareChangePassword, prepareUserAdd } from '../../src/auth/identity.js';
import { AuthError, internalAuthMessage } from '../../src/auth/errors.js';
import { etcdStatus } from '../../src/shared/errors.js';
import { decodeRole, decodeUser, encodeRole, encodeUser, roleKey, userKey, AUTH_REVISION_KEY, AUTH_ENABLED_KEY } from '../../src/auth/records.js';
import type { AuthErrorCode } from '../../src/auth/errors.js';
import { b, enableWithRoot, makeHarness, rootAt, type Harness } from './harness.js';

const fixedSalt = (n: number): Uint8Array => new Uint8Array(n).fill(7);

async function addUser(h: Harness, name: string, password = 'pw', caller = rootAt(h)): Promise<void> {
  const req = await prepareUserAdd({ name, password }, 4, fixedSalt);
  await h.apply({ op: 'userAdd', req }, caller);
}

describe('auth store: enable, disable and the revision', () => {
  it('a fresh store commits revision 1 at once, durably', async () => {
    const backend = new MemoryBackend();
    const h = await makeHarness({ backend });
    expect(h.store.revision).toBe(1);
    expect(await backend.get(AUTH_REVISION_KEY)).toEqual(Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]));
    expect(await backend.get(AUTH_ENABLED_KEY)).toBeUndefined();
    expect(h.store.status()).toEqual({ enabled: false, authRevision: 1 });
  });

  it("etcd's worked sequence: user add root 2, role add root 3, grant 4, enable stays 4", async () => {
    const h = await makeHarness();
    await h.apply({ op: 'userAdd', req: { name: 'root', hashedPassword: '' } });
    expect(h.store.revision).toBe(2);
    expect(await h.code({ op: 'authEnable' })).toBe('auth-root-role-not-exist');
    await h.apply({ op: 'roleAdd', req: { name: 'root' } });
    expect(h.store.revision).toBe(3);
    await h.apply({ op: 'userGrantRole', req: { user: 'root', role: 'root' } });
    expect(h.store.revision).toBe(4);
    await h.apply({ op: 'authEnable' });
    expect(h.store.enabled).toBe(true);
    expect(h.store.revision).toBe(4);
    expect(await h.backend.get(AUTH_ENABLED_KEY)).toEqual(Buffer.from([1]));
  });

  it('enable needs a root user; enabling twice is a no-op; disable bumps once', async () => {
    const h = await makeHarness();
    expect(await h.code({ op: 'authEnable' })).toBe('auth-root-user-not-exist');
    await enableWithRoot(h);
    const rev = h.store.revision;
    expect(await h.code({ op: 'authEnable' }, rootAt(h))).toBe('ok');
    expect(h.store.revision).toBe(rev);
    await h.apply({ op: 'authDisable' }, rootAt(h));
    expect(h.store.enabled).toBe(false);
    expect(h.store.revision).toBe(rev + 1);
    expect(await h.backend.get(AUTH_ENABLED_KEY)).toEqual(Buffer.from([0]));
    await h.apply({ op: 'authDisable' });
    expect(h.store.revision).toBe(rev + 1);
  });

  it('the root role need not exist as a role record', async () => {
    const h = await makeHarness();
    await enableWithRoot(h);
    expect(h.store.enabled).toBe(true);
    expect((await h.apply({ op: 'roleList' }, rootAt(h)))).toEqual({ op: 'roleList', roles: [] });
  });
});

describe('auth store: the admin check at apply', () => {
  it('anonymous, unknown and non-root callers get the three errors; it runs before validation', async () => {
    const h = await makeHarness();
    await enableWithRoot(h);
    await addUser(h, 'alice');
    const rev = h.store.revision;
    expect(await h.code({ op: 'roleAdd', req: { name: '' } })).toBe('auth-user-empty');
    expect(await h.code({ op: 'roleAdd', req: { name: 'r' } }, { username: 'ghost', revision: rev })).toBe('auth-user-not-found');
    expect(await h.code({ op: 'roleAdd', req: { name: 'r' } }, { username: 'alice', revision: rev })).toBe('permission-denied');
    // a stale revision does not matter to the admin check
    expect(await h.code({ op: 'roleAdd', req: { name: 'r' } }, { username: 'root', revision: 1 })).toBe('ok');
    expect(await h.code({ op: 'roleAdd', req: { name: '' } }, rootAt(h))).toBe('auth-role-empty');
  });

  it('every management request is admin-only while enabled, and open to anyone while disabled', async () => {
    const h = await makeHarness();
    expect(await h.code({ op: 'roleAdd', req: { name: 'free' } })).toBe('ok');
    await enableWithRoot(h);
    const denied = [
      { op: 'authDisable' },
      { op: 'authStatus' },
      { op: 'userAdd', req: { name: 'x' } },
      { op: 'userDelete', req: { name: 'root' } },
      { op: 'userChangePassword', req: { name: 'root' } },
      { op: 'userGrantRole', req: { user: 'root', role: 'free' } },
      { op: 'userRevokeRole', req: { name: 'root', role: 'root' } },
      { op: 'userList' },
      { op: 'roleAdd', req: { name: 'y' } },
      { op: 'roleDelete', req: { role: 'free' } },
      { op: 'roleList' },
      { op: 'roleGrantPermission', req: { name: 'free', perm: { key: b('a') } } },
      { op: 'roleRevokePermission', req: { role: 'free', key: b('a') } },
    ] as const;
    for (const r of denied) expect([r.op, await h.code(r)]).toEqual([r.op, 'auth-user-empty']);
  });

  it('UserGet: self or admin; RoleGet: a holder of the role or admin; others get the admin error', async () => {
    const h = await makeHarness();
    await enableWithRoot(h);
    await addUser(h, 'alice');
    await addUser(h, 'bob');
    await h.apply({ op: 'roleAdd', req: { name: 'r1' } }, rootAt(h));
    await h.apply({ op: 'roleAdd', req: { name: 'r2' } }, rootAt(h));
    await h.apply({ op: 'userGrantRole', req: { user: 'alice', role: 'r1' } }, rootAt(h));
    const alice = { username: 'alice', revision: h.store.revision };
    expect(await h.apply({ op: 'userGet', req: { name: 'alice' } }, alice)).toEqual({ op: 'userGet', roles: ['r1'] });
    expect(await h.code({ op: 'userGet', req: { name: 'bob' } }, alice)).toBe('permission-denied');
    expect(await h.code({ op: 'userGet', req: { name: 'nobody' } }, alice)).toBe('permission-denied');
    expect(await h.code({ op: 'userGet', req: { name: 'bob' } })).toBe('auth-user-empty');
    expect(await h.code({ op: 'userGet', req: { name: '' } })).toBe('auth-user-not-found');
    expect(await h.code({ op: 'roleGet', req: { role: 'r1' } }, alice)).toBe('ok');
    expect(await h.code({ op: 'roleGet', req: { role: 'r2' } }, alice)).toBe('permission-denied');
    expect(await h.code({ op: 'roleGet', req: { role: 'missing' } }, alice)).toBe('permission-denied');
    expect(await h.code({ op: 'roleGet', req: { role: 'missing' } }, rootAt(h))).toBe('auth-role-not-found');
    expect(await h.code({ op: 'userList' }, alice)).toBe('permission-denied');
    expect(await h.code({ op: 'userChangePassword', req: { name: 'alice', password: 'x' } }, alice)).toBe('permission-denied');
  });
});

describe('auth store: users', () => {
  it('add, duplicates, empty names, byte-ordered list, no bump on failure', async () => {
    const h = await makeHarness();
    for (const n of ['yan', 'root', 'dan', 'Zed', 'ro']) await addUser(h, n);
    expect(h.store.revision).toBe(6);
    expect(await h.code({ op: 'userAdd', req: { name: 'dan' } })).toBe('auth-user-already-exist');
    expect(await h.code({ op: 'userAdd', req: { name: '' } })).toBe('auth-user-empty');
    expect(h.store.revision).toBe(6);
    expect(await h.apply({ op: 'userList' })).toEqual({ op: 'userList', users: ['Zed', 'dan', 'ro', 'root', 'yan'] });
  });

  it('grant: user checked before role; root always grantable; duplicate grant does not bump; roles sorted', async () => {
    const h = await makeHarness();
    await addUser(h, 'alice');
    await h.apply({ op: 'roleAdd', req: { name: 'zz' } });
    await h.apply({ op: 'roleAdd', req: { name: 'aa' } });
    expect(await h.code({ op: 'userGrantRole', req: { user: 'ghost', role: 'missing' } })).toBe('auth-user-not-found');
    expect(await h.code({ op: 'userGrantRole', req: { user: 'alice', role: 'missing' } })).toBe('auth-role-not-found');
    expect(await h.code({ op: 'userGrantRole', req: { user: 'alice', role: '' } })).toBe('auth-role-not-found');
    expect(await h.code({ op: 'userGrantRole', req: { user: '', role: 'aa' } })).toBe('auth-user-not-found');
    const rev = h.store.revision;
    await h.apply({ op: 'userGrantRole', req: { user: 'alice', role: 'zz' } });
    await h.apply({ op: 'userGrantRole', req: { user: 'alice', role: 'root' } });
    await h.apply({ op: 'userGrantRole', req: { user: 'alice', role: 'aa' } });
    expect(h.store.revision).toBe(rev + 3);
    await h.apply({ op: 'userGrantRole', req: { user: 'alice', role: 'aa' } });
    expect(h.store.revision).toBe(rev + 3);
    expect(await h.apply({ op: 'userGet', req: { name: 'alice' } })).toEqual({ op: 'userGet', roles: ['aa', 'root', 'zz'] });
  });

  it('revoke: root/root refused while enabled before the lookup; role need not exist; not granted', async () => {
    const h = await makeHarness();
    await enableWithRoot(h);
    await addUser(h, 'alice');
    await h.apply({ op: 'userGrantRole', req: { user: 'alice', role: 'root' } }, rootAt(h));
    expect(await h.code({ op: 'userRevokeRole', req: { name: 'root', role: 'root' } }, rootAt(h))).toBe('auth-invalid-mgmt');
    expect(await h.code({ op: 'userRevokeRole', req: { name: 'ghost', role: 'x' } }, rootAt(h))).toBe('auth-user-not-found');
    expect(await h.code({ op: 'userRevokeRole', req: { name: 'alice', role: 'x' } }, rootAt(h))).toBe('auth-role-not-granted');
    const rev = h.store.revision;
    await h.apply({ op: 'userRevokeRole', req: { name: 'alice', role: 'root' } }, rootAt(h));
    expect(h.store.revision).toBe(rev + 1);
    expect(h.store.getUser('alice')?.roles).toEqual([]);
  });

  it('delete: root refused while enabled (even by another admin), allowed while disabled', async () => {
    const h = await makeHarness();
    await enableWithRoot(h);
    await addUser(h, 'admin2');
    await h.apply({ op: 'userGrantRole', req: { user: 'admin2', role: 'root' } }, rootAt(h));
    const admin2 = { username: 'admin2', revision: h.store.revision };
    expect(await h.code({ op: 'userDelete', req: { name: 'root' } }, admin2)).toBe('auth-invalid-mgmt');
    expect(await h.code({ op: 'userDelete', req: { name: 'nobody' } }, admin2)).toBe('auth-user-not-found');
    await h.apply({ op: 'authDisable' }, admin2);
    const rev = h.store.revision;
    await h.apply({ op: 'userDelete', req: { name: 'root' } });
    expect(h.store.revision).toBe(rev + 1);
    expect(h.store.hasUser('root')).toBe(false);
    expect(await h.backend.get(userKey('root'))).toBeUndefined();
  });

  it('change password keeps roles and options, bumps, and the new password is the one that works', async () => {
    const h = await makeHarness();
    await enableWithRoot(h);
    await addUser(h, 'alice', 'old');
    await h.apply({ op: 'userGrantRole', req: { user: 'alice', role: 'root' } }, rootAt(h));
    const rev = h.store.revision;
    const req = await prepareChangePassword({ name: 'alice', password: 'new' }, 4, fixedSalt);
    expect(req.password).toBe('');
    await h.apply({ op: 'userChangePassword', req }, rootAt(h));
    expect(h.store.revision).toBe(rev + 1);
    expect(h.store.getUser('alice')?.roles).toEqual(['root']);
    await expect(h.store.checkPassword('alice', 'old')).rejects.toMatchObject({ code: 'auth-failed' });
    expect(await h.store.checkPassword('alice', 'new')).toBe(rev + 1);
    expect(await h.code({ op: 'userChangePassword', req: { name: 'ghost' } }, rootAt(h))).toBe('auth-user-not-found');
  });
});

describe('auth store: roles and permissions', () => {
  it('role add: empty, duplicate; role delete strips the role from every user, one bump', async () => {
    const h = await makeHarness();
    expect(await h.code({ op: 'roleAdd', req: { name: '' } })).toBe('auth-role-empty');
    await h.apply({ op: 'roleAdd', req: { name: 'r' } });
    expect(await h.code({ op: 'roleAdd', req: { name: 'r' } })).toBe('auth-role-already-exist');
    await addUser(h, 'a');
    await addUser(h, 'b');
    await h.apply({ op: 'userGrantRole', req: { user: 'a', role: 'r' } });
    await h.apply({ op: 'userGrantRole', req: { user: 'b', role: 'r' } });
    const rev = h.store.revision;
    expect(await h.code({ op: 'roleDelete', req: { role: 'nope' } })).toBe('auth-role-not-found');
    expect(await h.code({ op: 'roleDelete', req: { role: '' } })).toBe('auth-role-not-found');
    await h.apply({ op: 'roleDelete', req: { role: 'r' } });
    expect(h.store.revision).toBe(rev + 1);
    expect(h.store.getUser('a')?.roles).toEqual([]);
    expect(decodeUser((await h.backend.get(userKey('b'))) ?? Buffer.alloc(0)).roles).toEqual([]);
    expect(await h.backend.get(roleKey('r'))).toBeUndefined();
  });

  it('role root cannot be deleted while enabled; while disabled its deletion strips it from root', async () => {
    const h = await makeHarness();
    await h.apply({ op: 'roleAdd', req: { name: 'root' } });
    await enableWithRoot(h);
    expect(await h.code({ op: 'roleDelete', req: { role: 'root' } }, rootAt(h))).toBe('auth-invalid-mgmt');
    await h.apply({ op: 'authDisable' }, rootAt(h));
    await h.apply({ op: 'roleDelete', req: { role: 'root' } });
    expect(h.store.getUser('root')?.roles).toEqual([]);
    expect(await h.code({ op: 'authEnable' })).toBe('auth-root-role-not-exist');
  });

  it('grant permission: always bumps, 3.5 validation, then the role lookup', async () => {
    const h = await makeHarness();
    await h.apply({ op: 'roleAdd', req: { name: 'r' } });
    const grant = (perm: object | undefined, name = 'r') => h.code({ op: 'roleGrantPermission', req: { name, ...(perm ? { perm } : {}) } });
    expect(await grant(undefined)).toBe('auth-permission-not-given');
    expect(await grant({ key: b('') })).toBe('auth-invalid-mgmt');
    expect(await grant({ key: b(''), rangeEnd: b('b') })).toBe('auth-invalid-mgmt');
    expect(await grant({ key: b('z'), rangeEnd: b('a') })).toBe('auth-invalid-mgmt');
    expect(await grant({ key: b('a'), rangeEnd: b('a') })).toBe('auth-invalid-mgmt');
    expect(await grant({ key: b('a') }, 'missing')).toBe('auth-role-not-found');
    const rev = h.store.revision;
    expect(await grant({ key: b('foo'), permType: 2 })).toBe('ok');
    expect(await grant({ key: b('foo'), permType: 2 })).toBe('ok');
    expect(await grant({ key: b('\0'), rangeEnd: b('\0') })).toBe('ok');
    expect(h.store.revision).toBe(rev + 3);
    expect(h.store.getRole('r')?.permissions.length).toBe(2);
  });

  it("the upsert quirk: READ [a,c), READ [a,d), WRITE [a,d) leaves three entries; revoking [a,d) removes both", async () => {
    const h = await makeHarness();
    await h.apply({ op: 'roleAdd', req: { name: 'r' } });
    const g = (key: string, end: string, permType: 0 | 1 | 2) =>
      h.apply({ op: 'roleGrantPermission', req: { name: 'r', perm: { key: b(key), rangeEnd: b(end), permType } } });
    await g('a', 'c', 0);
    await g('a', 'd', 0);
    await g('a', 'd', 1);
    const list = (await h.apply({ op: 'roleGet', req: { role: 'r' } })) as { perm: Array<{ permType?: number; key?: Uint8Array; rangeEnd?: Uint8Array }> };
    expect(list.perm.map((p) => [p.permType ?? 0, Buffer.from(p.key ?? []).toString(), Buffer.from(p.rangeEnd ?? []).toString()])).toEqual([
      [0, 'a', 'c'],
      [0, 'a', 'd'],
      [1, 'a', 'd'],
    ]);
    // re-granting the first entry with its own range updates it in place
    await g('a', 'c', 2);
    expect(h.store.getRole('r')?.permissions.map((p) => p.permType)).toEqual([2, 0, 1]);
    const rev = h.store.revision;
    await h.apply({ op: 'roleRevokePermission', req: { role: 'r', key: b('a'), rangeEnd: b('d') } });
    expect(h.store.revision).toBe(rev + 1);
    expect(h.store.getRole('r')?.permissions.map((p) => p.rangeEnd.toString())).toEqual(['c']);
    expect(await h.code({ op: 'roleRevokePermission', req: { role: 'r', key: b('a'), rangeEnd: b('d') } })).toBe('auth-permission-not-granted');
    expect(await h.code({ op: 'roleRevokePermission', req: { role: 'r', key: b('a') } })).toBe('auth-permission-not-granted');
    expect(await h.code({ op: 'roleRevokePermission', req: { role: 'x', key: b('a') } })).toBe('auth-role-not-found');
  });

  it('permissions are kept sorted by key', async () => {
    const h = await makeHarness();
    await h.apply({ op: 'roleAdd', req: { name: 'r' } });
    for (const k of ['m', 'b', 'z', 'a']) await h.apply({ op: 'roleGrantPermission', req: { name: 'r', perm: { key: b(k) } } });
    expect(h.store.getRole('r')?.permissions.map((p) => p.key.toString())).toEqual(['a', 'b', 'm', 'z']);
  });
});

describe('auth store: bytes on disk and recovery', () => {
  it("records are byte-identical to etcd's (gogoproto) encodings", () => {
    const hash = Buffer.from('$2a$10$' + 'x'.repeat(53));
    const alice = encodeUser({ name: 'alice', password: hash, roles: ['r'], noPassword: false });
    expect(alice).toEqual(Buffer.concat([b('\x0a\x05alice\x12\x3c'), hash, b('\x1a\x01r\x22\x00')]));
    const cert = encodeUser({ name: 'kube', password: Buffer.alloc(0), roles: [], noPassword: true });
    expect(cert).toEqual(b('\x0a\x04kube\x22\x02\x08\x01'));
    const role = encodeRole({ name: 'r', permissions: [{ permType: 2, key: b('foo'), rangeEnd: Buffer.alloc(0) }] });
    expect(role).toEqual(b('\x0a\x01r\x12\x07\x08\x02\x12\x03foo'));
    const read = encodeRole({ name: 'r', permissions: [{ permType: 0, key: b('a'), rangeEnd: b('b') }] });
    expect(read).toEqual(b('\x0a\x01r\x12\x06\x12\x01a\x1a\x01b'));
    expect(decodeUser(alice)).toEqual({ name: 'alice', password: hash, roles: ['r'], noPassword: false });
    expect(decodeUser(cert).noPassword).toBe(true);
    expect(decodeRole(role).permissions[0]).toEqual({ permType: 2, key: b('foo'), rangeEnd: Buffer.alloc(0) });
  });

  it('UserAdd stores the raw bcrypt string; a no-password user stores none', async () => {
    const h = await makeHarness();
    await addUser(h, 'alice', 'secret');
    const stored = decodeUser((await h.backend.get(userKey('alice'))) ?? Buffer.alloc(0));
    expect(stored.password.toString()).toMatch(/^\$2a\$04\$[./A-Za-z0-9]{53}$/);
    expect(stored.noPassword).toBe(false);
    await h.apply({ op: 'userAdd', req: await prepareUserAdd({ name: 'kube', password: 'ignored', options: { noPassword: true } }, 4) });
    const kube = await h.backend.get(userKey('kube'));
    expect(kube).toEqual(b('\x0a\x04kube\x22\x02\x08\x01'));
  });

  it('a reopened store has the same users, roles, flag and revision; caches rebuilt', async () => {
    const backend = new MemoryBackend();
    const h = await makeHarness({ backend });
    await enableWithRoot(h);
    await addUser(h, 'alice');
    await h.apply({ op: 'roleAdd', req: { name: 'r' } }, rootAt(h));
    await h.apply({ op: 'roleGrantPermission', req: { name: 'r', perm: { key: b('k'), permType: 0 } } }, rootAt(h));
    await h.apply({ op: 'userGrantRole', req: { user: 'alice', role: 'r' } }, rootAt(h));
    const h2 = await makeHarness({ backend });
    expect(h2.store.enabled).toBe(true);
    expect(h2.store.revision).toBe(h.store.revision);
    expect(h2.store.getUser('alice')).toEqual(h.store.getUser('alice'));
    expect(h2.store.getRole('r')).toEqual(h.store.getRole('r'));
    const alice = { username: 'alice', revision: h2.store.revision };
    expect(h2.store.isRangePermitted(alice, b('k'))).toBe(true);
    expect(h2.store.isPutPermitted(alice, b('k'))).toBe(false);
    // the token keeper runs on a store that starts enabled
    expect(h2.scheduler.live).toBe(1);
  });

  it('recover() replaces the state with another db (snapshot install)', async () => {
    const other = new MemoryBackend();
    const src = await makeHarness({ backend: other });
    await addUser(src, 'snap');
    const h = await makeHarness();
    await addUser(h, 'local');
    await h.store.recover(other);
    expect(h.store.hasUser('local')).toBe(false);
    expect(h.store.hasUser('snap')).toBe(true);
    expect(h.store.revision).toBe(src.store.revision);
  });
});

describe('auth store: Authenticate', () => {
  it('checkPassword: not enabled, unknown user, no-password user, wrong and right password', async () => {
    const h = await makeHarness();
    await addUser(h, 'alice', 'pw');
    await expect(h.store.checkPassword('alice', 'pw')).rejects.toMatchObject({ code: 'auth-not-enabled' });
    await enableWithRoot(h);
    await h.apply({ op: 'userAdd', req: { name: 'kube', options: { noPassword: true } } }, rootAt(h));
    await expect(h.store.checkPassword('ghost', 'pw')).rejects.toMatchObject({ code: 'auth-failed' });
    await expect(h.store.checkPassword('kube', '')).rejects.toMatchObject({ code: 'auth-no-password-user' });
    await expect(h.store.checkPassword('alice', 'nope')).rejects.toMatchObject({ code: 'auth-failed' });
    await expect(h.store.checkPassword('', '')).rejects.toMatchObject({ code: 'auth-failed' });
    expect(await h.store.checkPassword('alice', 'pw')).toBe(h.store.revision);
  });

  it('apply issues `<16 letters>.<index>`; refuses a vanished or no-password user, or a disabled store', async () => {
    const h = await makeHarness();
    await addUser(h, 'alice');
    expect(await h.code({ op: 'authenticate', name: 'alice', simpleToken: 'x' })).toBe('auth-not-enabled');
    await enableWithRoot(h);
    const prefix = h.tokens.genTokenPrefix();
    expect(prefix).toMatch(/^[a-zA-Z]{16}$/);
    const r = await h.apply({ op: 'authenticate', name: 'alice', simpleToken: prefix });
    expect(r).toEqual({ op: 'authenticate', token: `${prefix}.${h.applied.index}`, username: 'alice', revision: h.store.revision });
    expect(await h.code({ op: 'authenticate', name: 'ghost', simpleToken: 'p' })).toBe('auth-failed');
    await h.apply({ op: 'userAdd', req: { name: 'kube', options: { noPassword: true } } }, rootAt(h));
    expect(await h.code({ op: 'authenticate', name: 'kube', simpleToken: 'q' })).toBe('auth-failed');
  });

  it('a log entry from etcd 3.4 with a clear password is hashed at apply', async () => {
    const h = await makeHarness();
    await h.apply({ op: 'userAdd', req: { name: 'old', password: 'clear' } });
    await enableWithRoot(h);
    expect(await h.store.checkPassword('old', 'clear')).toBe(h.store.revision);
    expect(await h.code({ op: 'userAdd', req: { name: 'bad', hashedPassword: 'not base64!' } }, rootAt(h))).toBe('auth-no-password-user');
  });
});

describe('auth errors', () => {
  it("carry etcd's internal text and map to etcd's gRPC code and message", () => {
    const e = new AuthError('auth-old-revision');
    expect(e.message).toBe('auth: revision in header is old');
    expect(e.code).toBe('auth-old-revision');
    // a Record, so a new auth error code without a row here does not compile
    const expected: Record<AuthErrorCode, readonly [number, string]> = {
      'auth-root-user-not-exist': [9, 'etcdserver: root user does not exist'],
      'auth-root-role-not-exist': [9, 'etcdserver: root user does not have root role'],
      'auth-user-already-exist': [9, 'etcdserver: user name already exists'],
      'auth-user-empty': [3, 'etcdserver: user name is empty'],
      'auth-user-not-found': [9, 'etcdserver: user name not found'],
      'auth-role-already-exist': [9, 'etcdserver: role name already exists'],
      'auth-role-not-found': [9, 'etcdserver: role name not found'],
      'auth-role-empty': [3, 'etcdserver: role name is empty'],
      'auth-failed': [3, 'etcdserver: authentication failed, invalid user ID or password'],
      'permission-denied': [7, 'etcdserver: permission denied'],
      'auth-role-not-granted': [9, 'etcdserver: role is not granted to the user'],
      'auth-permission-not-granted': [9, 'etcdserver: permission is not granted to the role'],
      'auth-not-enabled': [9, 'etcdserver: authentication is not enabled'],
      'auth-invalid-token': [16, 'etcdserver: invalid auth token'],
      'auth-invalid-mgmt': [3, 'etcdserver: invalid auth management'],
      'auth-old-revision': [3, 'etcdserver: revision of auth store is old'],
      'auth-permission-not-given': [3, 'etcdserver: permission not given'],
      'auth-no-password-user': [2, 'auth: authentication failed, password was given for no password user'],
      'auth-verify-only': [2, 'auth: token signing attempted with verify-only key'],
    };
    for (const [code, status] of Object.entries(expected) as Array<[AuthErrorCode, readonly [number, string]]>) {
      expect([code, ...etcdStatus(code)]).toEqual([code, ...status]);
    }
    expect(internalAuthMessage('auth-user-not-found')).toBe('auth: user not found');
  });
});
