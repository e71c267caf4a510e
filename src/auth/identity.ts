/**
 * Who is asking (etcdserver/v3_server.go AuthInfoFromCtx, auth/store.go
 * AuthInfoFromCtx/AuthInfoFromTLS), decided on the member that receives the request,
 * before anything is proposed:
 *   1. a token (gRPC metadata `token`, else `authorization`, first value; the transport
 *      picks it) must resolve, else "invalid auth token", with no fallback;
 *   2. otherwise, with --client-cert-auth, the verified client certificate's CN is the
 *      user, at the current auth revision (the transport passes no CN for requests
 *      that came through the HTTP gateway);
 *   3. otherwise the caller is anonymous.
 * While auth is disabled, tokens are ignored (etcd 3.4.28+/3.5.10+), so a client that
 * kept an old token is not refused.
 *
 * Also here: preparing UserAdd/UserChangePassword before proposing (bcrypt on this
 * member; the hash travels base64-encoded in hashedPassword, etcd 3.5 v3_server.go).
 */
import type * as pb from '../generated/pb.js';
import { AuthError } from './errors.js';
import { hashPassword, type SaltSource } from './password.js';
import type { AuthStore } from './store.js';
import { ANONYMOUS, type AuthInfo } from './types.js';

export interface RequestCredentials {
  /** The token from metadata, when the request carried one. */
  readonly token?: string;
  /** The verified client certificate's Subject CN, when there is one. */
  readonly commonName?: string;
}

export interface ResolveOptions {
  /** --client-cert-auth */
  readonly clientCertAuth: boolean;
  /** Ends a simple token's wait for its index (the request's deadline). */
  readonly signal?: AbortSignal;
}

export async function resolveIdentity(store: AuthStore, creds: RequestCredentials, opts: ResolveOptions): Promise<AuthInfo> {
  if (!store.enabled) return ANONYMOUS;
  if (creds.token !== undefined) {
    const info = await store.tokenProvider.info(creds.token, store.revision, opts.signal);
    if (info === undefined) throw new AuthError('auth-invalid-token');
    return info;
  }
  if (opts.clientCertAuth && creds.commonName !== undefined) {
    return { username: creds.commonName, revision: store.revision };
  }
  return ANONYMOUS;
}

/** UserAdd as proposed: the password replaced by its bcrypt hash (none for no-password users). */
export async function prepareUserAdd(r: pb.AuthUserAddRequest, cost: number, salt?: SaltSource): Promise<pb.AuthUserAddRequest> {
  if (r.options?.noPassword === true) return { ...r, password: '', hashedPassword: '' };
  const hashed = await hashPassword(r.password ?? '', cost, salt);
  return { ...r, password: '', hashedPassword: hashed.toString('base64') };
}

/** UserChangePassword as proposed: a non-empty password replaced by its hash (etcd 3.5). */
export async function prepareChangePassword(
  r: pb.AuthUserChangePasswordRequest,
  cost: number,
  salt?: SaltSource,
): Promise<pb.AuthUserChangePasswordRequest> {
  if ((r.password ?? '') === '') return { ...r, password: '' };
  const hashed = await hashPassword(r.password ?? '', cost, salt);
  return { ...r, password: '', hashedPassword: hashed.toString('base64') };
}
