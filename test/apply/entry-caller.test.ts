// The caller travels with every client write (src/apply/request.ts, the entry's header)
// and apply checks it as etcd's authApplierV3 checks the InternalRaftRequest header
// (etcdserver/apply_auth.go): an empty header under auth enabled is "user name is
// empty", an older auth revision "revision of auth store is old", whatever the auth
// state was where the write was proposed. Entries without a header (older WALs) still
// decode and apply as they did.
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { encodeInternal, type InternalRequest } from '../../src/apply/internal-request.js';
import { loggableEntry } from '../../src/apply/loggable.js';
import { decodeRequest, encodeRequest, etcdRequestSize, RequestKind } from '../../src/apply/request.js';
import type { AuthInfo, AuthRequest } from '../../src/auth/index.js';
import type { ApplyOutcome } from '../../src/apply/applier.js';
import { newAuthMember, type AuthMember } from './auth-member.js';
import type * as pb from '../../src/generated/pb.js';
import { encodeGrantRequest, encodeRevokeRequest } from '../../src/lease/index.js';
import { leaseId } from '../../src/shared/ids.js';
import { etcdMessage } from '../../src/shared/errors.js';
import { codec } from '../../src/shared/pb-codec.js';

const putCodec = codec<pb.PutRequest>('etcdserverpb.PutRequest');
const put = (key: string): Uint8Array => putCodec.encode({ key: Buffer.from(key), value: Buffer.from('v') });
const ANON: AuthInfo = { username: '', revision: 0 };

async function newMember(): Promise<AuthMember & { apply: (entry: Uint8Array) => Promise<ApplyOutcome> }> {
  const m = await newAuthMember();
  return { ...m, apply: m.applyEntry };
}

const authEntry = (caller: AuthInfo, req: AuthRequest): Uint8Array =>
  encodeRequest(RequestKind.Internal, 1n, encodeInternal({ header: { username: caller.username, authRevision: caller.revision }, body: { type: 'auth', req } }));
const outcome = (o: ApplyOutcome): string => (o.ok ? 'ok' : `${o.error.code}: ${etcdMessage(o.error.code)}`);

/** root and alice (readwrite on a/), auth enabled; `rev` is alice's login revision. */
async function enabledMember(): Promise<Awaited<ReturnType<typeof newMember>> & { root: () => AuthInfo }> {
  const m = await newMember();
  const root = (): AuthInfo => ({ username: 'root', revision: m.auth.revision });
  for (const req of [
    { op: 'userAdd', req: { name: 'root', hashedPassword: '' } },
    { op: 'userGrantRole', req: { user: 'root', role: 'root' } },
    { op: 'userAdd', req: { name: 'alice', hashedPassword: '' } },
    { op: 'roleAdd', req: { name: 'r' } },
    { op: 'roleGrantPermission', req: { name: 'r', perm: { permType: 2, key: Buffer.from('a/'), rangeEnd: Buffer.from('a0') } } },
    { op: 'userGrantRole', req: { user: 'alice', role: 'r' } },
    { op: 'authEnable' },
  ] satisfies AuthRequest[]) {
    expect(outcome(await m.apply(authEntry(ANON, req)))).toBe('ok');
  }
  return { ...m, root };
}

describe('the caller in a write entry', () => {
  it('round-trips; anonymous costs one byte; without a caller the entry is the older layout', () => {
    const payload = put('k');
    const plain = Buffer.from(encodeRequest(RequestKind.Put, 7n, payload));
    expect(plain.length).toBe(9 + payload.length);
    expect(decodeRequest(plain)).toEqual({ kind: RequestKind.Put, id: 7n, payload: Buffer.from(payload) });

    const anon = Buffer.from(encodeRequest(RequestKind.Put, 7n, payload, ANON));
    expect(anon.length).toBe(plain.length + 1);
    expect(anon[0]).toBe(RequestKind.Put | 0x80);
    expect(decodeRequest(anon)).toEqual({ kind: RequestKind.Put, id: 7n, payload: Buffer.from(payload), caller: ANON });

    for (const caller of [
      { username: 'alice', revision: 3 },
      { username: 'ü-ser', revision: 2 ** 40 + 5 },
      { username: 'x'.repeat(300), revision: 0 },
      { username: '', revision: 128 },
    ]) {
      const back = decodeRequest(encodeRequest(RequestKind.Txn, 2n ** 63n + 1n, payload, caller));
      expect(back).toEqual({ kind: RequestKind.Txn, id: 2n ** 63n + 1n, payload: Buffer.from(payload), caller });
    }
  });

  it('the header is etcd RequestHeader bytes, and the size rule counts them as etcd marshals them', () => {
    const payload = put('key');
    const caller = { username: 'alice', revision: 300 };
    const id = 0x1234_5678_9abcn;
    // etcd's InternalRaftRequest{Header: {ID, Username, AuthRevision}, Put} (field 100 and 4).
    const header = protobuf.Writer.create().uint32(8).uint64(Number(id)).uint32(18).string('alice').uint32(24).uint64(300).finish();
    const internal = protobuf.Writer.create().uint32(802).bytes(header).uint32(34).bytes(payload).finish();
    expect(etcdRequestSize(RequestKind.Put, id, payload.length, caller)).toBe(internal.length);
    // the entry holds the header without the ID (the entry's own id).
    const entry = Buffer.from(encodeRequest(RequestKind.Put, id, payload, caller));
    const ours = protobuf.Writer.create().uint32(18).string('alice').uint32(24).uint64(300).finish();
    expect([...entry.subarray(10, 10 + ours.length)]).toEqual([...ours]);
    expect(entry[9]).toBe(ours.length);
  });

  it('the size rule matches etcd marshalling at every varint boundary of the ID and the payload length', () => {
    const ids = [0n, 1n, 2n ** 64n - 1n];
    for (let k = 1n; k <= 9n; k++) ids.push(2n ** (7n * k) - 1n, 2n ** (7n * k));
    for (const id of ids) {
      for (const len of [0, 1, 127, 128, 16_383, 16_384, 2_097_152]) {
        const payload = new Uint8Array(len);
        const header = protobuf.Writer.create().uint32(8).uint64(id.toString()).finish();
        const internal = protobuf.Writer.create().uint32(802).bytes(header).uint32(34).bytes(payload).finish();
        expect(etcdRequestSize(RequestKind.Put, id, len), `id ${id} len ${len}`).toBe(internal.length);
        expect(etcdRequestSize(RequestKind.Internal, id, len)).toBe(len + 1 + header.length - 1);
      }
    }
  });

  it('a header etcd might write with its ID and unknown fields decodes; a truncated one is an assertion', () => {
    const hdr = protobuf.Writer.create().uint32(8).uint64(99).uint32(18).string('bob').uint32(24).uint64(4).uint32(61).fixed32(1).finish();
    const entry = Buffer.concat([Buffer.from([RequestKind.Put | 0x80, 0, 0, 0, 0, 0, 0, 0, 5, hdr.length]), hdr, put('k')]);
    expect(decodeRequest(entry).caller).toEqual({ username: 'bob', revision: 4 });
    expect(() => decodeRequest(entry.subarray(0, 14))).toThrow(/log entry header is broken/);
  });

  it('log lines show the caller as etcd does', () => {
    const req = decodeRequest(encodeRequest(RequestKind.Put, 7n, put('k'), { username: 'alice', revision: 3 }));
    expect(loggableEntry(req)).toBe('header:<ID:7 username:"alice" auth_revision:3 > put:<key:"k" value_size:1 >');
    expect(loggableEntry(decodeRequest(encodeRequest(RequestKind.Put, 7n, put('k'), ANON)))).toBe('header:<ID:7 > put:<key:"k" value_size:1 >');
    // the older Internal form of a write names its request too
    const old = encodeInternal({ header: { username: 'bob', authRevision: 2 }, body: { type: 'write', kind: RequestKind.Put, payload: put('k') } });
    expect(loggableEntry(decodeRequest(encodeRequest(RequestKind.Internal, 8n, old)))).toBe(
      'header:<ID:8 username:"bob" auth_revision:2 > put:<key:"k" value_size:1 >',
    );
  });
});

describe('apply checks the caller of a write as etcd authApplierV3 does', () => {
  it('a write proposed while auth was off and applied after auth enable: user name is empty', async () => {
    const m = await newMember();
    expect(outcome(await m.apply(authEntry(ANON, { op: 'userAdd', req: { name: 'root', hashedPassword: '' } })))).toBe('ok');
    expect(outcome(await m.apply(authEntry(ANON, { op: 'userGrantRole', req: { user: 'root', role: 'root' } })))).toBe('ok');
    // proposed now, while auth is off: an anonymous header
    const raced = encodeRequest(RequestKind.Put, 9n, put('a/race'), ANON);
    const before = encodeRequest(RequestKind.Put, 10n, put('a/before'), ANON);
    expect(outcome(await m.apply(before))).toBe('ok');
    expect(outcome(await m.apply(authEntry(ANON, { op: 'authEnable' })))).toBe('ok');
    expect(outcome(await m.apply(raced))).toBe('auth-user-empty: etcdserver: user name is empty');
    expect((await m.store.range({ key: Buffer.from('a/race') })).kvs).toHaveLength(0);
    // the same write from the same proposer applies once auth is off again
    expect(outcome(await m.apply(authEntry({ username: 'root', revision: m.auth.revision }, { op: 'authDisable' })))).toBe('ok');
    expect(outcome(await m.apply(raced))).toBe('ok');
  });

  it('every checked kind: empty user, stale revision, denied, permitted; entries without a header are not checked', async () => {
    const m = await enabledMember();
    const rev = m.auth.revision;
    const alice = { username: 'alice', revision: rev };
    const del = codec<pb.DeleteRangeRequest>('etcdserverpb.DeleteRangeRequest').encode({ key: Buffer.from('a/1') });
    const txn = codec<pb.TxnRequest>('etcdserverpb.TxnRequest').encode({ success: [{ requestPut: { key: Buffer.from('a/2'), value: Buffer.from('v') } }] });
    const write = (kind: RequestKind, payload: Uint8Array, caller?: AuthInfo): Promise<ApplyOutcome> => m.apply(encodeRequest(kind, 3n, payload, caller));
    for (const [kind, payload] of [
      [RequestKind.Put, put('a/1')],
      [RequestKind.DeleteRange, del],
      [RequestKind.Txn, txn],
    ] as const) {
      expect(outcome(await write(kind, payload, ANON))).toBe('auth-user-empty: etcdserver: user name is empty');
      expect(outcome(await write(kind, payload, alice))).toBe('ok');
    }
    expect(outcome(await write(RequestKind.Put, put('b'), alice))).toBe('permission-denied: etcdserver: permission denied');
    expect(outcome(await write(RequestKind.Put, put('a/1'), { username: 'nobody', revision: rev }))).toBe(
      'permission-denied: etcdserver: permission denied',
    );
    // any auth change between proposal and apply: the write's revision is old
    expect(outcome(await m.apply(authEntry(m.root(), { op: 'roleAdd', req: { name: 'other' } })))).toBe('ok');
    expect(outcome(await write(RequestKind.Put, put('a/1'), alice))).toBe('auth-old-revision: etcdserver: revision of auth store is old');
    expect(outcome(await write(RequestKind.Put, put('a/1'), { username: 'alice', revision: m.auth.revision }))).toBe('ok');
    // an entry without a header applies as it did when it was written (older WALs)
    expect(outcome(await write(RequestKind.Put, put('b'), undefined))).toBe('ok');
    // the older Internal form of a write keeps its check
    const old = encodeInternal({ header: { username: '', authRevision: 0 }, body: { type: 'write', kind: RequestKind.Put, payload: put('a/3') } });
    expect(outcome(await m.apply(encodeRequest(RequestKind.Internal, 4n, old)))).toBe('auth-user-empty: etcdserver: user name is empty');
  });

  it('LeaseRevoke with attached keys needs the caller; an anonymous one under auth is refused', async () => {
    const m = await enabledMember();
    const alice = (): AuthInfo => ({ username: 'alice', revision: m.auth.revision });
    expect(outcome(await m.apply(encodeRequest(RequestKind.LeaseGrant, 5n, encodeGrantRequest(leaseId(7n), 60n))))).toBe('ok');
    const attached = putCodec.encode({ key: Buffer.from('a/l'), value: Buffer.from('v'), lease: 7 });
    expect(outcome(await m.apply(encodeRequest(RequestKind.Put, 6n, attached, alice())))).toBe('ok');
    const revoke = encodeRevokeRequest(leaseId(7n));
    expect(outcome(await m.apply(encodeRequest(RequestKind.LeaseRevoke, 7n, revoke, ANON)))).toBe('auth-user-empty: etcdserver: user name is empty');
    expect(outcome(await m.apply(encodeRequest(RequestKind.LeaseRevoke, 8n, revoke, alice())))).toBe('ok');
  });

  it('an Internal entry still carries its own auth request (the entry header is for writes)', () => {
    const entry: InternalRequest = { header: { username: 'root', authRevision: 1 }, body: { type: 'auth', req: { op: 'authStatus' } } };
    const back = decodeRequest(encodeRequest(RequestKind.Internal, 3n, encodeInternal(entry)));
    expect(back.caller).toBeUndefined();
  });
});
