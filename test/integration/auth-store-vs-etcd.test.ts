/**
 * The auth store against a real etcd 3.4.23, before it is wired into the server: the
 * same random sequences of Auth requests (fast-check, fixed seeds) go to etcd through
 * its JSON gateway and to an AuthStore applied in-process, and every answer is
 * compared: success or etcd's exact error message, the contents of UserGet/UserList/
 * RoleGet/RoleList, and how far the auth revision moved (etcd's
 * etcd_debugging_auth_revision metric). A second property grants random permissions
 * to a limited user and compares, request by request, which ranges etcd lets it read
 * and write with what the store's checks decide (etcd's interval tree versus the
 * merged intervals here).
 *
 * Only behaviour that 3.4.23 and this module share is generated: no malformed
 * permission ranges and no grant without `perm` (3.4.23 stores the first and crashes
 * on the second; this module refuses both as 3.5.8+ does), no AuthStatus (3.5 only),
 * and no token is sent while auth is disabled (3.4.23 still validates one; 3.5.10+
 * ignores it, as this module does).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Member } from '../helpers/processes.js';
import { dumpMemberLogsOnFailure, startMember, stopAllMembers } from '../helpers/processes.js';
import { requireTools, toolMissing } from '../helpers/require-tool.js';
import { AuthError } from '../../src/auth/errors.js';
import { etcdStatus } from '../../src/shared/errors.js';
import { prepareUserAdd } from '../../src/auth/identity.js';
import { PermType } from '../../src/auth/records.js';
import type { AuthRequest } from '../../src/auth/apply.js';
import { ANONYMOUS, type AuthInfo } from '../../src/auth/types.js';
import { makeHarness, type Harness } from '../auth/harness.js';
import { grantArb, keyArb } from '../auth/arbitraries.js';
import { b64, etcdAuthRevision, gatewayCall, PERM_NAMES, type Reply } from '../auth/gateway.js';

let etcd: Member | undefined;

beforeAll(async () => {
  if (toolMissing('etcd') === undefined) etcd = await startMember({ target: 'etcd', extraConfig: { 'enable-grpc-gateway': true } });
});
afterAll(async () => {
  dumpMemberLogsOnFailure();
  await stopAllMembers();
});

function url(): string {
  if (etcd === undefined) throw new Error('etcd is not running');
  return etcd.clientUrl;
}

const call = (path: string, body: object, token?: string): Promise<Reply> => gatewayCall(url(), path, body, token);
const authRevision = (): Promise<number> => etcdAuthRevision(url());

/** The gateway request for one auth request. */
function gateway(r: AuthRequest): [string, object] {
  switch (r.op) {
    case 'authEnable':
      return ['/v3/auth/enable', {}];
    case 'authDisable':
      return ['/v3/auth/disable', {}];
    case 'userAdd':
      return ['/v3/auth/user/add', { name: r.req.name, password: `${r.req.name ?? ''}pw` }];
    case 'userDelete':
      return ['/v3/auth/user/delete', { name: r.req.name }];
    case 'userChangePassword':
      return ['/v3/auth/user/changepw', { name: r.req.name, password: `${r.req.name ?? ''}pw` }];
    case 'userGrantRole':
      return ['/v3/auth/user/grant', { user: r.req.user, role: r.req.role }];
    case 'userRevokeRole':
      return ['/v3/auth/user/revoke', { name: r.req.name, role: r.req.role }];
    case 'userGet':
      return ['/v3/auth/user/get', { name: r.req.name }];
    case 'userList':
      return ['/v3/auth/user/list', {}];
    case 'roleAdd':
      return ['/v3/auth/role/add', { name: r.req.name }];
    case 'roleDelete':
      return ['/v3/auth/role/delete', { role: r.req.role }];
    case 'roleGet':
      return ['/v3/auth/role/get', { role: r.req.role }];
    case 'roleList':
      return ['/v3/auth/role/list', {}];
    case 'roleGrantPermission': {
      const p = r.req.perm ?? {};
      return [
        '/v3/auth/role/grant',
        { name: r.req.name, perm: { permType: PERM_NAMES[p.permType ?? 0], key: b64(Buffer.from(p.key ?? [])), range_end: b64(Buffer.from(p.rangeEnd ?? [])) } },
      ];
    }
    case 'roleRevokePermission':
      return ['/v3/auth/role/revoke', { role: r.req.role, key: b64(Buffer.from(r.req.key ?? [])), range_end: b64(Buffer.from(r.req.rangeEnd ?? [])) }];
    default:
      throw new Error(`not generated: ${r.op}`);
  }
}

/** What is compared of a successful answer. */
function etcdContent(r: AuthRequest, body: Record<string, unknown>): unknown {
  switch (r.op) {
    case 'userGet':
    case 'roleList':
      return body['roles'] ?? [];
    case 'userList':
      return body['users'] ?? [];
    case 'roleGet':
      return ((body['perm'] as Array<Record<string, unknown>> | undefined) ?? []).map((p) => [
        typeof p['permType'] === 'string' ? (PERM_NAMES as readonly string[]).indexOf(p['permType']) : 0,
        String(p['key'] ?? ''),
        String(p['range_end'] ?? ''),
      ]);
    default:
      return null;
  }
}

function modelContent(res: Awaited<ReturnType<Harness['apply']>>): unknown {
  switch (res.op) {
    case 'userGet':
    case 'roleList':
      return res.roles;
    case 'userList':
      return res.users;
    case 'roleGet':
      return res.perm.map((p) => [p.permType ?? 0, b64(Buffer.from(p.key ?? [])), b64(Buffer.from(p.rangeEnd ?? []))]);
    default:
      return null;
  }
}

// ---- generators ----

const USERS = ['root', 'alice', 'Zed', 'dan'];
const ROLES = ['root', 'r1', 'r2', 'ro'];

const user = fc.constantFrom(...USERS);
const role = fc.constantFrom(...ROLES);

const requestArb: fc.Arbitrary<AuthRequest> = fc.oneof(
  { weight: 3, arbitrary: user.map((name): AuthRequest => ({ op: 'userAdd', req: { name } })) },
  { weight: 1, arbitrary: user.map((name): AuthRequest => ({ op: 'userDelete', req: { name } })) },
  { weight: 1, arbitrary: user.map((name): AuthRequest => ({ op: 'userChangePassword', req: { name } })) },
  { weight: 3, arbitrary: fc.tuple(user, role).map(([u, r]): AuthRequest => ({ op: 'userGrantRole', req: { user: u, role: r } })) },
  { weight: 1, arbitrary: fc.tuple(user, role).map(([u, r]): AuthRequest => ({ op: 'userRevokeRole', req: { name: u, role: r } })) },
  { weight: 1, arbitrary: user.map((name): AuthRequest => ({ op: 'userGet', req: { name } })) },
  { weight: 1, arbitrary: fc.constant<AuthRequest>({ op: 'userList' }) },
  { weight: 3, arbitrary: role.map((name): AuthRequest => ({ op: 'roleAdd', req: { name } })) },
  { weight: 1, arbitrary: role.map((r): AuthRequest => ({ op: 'roleDelete', req: { role: r } })) },
  { weight: 1, arbitrary: role.map((r): AuthRequest => ({ op: 'roleGet', req: { role: r } })) },
  { weight: 1, arbitrary: fc.constant<AuthRequest>({ op: 'roleList' }) },
  {
    weight: 4,
    arbitrary: fc.tuple(role, grantArb).map(([r, p]): AuthRequest => ({ op: 'roleGrantPermission', req: { name: r, perm: { permType: p.permType as 0 | 1 | 2, key: p.key, rangeEnd: p.rangeEnd } } })),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(role, grantArb).map(([r, p]): AuthRequest => ({ op: 'roleRevokePermission', req: { role: r, key: p.key, rangeEnd: p.rangeEnd } })),
  },
  { weight: 1, arbitrary: fc.constant<AuthRequest>({ op: 'authEnable' }) },
  { weight: 1, arbitrary: fc.constant<AuthRequest>({ op: 'authDisable' }) },
);

/** One request in five is sent without credentials. */
const stepArb = fc.record({ req: requestArb, anonymous: fc.integer({ min: 0, max: 4 }).map((x) => x === 0) });

// ---- the two sides ----

interface Sides {
  model: Harness;
  rootToken: string | undefined;
  etcdBase: number;
  modelBase: number;
}

/** etcd back to "auth disabled, only user root with password rootpw"; a fresh model likewise. */
async function reset(): Promise<Sides> {
  let token: string | undefined;
  const login = await call('/v3/auth/authenticate', { name: 'root', password: 'rootpw' });
  if (login.ok) token = String(login.body['token']);
  if (token !== undefined) await call('/v3/auth/disable', {}, token);
  const users = await call('/v3/auth/user/list', {});
  if (!users.ok) throw new Error(users.message);
  for (const u of (users.body['users'] as string[] | undefined) ?? []) await call('/v3/auth/user/delete', { name: u });
  const roles = await call('/v3/auth/role/list', {});
  if (!roles.ok) throw new Error(roles.message);
  for (const r of (roles.body['roles'] as string[] | undefined) ?? []) await call('/v3/auth/role/delete', { role: r });
  expect(await call('/v3/auth/user/add', { name: 'root', password: 'rootpw' })).toMatchObject({ ok: true });
  const model = await makeHarness();
  await model.apply({ op: 'userAdd', req: await prepareUserAdd({ name: 'root', password: 'rootpw' }, 4) });
  return { model, rootToken: undefined, etcdBase: await authRevision(), modelBase: model.store.revision };
}

async function rootToken(s: Sides): Promise<string> {
  if (s.rootToken !== undefined) return s.rootToken;
  const login = await call('/v3/auth/authenticate', { name: 'root', password: 'rootpw' });
  if (!login.ok) throw new Error(`root cannot log in to etcd: ${login.message}`);
  s.rootToken = String(login.body['token']);
  return s.rootToken;
}

async function step(s: Sides, r: AuthRequest, anonymous: boolean): Promise<void> {
  const enabled = s.model.store.enabled;
  const token = enabled && !anonymous ? await rootToken(s) : undefined;
  const [path, body] = gateway(r);
  const theirs = await call(path, body, token);
  const caller: AuthInfo = anonymous ? ANONYMOUS : { username: 'root', revision: s.model.store.revision };
  const req: AuthRequest =
    r.op === 'userAdd'
      ? { op: 'userAdd', req: await prepareUserAdd({ name: r.req.name ?? '', password: `${r.req.name ?? ''}pw` }, 4) }
      : r.op === 'userChangePassword'
        ? { op: 'userChangePassword', req: { name: r.req.name ?? '', hashedPassword: (await prepareUserAdd({ name: 'x', password: `${r.req.name ?? ''}pw` }, 4)).hashedPassword ?? '' } }
        : r;
  let ours: Reply;
  let content: unknown = null;
  try {
    const res = await s.model.apply(req, caller);
    content = modelContent(res);
    ours = { ok: true, body: {} };
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    ours = { ok: false, message: etcdStatus(err.code)[1] };
  }
  const label = `${r.op} ${JSON.stringify(body)} as ${anonymous ? 'anonymous' : 'root'} (auth ${enabled ? 'on' : 'off'})`;
  expect([label, theirs.ok ? 'ok' : theirs.message]).toEqual([label, ours.ok ? 'ok' : ours.message]);
  if (theirs.ok) expect([label, etcdContent(r, theirs.body)]).toEqual([label, content]);
  expect([label, (await authRevision()) - s.etcdBase]).toEqual([label, s.model.store.revision - s.modelBase]);
  // tokens etcd dropped: on enable (a fresh token set), disable, and root's password change
  if (r.op === 'authEnable' || r.op === 'authDisable' || (r.op === 'userChangePassword' && r.req.name === 'root')) s.rootToken = undefined;
}

describe('auth store vs etcd 3.4.23', () => {
  it('random Auth request sequences: same answers, same errors, same revision bumps', async (ctx) => {
    requireTools(ctx, 'etcd');
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 10, maxLength: 30 }), async (steps) => {
        const s = await reset();
        for (const { req, anonymous } of steps) await step(s, req, anonymous);
      }),
      { numRuns: 6, seed: 1507, endOnFailure: true },
    );
  }, 240_000);

  it('which ranges a limited user may read and write: etcd and the store decide alike', async (ctx) => {
    requireTools(ctx, 'etcd');
    const probeArb = fc.record({
      key: keyArb,
      end: fc.oneof(keyArb, fc.constant(Buffer.alloc(0)), fc.constant(Buffer.from([0]))),
      write: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(grantArb, { maxLength: 6 }), fc.array(probeArb, { minLength: 12, maxLength: 12 }), async (grants, probes) => {
        const s = await reset();
        const setup: AuthRequest[] = [
          { op: 'userGrantRole', req: { user: 'root', role: 'root' } },
          { op: 'userAdd', req: { name: 'alice' } },
          { op: 'roleAdd', req: { name: 'limited' } },
          ...grants.map((p): AuthRequest => ({ op: 'roleGrantPermission', req: { name: 'limited', perm: { permType: p.permType as 0 | 1 | 2, key: p.key, rangeEnd: p.rangeEnd } } })),
          { op: 'userGrantRole', req: { user: 'alice', role: 'limited' } },
          { op: 'authEnable' },
        ];
        for (const r of setup) await step(s, r, false);
        const store = s.model.store;
        const alice = { username: 'alice', revision: store.revision };
        const login = await call('/v3/auth/authenticate', { name: 'alice', password: 'alicepw' });
        if (!login.ok) throw new Error(login.message);
        const token = String(login.body['token']);
        for (const { key, end, write } of probes) {
          const reply = write
            ? await call('/v3/kv/deleterange', { key: b64(key), range_end: b64(end) }, token)
            : await call('/v3/kv/range', { key: b64(key), range_end: b64(end) }, token);
          const theirs = reply.ok ? 'ok' : reply.message;
          const allowed = write ? store.isDeleteRangePermitted(alice, key, end) : store.isRangePermitted(alice, key, end);
          const ours = allowed ? 'ok' : 'etcdserver: permission denied';
          const label = `${write ? 'delete' : 'range'} [${key.toString('latin1')}, ${JSON.stringify(end.toString('latin1'))}) with ${JSON.stringify(grants.map((g) => [PermType.READ === g.permType ? 'R' : g.permType === PermType.WRITE ? 'W' : 'RW', g.key.toString('latin1'), g.rangeEnd.toString('latin1')]))}`;
          expect([label, theirs]).toEqual([label, ours]);
        }
      }),
      { numRuns: 12, seed: 2604, endOnFailure: true },
    );
  }, 240_000);
});
