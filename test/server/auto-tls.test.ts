import { describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { createServer, connect } from 'node:tls';
import { makeSelfSignedCert } from '../../src/embed/auto-tls.js';

describe('auto-tls self-signed certificates', () => {
  it('builds a certificate Node parses, with etcd-like fields', () => {
    const { cert } = makeSelfSignedCert({
      hosts: ['127.0.0.1', 'localhost', '::1'],
      validityYears: 1,
      clientAuth: true,
      nowMs: Date.UTC(2026, 0, 1),
    });
    const x = new X509Certificate(cert);
    expect(x.subject).toBe('O=etcd');
    expect(x.subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1');
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    expect(new Date(x.validTo).getUTCFullYear()).toBe(2027);
    expect(x.verify(x.publicKey)).toBe(true);
  });

  it('serves a TLS handshake that trusts it as its own CA', async () => {
    const { cert, key } = makeSelfSignedCert({ hosts: ['127.0.0.1'], validityYears: 1, clientAuth: false, nowMs: Date.now() });
    const server = createServer({ cert, key }, (s) => s.end('hi'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const got = await new Promise<string>((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port, ca: cert }, () => undefined);
      let data = '';
      c.on('data', (d: Buffer) => (data += d.toString()));
      c.on('end', () => resolve(data));
      c.on('error', reject);
    });
    server.close();
    expect(got).toBe('hi');
  });
});
