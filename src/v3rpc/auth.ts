/**
 * The Auth service (etcd api/v3rpc/auth.go + the auth half of etcdserver/v3_server.go).
 *
 * - Every request, the read-only ones too, is proposed through the log as an Internal
 *   entry carrying the caller's identity, resolved here before proposing; apply makes
 *   the admin check and answers (src/auth/apply.ts). The header is filled from the
 *   apply result on this member.
 * - UserAdd and UserChangePassword hash the password here, before proposing (etcd 3.5):
 *   the log never holds a clear password (src/auth/identity.ts).
 * - Authenticate: a linearizable read point, the password checked on this member
 *   (bcrypt), then a proposal with a simple-token prefix drawn here; if the auth
 *   revision moved while it was in flight, again from the password check (etcd
 *   EtcdServer.Authenticate). A JWT is signed here after apply.
 */
import type * as pb from '../generated/pb.js';
import type { ApplyOutcome } from '../apply/applier.js';
import {
  ANONYMOUS,
  prepareChangePassword,
  prepareUserAdd,
  type AuthInfo,
  type AuthRequest,
  type AuthResponse,
  type AuthStore,
  type AuthGate,
} from '../auth/index.js';
import type { CallContext } from '../grpc/server.js';
import type { HeaderFiller } from './header.js';
import type { AnyHandler } from './services.js';

/** What the Auth service needs from the member. */
export interface AuthBackend {
  readonly auth: AuthStore;
  readonly gate: AuthGate;
  /** --bcrypt-cost (etcd checks it at start: 4..31, else 10). */
  readonly bcryptCost: number;
  proposeAuth(req: AuthRequest, caller: AuthInfo, signal?: AbortSignal): Promise<ApplyOutcome>;
  linearizableReadPoint(signal?: AbortSignal): Promise<void>;
}

/** etcd retries Authenticate while the auth revision moves under it; bounded here. */
const MAX_AUTHENTICATE_ROUNDS = 10;

export function authHandlers(s: AuthBackend, h: HeaderFiller): Map<string, AnyHandler> {
  async function run(req: AuthRequest, ctx: CallContext): Promise<{ response: AuthResponse; revision: number }> {
    const caller = await s.gate.caller(ctx);
    return runAs(req, caller, ctx);
  }

  async function runAs(req: AuthRequest, caller: AuthInfo, ctx: CallContext): Promise<{ response: AuthResponse; revision: number }> {
    const outcome = await s.proposeAuth(req, caller, ctx.signal);
    if (!outcome.ok) throw outcome.error;
    return { response: outcome.response as AuthResponse, revision: outcome.revision };
  }

  /** A request whose response is the header alone. */
  function plain<Req>(make: (req: Req) => AuthRequest): AnyHandler {
    const fn = async (req: Req, ctx: CallContext): Promise<{ header: pb.ResponseHeader }> => {
      const { revision } = await run(make(req), ctx);
      return { header: h.header(revision) };
    };
    return { kind: 'unary', fn };
  }

  const authenticate = async (req: pb.AuthenticateRequest, ctx: CallContext): Promise<pb.AuthenticateResponse> => {
    await s.linearizableReadPoint(ctx.signal);
    const name = req.name ?? '';
    for (let round = 0; ; round++) {
      const checked = await s.auth.checkPassword(name, req.password ?? '');
      const simpleToken = s.auth.tokenProvider.genTokenPrefix();
      const { response, revision } = await runAs({ op: 'authenticate', name, simpleToken }, ANONYMOUS, ctx);
      if (checked !== s.auth.revision && round < MAX_AUTHENTICATE_ROUNDS) continue;
      if (response.op !== 'authenticate') throw new Error('authenticate answered by another op');
      const token = response.token ?? (await s.auth.tokenProvider.sign(response.username, response.revision));
      return { header: h.header(revision), token };
    }
  };

  const authStatus = async (_req: pb.AuthStatusRequest, ctx: CallContext): Promise<pb.AuthStatusResponse> => {
    const { response, revision } = await run({ op: 'authStatus' }, ctx);
    if (response.op !== 'authStatus') throw new Error('authStatus answered by another op');
    return { header: h.header(revision), enabled: response.enabled, authRevision: response.authRevision };
  };

  const userAdd = async (req: pb.AuthUserAddRequest, ctx: CallContext): Promise<pb.AuthUserAddResponse> => {
    const caller = await s.gate.caller(ctx);
    const prepared = await prepareUserAdd(req, s.bcryptCost);
    const { revision } = await runAs({ op: 'userAdd', req: prepared }, caller, ctx);
    return { header: h.header(revision) };
  };

  const userChangePassword = async (req: pb.AuthUserChangePasswordRequest, ctx: CallContext): Promise<pb.AuthUserChangePasswordResponse> => {
    const caller = await s.gate.caller(ctx);
    const prepared = await prepareChangePassword(req, s.bcryptCost);
    const { revision } = await runAs({ op: 'userChangePassword', req: prepared }, caller, ctx);
    return { header: h.header(revision) };
  };

  const userGet = async (req: pb.AuthUserGetRequest, ctx: CallContext): Promise<pb.AuthUserGetResponse> => {
    const { response, revision } = await run({ op: 'userGet', req }, ctx);
    return { header: h.header(revision), roles: response.op === 'userGet' ? response.roles : [] };
  };

  const userList = async (_req: pb.AuthUserListRequest, ctx: CallContext): Promise<pb.AuthUserListResponse> => {
    const { response, revision } = await run({ op: 'userList' }, ctx);
    return { header: h.header(revision), users: response.op === 'userList' ? response.users : [] };
  };

  const roleGet = async (req: pb.AuthRoleGetRequest, ctx: CallContext): Promise<pb.AuthRoleGetResponse> => {
    const { response, revision } = await run({ op: 'roleGet', req }, ctx);
    return { header: h.header(revision), perm: response.op === 'roleGet' ? response.perm : [] };
  };

  const roleList = async (_req: pb.AuthRoleListRequest, ctx: CallContext): Promise<pb.AuthRoleListResponse> => {
    const { response, revision } = await run({ op: 'roleList' }, ctx);
    return { header: h.header(revision), roles: response.op === 'roleList' ? response.roles : [] };
  };

  const P = '/etcdserverpb.Auth/';
  return new Map<string, AnyHandler>([
    [`${P}AuthEnable`, plain<pb.AuthEnableRequest>(() => ({ op: 'authEnable' }))],
    [`${P}AuthDisable`, plain<pb.AuthDisableRequest>(() => ({ op: 'authDisable' }))],
    [`${P}AuthStatus`, { kind: 'unary', fn: authStatus }],
    [`${P}Authenticate`, { kind: 'unary', fn: authenticate }],
    [`${P}UserAdd`, { kind: 'unary', fn: userAdd }],
    [`${P}UserGet`, { kind: 'unary', fn: userGet }],
    [`${P}UserList`, { kind: 'unary', fn: userList }],
    [`${P}UserDelete`, plain<pb.AuthUserDeleteRequest>((req) => ({ op: 'userDelete', req }))],
    [`${P}UserChangePassword`, { kind: 'unary', fn: userChangePassword }],
    [`${P}UserGrantRole`, plain<pb.AuthUserGrantRoleRequest>((req) => ({ op: 'userGrantRole', req }))],
    [`${P}UserRevokeRole`, plain<pb.AuthUserRevokeRoleRequest>((req) => ({ op: 'userRevokeRole', req }))],
    [`${P}RoleAdd`, plain<pb.AuthRoleAddRequest>((req) => ({ op: 'roleAdd', req }))],
    [`${P}RoleGet`, { kind: 'unary', fn: roleGet }],
    [`${P}RoleList`, { kind: 'unary', fn: roleList }],
    [`${P}RoleDelete`, plain<pb.AuthRoleDeleteRequest>((req) => ({ op: 'roleDelete', req }))],
    [`${P}RoleGrantPermission`, plain<pb.AuthRoleGrantPermissionRequest>((req) => ({ op: 'roleGrantPermission', req }))],
    [`${P}RoleRevokePermission`, plain<pb.AuthRoleRevokePermissionRequest>((req) => ({ op: 'roleRevokePermission', req }))],
  ]);
}
