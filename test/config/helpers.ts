// Shared fixtures for config tests: the seed deployment's member YAML
// (/work/shared/ref/seed-deployment.md) with certificate paths pointed at a temp dir.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  readonly path: string;
  file(name: string, content?: string): string;
  remove(): void;
}

export function makeTempDir(): TempDir {
  const path = mkdtempSync(join(tmpdir(), 'tsetcd-config-'));
  return {
    path,
    file(name, content = '') {
      const p = join(path, name);
      writeFileSync(p, content);
      return p;
    },
    remove() {
      rmSync(path, { recursive: true, force: true });
    },
  };
}

const CLUSTER = [1, 2, 3]
  .map((n) => `kube-etcd-node0${n}=https://192.168.100.11${n}:2380`)
  .join(',');

/** The seed's member N config (N = 1..3), byte for byte except the cert directory. */
export function seedYaml(member: 1 | 2 | 3, certDir: string): string {
  const ip = `192.168.100.11${member}`;
  return `name: kube-etcd-node0${member}
wal-dir: /work/etcd/wal
data-dir: /work/etcd/dat/default.etcd
listen-peer-urls: https://${ip}:2380
listen-client-urls: https://${ip}:2379,https://127.0.0.1:2379
advertise-client-urls: https://${ip}:2379
initial-advertise-peer-urls: https://${ip}:2380
initial-cluster: ${CLUSTER}
initial-cluster-token: kube-etcd-cluster
initial-cluster-state: new
client-transport-security:
  cert-file: ${certDir}/etcd.pem
  key-file: ${certDir}/etcd-key.pem
  client-cert-auth: false
  trusted-ca-file: ${certDir}/ca-etcd.pem
  auto-tls: false
peer-transport-security:
  cert-file: ${certDir}/etcd.pem
  key-file: ${certDir}/etcd-key.pem
  client-cert-auth: false
  trusted-ca-file: ${certDir}/ca-etcd.pem
  auto-tls: false
debug: false
logger: zap
log-outputs: [stderr]
`;
}

/** A temp dir holding the seed's three certificate files (empty: no handshake happens). */
export function seedCertDir(): TempDir {
  const dir = makeTempDir();
  for (const name of ['etcd.pem', 'etcd-key.pem', 'ca-etcd.pem']) dir.file(name);
  return dir;
}
