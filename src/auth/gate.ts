/**
 * Who is asking, and may they: the identity and permission checks every v3 service
 * makes at the API layer (etcd etcdserver/v3_server.go AuthInfoFromCtx, doSerialize,
 * api/v3rpc/watch.go isWatchPermitted, maintenance.go's admin checks). Writes are
 * checked again at apply against the identity proposed with them (apply/applier.ts).
 *
 * Contract: while auth is disabled (or no store is wired, as in handler unit tests)
 * every caller is anonymous and every check passes, without reading metadata. With auth
 * enabled, the identity is the token (metadata `token`, else `authorization`, first
 * value), else with --client-cert-auth the verified client certificate's CN, else
 * anonymous; a token that does not resolve is "invalid auth token" (src/auth/identity.ts).
 */
import type * as pb from '../generated/pb.js';
import { prefixEnd, toBuffer } from '../shared/bytes.js';
import { TsetcdError, etcdStatus } from '../shared/errors.js';
import { Status } from '../shared/grpc-status.js';
import { AuthError } from './errors.js';
import { checkRangeRequest, checkTxnRequest, type LeaseKeys } from './checks.js';
import { resolveIdentity, type RequestCredentials } from './identity.js';
import type { AuthStore } from './store.js';
import { ANONYMOUS, type AuthInfo } from './types.js';

/** What a call offers to identify its caller (the gRPC engine's CallContext has it). */
export interface CallerSource {
  readonly metadata: Readonly<Record<string, string | string[] | undefined>>;
  readonly signal: AbortSignal;
  /** The verified client certificate, when the connection has one. */
  peerCertificate(): { readonly subject?: { readonly CN?: string | string[] } } | undefined;
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The credentials a call carries: its token metadata and its client certificate's CN. */
export function credentialsOf(metadata: CallerSource['metadata'], ctx: Pick<CallerSource, 'peerCertificate'>): RequestCredentials {
  const token = firstValue(metadata['token']) ?? firstValue(metadata['authorization']);
  if (token !== undefined) return { token };
  const cn = ctx.peerCertificate()?.subject?.CN;
  const commonName = Array.isArray(cn) ? cn[0] : cn;
  return commonName === undefined ? {} : { commonName };
}

export class AuthGate {
  constructor(
    private readonly store: AuthStore | undefined,
    private readonly clientCertAuth: boolean,
  ) {}

  get enabled(): boolean {
    return this.store?.enabled === true;
  }

  /** The store, when auth is wired (undefined in handler unit tests). */
  get authStore(): AuthStore | undefined {
    return this.store;
  }

  /** The caller's identity (anonymous while auth is disabled). */
  async caller(ctx: CallerSource): Promise<AuthInfo> {
    const store = this.store;
    if (store === undefined || !store.enabled) return ANONYMOUS;
    return resolveIdentity(store, credentialsOf(ctx.metadata, ctx), { clientCertAuth: this.clientCertAuth, signal: ctx.signal });
  }

  /** etcd IsAdminPermitted for the caller of `ctx`. */
  async admin(ctx: CallerSource): Promise<AuthInfo> {
    const ai = await this.caller(ctx);
    this.store?.checkAdmin(ai);
    return ai;
  }

  /** Any identity will do (etcd 3.5.29+ for Alarm GET): anonymous is "user name is empty". */
  async identified(ctx: CallerSource): Promise<AuthInfo> {
    const ai = await this.caller(ctx);
    if (this.enabled && ai.revision === 0) throw new AuthError('auth-user-empty');
    return ai;
  }

  /** A Range's read check (before the read). */
  range(ai: AuthInfo, req: pb.RangeRequest): void {
    if (this.store !== undefined) checkRangeRequest(this.store, ai, req);
  }

  /** A read-only Txn's checks (its compares and ranges). */
  txn(ai: AuthInfo, req: pb.TxnRequest, leaseKeys: LeaseKeys): void {
    if (this.store !== undefined) checkTxnRequest(this.store, ai, req, leaseKeys);
  }

  /** Read permission on [key, rangeEnd) (watch creation, lease keys, recipes). */
  read(ai: AuthInfo, key: Uint8Array, rangeEnd?: Uint8Array): void {
    this.store?.checkRange(ai, key, rangeEnd);
  }

  /** Write permission on [key, rangeEnd) (recipes). */
  write(ai: AuthInfo, key: Uint8Array, rangeEnd?: Uint8Array): void {
    this.store?.checkDeleteRange(ai, key, rangeEnd);
  }

  /**
   * etcd doSerialize's second look: a read served at an auth revision other than the
   * identity's is refused, so a permission change and a read never interleave.
   */
  afterRead(ai: AuthInfo): void {
    const store = this.store;
    if (store === undefined || !store.enabled) return;
    if (ai.revision !== 0 && ai.revision !== store.revision) throw new AuthError('auth-old-revision');
  }
}

/** Go's names of the codes an identity check can fail with (grpc/codes String()). */
const GO_CODE_NAMES: Partial<Record<number, string>> = {
  [Status.INVALID_ARGUMENT]: 'InvalidArgument',
  [Status.PERMISSION_DENIED]: 'PermissionDenied',
  [Status.UNAUTHENTICATED]: 'Unauthenticated',
  [Status.FAILED_PRECONDITION]: 'FailedPrecondition',
};

/**
 * etcd isWatchPermitted (api/v3rpc/watch.go): read permission on the watched range, with
 * the stream's identity, at creation only; an empty key is NUL. The range is checked as
 * asked, before any from-key normalisation (etcd 3.5.33 closed that hole). Returns the
 * cancel reason of a denial, the Go status text etcd sends, or undefined.
 */
export async function watchRefusal(gate: AuthGate, ctx: CallerSource, key: Uint8Array, rangeEnd: Uint8Array): Promise<string | undefined> {
  if (!gate.enabled) return undefined;
  try {
    const ai = await gate.caller(ctx);
    gate.read(ai, key.length === 0 ? Buffer.from([0]) : key, rangeEnd);
    return undefined;
  } catch (err) {
    if (!(err instanceof TsetcdError)) throw err;
    const [code, message] = etcdStatus(err.code);
    return `rpc error: code = ${GO_CODE_NAMES[code] ?? 'PermissionDenied'} desc = ${message}`;
  }
}

/**
 * Auth for the election and lock recipes (etcd runs them through a client that
 * forwards the caller's metadata, so each step is checked as the caller): the caller's
 * permission on the recipe's keys is checked once, up front; the recipe's writes then
 * carry the returned identity (anonymous while auth is off) and are checked again at
 * apply. `prefix`: the keys under `key/` (Lock, Campaign, Leader, Observe); otherwise
 * the key itself (Unlock, Proclaim, Resign).
 */
export async function checkRecipe(gate: AuthGate, ctx: CallerSource, key: Uint8Array, mode: 'read' | 'write', prefix: boolean): Promise<AuthInfo> {
  if (!gate.enabled) return ANONYMOUS;
  const ai = await gate.caller(ctx);
  const k = prefix ? Buffer.concat([toBuffer(key), Buffer.from('/')]) : toBuffer(key);
  const end = prefix ? prefixEnd(k) : undefined;
  gate.read(ai, k, end);
  if (mode === 'write') gate.write(ai, k, end);
  return ai;
}

/** The gate of handlers built without auth (unit tests): everything passes. */
export const OPEN_GATE = new AuthGate(undefined, false);
