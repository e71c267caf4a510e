/**
 * Applying one replicated Auth request, with the identity check etcd makes at apply
 * (etcdserver/apply_auth.go): the admin-only requests need the root role (checked
 * before the request's own validation, so an anonymous UserAdd("") reports "user name
 * is empty" from the admin check); UserGet passes for the user itself and RoleGet for
 * a holder of the role, and otherwise fail with the admin check's error; Authenticate
 * needs nothing; AuthStatus is admin-only as in etcd 3.5 (3.4 has no AuthStatus).
 *
 * The caller is the identity carried in the entry's header (user name and auth
 * revision), resolved on the proposing member before proposing.
 */
import { unreachable } from '../shared/assert.js';
import type * as pb from '../generated/pb.js';
import type { BackendBatch } from '../storage/backend.js';
import type { AuthStore } from './store.js';
import type { AuthInfo } from './types.js';

/** The Auth service's replicated requests (etcd InternalRaftRequest's auth fields). */
export type AuthRequest =
  | { readonly op: 'authEnable' }
  | { readonly op: 'authDisable' }
  | { readonly op: 'authStatus' }
  /** InternalAuthenticateRequest: the name and the simple-token prefix made before proposing. */
  | { readonly op: 'authenticate'; readonly name: string; readonly simpleToken: string }
  | { readonly op: 'userAdd'; readonly req: pb.AuthUserAddRequest }
  | { readonly op: 'userDelete'; readonly req: pb.AuthUserDeleteRequest }
  | { readonly op: 'userChangePassword'; readonly req: pb.AuthUserChangePasswordRequest }
  | { readonly op: 'userGrantRole'; readonly req: pb.AuthUserGrantRoleRequest }
  | { readonly op: 'userRevokeRole'; readonly req: pb.AuthUserRevokeRoleRequest }
  | { readonly op: 'userGet'; readonly req: pb.AuthUserGetRequest }
  | { readonly op: 'userList' }
  | { readonly op: 'roleAdd'; readonly req: pb.AuthRoleAddRequest }
  | { readonly op: 'roleDelete'; readonly req: pb.AuthRoleDeleteRequest }
  | { readonly op: 'roleGet'; readonly req: pb.AuthRoleGetRequest }
  | { readonly op: 'roleList' }
  | { readonly op: 'roleGrantPermission'; readonly req: pb.AuthRoleGrantPermissionRequest }
  | { readonly op: 'roleRevokePermission'; readonly req: pb.AuthRoleRevokePermissionRequest };

export type AuthOp = AuthRequest['op'];

/** The response message without its header (the server fills the header at apply). */
export type AuthResponse =
  | { readonly op: 'authStatus'; readonly enabled: boolean; readonly authRevision: number }
  /** token undefined: the proposing member signs it (JWT) with AuthStore.tokenProvider.sign. */
  | { readonly op: 'authenticate'; readonly token: string | undefined; readonly username: string; readonly revision: number }
  | { readonly op: 'userGet'; readonly roles: string[] }
  | { readonly op: 'userList'; readonly users: string[] }
  | { readonly op: 'roleGet'; readonly perm: pb.Permission[] }
  | { readonly op: 'roleList'; readonly roles: string[] }
  | { readonly op: Exclude<AuthOp, 'authStatus' | 'authenticate' | 'userGet' | 'userList' | 'roleGet' | 'roleList'> };

/** etcd needAdminPermission. */
export function needsAdmin(op: AuthOp): boolean {
  switch (op) {
    case 'authenticate':
    case 'userGet':
    case 'roleGet':
      return false;
    default:
      return true;
  }
}

export interface AuthApplyContext {
  readonly batch: BackendBatch;
  /** The log index of the entry (simple tokens end with it). */
  readonly index: number;
}

/** Applies `r` as `caller`; throws the typed error etcd would answer with. */
export function applyAuthRequest(store: AuthStore, r: AuthRequest, caller: AuthInfo, ctx: AuthApplyContext): AuthResponse {
  if (needsAdmin(r.op)) store.checkAdmin(caller);
  const { batch } = ctx;
  switch (r.op) {
    case 'authEnable':
      store.authEnable(batch);
      return { op: r.op };
    case 'authDisable':
      store.authDisable(batch);
      return { op: r.op };
    case 'authStatus':
      return { op: r.op, ...store.status() };
    case 'authenticate': {
      const { token, revision } = store.authenticate(r.name, r.simpleToken, ctx.index);
      return { op: r.op, token, username: r.name, revision };
    }
    case 'userAdd':
      store.userAdd(r.req, batch);
      return { op: r.op };
    case 'userDelete':
      store.userDelete(r.req, batch);
      return { op: r.op };
    case 'userChangePassword':
      store.userChangePassword(r.req, batch);
      return { op: r.op };
    case 'userGrantRole':
      store.userGrantRole(r.req, batch);
      return { op: r.op };
    case 'userRevokeRole':
      store.userRevokeRole(r.req, batch);
      return { op: r.op };
    case 'userGet':
      if ((r.req.name ?? '') !== caller.username) store.checkAdmin(caller);
      return { op: r.op, ...store.userGet(r.req) };
    case 'userList':
      return { op: r.op, ...store.userList() };
    case 'roleAdd':
      store.roleAdd(r.req, batch);
      return { op: r.op };
    case 'roleDelete':
      store.roleDelete(r.req, batch);
      return { op: r.op };
    case 'roleGet':
      if (!store.hasRole(caller.username, r.req.role ?? '')) store.checkAdmin(caller);
      return { op: r.op, ...store.roleGet(r.req) };
    case 'roleList':
      return { op: r.op, ...store.roleList() };
    case 'roleGrantPermission':
      store.roleGrantPermission(r.req, batch);
      return { op: r.op };
    case 'roleRevokePermission':
      store.roleRevokePermission(r.req, batch);
      return { op: r.op };
    default:
      return unreachable(r, 'auth request');
  }
}
