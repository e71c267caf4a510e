/**
 * The seed deployment's member config (ref/seed-deployment.md), rewritten for tests:
 * every address becomes a 127.0.0.1 port, paths go into the member's temp dir, and
 * certificate paths point at the test PKI (certs.ts).
 *
 * Contract: seedStyleConfig() returns the YAML document as a plain object with the
 * seed's keys, order and spelling (comma-separated URL strings, nested
 * client/peer-transport-security blocks, `debug`, `logger: zap`, list-valued
 * `log-outputs`). With a PKI it keeps the seed's `client-cert-auth: false` together
 * with `trusted-ca-file`, which still makes etcd require client certificates signed
 * by that CA; without one, URLs are plain http:// and the security blocks are left out.
 */
import { join } from 'node:path';
import type { TestPki } from './certs.js';

export function seedStyleConfig(opts: {
  name: string;
  dir: string;
  clientPorts: readonly number[];
  peerPort: number;
  pki?: TestPki | undefined;
  initialCluster?: string | undefined;
}): Record<string, unknown> {
  const scheme = opts.pki === undefined ? 'http' : 'https';
  const clientUrls = opts.clientPorts.map((p) => `${scheme}://127.0.0.1:${p}`);
  const peerUrl = `${scheme}://127.0.0.1:${opts.peerPort}`;
  const config: Record<string, unknown> = {
    name: opts.name,
    'wal-dir': join(opts.dir, 'wal'),
    'data-dir': join(opts.dir, 'dat', 'default.etcd'),
    'listen-peer-urls': peerUrl,
    'listen-client-urls': clientUrls.join(','),
    'advertise-client-urls': clientUrls[0],
    'initial-advertise-peer-urls': peerUrl,
    'initial-cluster': opts.initialCluster ?? `${opts.name}=${peerUrl}`,
    'initial-cluster-token': 'kube-etcd-cluster',
    'initial-cluster-state': 'new',
  };
  if (opts.pki !== undefined) {
    const security = {
      'cert-file': opts.pki.cert,
      'key-file': opts.pki.key,
      'client-cert-auth': false,
      'trusted-ca-file': opts.pki.caCert,
      'auto-tls': false,
    };
    config['client-transport-security'] = { ...security };
    config['peer-transport-security'] = { ...security };
  }
  config['debug'] = false;
  config['logger'] = 'zap';
  config['log-outputs'] = ['stderr'];
  return config;
}
