// Internal entries (src/apply/internal-request.ts): etcd's InternalRaftRequest bytes with
// the caller in the header. Auth requests apply to the auth store in log order; the
// writes they carry are checked at apply against the header's user and auth revision,
// so a permission revoked before the write's position refuses it on every member alike.
import { describe, expect, it } from 'vitest';
import type { ApplyOutcome } from '../../src/apply/applier.js';
import { encodeRequest, RequestKind } from '../../src/apply/request.js';
import { decodeInternal, encodeInternal, type InternalRequest } from '../../src/apply/internal-request.js';
import type * as pb from '../../src/generated/pb.js';
import { codec } from '../../src/shared/pb-codec.js';
import { AuthStore, type AuthRequest } from '../../src/auth/index.js';
import { newAuthMember, type AuthMember } from './auth-member.js';

const putCodec = codec<pb.PutRequest>('etcdserverpb.PutRequest');
const put = (key: string): Uint8Array => putCodec.encode({ key: Buffer.from(key), value: Buffer.from('v') });

async function newMember(): Promise<AuthMember & { apply: (r: InternalRequest) => Promise<ApplyOutcome> }> {
  const m = await newAuthMember();
  return { ...m, apply: (r) => m.applyEntry(encodeRequest(RequestKind.Internal, 1n, encodeInternal(r))) };
}

const as = (username: string, authRevision: number, req: AuthRequest): InternalRequest => ({
  header: { username, authRevision },
  body: { type: 'auth', req },
});
const code = (o: ApplyOutcome): string => (o.ok ? 'ok' : o.error.code);

describe('Internal entries', () => {
  it('round-trip every auth op and keep etcd field numbers (put = 4, user add = 1100)', () => {
    const reqs: AuthRequest[] = [
      { op: 'authEnable' },
      { op: 'authDisable' },
      { op: 'authStatus' },
      { op: 'authenticate', name: 'alice', simpleToken: 'abcdefghijklmnop' },
      { op: 'userAdd', req: { name: 'u', hashedPassword: 'aGFzaA==', options: { noPassword: true } } },
      { op: 'userDelete', req: { name: 'u' } },
      { op: 'userGet', req: { name: 'u' } },
      { op: 'userChangePassword', req: { name: 'u', hashedPassword: 'eA==' } },
      { op: 'userGrantRole', req: { user: 'u', role: 'r' } },
      { op: 'userRevokeRole', req: { name: 'u', role: 'r' } },
      { op: 'userList' },
      { op: 'roleList' },
      { op: 'roleAdd', req: { name: 'r' } },
      { op: 'roleDelete', req: { role: 'r' } },
      { op: 'roleGet', req: { role: 'r' } },
      { op: 'roleGrantPermission', req: { name: 'r', perm: { permType: 2, key: Buffer.from('a'), rangeEnd: Buffer.from('b') } } },
      { op: 'roleRevokePermission', req: { role: 'r', key: Buffer.from('a'), rangeEnd: Buffer.from('b') } },
    ];
    for (const req of reqs) {
      const bytes = encodeInternal(as('bob', 7, req));
      const back = decodeInternal(bytes);
      expect(back.header).toEqual({ username: 'bob', authRevision: 7 });
      expect(back.body.type === 'auth' && back.body.req.op).toBe(req.op);
      expect(Buffer.from(encodeInternal(back)).equals(Buffer.from(bytes))).toBe(true);
    }
    const bytes = Buffer.from(encodeInternal({ header: { username: '', authRevision: 0 }, body: { type: 'write', kind: RequestKind.Put, payload: put('k') } }));
    // header (field 100, empty) then field 4.
    expect([...bytes.subarray(0, 4)]).toEqual([0xa2, 0x06, 0x00, 0x22]);
    const userAdd = Buffer.from(encodeInternal(as('', 0, { op: 'userAdd', req: { name: 'u' } })));
    expect([...userAdd.subarray(3, 6)]).toEqual([0xe2, 0x44, 0x03]);
  });

  it('apply auth ops in order and check writes against the header identity and revision', async () => {
    const m = await newMember();
    expect(code(await m.apply(as('', 0, { op: 'userAdd', req: { name: 'root', hashedPassword: '' } })))).toBe('ok');
    expect(code(await m.apply(as('', 0, { op: 'userGrantRole', req: { user: 'root', role: 'root' } })))).toBe('ok');
    expect(code(await m.apply(as('', 0, { op: 'authEnable' })))).toBe('ok');
    // anonymous admin op after enable
    expect(code(await m.apply(as('', 0, { op: 'roleAdd', req: { name: 'r' } })))).toBe('auth-user-empty');
    const root = (): InternalRequest['header'] => ({ username: 'root', authRevision: m.auth.revision });
    for (const req of [
      { op: 'userAdd', req: { name: 'alice', hashedPassword: '' } },
      { op: 'roleAdd', req: { name: 'r' } },
      { op: 'roleGrantPermission', req: { name: 'r', perm: { permType: 1, key: Buffer.from('a/'), rangeEnd: Buffer.from('a0') } } },
      { op: 'userGrantRole', req: { user: 'alice', role: 'r' } },
    ] satisfies AuthRequest[]) {
      expect(code(await m.apply({ header: root(), body: { type: 'auth', req } }))).toBe('ok');
    }
    const write = (username: string, rev: number, key: string): InternalRequest => ({
      header: { username, authRevision: rev },
      body: { type: 'write', kind: RequestKind.Put, payload: put(key) },
    });
    const rev = m.auth.revision;
    expect(code(await m.apply(write('alice', rev, 'a/1')))).toBe('ok');
    expect(code(await m.apply(write('alice', rev, 'b')))).toBe('permission-denied');
    expect(code(await m.apply(write('', 0, 'a/1')))).toBe('auth-user-empty');
    // a revoke between proposal and apply: the write's revision is old.
    const revoke: AuthRequest = { op: 'roleRevokePermission', req: { role: 'r', key: Buffer.from('a/'), rangeEnd: Buffer.from('a0') } };
    expect(code(await m.apply({ header: root(), body: { type: 'auth', req: revoke } }))).toBe('ok');
    expect(code(await m.apply(write('alice', rev, 'a/2')))).toBe('auth-old-revision');
    expect(code(await m.apply(write('alice', m.auth.revision, 'a/2')))).toBe('permission-denied');
    // restart: the records come back from the state db.
    const reopened = await AuthStore.open(m.backend, { tokens: m.auth.tokenProvider });
    expect(reopened.enabled).toBe(true);
    expect(reopened.revision).toBe(m.auth.revision);
    expect(reopened.userList().users).toEqual(['alice', 'root']);
  });
});
