/**
 * Who may talk to a member: certificates from another CA are refused (also with
 * client-cert-auth false when a trusted CA is set, etcd's rule), a member of another
 * cluster is refused with 412 and a "cluster ID mismatch" line on both sides, and a
 * removed member is told so (410).
 */
import { connect } from 'node:http2';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { idToHex } from '../../../src/shared/ids.js';
import { makeTestPki } from '../../helpers/certs.js';
import {
  connectAll,
  hasLog,
  heartbeat,
  makeMember,
  mtls,
  stopAll,
  waitFor,
  type Member,
} from './helpers.js';

let members: (Member | undefined)[] = [];
afterEach(async () => {
  await stopAll(members);
  members = [];
});

/** A raw HTTP/2 GET /version with the given TLS client options: the HTTP status or the error. */
async function rawGet(url: string, tlsOpts: Record<string, unknown>): Promise<string> {
  return new Promise((resolve) => {
    const session = connect(url, tlsOpts);
    const done = (r: string): void => {
      session.destroy();
      resolve(r);
    };
    session.on('error', (e: Error) => done(`error: ${e.message}`));
    const req = session.request({ ':path': '/version' });
    req.on('response', (h) => done(`status ${String(h[':status'])}`));
    req.on('error', (e: Error) => done(`error: ${e.message}`));
    req.end();
  });
}

describe('peer transport security', () => {
  for (const clientCertAuth of [true, false]) {
    it(`refuses another CA's certificate (client-cert-auth ${clientCertAuth})`, async () => {
      const pki = await makeTestPki();
      const a = await makeMember({ id: 1n, tls: await mtls({ clientCertAuth }) });
      // d trusts our CA (so it accepts a's server certificate) but presents another CA's.
      const d = await makeMember({
        id: 4n,
        tls: await mtls({ certFile: pki.otherClientCert, keyFile: pki.otherClientKey }),
      });
      const b = await makeMember({ id: 2n, tls: await mtls() });
      members.push(a, d, b);
      connectAll([a, d, b]);
      d.transport.send([heartbeat(4n, 1n, 1)]);
      b.transport.send([heartbeat(2n, 1n, 1)]);
      await waitFor(
        () => a.received.some((m) => m.from === 2n),
        10_000,
        'a to hear from b (control)',
      );
      await waitFor(() => d.unreachable.includes(1n), 10_000, 'd to find a unreachable');
      await waitFor(() => hasLog(a, 'warn', 'rejected connection'), 5000, 'a to log the refusal');
      expect(a.received.some((m) => m.from === 4n)).toBe(false);
      expect(d.transport.activeSince(1n)).toBeUndefined();
      // And a does not accept d as a server either (d's certificate is not from our CA).
      a.transport.send([heartbeat(1n, 4n, 1)]);
      await waitFor(() => a.unreachable.includes(4n), 10_000, 'a to find d unreachable');
      expect(d.received.length).toBe(0);
      // A client with no certificate at all is refused too.
      const ca = readFileSync(pki.caCert);
      expect(await rawGet(a.url, { ca })).toMatch(/^error/);
      const withCert = { ca, cert: readFileSync(pki.cert), key: readFileSync(pki.key) };
      expect(await rawGet(a.url, withCert)).toBe('status 200');
    });
  }

  it('refuses a member of another cluster and logs the mismatch on both sides', async () => {
    const tls = await mtls();
    const a = await makeMember({ id: 1n, tls, clusterId: 0xaaaan });
    const x = await makeMember({ id: 2n, tls, clusterId: 0xbbbbn });
    members.push(a, x);
    x.transport.addPeer(1n, [a.url]);
    x.transport.send([heartbeat(2n, 1n, 1)]);
    await waitFor(() => hasLog(x, 'error', 'cluster ID mismatch'), 10_000, 'x to log the mismatch');
    await waitFor(() => hasLog(a, 'error', 'cluster ID mismatch'), 10_000, 'a to log the mismatch');
    expect(hasLog(a, 'error', 'cluster ID mismatch: local aaaa, remote bbbb')).toBe(true);
    expect(hasLog(x, 'error', 'cluster ID mismatch: local bbbb, remote aaaa')).toBe(true);
    expect(a.received.length).toBe(0);
    expect(x.unreachable).toContain(1n);
    expect(a.transport.metrics().refusedClusterMismatch).toBeGreaterThan(0);
    expect(x.transport.metrics().refusedClusterMismatch).toBeGreaterThan(0);
    // Retries continue, but the lines are rate-limited.
    await new Promise((r) => setTimeout(r, 500));
    expect(x.logs.filter((l) => l.msg.includes('cluster ID mismatch')).length).toBeLessThanOrEqual(
      2,
    );
  });

  it('tells a removed member it was removed (410) and takes nothing from it', async () => {
    const tls = await mtls();
    const a = await makeMember({ id: 1n, tls, removed: [2n] });
    const r = await makeMember({ id: 2n, tls });
    members.push(a, r);
    r.transport.addPeer(1n, [a.url]);
    r.transport.send([heartbeat(2n, 1n, 1)]);
    await waitFor(() => r.removedBy.includes(1n), 10_000, 'r to learn it was removed');
    expect(hasLog(r, 'error', 'permanently removed from the cluster')).toBe(true);
    expect(a.received.length).toBe(0);
    expect(a.transport.metrics().refusedRemoved).toBeGreaterThan(0);
  });

  it('refuses a stream addressed to another member id (peer URL reused)', async () => {
    const tls = await mtls();
    const a = await makeMember({ id: 1n, tls });
    const s = await makeMember({ id: 2n, tls });
    members.push(a, s);
    // s believes member 3 lives at a's URL.
    s.transport.addPeer(3n, [a.url]);
    s.transport.send([heartbeat(2n, 3n, 1)]);
    const line = `is served by member ${idToHex(1n)}, not ${idToHex(3n)}`;
    await waitFor(() => hasLog(s, 'error', line), 10_000, 's to log the wrong member');
    expect(a.received.length).toBe(0);
  });
});
