/**
 * JWT tokens interoperate with a real etcd 3.4.23 configured with the same
 * --auth-token option: a token etcd issues resolves here to the same user and auth
 * revision, a token signed here is accepted by etcd, and a token signed with another
 * key is refused by both (etcd with "invalid auth token"). This is what lets members
 * verify each other's JWTs in a mixed or migrating cluster.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/shared/rng.js';
import { parseGoDurationMs } from '../../src/config/duration.js';
import { createTokenProvider, type TokenProviderDeps } from '../../src/auth/token-options.js';
import { dumpMemberLogsOnFailure, startMember, stopAllMembers } from '../helpers/processes.js';
import { removeWhenTestProcessExits } from '../helpers/cleanup.js';
import { requireTools } from '../helpers/require-tool.js';
import { ManualScheduler } from '../helpers/manual-scheduler.js';
import { etcdAuthRevision, gatewayCall, gatewayLogin } from '../auth/gateway.js';

afterAll(async () => {
  dumpMemberLogsOnFailure();
  await stopAllMembers();
});

function rsaPemFiles(dir: string, name: string): { priv: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const priv = join(dir, `${name}.key`);
  const pub = join(dir, `${name}.pub`);
  // PKCS#1, as `openssl genrsa` writes it and etcd's docs use
  writeFileSync(priv, privateKey.export({ type: 'pkcs1', format: 'pem' }));
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  return { priv, pub };
}

const deps = (): TokenProviderDeps => ({
  clock: { nowMs: () => performance.now(), wallMs: () => Date.now() },
  scheduler: new ManualScheduler(),
  rng: new SeededRng(1),
  simpleTtlSeconds: 300,
  waitApplied: async () => true,
  readFile: (path) => readFileSync(path),
  parseDurationMs: parseGoDurationMs,
});

describe('JWT tokens with etcd 3.4.23', () => {
  it("etcd's tokens resolve here, ours are accepted there, another key's are refused by both", async (ctx) => {
    requireTools(ctx, 'etcd');
    const dir = mkdtempSync(join(tmpdir(), 'tsetcd-auth-jwt-'));
    removeWhenTestProcessExits(dir);
    try {
      const keys = rsaPemFiles(dir, 'jwt');
      const other = rsaPemFiles(dir, 'other');
      const option = `jwt,pub-key=${keys.pub},priv-key=${keys.priv},sign-method=RS256,ttl=10m`;
      const m = await startMember({ target: 'etcd', extraConfig: { 'enable-grpc-gateway': true, 'auth-token': option } });
      const url = m.clientUrl;
      for (const [path, body] of [
        ['/v3/auth/user/add', { name: 'root', password: 'rootpw' }],
        ['/v3/auth/user/grant', { user: 'root', role: 'root' }],
        ['/v3/auth/enable', {}],
      ] as const) {
        const r = await gatewayCall(url, path, body);
        expect([path, r.ok ? 'ok' : r.message]).toEqual([path, 'ok']);
      }
      const revision = await etcdAuthRevision(url);
      const ours = createTokenProvider(option, deps());
      const theirs = await gatewayLogin(url, 'root', 'rootpw');
      expect(Buffer.from(theirs.split('.')[0] ?? '', 'base64url').toString()).toBe('{"alg":"RS256","typ":"JWT"}');
      expect(Object.keys(JSON.parse(Buffer.from(theirs.split('.')[1] ?? '', 'base64url').toString()) as object)).toEqual(['exp', 'revision', 'username']);
      expect(await ours.info(theirs, 0)).toEqual({ username: 'root', revision });

      const signedHere = await ours.sign('root', revision);
      const list = await gatewayCall(url, '/v3/auth/user/list', {}, signedHere);
      expect(list).toMatchObject({ ok: true, body: { users: ['root'] } });

      const foreign = createTokenProvider(`jwt,priv-key=${other.priv},sign-method=RS256`, deps());
      const forged = await foreign.sign('root', revision);
      expect(await gatewayCall(url, '/v3/auth/user/list', {}, forged)).toEqual({ ok: false, message: 'etcdserver: invalid auth token' });
      expect(await ours.info(forged, 0)).toBeUndefined();

      // a verify-only member (pub-key alone) still resolves etcd's tokens
      const verifyOnly = createTokenProvider(`jwt,pub-key=${keys.pub},sign-method=RS256`, deps());
      expect(await verifyOnly.info(theirs, 0)).toEqual({ username: 'root', revision });
    } finally {
      await stopAllMembers();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
