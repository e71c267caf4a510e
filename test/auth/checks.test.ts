// Permission checks of whole requests (etcdserver/apply_auth.go with 3.5.30+'s fixes):
// the order of etcd's isOpPermitted, the admin check, txn compares and ops (nested),
// Put's lease and prev_kv checks, DeleteRange, LeaseRevoke.
import { describe, expect, it } from 'vitest';
import type * as pb from '../../src/generated/pb.js';
import { leaseId, type LeaseId } from '../../src/shared/ids.js';
import {
  checkDeleteRangeRequest,
  checkLeaseKeys,
  checkPutRequest,
  checkRangeRequest,
  checkTxnRequest,
  type LeaseKeys,
} from '../../src/auth/checks.js';
import { ANONYMOUS, type AuthInfo } from '../../src/auth/types.js';
import type { AuthStore } from '../../src/auth/store.js';
import { b, enableWithRoot, makeHarness, rootAt, type Harness } from './harness.js';

function codeOf(fn: () => void): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof Error && 'code' in err && typeof err.code === 'string') return err.code;
    throw err;
  }
}

/** alice: READWRITE on prefix `app/`, READ on key `ro`, WRITE on `wo`. */
async function setup(): Promise<{ h: Harness; store: AuthStore; alice: () => AuthInfo }> {
  const h = await makeHarness();
  await enableWithRoot(h);
  const root = rootAt(h);
  await h.apply({ op: 'userAdd', req: { name: 'alice', hashedPassword: '' } }, root);
  await h.apply({ op: 'roleAdd', req: { name: 'app' } }, root);
  await h.apply({ op: 'roleGrantPermission', req: { name: 'app', perm: { permType: 2, key: b('app/'), rangeEnd: b('app0') } } }, root);
  await h.apply({ op: 'roleGrantPermission', req: { name: 'app', perm: { permType: 0, key: b('ro') } } }, root);
  await h.apply({ op: 'roleGrantPermission', req: { name: 'app', perm: { permType: 1, key: b('wo') } } }, root);
  await h.apply({ op: 'userGrantRole', req: { user: 'alice', role: 'app' } }, root);
  return { h, store: h.store, alice: () => ({ username: 'alice', revision: h.store.revision }) };
}


describe('auth checks: the order of isOpPermitted', () => {
  it('disabled passes everything; anonymous, stale revision, unknown user, root, then the ranges', async () => {
    const h = await makeHarness();
    expect(codeOf(() => h.store.checkPut(ANONYMOUS, b('x')))).toBe('ok');
    const { store, alice } = await setup();
    expect(codeOf(() => store.checkRange(ANONYMOUS, b('app/x'), undefined))).toBe('auth-user-empty');
    expect(codeOf(() => store.checkRange({ username: 'alice', revision: store.revision - 1 }, b('app/x'), undefined))).toBe('auth-old-revision');
    // a revision ahead of this member's is fine (a JWT issued by a member further on)
    expect(codeOf(() => store.checkRange({ username: 'alice', revision: store.revision + 5 }, b('app/x'), undefined))).toBe('ok');
    expect(codeOf(() => store.checkRange({ username: 'ghost', revision: store.revision }, b('app/x'), undefined))).toBe('permission-denied');
    expect(codeOf(() => store.checkRange({ username: 'root', revision: store.revision }, b('anything'), b('\0')))).toBe('ok');
    expect(codeOf(() => store.checkRange(alice(), b('app/x'), undefined))).toBe('ok');
    expect(codeOf(() => store.checkRange(alice(), b('other'), undefined))).toBe('permission-denied');
    // anonymous is refused before the revision is looked at; stale before unknown
    expect(codeOf(() => store.checkRange({ username: 'ghost', revision: 1 }, b('x'), undefined))).toBe('auth-old-revision');
  });

  it('read and write are separate: READ on ro, WRITE on wo', async () => {
    const { store, alice } = await setup();
    expect(store.isRangePermitted(alice(), b('ro'))).toBe(true);
    expect(store.isPutPermitted(alice(), b('ro'))).toBe(false);
    expect(store.isRangePermitted(alice(), b('wo'))).toBe(false);
    expect(store.isPutPermitted(alice(), b('wo'))).toBe(true);
    expect(store.isDeleteRangePermitted(alice(), b('app/'), b('app0'))).toBe(true);
    expect(store.isDeleteRangePermitted(alice(), b('app/'), b('\0'))).toBe(false);
  });

  it('permission changes apply to the next check without re-authentication (simple/CN identity)', async () => {
    const { h, store, alice } = await setup();
    expect(store.isRangePermitted(alice(), b('new'))).toBe(false);
    await h.apply({ op: 'roleGrantPermission', req: { name: 'app', perm: { key: b('new') } } }, rootAt(h));
    expect(store.isRangePermitted(alice(), b('new'))).toBe(true);
    await h.apply({ op: 'userRevokeRole', req: { name: 'alice', role: 'app' } }, rootAt(h));
    expect(store.isRangePermitted(alice(), b('new'))).toBe(false);
  });
});

describe('auth checks: admin', () => {
  it('passes while disabled; user name empty / not found / permission denied while enabled', async () => {
    const h = await makeHarness();
    expect(codeOf(() => h.store.checkAdmin(undefined))).toBe('ok');
    const { store, alice } = await setup();
    expect(codeOf(() => store.checkAdmin(undefined))).toBe('auth-user-empty');
    expect(codeOf(() => store.checkAdmin(ANONYMOUS))).toBe('auth-user-empty');
    expect(codeOf(() => store.checkAdmin({ username: 'cn-only', revision: store.revision }))).toBe('auth-user-not-found');
    expect(codeOf(() => store.checkAdmin(alice()))).toBe('permission-denied');
    expect(codeOf(() => store.checkAdmin({ username: 'root', revision: 1 }))).toBe('ok');
  });
});

describe('auth checks: whole requests', () => {
  it('Range and DeleteRange (write, then read for prev_kv)', async () => {
    const { store, alice } = await setup();
    expect(codeOf(() => checkRangeRequest(store, alice(), { key: b('app/'), rangeEnd: b('app0') }))).toBe('ok');
    expect(codeOf(() => checkRangeRequest(store, alice(), { key: b('app/'), rangeEnd: b('\0') }))).toBe('permission-denied');
    expect(codeOf(() => checkDeleteRangeRequest(store, alice(), { key: b('wo') }))).toBe('ok');
    expect(codeOf(() => checkDeleteRangeRequest(store, alice(), { key: b('wo'), prevKv: true }))).toBe('permission-denied');
    expect(codeOf(() => checkDeleteRangeRequest(store, alice(), { key: b('ro') }))).toBe('permission-denied');
  });

  it("Put: write on the key, write on the lease's attached keys, read for prev_kv", async () => {
    const { store, alice } = await setup();
    const attached = new Map<LeaseId, Buffer[]>([
      [leaseId(7n), [b('app/a'), b('app/b')]],
      [leaseId(8n), [b('app/a'), b('secret')]],
    ]);
    const keys: LeaseKeys = (id) => attached.get(id);
    expect(codeOf(() => checkPutRequest(store, alice(), { key: b('app/x'), lease: 7 }, keys))).toBe('ok');
    expect(codeOf(() => checkPutRequest(store, alice(), { key: b('app/x'), lease: 8 }, keys))).toBe('permission-denied');
    expect(codeOf(() => checkPutRequest(store, alice(), { key: b('app/x'), lease: 9 }, keys))).toBe('ok');
    expect(codeOf(() => checkPutRequest(store, alice(), { key: b('wo') }, keys))).toBe('ok');
    expect(codeOf(() => checkPutRequest(store, alice(), { key: b('wo'), prevKv: true }, keys))).toBe('permission-denied');
    expect(codeOf(() => checkPutRequest(store, { username: 'root', revision: store.revision }, { key: b('zz'), lease: 8, prevKv: true }, keys))).toBe('ok');
  });

  it('LeaseRevoke: write on every attached key; a lease without keys needs nothing', async () => {
    const { store, alice } = await setup();
    const attached = new Map<LeaseId, Buffer[]>([
      [leaseId(1n), []],
      [leaseId(2n), [b('app/a')]],
      [leaseId(3n), [b('app/a'), b('ro')]],
    ]);
    const keys: LeaseKeys = (id) => attached.get(id);
    expect(codeOf(() => checkLeaseKeys(store, ANONYMOUS, leaseId(1n), keys))).toBe('ok');
    expect(codeOf(() => checkLeaseKeys(store, ANONYMOUS, leaseId(99n), keys))).toBe('ok');
    expect(codeOf(() => checkLeaseKeys(store, ANONYMOUS, leaseId(2n), keys))).toBe('auth-user-empty');
    expect(codeOf(() => checkLeaseKeys(store, alice(), leaseId(2n), keys))).toBe('ok');
    expect(codeOf(() => checkLeaseKeys(store, alice(), leaseId(3n), keys))).toBe('permission-denied');
  });

  it('Txn: every compare, both branches, nested txns and full Put checks inside', async () => {
    const { store, alice } = await setup();
    const keys: LeaseKeys = (id) => (id === leaseId(5n) ? [b('secret')] : undefined);
    const put = (key: string, extra: Partial<pb.PutRequest> = {}): pb.RequestOp => ({ requestPut: { key: b(key), ...extra } });
    const get = (key: string): pb.RequestOp => ({ requestRange: { key: b(key) } });
    const del = (key: string, prevKv = false): pb.RequestOp => ({ requestDeleteRange: { key: b(key), prevKv } });
    const txn = (t: pb.TxnRequest): pb.RequestOp => ({ requestTxn: t });
    const c = (key: string): pb.Compare => ({ key: b(key), target: 3, result: 0 });
    const check = (t: pb.TxnRequest) => codeOf(() => checkTxnRequest(store, alice(), t, keys));
    expect(check({})).toBe('ok');
    expect(check({ compare: [c('app/a')], success: [put('app/a'), get('ro')], failure: [del('wo')] })).toBe('ok');
    expect(check({ compare: [c('wo')] })).toBe('permission-denied');
    expect(check({ success: [put('app/a')], failure: [put('ro')] })).toBe('permission-denied');
    expect(check({ failure: [get('wo')] })).toBe('permission-denied');
    expect(check({ success: [del('wo', true)] })).toBe('permission-denied');
    expect(check({ success: [put('app/a', { prevKv: true })] })).toBe('ok');
    expect(check({ success: [put('wo', { prevKv: true })] })).toBe('permission-denied');
    expect(check({ success: [put('app/a', { lease: 5 })] })).toBe('permission-denied');
    expect(check({ success: [txn({ success: [txn({ failure: [put('app/a')] })] })] })).toBe('ok');
    expect(check({ success: [txn({ success: [txn({ failure: [put('secret')] })] })] })).toBe('permission-denied');
    expect(check({ failure: [txn({ compare: [c('secret')] })] })).toBe('permission-denied');
    expect(codeOf(() => checkTxnRequest(store, ANONYMOUS, {}, keys))).toBe('ok');
    expect(codeOf(() => checkTxnRequest(store, ANONYMOUS, { success: [get('app/a')] }, keys))).toBe('auth-user-empty');
  });
});
