import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeConfig, formatUrls, loadConfig } from '../../src/config/index.js';
import { requireFile } from '../helpers/require-tool.js';
import { makeTempDir, seedCertDir, seedYaml } from './helpers.js';
import type { TempDir } from './helpers.js';

describe('the seed deployment config', () => {
  let certs: TempDir;
  let cfgDir: TempDir;
  beforeEach(() => {
    certs = seedCertDir();
    cfgDir = makeTempDir();
  });
  afterEach(() => {
    certs.remove();
    cfgDir.remove();
  });

  it("the fixture is the seed deployment guide's member file, verbatim", (ctx) => {
    // shared/ sits beside the repository (CI copies it there too): fails in CI without it.
    const guide = fileURLToPath(new URL('../../../shared/ref/seed-deployment.md', import.meta.url));
    requireFile(ctx, guide, 'the shared seed deployment guide');
    const text = readFileSync(guide, 'utf8');
    const block = /## Member config[^\n]*\n```\n([\s\S]*?)```/.exec(text)?.[1];
    expect(block).toBe(seedYaml(1, '/work/cert'));
  });

  it('member 1 passes and yields the expected values', () => {
    const file = cfgDir.file('etcd.yml', seedYaml(1, certs.path));
    const { config, notices } = loadConfig(['--config-file', file], {});
    expect(config.configFile).toBe(file);
    expect(config.name).toBe('kube-etcd-node01');
    expect(config.walDir).toBe('/work/etcd/wal');
    expect(config.dataDir).toBe('/work/etcd/dat/default.etcd');
    expect(formatUrls(config.listenPeerUrls)).toBe('https://192.168.100.111:2380');
    // etcd de-duplicates and sorts URL lists.
    expect(formatUrls(config.listenClientUrls)).toBe(
      'https://127.0.0.1:2379,https://192.168.100.111:2379',
    );
    expect(formatUrls(config.advertiseClientUrls)).toBe('https://192.168.100.111:2379');
    expect(formatUrls(config.initialAdvertisePeerUrls)).toBe('https://192.168.100.111:2380');
    expect(config.initialCluster.map((m) => [m.name, formatUrls(m.peerUrls)])).toEqual([
      ['kube-etcd-node01', 'https://192.168.100.111:2380'],
      ['kube-etcd-node02', 'https://192.168.100.112:2380'],
      ['kube-etcd-node03', 'https://192.168.100.113:2380'],
    ]);
    expect(config.initialClusterToken).toBe('kube-etcd-cluster');
    expect(config.initialClusterState).toBe('new');
    for (const tls of [config.clientTls, config.peerTls]) {
      expect(tls.certFile).toBe(`${certs.path}/etcd.pem`);
      expect(tls.keyFile).toBe(`${certs.path}/etcd-key.pem`);
      expect(tls.trustedCaFile).toBe(`${certs.path}/ca-etcd.pem`);
      expect(tls.clientCertAuth).toBe(false);
      expect(tls.autoTls).toBe(false);
      // etcd's rule: a trusted CA alone makes the listener demand a client certificate.
      expect(tls.requireClientCert).toBe(true);
    }
    expect(config.logLevel).toBe('info');
    expect(config.logger).toBe('zap');
    expect(config.logOutputs).toEqual(['stderr']);
    expect(config.snapshotCount).toBe(10_000);
    expect(config.heartbeatIntervalMs).toBe(100);
    expect(config.electionTimeoutMs).toBe(1000);
    expect(notices.some((n) => n.includes('other configuration command line flags'))).toBe(true);
    expect(notices.some((n) => n.startsWith('unknown key'))).toBe(false);
  });

  it.each([1, 2, 3] as const)('member %i passes config check', (member) => {
    const file = cfgDir.file(`etcd${member}.yml`, seedYaml(member, certs.path));
    const { config } = loadConfig(['--config-file', file], {});
    expect(config.name).toBe(`kube-etcd-node0${member}`);
    const text = describeConfig(config);
    expect(text).toContain(`name: kube-etcd-node0${member}\n`);
    expect(text).toContain(`initial-advertise-peer-urls: https://192.168.100.11${member}:2380\n`);
  });

  it('describes the effective settings one key per line with etcd key names', () => {
    const file = cfgDir.file('etcd.yml', seedYaml(1, certs.path));
    const text = describeConfig(loadConfig(['--config-file', file], {}).config);
    const lines = text.split('\n');
    for (const line of lines) expect(line).toMatch(/^[a-z][a-z0-9.-]*: /);
    const keys = lines.map((l) => l.slice(0, l.indexOf(':')));
    expect(new Set(keys).size).toBe(keys.length);
    expect(lines).toContain(
      'listen-client-urls: https://127.0.0.1:2379,https://192.168.100.111:2379',
    );
    expect(lines).toContain(`client-transport-security.cert-file: ${certs.path}/etcd.pem`);
    expect(lines).toContain('peer-transport-security.client-cert-auth: false');
    expect(lines).toContain('watch-progress-notify-interval: 10m0s');
    expect(lines).toContain('grpc-keepalive-interval: 2h0m0s');
    expect(lines).toContain('snapshot-count: 10000');
  });

  it('fails with one line naming the key when a certificate file is missing', () => {
    const file = cfgDir.file('etcd.yml', seedYaml(1, '/nonexistent/cert'));
    expect(() => loadConfig(['--config-file', file], {})).toThrowError(
      /^client-transport-security\.cert-file: file \/nonexistent\/cert\/etcd\.pem does not exist$/,
    );
  });

  it('returns a deeply frozen config', () => {
    const file = cfgDir.file('etcd.yml', seedYaml(1, certs.path));
    const { config } = loadConfig(['--config-file', file], {});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.clientTls)).toBe(true);
    expect(Object.isFrozen(config.listenClientUrls)).toBe(true);
    expect(Object.isFrozen(config.initialCluster[0])).toBe(true);
    expect(Object.isFrozen(config.featureGates)).toBe(true);
  });
});
