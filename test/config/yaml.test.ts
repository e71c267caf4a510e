import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatUrls, loadConfig } from '../../src/config/index.js';
import { makeTempDir } from './helpers.js';
import type { TempDir } from './helpers.js';

describe('the YAML config file', () => {
  let dir: TempDir;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => dir.remove());
  const load = (yaml: string) => loadConfig(['--config-file', dir.file('etcd.yml', yaml)], {});

  it('warns about unknown keys and otherwise ignores them', () => {
    const { config, notices } = load(
      'name: n\ninitial-cluster: n=http://127.0.0.1:2380\nsnapshot-countt: 5\n' +
        'cert-file: /x.pem\nclient-transport-security:\n  cert-fil: /y.pem\n',
    );
    expect(config.snapshotCount).toBe(10_000);
    expect(config.clientTls.certFile).toBeUndefined(); // etcd ignores a top-level cert-file
    expect(notices.some((n) => n.startsWith('unknown key snapshot-countt'))).toBe(true);
    expect(
      notices.some((n) => n.startsWith('unknown key cert-file') && n.includes('command-line flag')),
    ).toBe(true);
    expect(
      notices.some((n) => n.startsWith('unknown key client-transport-security.cert-fil')),
    ).toBe(true);
  });

  it('debug: true means log level debug (etcd 3.4); debug: false changes nothing', () => {
    const on = load('debug: true\nlog-level: warn\n');
    expect(on.config.logLevel).toBe('debug');
    expect(on.notices.some((n) => n.startsWith('debug is deprecated'))).toBe(true);
    expect(load('debug: false\nlog-level: warn\n').config.logLevel).toBe('warn');
  });

  it('takes comma-separated URL strings, de-duplicated and sorted like etcd', () => {
    const { config } = load(
      'listen-client-urls: http://127.0.0.2:2379, http://127.0.0.1:2379,http://127.0.0.2:2379\n' +
        'advertise-client-urls: http://127.0.0.1:2379\n',
    );
    expect(formatUrls(config.listenClientUrls)).toBe('http://127.0.0.1:2379,http://127.0.0.2:2379');
  });

  it('keeps the default advertise-client-urls when a file sets only listen-client-urls', () => {
    const { config } = load('listen-client-urls: http://127.0.0.1:12379\n');
    expect(formatUrls(config.advertiseClientUrls)).toBe('http://127.0.0.1:2379');
  });

  it('takes log-outputs as a list; default means stderr', () => {
    expect(load('log-outputs: [stdout, /var/log/etcd.log]\n').config.logOutputs).toEqual([
      'stdout',
      '/var/log/etcd.log',
    ]);
    expect(load('log-outputs: [default]\n').config.logOutputs).toEqual(['stderr']);
    expect(load('log-outputs: stderr,stdout\n').config.logOutputs).toEqual(['stderr', 'stdout']);
  });

  it('reads durations as integer nanoseconds (etcd) or Go duration strings', () => {
    const { config } = load(
      'grpc-keepalive-min-time: 7000000000\nwatch-progress-notify-interval: 5s\n' +
        'warning-apply-duration: 250ms\nexperimental-compact-hash-check-time: 2m\n',
    );
    expect(config.grpcKeepaliveMinTimeMs).toBe(7000);
    expect(config.watchProgressNotifyIntervalMs).toBe(5000);
    expect(config.warningApplyDurationMs).toBe(250);
    expect(config.compactHashCheckTimeMs).toBe(120_000);
  });

  it('reads the other value types etcd reads', () => {
    const { config } = load(
      [
        'name: 12',
        'initial-cluster: 12=http://127.0.0.1:2380',
        'snapshot-count: 5000',
        'quota-backend-bytes: 8589934592',
        'pre-vote: no',
        'strict-reconfig-check: "false"',
        'auto-compaction-mode: periodic',
        'auto-compaction-retention: 1',
        'cipher-suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,',
        '  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305]',
        'tls-min-version: TLS1.2',
        'feature-gates: InitialCorruptCheck=true,CompactHashCheck=true',
        'socket-options:',
        '  reuse-port: true',
        'peer-transport-security:',
        '  allowed-cn: [etcd, peer]',
        '  skip-client-san-verification: true',
        'wal-dir:',
        'enable-v2: false',
      ].join('\n'),
    );
    expect(config.name).toBe('12');
    expect(config.snapshotCount).toBe(5000);
    expect(config.quotaBackendBytesLimit).toBe(8 * 1024 ** 3);
    expect(config.preVote).toBe(false);
    expect(config.strictReconfigCheck).toBe(false);
    expect(config.autoCompaction).toEqual({ mode: 'periodic', retentionMs: 3_600_000 });
    expect(config.opensslCipherSuites).toEqual([
      'ECDHE-RSA-AES128-GCM-SHA256',
      'ECDHE-RSA-CHACHA20-POLY1305',
    ]);
    expect(config.featureGates.initialCorruptCheck).toBe(true);
    expect(config.featureGates.compactHashCheck).toBe(true);
    expect(config.socketReusePort).toBe(true);
    expect(config.peerTls.allowedCn).toEqual(['etcd', 'peer']);
    expect(config.peerTls.skipClientSanVerification).toBe(true);
    expect(config.walDir).toBeUndefined();
  });

  it('an empty file means all defaults', () => {
    const { config } = load('');
    expect(config.name).toBe('default');
    expect(config.dataDir).toBe('default.tsetcd');
  });

  it('accepts keys of etcd 3.4/3.5 sample configs that tsetcd does not use, with notices', () => {
    const { notices } = load(
      "enable-v2: true\nproxy: 'off'\nproxy-failure-wait: 5000\n" +
        "discovery:\ndiscovery-fallback: 'proxy'\n",
    );
    expect(notices.some((n) => n.startsWith('enable-v2 has no effect'))).toBe(true);
    expect(notices.some((n) => n.startsWith('proxy has no effect'))).toBe(true);
  });
});
