/**
 * Test PKI made with the openssl CLI, shaped like the seed deployment's cfssl setup
 * (ref/seed-deployment.md "Certificates"): one CA (CN etcd, RSA 2048) and ONE leaf
 * certificate (CN etcd, RSA 2048) that serves as server, peer and client certificate,
 * so it carries both serverAuth and clientAuth EKUs and SANs 127.0.0.1 and localhost.
 * A second, unrelated CA with its own client certificate lets tests check that a
 * member refuses clients from another CA.
 *
 * Contract: makeTestPki() returns absolute paths to PEM files in one temp dir. The
 * result is cached per test process (one vitest worker = one test file), because
 * RSA key generation costs about a second; the dir is removed when the test process
 * exits (an 'exit' hook, and a watchdog for workers ended by a signal).
 * Files are named like the seed's /work/cert/ (ca-etcd.pem, etcd.pem, etcd-key.pem).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeWhenTestProcessExits } from './cleanup.js';

const execFileAsync = promisify(execFile);
const OPENSSL_TIMEOUT_MS = 30_000;
const VALIDITY_DAYS = '3650';

export interface TestPki {
  readonly dir: string;
  /** The trusted CA (seed: /work/cert/ca-etcd.pem). */
  readonly caCert: string;
  readonly caKey: string;
  /** Server + peer + client certificate (seed: /work/cert/etcd.pem, etcd-key.pem). */
  readonly cert: string;
  readonly key: string;
  /** A CA that the member does not trust, and a client certificate it signed. */
  readonly otherCaCert: string;
  readonly otherClientCert: string;
  readonly otherClientKey: string;
}

let cached: Promise<TestPki> | undefined;
let cachedDir: string | undefined;

export function makeTestPki(): Promise<TestPki> {
  cached ??= generate();
  return cached;
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd, timeout: OPENSSL_TIMEOUT_MS });
  } catch (err) {
    const stderr = (err as { stderr?: unknown }).stderr;
    throw new Error(`openssl ${args.join(' ')} failed: ${String(stderr ?? err)}`);
  }
}

/** A self-signed CA, like `cfssl gencert -initca` with the seed's names. */
async function makeCa(dir: string, base: string, cn: string): Promise<void> {
  await openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-keyout',
    `${base}-key.pem`,
    '-out',
    `${base}.pem`,
    '-days',
    VALIDITY_DAYS,
    '-subj',
    `/C=CN/ST=SH/L=BS/O=etcd/OU=System/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
}

/** A leaf signed by `ca`, with the seed's signing profile usages. */
async function makeLeaf(dir: string, ca: string, base: string, cn: string): Promise<void> {
  const ext = join(dir, `${base}.ext`);
  writeFileSync(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  );
  await openssl(dir, [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-keyout',
    `${base}-key.pem`,
    '-out',
    `${base}.csr`,
    '-subj',
    `/C=CN/ST=SH/L=BS/O=etcd/OU=System/CN=${cn}`,
  ]);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${base}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}-key.pem`,
    '-CAcreateserial',
    '-out',
    `${base}.pem`,
    '-days',
    VALIDITY_DAYS,
    '-sha256',
    '-extfile',
    ext,
  ]);
}

/** A client certificate with Subject CN `cn`, signed by the test PKI's trusted CA. */
export async function issueClientCert(pki: TestPki, cn: string): Promise<{ cert: string; key: string }> {
  const base = `client-${cn}`;
  await makeLeaf(pki.dir, 'ca-etcd', base, cn);
  return { cert: join(pki.dir, `${base}.pem`), key: join(pki.dir, `${base}-key.pem`) };
}

async function generate(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'tsetcd-test-pki-'));
  cachedDir = dir;
  removeWhenTestProcessExits(dir);
  await Promise.all([makeCa(dir, 'ca-etcd', 'etcd'), makeCa(dir, 'ca-other', 'other-ca')]);
  await Promise.all([
    makeLeaf(dir, 'ca-etcd', 'etcd', 'etcd'),
    makeLeaf(dir, 'ca-other', 'other-client', 'etcd'),
  ]);
  return {
    dir,
    caCert: join(dir, 'ca-etcd.pem'),
    caKey: join(dir, 'ca-etcd-key.pem'),
    cert: join(dir, 'etcd.pem'),
    key: join(dir, 'etcd-key.pem'),
    otherCaCert: join(dir, 'ca-other.pem'),
    otherClientCert: join(dir, 'other-client.pem'),
    otherClientKey: join(dir, 'other-client-key.pem'),
  };
}

process.once('exit', () => {
  if (cachedDir !== undefined) rmSync(cachedDir, { recursive: true, force: true });
});
