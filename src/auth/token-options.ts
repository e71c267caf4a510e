/**
 * The --auth-token option, read as etcd reads it (auth/store.go decomposeOpts,
 * NewTokenProvider; auth/options.go):
 *   - split on ','; the first element is the type: `simple`, `jwt`, or empty (the nop
 *     provider, with which Authenticate always fails with "authentication failed");
 *     anything else is "invalid auth options";
 *   - every other element must be exactly one `k=v` (a second '=' is malformed too) and
 *     no key may repeat, else "invalid auth options"; simple ignores them;
 *   - for jwt: `sign-method` is required and must be known ("invalid auth signature
 *     method"), `ttl` is a Go duration (default 5m), `pub-key`/`priv-key` are files
 *     (at least one, "missing key data"); unknown keys only draw a warning.
 * All of these are start-up failures (AuthOptionsError).
 */
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { nullLogger } from '../shared/logger.js';
import type { Rng } from '../shared/rng.js';
import type { Scheduler } from '../shared/scheduler.js';
import { AuthError, AuthOptionsError } from './errors.js';
import { DEFAULT_JWT_TTL_MS, JwtTokenProvider } from './jwt-token.js';
import { SimpleTokenProvider } from './simple-token.js';
import type { AuthInfo, TokenProvider } from './types.js';

export interface AuthTokenOption {
  readonly type: string;
  readonly options: ReadonlyMap<string, string>;
}

const JWT_KNOWN = new Set(['sign-method', 'pub-key', 'priv-key', 'ttl']);

export function parseAuthTokenOption(text: string): AuthTokenOption {
  const parts = text.split(',');
  const type = parts[0] ?? '';
  const options = new Map<string, string>();
  for (const item of parts.slice(1)) {
    const pair = item.split('=');
    if (pair.length !== 2) throw new AuthOptionsError('invalid-auth-options', `malformed token option ${JSON.stringify(item)}`);
    const [k = '', v = ''] = pair;
    if (options.has(k)) throw new AuthOptionsError('invalid-auth-options', `duplicated token option ${JSON.stringify(k)}`);
    options.set(k, v);
  }
  if (type !== 'simple' && type !== 'jwt' && type !== '') {
    throw new AuthOptionsError('invalid-auth-options', `unknown token type ${JSON.stringify(type)}`);
  }
  return { type, options };
}

/** Authenticate always fails; no token resolves (an empty --auth-token type). */
export class NopTokenProvider implements TokenProvider {
  readonly type = 'nop' as const;
  enable(): void {}
  disable(): void {}
  invalidateUser(): void {}
  close(): void {}
  genTokenPrefix(): string {
    return '';
  }
  assign(): never {
    throw new AuthError('auth-failed');
  }
  sign(): Promise<string> {
    return Promise.reject(new AuthError('auth-failed'));
  }
  info(): Promise<AuthInfo | undefined> {
    return Promise.resolve(undefined);
  }
}

export interface TokenProviderDeps {
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  /** Unpredictable randomness for simple tokens (cryptoRng in production). */
  readonly rng: Rng;
  /** --auth-token-ttl, seconds (simple tokens only). */
  readonly simpleTtlSeconds: number;
  readonly waitApplied: (index: number, signal?: AbortSignal) => Promise<boolean>;
  /** Reads a key file named in the option (pub-key, priv-key). */
  readonly readFile: (path: string) => Buffer;
  /** Go's time.ParseDuration, in milliseconds; throws on bad syntax. */
  readonly parseDurationMs: (text: string) => number;
  readonly logger?: Logger;
}

/** etcd NewTokenProvider. Throws AuthOptionsError for a configuration etcd refuses at start. */
export function createTokenProvider(text: string, deps: TokenProviderDeps): TokenProvider {
  const logger = deps.logger ?? nullLogger;
  const { type, options } = parseAuthTokenOption(text);
  if (type === '') return new NopTokenProvider();
  if (type === 'simple') {
    logger.warn({}, 'simple token is not cryptographically signed');
    return new SimpleTokenProvider({
      clock: deps.clock,
      scheduler: deps.scheduler,
      rng: deps.rng,
      ttlMs: deps.simpleTtlSeconds * 1000,
      waitApplied: deps.waitApplied,
    });
  }
  const unknown = [...options.keys()].filter((k) => !JWT_KNOWN.has(k));
  if (unknown.length > 0) logger.warn({ keys: unknown }, 'unknown JWT options');
  let ttlMs = DEFAULT_JWT_TTL_MS;
  const ttlText = options.get('ttl') ?? '';
  if (ttlText !== '') {
    try {
      ttlMs = deps.parseDurationMs(ttlText);
    } catch (err) {
      throw new AuthOptionsError('invalid-auth-options', err instanceof Error ? err.message : String(err));
    }
  }
  const read = (opt: string): Buffer | undefined => {
    const path = options.get(opt) ?? '';
    if (path === '') return undefined;
    try {
      return deps.readFile(path);
    } catch (err) {
      throw new AuthOptionsError('invalid-auth-options', err instanceof Error ? err.message : String(err));
    }
  };
  const publicKey = read('pub-key');
  const privateKey = read('priv-key');
  return new JwtTokenProvider(
    {
      signMethod: options.get('sign-method') ?? '',
      ttlMs,
      files: { pub: options.get('pub-key') ?? '', priv: options.get('priv-key') ?? '' },
      ...(publicKey === undefined ? {} : { publicKey }),
      ...(privateKey === undefined ? {} : { privateKey }),
    },
    deps.clock,
  );
}
