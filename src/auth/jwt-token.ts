/**
 * JWT tokens (--auth-token jwt,..., etcd auth/jwt.go and auth/options.go).
 *
 * A token is a compact JWS with header {"alg":<method>,"typ":"JWT"} and exactly the
 * claims {"exp","revision","username"} (keys in that order, as Go's JSON writes a map):
 * exp in unix seconds (now + ttl, default 5 min), revision the auth revision at issue.
 * Tokens are stateless: any member configured with the same key verifies them; they
 * are never revoked (enable, disable, password changes do not touch them) and only
 * `exp` or a newer auth revision ends their use for key access.
 *
 * Verification: the header's alg must be the configured method, the signature must
 * verify, exp (when present) must not be before the current second, and username (string) and revision
 * (number) must be present (3.4 crashes on a signed token without them; 3.5 refuses it).
 *
 * Keys: the RS and PS methods take RSA PEM keys, the ES methods EC PEM keys (PKCS#1, SEC1, PKCS#8, SPKI, as Go's
 * jwt parsers accept), the HS methods the raw contents of the priv-key file. With only pub-key
 * the member is verify-only and Authenticate through it fails with "token signing
 * attempted with verify-only key". With both, they must belong together (etcd 3.5).
 * When a private key is given, tokens are verified with its own public half.
 *
 * Signing is async (WebCrypto through jose), so it is done by the proposing member
 * after the Authenticate entry applied, from the claims apply returned; only that
 * member's token was ever returned to the client in etcd either.
 *
 * jose is loaded on the first sign or verify, not at start: a member without JWT
 * tokens never needs it, and loading it costs tens of ms of every start.
 */
import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import type * as Jose from 'jose';
import type { Clock } from '../shared/clock.js';
import { AuthError, AuthOptionsError } from './errors.js';
import type { AuthInfo, TokenProvider } from './types.js';

let jose: Promise<typeof Jose> | undefined;
function loadJose(): Promise<typeof Jose> {
  jose ??= import('jose');
  return jose;
}

export const JWT_SIGN_METHODS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'HS256',
  'HS384',
  'HS512',
] as const;
export type JwtSignMethod = (typeof JWT_SIGN_METHODS)[number];

export const DEFAULT_JWT_TTL_MS = 5 * 60_000;

export interface JwtKeyMaterial {
  readonly signMethod: string;
  /** Contents of the pub-key file, if given. */
  readonly publicKey?: Buffer;
  /** Contents of the priv-key file, if given. */
  readonly privateKey?: Buffer;
  readonly ttlMs: number;
  /** The files the keys came from, named in a refusal. */
  readonly files?: { readonly pub?: string; readonly priv?: string };
}

interface Keys {
  readonly sign: KeyObject | undefined;
  readonly verify: KeyObject;
}

function isSignMethod(m: string): m is JwtSignMethod {
  return (JWT_SIGN_METHODS as readonly string[]).includes(m);
}

function parseKey<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new AuthOptionsError('invalid-auth-options', `cannot parse ${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function asymmetricKeys(method: JwtSignMethod, m: JwtKeyMaterial): Keys {
  const wantType = method.startsWith('ES') ? 'ec' : 'rsa';
  const named = (what: 'priv-key' | 'pub-key', file: string | undefined): string => (file === undefined ? what : `${what} ${file}`);
  const privName = named('priv-key', m.files?.priv);
  const pubName = named('pub-key', m.files?.pub);
  const priv = m.privateKey !== undefined && m.privateKey.length > 0 ? parseKey(privName, () => createPrivateKey(m.privateKey ?? '')) : undefined;
  const pub = m.publicKey !== undefined && m.publicKey.length > 0 ? parseKey(pubName, () => createPublicKey(m.publicKey ?? '')) : undefined;
  for (const [what, k] of [[privName, priv], [pubName, pub]] as const) {
    if (k !== undefined && k.asymmetricKeyType !== wantType) {
      throw new AuthOptionsError('invalid-auth-options', `${what} is not an ${wantType.toUpperCase()} key, as ${method} needs`);
    }
  }
  if (priv === undefined) {
    if (pub === undefined) throw new AuthOptionsError('missing-key');
    return { sign: undefined, verify: pub };
  }
  const own = createPublicKey(priv);
  if (pub !== undefined && !own.equals(pub)) throw new AuthOptionsError('key-mismatch');
  return { sign: priv, verify: own };
}

export class JwtTokenProvider implements TokenProvider {
  readonly type = 'jwt' as const;
  readonly signMethod: JwtSignMethod;
  private readonly keys: Keys;
  private readonly ttlMs: number;

  constructor(
    material: JwtKeyMaterial,
    private readonly clock: Clock,
  ) {
    if (!isSignMethod(material.signMethod)) throw new AuthOptionsError('invalid-auth-method', JSON.stringify(material.signMethod));
    this.signMethod = material.signMethod;
    this.ttlMs = material.ttlMs;
    if (this.signMethod.startsWith('HS')) {
      if (material.privateKey === undefined || material.privateKey.length === 0) throw new AuthOptionsError('missing-key');
      const secret = createSecretKey(material.privateKey);
      this.keys = { sign: secret, verify: secret };
    } else {
      this.keys = asymmetricKeys(this.signMethod, material);
    }
  }

  get verifyOnly(): boolean {
    return this.keys.sign === undefined;
  }

  enable(): void {}
  disable(): void {}
  invalidateUser(): void {}
  close(): void {}

  genTokenPrefix(): string {
    return '';
  }

  assign(): undefined {
    if (this.keys.sign === undefined) throw new AuthError('auth-verify-only');
    return undefined;
  }

  async sign(username: string, revision: number): Promise<string> {
    const key = this.keys.sign;
    if (key === undefined) throw new AuthError('auth-verify-only');
    const exp = Math.floor((this.clock.wallMs() + this.ttlMs) / 1000);
    const { SignJWT } = await loadJose();
    return new SignJWT({ exp, revision, username }).setProtectedHeader({ alg: this.signMethod, typ: 'JWT' }).sign(key);
  }

  async info(token: string): Promise<AuthInfo | undefined> {
    const { jwtVerify } = await loadJose();
    try {
      const { payload } = await jwtVerify(token, this.keys.verify, {
        algorithms: [this.signMethod],
        currentDate: new Date(this.clock.wallMs()),
        // Go's jwt accepts a token up to and including its exp second (now <= exp);
        // jose refuses at exp unless given a second of tolerance.
        clockTolerance: 1,
      });
      const { username, revision } = payload;
      if (typeof username !== 'string' || typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) {
        return undefined;
      }
      return { username, revision };
    } catch {
      return undefined;
    }
  }
}
