// Certificates rotate without a restart: a member re-reads its certificate files when
// they change (etcd re-reads them per handshake). New handshakes see the new certificate.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { makeSelfSignedCert } from '../../src/embed/auto-tls.js';
import { TlsContextSource } from '../../src/tls/index.js';
import { ClientListener } from '../../src/embed/client-listener.js';

const dir = mkdtempSync(join(tmpdir(), 'tsetcd-tls-rotation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function handshake(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['http/1.1'] }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? '';
      s.destroy();
      resolve(fp);
    });
    s.on('error', reject);
    s.setTimeout(5000, () => reject(new Error('handshake timeout')));
  });
}

describe('certificate rotation', () => {
  it('serves the new certificate after the files change, without a restart', async () => {
    const a = makeSelfSignedCert({ hosts: ['127.0.0.1'], validityYears: 1, clientAuth: false, nowMs: Date.now() });
    const b = makeSelfSignedCert({ hosts: ['127.0.0.1'], validityYears: 1, clientAuth: false, nowMs: Date.now() });
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    writeFileSync(certFile, a.cert);
    writeFileSync(keyFile, a.key);
    const listener = new ClientListener({
      url: new URL('https://127.0.0.1:0'),
      tls: new TlsContextSource({ certFile, keyFile, clientCertAuth: false }),
      onGrpc: (s) => s.close(),
      onHttp: async () => ({ status: 200, headers: {}, body: 'ok' }),
      maxConcurrentStreams: 10,
      maxHttpBodyBytes: 1024,
    });
    await listener.listen();
    try {
      const port = listener.port();
      expect(await handshake(port, a.cert)).toBe(new X509Certificate(a.cert).fingerprint256);
      writeFileSync(certFile, b.cert);
      writeFileSync(keyFile, b.key);
      const want = new X509Certificate(b.cert).fingerprint256;
      let got = '';
      for (let i = 0; i < 30 && got !== want; i++) {
        await new Promise((r) => setTimeout(r, 200));
        got = await handshake(port, b.cert).catch(() => '');
      }
      expect(got).toBe(want);
      // the old CA no longer verifies the member
      await expect(handshake(port, a.cert)).rejects.toThrow();
    } finally {
      await listener.close();
    }
  });
});
