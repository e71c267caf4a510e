// Tokens and identities: simple tokens (format, sliding TTL on an injected clock,
// invalidation, the wait for the index), JWTs (layout, claims, algorithms, keys,
// verify-only), the --auth-token option string, and resolving a request's identity.
import { describe, expect, it } from 'vitest';
import { createPublicKey, generateKeyPairSync, verify as cryptoVerify } from 'node:crypto';
import { ManualClock } from '../../src/shared/clock.js';
import { SeededRng } from '../../src/shared/rng.js';
import { parseGoDurationMs } from '../../src/config/duration.js';
import { SimpleTokenProvider, cryptoRng } from '../../src/auth/simple-token.js';
import { JwtTokenProvider } from '../../src/auth/jwt-token.js';
import { createTokenProvider, parseAuthTokenOption, type TokenProviderDeps } from '../../src/auth/token-options.js';
import { AuthOptionsError } from '../../src/auth/errors.js';
import { resolveIdentity, prepareUserAdd } from '../../src/auth/identity.js';
import { ANONYMOUS } from '../../src/auth/types.js';
import { enableWithRoot, makeHarness, ManualScheduler, rootAt } from './harness.js';

function simple(ttlMs = 5_000, applied = { index: 100 }) {
  const clock = new ManualClock();
  const scheduler = new ManualScheduler();
  const tokens = new SimpleTokenProvider({
    clock,
    scheduler,
    rng: new SeededRng(1),
    ttlMs,
    waitApplied: async (index) => index <= applied.index,
  });
  return { clock, scheduler, tokens, applied };
}

describe('simple tokens', () => {
  it('are 16 letters, a dot and the index; recorded only while enabled', async () => {
    const { tokens } = simple();
    const prefix = tokens.genTokenPrefix();
    expect(prefix).toMatch(/^[a-zA-Z]{16}$/);
    expect(tokens.genTokenPrefix()).not.toBe(prefix);
    expect(tokens.assign('alice', 3, 42, prefix)).toBe(`${prefix}.42`);
    expect(await tokens.info(`${prefix}.42`, 3)).toBeUndefined();
    tokens.enable();
    expect(tokens.assign('alice', 3, 42, prefix)).toBe(`${prefix}.42`);
    expect(await tokens.info(`${prefix}.42`, 9)).toEqual({ username: 'alice', revision: 9 });
    expect(await tokens.info(`${prefix}.43`, 9)).toBeUndefined();
    expect(await tokens.info(`${prefix}`, 9)).toBeUndefined();
    expect(await tokens.info(`${prefix}.42.1`, 9)).toBeUndefined();
    expect(await tokens.info(`${prefix}.-1`, 9)).toBeUndefined();
    expect(await tokens.info(`${prefix}.+42`, 9)).toBeUndefined();
  });

  it("wait for the token's index: a token from the future is not valid until applied", async () => {
    const { tokens, applied } = simple();
    tokens.enable();
    tokens.assign('alice', 1, 150, 'AAAAAAAAAAAAAAAA');
    expect(await tokens.info('AAAAAAAAAAAAAAAA.150', 1)).toBeUndefined();
    applied.index = 150;
    expect(await tokens.info('AAAAAAAAAAAAAAAA.150', 1)).toEqual({ username: 'alice', revision: 1 });
  });

  it('expire TTL after their last use, swept once a second, and every use slides the deadline', async () => {
    const { tokens, clock, scheduler } = simple(5_000);
    tokens.enable();
    expect(scheduler.periodic.map((p) => p.periodMs)).toEqual([1000]);
    const t = tokens.assign('alice', 1, 1, 'BBBBBBBBBBBBBBBB');
    // used every 3 s: stays alive well past the TTL
    for (let i = 0; i < 5; i++) {
      clock.advance(3_000);
      scheduler.tick();
      expect(await tokens.info(t, 1)).toEqual({ username: 'alice', revision: 1 });
    }
    clock.advance(5_000);
    scheduler.tick();
    expect(tokens.size).toBe(1); // exactly at the deadline: still alive (Go's After is strict)
    clock.advance(1);
    scheduler.tick();
    expect(tokens.size).toBe(0);
    expect(await tokens.info(t, 1)).toBeUndefined();
  });

  it('a TTL of 0 or less means 300 s', async () => {
    const { tokens, clock, scheduler } = simple(0);
    tokens.enable();
    tokens.assign('a', 1, 1, 'CCCCCCCCCCCCCCCC');
    clock.advance(299_000);
    scheduler.tick();
    expect(tokens.size).toBe(1);
    clock.advance(1_001);
    scheduler.tick();
    expect(tokens.size).toBe(0);
  });

  it("invalidateUser drops that user's tokens only; disable drops all and stops the sweep", () => {
    const { tokens, scheduler } = simple();
    tokens.enable();
    tokens.assign('alice', 1, 1, 'DDDDDDDDDDDDDDDD');
    tokens.assign('alice', 1, 2, 'EEEEEEEEEEEEEEEE');
    tokens.assign('bob', 1, 3, 'FFFFFFFFFFFFFFFF');
    tokens.invalidateUser('alice');
    expect(tokens.size).toBe(1);
    tokens.disable();
    expect(tokens.size).toBe(0);
    expect(scheduler.live).toBe(0);
  });

  it('the production rng draws from the OS (not replayable)', () => {
    const rng = cryptoRng();
    const draws = new Set(Array.from({ length: 50 }, () => rng.int(52)));
    expect(draws.size).toBeGreaterThan(10);
  });
});

describe('the store drives the simple tokens', () => {
  it('password change and user delete drop the user\'s tokens, role changes do not, disable drops all', async () => {
    const h = await makeHarness();
    await enableWithRoot(h);
    await h.apply({ op: 'userAdd', req: await prepareUserAdd({ name: 'alice', password: 'pw' }, 4) }, rootAt(h));
    await h.apply({ op: 'userAdd', req: await prepareUserAdd({ name: 'bob', password: 'pw' }, 4) }, rootAt(h));
    const login = async (name: string) => {
      const r = await h.apply({ op: 'authenticate', name, simpleToken: h.tokens.genTokenPrefix() });
      if (r.op !== 'authenticate' || r.token === undefined) throw new Error('no token');
      return r.token;
    };
    const a = await login('alice');
    const bob = await login('bob');
    await h.apply({ op: 'roleAdd', req: { name: 'r' } }, rootAt(h));
    await h.apply({ op: 'userGrantRole', req: { user: 'alice', role: 'r' } }, rootAt(h));
    expect(await resolveIdentity(h.store, { token: a }, { clientCertAuth: false })).toEqual({ username: 'alice', revision: h.store.revision });
    await h.apply({ op: 'userChangePassword', req: { name: 'alice', hashedPassword: '' } }, rootAt(h));
    await expect(resolveIdentity(h.store, { token: a }, { clientCertAuth: false })).rejects.toMatchObject({ code: 'auth-invalid-token' });
    expect((await resolveIdentity(h.store, { token: bob }, { clientCertAuth: false })).username).toBe('bob');
    await h.apply({ op: 'userDelete', req: { name: 'bob' } }, rootAt(h));
    await expect(resolveIdentity(h.store, { token: bob }, { clientCertAuth: false })).rejects.toMatchObject({ code: 'auth-invalid-token' });
    const root = await login('root');
    await h.apply({ op: 'authDisable' }, rootAt(h));
    // while disabled, tokens are ignored (etcd 3.5.10+): anonymous, no error
    expect(await resolveIdentity(h.store, { token: root }, { clientCertAuth: false })).toEqual(ANONYMOUS);
    await h.apply({ op: 'authEnable' });
    await expect(resolveIdentity(h.store, { token: root }, { clientCertAuth: false })).rejects.toMatchObject({ code: 'auth-invalid-token' });
  });

  it('identity: a token wins over the CN, the CN counts only with client-cert-auth, else anonymous', async () => {
    const h = await makeHarness();
    await enableWithRoot(h);
    const rev = h.store.revision;
    expect(await resolveIdentity(h.store, { commonName: 'kube' }, { clientCertAuth: true })).toEqual({ username: 'kube', revision: rev });
    expect(await resolveIdentity(h.store, { commonName: '' }, { clientCertAuth: true })).toEqual({ username: '', revision: rev });
    expect(await resolveIdentity(h.store, { commonName: 'kube' }, { clientCertAuth: false })).toEqual(ANONYMOUS);
    expect(await resolveIdentity(h.store, {}, { clientCertAuth: true })).toEqual(ANONYMOUS);
    await expect(resolveIdentity(h.store, { token: 'garbage', commonName: 'kube' }, { clientCertAuth: true })).rejects.toMatchObject({ code: 'auth-invalid-token' });
  });
});

// ---- JWT ----

const clock = new ManualClock(0, 1_800_000_000_000);

function rsaPems() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    priv: Buffer.from(privateKey.export({ type: 'pkcs1', format: 'pem' })),
    pub: Buffer.from(publicKey.export({ type: 'spki', format: 'pem' })),
  };
}

function ecPems(namedCurve: string) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve });
  return {
    priv: Buffer.from(privateKey.export({ type: 'sec1', format: 'pem' })),
    pub: Buffer.from(publicKey.export({ type: 'spki', format: 'pem' })),
  };
}

const rsa = rsaPems();
const ec256 = ecPems('prime256v1');

function decodePart(token: string, i: number): string {
  return Buffer.from(token.split('.')[i] ?? '', 'base64url').toString();
}

describe('JWT tokens', () => {
  it("RS256: etcd's header and claims, in Go's key order, signed with the private key", async () => {
    const p = new JwtTokenProvider({ signMethod: 'RS256', privateKey: rsa.priv, publicKey: rsa.pub, ttlMs: 600_000 }, clock);
    expect(p.assign()).toBeUndefined();
    const token = await p.sign('alice', 8);
    expect(decodePart(token, 0)).toBe('{"alg":"RS256","typ":"JWT"}');
    expect(decodePart(token, 1)).toBe(`{"exp":${1_800_000_600},"revision":8,"username":"alice"}`);
    const [h, c, s] = token.split('.');
    const ok = cryptoVerify('sha256', Buffer.from(`${h}.${c}`), createPublicKey(rsa.pub), Buffer.from(s ?? '', 'base64url'));
    expect(ok).toBe(true);
    expect(await p.info(token)).toEqual({ username: 'alice', revision: 8 });
  });

  it('every method etcd accepts signs and verifies; tokens of another method or key are refused', async () => {
    const ec384 = ecPems('secp384r1');
    const ec521 = ecPems('secp521r1');
    const cases: Array<[string, Buffer, Buffer | undefined]> = [
      ['RS256', rsa.priv, rsa.pub],
      ['RS384', rsa.priv, undefined],
      ['RS512', rsa.priv, undefined],
      ['PS256', rsa.priv, rsa.pub],
      ['PS384', rsa.priv, undefined],
      ['PS512', rsa.priv, undefined],
      ['ES256', ec256.priv, ec256.pub],
      ['ES384', ec384.priv, undefined],
      ['ES512', ec521.priv, undefined],
      ['HS256', Buffer.from('shared secret'), undefined],
      ['HS384', Buffer.from('shared secret'), undefined],
      ['HS512', Buffer.from('shared secret'), undefined],
    ];
    const providers = cases.map(
      ([m, priv, pub]) => new JwtTokenProvider({ signMethod: m, privateKey: priv, ...(pub ? { publicKey: pub } : {}), ttlMs: 60_000 }, clock),
    );
    for (const [i, p] of providers.entries()) {
      const token = await p.sign('bob', 3);
      expect([cases[i]?.[0], await p.info(token)]).toEqual([cases[i]?.[0], { username: 'bob', revision: 3 }]);
      const other = providers[(i + 1) % providers.length];
      expect([cases[i]?.[0], await other?.info(token)]).toEqual([cases[i]?.[0], undefined]);
    }
  });

  it('expired tokens, tampered tokens and tokens without the claims are refused', async () => {
    const c = new ManualClock(0, 1_800_000_000_000);
    const p = new JwtTokenProvider({ signMethod: 'HS256', privateKey: Buffer.from('k'), ttlMs: 10_000 }, c);
    const token = await p.sign('alice', 2);
    c.advance(9_000);
    expect(await p.info(token)).toEqual({ username: 'alice', revision: 2 });
    c.advance(1_000); // at the exp second: still valid, as Go's now <= exp
    expect(await p.info(token)).toEqual({ username: 'alice', revision: 2 });
    c.advance(1_000);
    expect(await p.info(token)).toBeUndefined();
    const fresh = await p.sign('alice', 2);
    const [h, , s] = fresh.split('.');
    const forged = `${h}.${Buffer.from('{"exp":9999999999,"revision":2,"username":"root"}').toString('base64url')}.${s}`;
    expect(await p.info(forged)).toBeUndefined();
    expect(await p.info('not.a.jwt')).toBeUndefined();
  });

  it('verify-only: a member with only the public key verifies but cannot issue', async () => {
    const signer = new JwtTokenProvider({ signMethod: 'ES256', privateKey: ec256.priv, ttlMs: 60_000 }, clock);
    const verifier = new JwtTokenProvider({ signMethod: 'ES256', publicKey: ec256.pub, ttlMs: 60_000 }, clock);
    expect(verifier.verifyOnly).toBe(true);
    expect(await verifier.info(await signer.sign('alice', 4))).toEqual({ username: 'alice', revision: 4 });
    expect(() => verifier.assign()).toThrow('auth: token signing attempted with verify-only key');
    await expect(verifier.sign('alice', 1)).rejects.toMatchObject({ code: 'auth-verify-only' });
  });

  it("start-up errors: unknown method, missing key, mismatched pair, wrong key type", () => {
    const make = (signMethod: string, m: { priv?: Buffer; pub?: Buffer }) => () =>
      new JwtTokenProvider({ signMethod, ttlMs: 1, ...(m.priv ? { privateKey: m.priv } : {}), ...(m.pub ? { publicKey: m.pub } : {}) }, clock);
    expect(make('', { priv: rsa.priv })).toThrow('auth: invalid auth signature method');
    expect(make('none', { priv: rsa.priv })).toThrow('auth: invalid auth signature method');
    expect(make('EdDSA', { priv: rsa.priv })).toThrow('auth: invalid auth signature method');
    expect(make('RS256', {})).toThrow('auth: missing key data');
    expect(make('HS256', { pub: rsa.pub })).toThrow('auth: missing key data');
    expect(make('RS256', { priv: rsa.priv, pub: rsaPems().pub })).toThrow("auth: public and private keys don't match");
    expect(make('ES256', { priv: rsa.priv })).toThrow(AuthOptionsError);
    expect(make('RS256', { priv: Buffer.from('garbage') })).toThrow(AuthOptionsError);
  });
});

describe('--auth-token', () => {
  const deps = (files: Record<string, Buffer> = {}): TokenProviderDeps => ({
    clock,
    scheduler: new ManualScheduler(),
    rng: new SeededRng(3),
    simpleTtlSeconds: 300,
    waitApplied: async () => true,
    readFile: (path) => {
      const f = files[path];
      if (f === undefined) throw new Error(`open ${path}: no such file or directory`);
      return f;
    },
    parseDurationMs: parseGoDurationMs,
  });

  it("is split as etcd's decomposeOpts splits it", () => {
    expect(parseAuthTokenOption('simple')).toEqual({ type: 'simple', options: new Map() });
    expect(parseAuthTokenOption('jwt,sign-method=RS256,ttl=10m')).toEqual({
      type: 'jwt',
      options: new Map([
        ['sign-method', 'RS256'],
        ['ttl', '10m'],
      ]),
    });
    expect(parseAuthTokenOption('')).toEqual({ type: '', options: new Map() });
    expect(() => parseAuthTokenOption('simple,foo')).toThrow('auth: invalid auth options');
    expect(() => parseAuthTokenOption('jwt,a=b=c')).toThrow('auth: invalid auth options');
    expect(() => parseAuthTokenOption('jwt,ttl=1m,ttl=2m')).toThrow('auth: invalid auth options');
    expect(() => parseAuthTokenOption('oauth')).toThrow('auth: invalid auth options');
  });

  it('creates the provider etcd would, or fails as etcd fails at start', async () => {
    expect(createTokenProvider('simple', deps()).type).toBe('simple');
    const nop = createTokenProvider('', deps());
    expect(nop.type).toBe('nop');
    expect(() => nop.assign('a', 1, 1, '')).toThrow('auth: authentication failed, invalid user ID or password');
    const files = { '/k/priv.pem': rsa.priv, '/k/pub.pem': rsa.pub };
    const jwt = createTokenProvider('jwt,pub-key=/k/pub.pem,priv-key=/k/priv.pem,sign-method=RS512,ttl=1h30m,extra=1', deps(files));
    expect(jwt.type).toBe('jwt');
    const token = await jwt.sign('u', 1);
    expect(decodePart(token, 0)).toBe('{"alg":"RS512","typ":"JWT"}');
    expect(JSON.parse(decodePart(token, 1)).exp).toBe(1_800_000_000 + 5400);
    const dflt = createTokenProvider('jwt,priv-key=/k/priv.pem,sign-method=RS256', deps(files));
    expect(JSON.parse(decodePart(await dflt.sign('u', 1), 1)).exp).toBe(1_800_000_000 + 300);
    expect(() => createTokenProvider('jwt', deps())).toThrow('auth: invalid auth signature method');
    expect(() => createTokenProvider('jwt,sign-method=RS256', deps())).toThrow('auth: missing key data');
    expect(() => createTokenProvider('jwt,sign-method=RS256,priv-key=/nope', deps())).toThrow('auth: invalid auth options');
    expect(() => createTokenProvider('jwt,sign-method=RS256,priv-key=/k/priv.pem,ttl=5', deps(files))).toThrow('auth: invalid auth options');
  });
});
