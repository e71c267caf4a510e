/**
 * The auth store: users, roles, their permissions, the enabled flag and the auth
 * revision, as etcd's authStore keeps them (auth/store.go), plus the permission checks
 * made against them.
 *
 * Invariants:
 * - Every mutation is applied from a committed log entry, synchronously, into the
 *   caller's BackendBatch (the same batch as the rest of that entry's effects) and into
 *   the in-memory copy; the same entry gives the same records and revision on every
 *   member. Nothing here reads a clock or randomness on the apply path (a legacy entry
 *   with a clear password is the one exception etcd 3.4 also had: its salt).
 * - The in-memory maps equal the stored records at all times after `open`/`recover`.
 * - The auth revision grows by one exactly where etcd bumps it (as etcd's auth store: user add,
 *   delete, password change, role revoke, role add, role delete, permission revoke on
 *   success; a role grant unless already held; a permission grant always; a disable that
 *   disables) and is persisted in the same batch. Enabling never bumps it.
 * - Checks read only memory and never await: they run on the hot path of every request.
 *
 * Which requests need the admin check, and the relaxed checks of UserGet and RoleGet,
 * are decided in `applyRequest` (etcdserver/apply_auth.go); the single operations below
 * assume the caller already passed it.
 */
import { assert } from '../shared/assert.js';
import type { Logger } from '../shared/logger.js';
import { nullLogger } from '../shared/logger.js';
import { toBuffer } from '../shared/bytes.js';
import type * as pb from '../generated/pb.js';
import { forEachInRange, type Backend, type BackendBatch } from '../storage/backend.js';
import { decodeUint64, encodeUint64 } from '../storage/schema.js';
import { AuthError, authFail } from './errors.js';
import { hashPasswordSync, normaliseBcryptCost, verifyPassword } from './password.js';
import { NO_PERMISSIONS, UserPermissions } from './permissions.js';
import {
  AUTH_DISABLED,
  AUTH_ENABLED,
  AUTH_ENABLED_KEY,
  AUTH_REVISION_KEY,
  compareNames,
  decodeRole,
  decodeUser,
  encodeRole,
  encodeUser,
  permissionFromPb,
  permissionToPb,
  roleKey,
  ROLES_RANGE,
  userKey,
  USERS_RANGE,
  type PermissionRecord,
  type RoleRecord,
  type UserRecord,
} from './records.js';
import { ROOT_ROLE, ROOT_USER, type AuthInfo, type TokenProvider } from './types.js';

export interface AuthStoreOptions {
  readonly tokens: TokenProvider;
  /** --bcrypt-cost; only used to hash a clear password found in a log entry. */
  readonly bcryptCost?: number;
  readonly logger?: Logger;
}

interface LoadedState {
  enabled: boolean;
  revision: number;
  users: Map<string, UserRecord>;
  roles: Map<string, RoleRecord>;
}

async function load(backend: Backend): Promise<LoadedState> {
  const enabledBytes = await backend.get(AUTH_ENABLED_KEY);
  const revisionBytes = await backend.get(AUTH_REVISION_KEY);
  const users = new Map<string, UserRecord>();
  const roles = new Map<string, RoleRecord>();
  await forEachInRange(backend, USERS_RANGE, (_k, v) => {
    const u = decodeUser(v);
    users.set(u.name, u);
  });
  await forEachInRange(backend, ROLES_RANGE, (_k, v) => {
    const r = decodeRole(v);
    roles.set(r.name, r);
  });
  return {
    enabled: enabledBytes !== undefined && enabledBytes.equals(AUTH_ENABLED),
    revision: revisionBytes === undefined ? 0 : decodeUint64(revisionBytes),
    users,
    roles,
  };
}

function hasRootRole(u: UserRecord): boolean {
  return u.roles.includes(ROOT_ROLE);
}

function sortedNames(names: Iterable<string>): string[] {
  return [...names].sort(compareNames);
}

/** etcd 3.5.8+ validation of a granted range: key non-empty; end empty, "\0", or after key. */
function isValidPermissionRange(p: PermissionRecord): boolean {
  if (p.key.length === 0) return false;
  if (p.rangeEnd.length === 0) return true;
  if (p.rangeEnd.length === 1 && p.rangeEnd[0] === 0) return true;
  return Buffer.compare(p.rangeEnd, p.key) > 0;
}

function decodeHashedPassword(b64: string): Buffer {
  // Go's base64.StdEncoding is strict; Node's decoder skips junk, so re-encode to check.
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.toString('base64') !== b64) authFail('auth-no-password-user');
  return bytes;
}

export class AuthStore {
  private enabledFlag: boolean;
  private rev: number;
  private readonly users: Map<string, UserRecord>;
  private readonly roles: Map<string, RoleRecord>;
  /** Lazily built merged permissions per user; cleared by every mutation. */
  private readonly permCache = new Map<string, UserPermissions>();
  private readonly tokens: TokenProvider;
  private readonly bcryptCost: number;
  private readonly logger: Logger;

  private constructor(state: LoadedState, options: AuthStoreOptions) {
    this.enabledFlag = state.enabled;
    this.rev = state.revision;
    this.users = state.users;
    this.roles = state.roles;
    this.tokens = options.tokens;
    this.logger = options.logger ?? nullLogger;
    const cost = normaliseBcryptCost(options.bcryptCost ?? 10);
    if (!cost.valid) {
      this.logger.warn({ givenCost: options.bcryptCost, defaultCost: cost.cost }, 'use default bcrypt cost instead of the invalid given cost');
    }
    this.bcryptCost = cost.cost;
  }

  /**
   * Loads the store from the state db. A fresh db gets auth revision 1, written and
   * synced at once, as etcd's NewAuthStore commits it.
   */
  static async open(backend: Backend, options: AuthStoreOptions): Promise<AuthStore> {
    const state = await load(backend);
    const store = new AuthStore(state, options);
    if (store.rev === 0) {
      const batch = backend.batch();
      store.commitRevision(batch);
      await backend.write(batch, { sync: true });
    }
    if (store.enabledFlag) store.tokens.enable();
    return store;
  }

  /** Reloads everything from a state db installed from a snapshot (etcd Recover). */
  async recover(backend: Backend): Promise<void> {
    const state = await load(backend);
    const wasEnabled = this.enabledFlag;
    this.enabledFlag = state.enabled;
    this.rev = state.revision;
    this.users.clear();
    for (const [k, v] of state.users) this.users.set(k, v);
    this.roles.clear();
    for (const [k, v] of state.roles) this.roles.set(k, v);
    this.permCache.clear();
    if (this.enabledFlag) this.tokens.enable();
    else if (wasEnabled) this.tokens.disable();
  }

  get enabled(): boolean {
    return this.enabledFlag;
  }

  /** The current auth revision (etcd_debugging_auth_revision). */
  get revision(): number {
    return this.rev;
  }

  get tokenProvider(): TokenProvider {
    return this.tokens;
  }

  status(): { enabled: boolean; authRevision: number } {
    return { enabled: this.enabledFlag, authRevision: this.rev };
  }

  // ---- mutations (apply) ----

  private commitRevision(batch: BackendBatch): void {
    this.rev += 1;
    batch.put(AUTH_REVISION_KEY, encodeUint64(this.rev));
  }

  private putUser(u: UserRecord, batch: BackendBatch): void {
    this.users.set(u.name, u);
    batch.put(userKey(u.name), encodeUser(u));
  }

  private putRole(r: RoleRecord, batch: BackendBatch): void {
    this.roles.set(r.name, r);
    batch.put(roleKey(r.name), encodeRole(r));
  }

  private changed(batch: BackendBatch): void {
    this.commitRevision(batch);
    this.permCache.clear();
  }

  authEnable(batch: BackendBatch): void {
    if (this.enabledFlag) return;
    const root = this.users.get(ROOT_USER);
    if (root === undefined) authFail('auth-root-user-not-exist');
    if (!hasRootRole(root)) authFail('auth-root-role-not-exist');
    batch.put(AUTH_ENABLED_KEY, AUTH_ENABLED);
    this.enabledFlag = true;
    this.tokens.enable();
    this.permCache.clear();
    this.logger.info({}, 'enabled authentication');
  }

  authDisable(batch: BackendBatch): void {
    if (!this.enabledFlag) return;
    batch.put(AUTH_ENABLED_KEY, AUTH_DISABLED);
    this.commitRevision(batch);
    this.enabledFlag = false;
    this.tokens.disable();
    this.logger.info({}, 'disabled authentication');
  }

  /**
   * Authenticate at apply: the password was checked on the receiving member before
   * proposing (checkPassword); here the user must still exist with a password. Returns
   * the token now (simple) or undefined when the proposer signs it (JWT).
   */
  authenticate(name: string, simpleTokenPrefix: string, index: number): { token: string | undefined; revision: number } {
    if (!this.enabledFlag) authFail('auth-not-enabled');
    const user = this.users.get(name);
    if (user === undefined || user.noPassword === true) authFail('auth-failed');
    return { token: this.tokens.assign(name, this.rev, index, simpleTokenPrefix), revision: this.rev };
  }

  userAdd(r: pb.AuthUserAddRequest, batch: BackendBatch): void {
    const name = r.name ?? '';
    if (name.length === 0) authFail('auth-user-empty');
    if (this.users.has(name)) authFail('auth-user-already-exist');
    const noPassword = r.options?.noPassword === true;
    const password = noPassword ? Buffer.alloc(0) : this.passwordFromRequest(r.hashedPassword ?? '', r.password ?? '');
    this.putUser({ name, password, roles: [], noPassword }, batch);
    this.changed(batch);
    this.logger.info({ user: name }, 'added a user');
  }

  /** The stored hash for a request: the proposer's hash, or (a legacy entry) hashed here. */
  private passwordFromRequest(hashed: string, clear: string): Buffer {
    if (hashed.length > 0) return decodeHashedPassword(hashed);
    if (clear.length > 0) return hashPasswordSync(clear, this.bcryptCost);
    return Buffer.alloc(0);
  }

  userDelete(r: pb.AuthUserDeleteRequest, batch: BackendBatch): void {
    const name = r.name ?? '';
    if (this.enabledFlag && name === ROOT_USER) authFail('auth-invalid-mgmt');
    if (!this.users.has(name)) authFail('auth-user-not-found');
    this.users.delete(name);
    batch.del(userKey(name));
    this.changed(batch);
    this.tokens.invalidateUser(name);
    this.logger.info({ user: name }, 'deleted a user');
  }

  userChangePassword(r: pb.AuthUserChangePasswordRequest, batch: BackendBatch): void {
    const name = r.name ?? '';
    const user = this.users.get(name);
    if (user === undefined) authFail('auth-user-not-found');
    const password = this.passwordFromRequest(r.hashedPassword ?? '', r.password ?? '');
    this.putUser({ ...user, password }, batch);
    this.changed(batch);
    this.tokens.invalidateUser(name);
    this.logger.info({ user: name }, 'changed a password of a user');
  }

  userGrantRole(r: pb.AuthUserGrantRoleRequest, batch: BackendBatch): void {
    const name = r.user ?? '';
    const role = r.role ?? '';
    const user = this.users.get(name);
    if (user === undefined) authFail('auth-user-not-found');
    if (role !== ROOT_ROLE && !this.roles.has(role)) authFail('auth-role-not-found');
    if (user.roles.includes(role)) return; // already granted: success, no bump
    const roles = [...user.roles, role].sort(compareNames);
    this.putUser({ ...user, roles }, batch);
    this.changed(batch);
    this.logger.info({ user: name, role }, 'granted a role to a user');
  }

  userGet(r: pb.AuthUserGetRequest): { roles: string[] } {
    const user = this.users.get(r.name ?? '');
    if (user === undefined) authFail('auth-user-not-found');
    return { roles: [...user.roles] };
  }

  userList(): { users: string[] } {
    return { users: sortedNames(this.users.keys()) };
  }

  userRevokeRole(r: pb.AuthUserRevokeRoleRequest, batch: BackendBatch): void {
    const name = r.name ?? '';
    const role = r.role ?? '';
    if (this.enabledFlag && name === ROOT_USER && role === ROOT_ROLE) authFail('auth-invalid-mgmt');
    const user = this.users.get(name);
    if (user === undefined) authFail('auth-user-not-found');
    const roles = user.roles.filter((x) => x !== role);
    if (roles.length === user.roles.length) authFail('auth-role-not-granted');
    this.putUser({ ...user, roles }, batch);
    this.changed(batch);
    this.logger.info({ user: name, role }, 'revoked a role from a user');
  }

  roleAdd(r: pb.AuthRoleAddRequest, batch: BackendBatch): void {
    const name = r.name ?? '';
    if (name.length === 0) authFail('auth-role-empty');
    if (this.roles.has(name)) authFail('auth-role-already-exist');
    this.putRole({ name, permissions: [] }, batch);
    this.changed(batch);
    this.logger.info({ role: name }, 'created a role');
  }

  roleGet(r: pb.AuthRoleGetRequest): { perm: pb.Permission[] } {
    const role = this.roles.get(r.role ?? '');
    if (role === undefined) authFail('auth-role-not-found');
    return { perm: role.permissions.map(permissionToPb) };
  }

  roleList(): { roles: string[] } {
    return { roles: sortedNames(this.roles.keys()) };
  }

  roleDelete(r: pb.AuthRoleDeleteRequest, batch: BackendBatch): void {
    const name = r.role ?? '';
    if (this.enabledFlag && name === ROOT_ROLE) authFail('auth-invalid-mgmt');
    if (!this.roles.has(name)) authFail('auth-role-not-found');
    this.roles.delete(name);
    batch.del(roleKey(name));
    for (const user of sortedNames(this.users.keys())) {
      const u = this.users.get(user);
      assert(u !== undefined, 'user listed but missing');
      if (!u.roles.includes(name)) continue;
      this.putUser({ ...u, roles: u.roles.filter((x) => x !== name) }, batch);
    }
    this.changed(batch);
    this.logger.info({ role: name }, 'deleted a role');
  }

  /**
   * etcd's upsert: the first stored permission whose key is >= the new key is updated
   * in place when it has the same key and range_end; otherwise the permission is
   * appended and the list re-sorted by key (stable). Always bumps the revision.
   * Validation is etcd 3.5.8+'s: no perm is "permission not given", a range that can
   * hold no key is "invalid auth management" (3.4.23 stored those, or crashed).
   */
  roleGrantPermission(r: pb.AuthRoleGrantPermissionRequest, batch: BackendBatch): void {
    if (r.perm === undefined || r.perm === null) authFail('auth-permission-not-given');
    const perm = permissionFromPb(r.perm);
    if (!isValidPermissionRange(perm)) authFail('auth-invalid-mgmt');
    const name = r.name ?? '';
    const role = this.roles.get(name);
    if (role === undefined) authFail('auth-role-not-found');
    const perms = [...role.permissions];
    const idx = perms.findIndex((p) => Buffer.compare(p.key, perm.key) >= 0);
    const at = idx >= 0 ? perms[idx] : undefined;
    if (at !== undefined && at.key.equals(perm.key) && at.rangeEnd.equals(perm.rangeEnd)) {
      perms[idx] = { ...at, permType: perm.permType };
    } else {
      perms.push(perm);
      perms.sort((a, b) => Buffer.compare(a.key, b.key));
    }
    this.putRole({ name, permissions: perms }, batch);
    this.changed(batch);
    this.logger.info({ role: name, permType: perm.permType }, 'granted/updated a permission to a role');
  }

  /** Removes every stored permission with byte-equal key and range_end. */
  roleRevokePermission(r: pb.AuthRoleRevokePermissionRequest, batch: BackendBatch): void {
    const name = r.role ?? '';
    const role = this.roles.get(name);
    if (role === undefined) authFail('auth-role-not-found');
    const key = toBuffer(r.key);
    const end = toBuffer(r.rangeEnd);
    const perms = role.permissions.filter((p) => !(p.key.equals(key) && p.rangeEnd.equals(end)));
    if (perms.length === role.permissions.length) authFail('auth-permission-not-granted');
    this.putRole({ name, permissions: perms }, batch);
    this.changed(batch);
    this.logger.info({ role: name }, 'revoked a permission on range');
  }

  // ---- reads outside apply ----

  /**
   * The password check of Authenticate, on the receiving member before proposing
   * (etcd CheckPassword). Returns the auth revision read before the comparison; the
   * caller retries when it changed by the time the proposal applied.
   */
  async checkPassword(name: string, password: string): Promise<number> {
    if (!this.enabledFlag) authFail('auth-not-enabled');
    const user = this.users.get(name);
    if (user === undefined) authFail('auth-failed');
    if (user.noPassword === true) authFail('auth-no-password-user');
    const revision = this.rev;
    if (!(await verifyPassword(password, user.password))) {
      this.logger.info({ user: name }, 'invalid password');
      authFail('auth-failed');
    }
    return revision;
  }

  hasUser(name: string): boolean {
    return this.users.has(name);
  }

  /** Whether the user exists and holds the role (etcd HasRole; RoleGet's relaxed check). */
  hasRole(user: string, role: string): boolean {
    return this.users.get(user)?.roles.includes(role) === true;
  }

  /** The stored user record (tests, the snapshot writer). */
  getUser(name: string): UserRecord | undefined {
    return this.users.get(name);
  }

  getRole(name: string): RoleRecord | undefined {
    return this.roles.get(name);
  }

  // ---- checks ----

  /**
   * etcd IsAdminPermitted: passes while auth is disabled; otherwise the caller must be
   * a user holding the root role. Ignores the auth revision (a stale root JWT keeps
   * working for admin requests).
   */
  checkAdmin(ai: AuthInfo | undefined): void {
    if (!this.enabledFlag) return;
    if (ai === undefined || ai.username === '') authFail('auth-user-empty');
    const user = this.users.get(ai.username);
    if (user === undefined) authFail('auth-user-not-found');
    if (!hasRootRole(user)) authFail('permission-denied');
  }

  /** etcd isOpPermitted, in its order: disabled, anonymous, stale revision, unknown user, root, ranges. */
  private checkOp(ai: AuthInfo, key: Buffer, rangeEnd: Buffer, write: boolean): void {
    if (!this.enabledFlag) return;
    if (ai.revision === 0) authFail('auth-user-empty');
    if (ai.revision < this.rev) authFail('auth-old-revision');
    const user = this.users.get(ai.username);
    if (user === undefined) authFail('permission-denied');
    if (hasRootRole(user)) return;
    const perms = this.permissionsOf(user);
    if (!(write ? perms.write : perms.read).permits(key, rangeEnd)) authFail('permission-denied');
  }

  private permissionsOf(user: UserRecord): UserPermissions {
    const hit = this.permCache.get(user.name);
    if (hit !== undefined) return hit;
    const all: PermissionRecord[] = [];
    for (const roleName of user.roles) {
      const role = this.roles.get(roleName);
      if (role !== undefined) all.push(...role.permissions);
    }
    const perms = all.length === 0 ? NO_PERMISSIONS : UserPermissions.fromPermissions(all);
    this.permCache.set(user.name, perms);
    return perms;
  }

  /** Read permission on a key (rangeEnd empty), a range, or every key >= key (rangeEnd "\0"). */
  checkRange(ai: AuthInfo, key: Uint8Array, rangeEnd: Uint8Array | undefined): void {
    this.checkOp(ai, toBuffer(key), toBuffer(rangeEnd), false);
  }

  checkPut(ai: AuthInfo, key: Uint8Array): void {
    this.checkOp(ai, toBuffer(key), Buffer.alloc(0), true);
  }

  checkDeleteRange(ai: AuthInfo, key: Uint8Array, rangeEnd: Uint8Array | undefined): void {
    this.checkOp(ai, toBuffer(key), toBuffer(rangeEnd), true);
  }

  /** Boolean forms for callers that only need a yes/no (watch filters, tests). */
  isRangePermitted(ai: AuthInfo, key: Uint8Array, rangeEnd?: Uint8Array): boolean {
    return succeeds(() => this.checkRange(ai, key, rangeEnd));
  }

  isPutPermitted(ai: AuthInfo, key: Uint8Array): boolean {
    return succeeds(() => this.checkPut(ai, key));
  }

  isDeleteRangePermitted(ai: AuthInfo, key: Uint8Array, rangeEnd?: Uint8Array): boolean {
    return succeeds(() => this.checkDeleteRange(ai, key, rangeEnd));
  }
}

function succeeds(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (err instanceof AuthError) return false;
    throw err;
  }
}
