/**
 * etcd's checks after the peer handshake: the client certificate's SANs must name the
 * address the connection comes from (unless skip-client-san-verification), and
 * allowed-cn / allowed-hostname restrict which certificates are peers.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PeerTlsOptions } from '../../../src/cluster/transport/index.js';
import { makeTestPki, type TestPki } from '../../helpers/certs.js';
import { hasLog, heartbeat, makeMember, mtls, stopAll, waitFor, type Member } from './helpers.js';

const run = promisify(execFile);
let dir = '';
let pki: TestPki;
/** Signed by the trusted CA, CN etcd, but its only SAN is 10.9.9.9. */
let farCert = '';
let farKey = '';
/** Its only SAN is DNS:localhost, which resolves to the connecting 127.0.0.1. */
let dnsCert = '';
let dnsKey = '';

/** A certificate signed by the trusted CA, CN etcd, with the given subjectAltName. */
async function signedCert(name: string, san: string): Promise<{ certFile: string; keyFile: string }> {
  const keyFile = join(dir, `${name}-key.pem`);
  const certFile = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(
    ext,
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' +
      `extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${san}\n`,
  );
  const opts = { cwd: dir, timeout: 30_000 };
  const subj = '/C=CN/ST=SH/L=BS/O=etcd/OU=System/CN=etcd';
  await run(
    'openssl',
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', `${name}.csr`, '-subj', subj],
    opts,
  );
  await run(
    'openssl',
    ['x509', '-req', '-in', `${name}.csr`, '-CA', pki.caCert, '-CAkey', pki.caKey, '-CAcreateserial',
      '-out', certFile, '-days', '30', '-sha256', '-extfile', ext],
    opts,
  );
  return { certFile, keyFile };
}

beforeAll(async () => {
  pki = await makeTestPki();
  dir = mkdtempSync(join(tmpdir(), 'tsetcd-transport-san-'));
  ({ certFile: farCert, keyFile: farKey } = await signedCert('far', 'IP:10.9.9.9'));
  ({ certFile: dnsCert, keyFile: dnsKey } = await signedCert('dns', 'DNS:localhost'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let members: (Member | undefined)[] = [];
afterEach(async () => {
  await stopAll(members);
  members = [];
});

/** Whether a heartbeat from a member presenting `client` reaches a member with `server`. */
async function reaches(
  server: Partial<PeerTlsOptions>,
  client: Partial<PeerTlsOptions>,
): Promise<{ delivered: boolean; receiver: Member }> {
  const receiver = await makeMember({ id: 1n, tls: await mtls(server) });
  const sender = await makeMember({ id: 2n, tls: await mtls(client) });
  members.push(receiver, sender);
  sender.transport.addPeer(1n, [receiver.url]);
  sender.transport.send([heartbeat(2n, 1n, 1)]);
  try {
    await waitFor(
      () => receiver.received.length > 0 || sender.unreachable.length > 0,
      10_000,
      'an outcome',
    );
  } catch {
    // neither: reported below as not delivered
  }
  await new Promise((r) => setTimeout(r, 100));
  return { delivered: receiver.received.length > 0, receiver };
}

describe('peer certificate checks', () => {
  it('refuses a client certificate whose SANs do not name the connecting address', async () => {
    const far = { certFile: farCert, keyFile: farKey };
    const refused = await reaches({}, far);
    expect(refused.delivered).toBe(false);
    expect(hasLog(refused.receiver, 'warn', 'rejected peer connection')).toBe(true);
    expect(JSON.stringify(refused.receiver.logs)).toContain('do not match 127.0.0.1');
    await stopAll(members);
    members = [];
    expect((await reaches({ skipClientSanVerification: true }, far)).delivered).toBe(true);
  });

  it('accepts a client certificate whose DNS SAN resolves to the connecting address', async () => {
    expect((await reaches({}, { certFile: dnsCert, keyFile: dnsKey })).delivered).toBe(true);
  });

  it('applies allowed-cn and allowed-hostname', async () => {
    expect((await reaches({ allowedCn: ['etcd'] }, {})).delivered).toBe(true);
    await stopAll(members);
    members = [];
    expect((await reaches({ allowedCn: ['somebody-else'] }, {})).delivered).toBe(false);
    await stopAll(members);
    members = [];
    expect((await reaches({ allowedHostname: ['localhost'] }, {})).delivered).toBe(true);
  });
});
