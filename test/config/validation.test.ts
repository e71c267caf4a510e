import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { makeTempDir, seedCertDir } from './helpers.js';
import type { TempDir } from './helpers.js';

let certs: TempDir;
let cfgDir: TempDir;
beforeAll(() => {
  certs = seedCertDir();
  cfgDir = makeTempDir();
});
afterAll(() => {
  certs.remove();
  cfgDir.remove();
});

function failure(args: readonly string[], env: Record<string, string> = {}): ConfigError {
  try {
    loadConfig(args, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`expected a ConfigError for ${args.join(' ')}`);
}

function yamlFailure(yaml: string): ConfigError {
  return failure([
    '--config-file',
    cfgDir.file(`c${Math.random().toString(36).slice(2)}.yml`, yaml),
  ]);
}

const single = ['--name', 'm', '--initial-cluster', 'm=http://127.0.0.1:2380'];

describe('each bad value fails with one line naming the key', () => {
  const flagCases: [string, readonly string[], string, RegExp][] = [
    ['malformed URL', ['--listen-peer-urls', 'http//127.0.0.1:2380'], 'listen-peer-urls', /scheme/],
    [
      'URL with a path',
      ['--listen-peer-urls', 'http://127.0.0.1:2380/x'],
      'listen-peer-urls',
      /path/,
    ],
    [
      'URL without port',
      ['--initial-advertise-peer-urls', 'http://127.0.0.1'],
      'initial-advertise-peer-urls',
      /host:port/,
    ],
    [
      'listen on a host name',
      ['--listen-peer-urls', 'http://example.com:2380'],
      'listen-peer-urls',
      /expected IP/,
    ],
    [
      'https without cert',
      [
        '--listen-client-urls',
        'https://127.0.0.1:2379',
        '--advertise-client-urls',
        'https://127.0.0.1:2379',
      ],
      'cert-file',
      /must be provided/,
    ],
    [
      'https peer without cert',
      ['--listen-peer-urls', 'https://127.0.0.1:2380'],
      'peer-cert-file',
      /must be provided/,
    ],
    ['cert without key', ['--cert-file', '/x.pem'], 'key-file', /required/],
    [
      'election < 5 x heartbeat',
      ['--heartbeat-interval', '300', '--election-timeout', '1000'],
      'election-timeout',
      /5 times/,
    ],
    [
      'election too long',
      ['--heartbeat-interval', '100', '--election-timeout', '60000'],
      'election-timeout',
      /too long/,
    ],
    ['heartbeat zero', ['--heartbeat-interval', '0'], 'heartbeat-interval', /> 0/],
    ['not a number', ['--snapshot-count', 'many'], 'snapshot-count', /invalid integer/],
    ['negative uint', ['--max-txn-ops=-1'], 'max-txn-ops', /out of range/],
    ['unknown log level', ['--log-level', 'verbose'], 'log-level', /unknown log level/],
    ['unknown log format', ['--log-format', 'xml'], 'log-format', /unsupported/],
    ['unknown logger', ['--logger', 'logrus'], 'logger', /unknown logger option/],
    [
      'bad cluster state',
      ['--initial-cluster-state', 'old'],
      'initial-cluster-state',
      /"new" or "existing"/,
    ],
    [
      'name not in initial-cluster',
      ['--name', 'x', '--initial-cluster', 'y=http://127.0.0.1:2380'],
      'name',
      /couldn't find local name "x"/,
    ],
    [
      'malformed initial-cluster',
      ['--initial-cluster', 'default'],
      'initial-cluster',
      /name=peerURL/,
    ],
    [
      'duplicate cluster URL',
      ['--initial-cluster', 'default=http://127.0.0.1:2380,b=http://127.0.0.1:2380'],
      'initial-cluster',
      /duplicate/,
    ],
    [
      'advertise mismatch',
      ['--initial-advertise-peer-urls', 'http://127.0.0.2:2380'],
      'initial-advertise-peer-urls',
      /missing from/,
    ],
    [
      'bad cipher suite',
      [...single, '--cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_NOPE'],
      'cipher-suites',
      /unexpected TLS cipher suite "TLS_NOPE"/,
    ],
    [
      'ciphers with TLS 1.3 only',
      [
        ...single,
        '--cipher-suites',
        'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
        '--tls-min-version',
        'TLS1.3',
      ],
      'cipher-suites',
      /only TLS1.3/,
    ],
    [
      'bad tls-min-version',
      [...single, '--tls-min-version', 'TLS1.1'],
      'tls-min-version',
      /TLS1.2, TLS1.3/,
    ],
    [
      'min above max',
      [...single, '--tls-min-version', 'TLS1.3', '--tls-max-version', 'TLS1.2'],
      'tls-min-version',
      /greater than max/,
    ],
    [
      'bad duration',
      [...single, '--grpc-keepalive-min-time', '5'],
      'grpc-keepalive-min-time',
      /missing unit/,
    ],
    [
      'bad auto-compaction mode',
      [...single, '--auto-compaction-mode', 'daily'],
      'auto-compaction-mode',
      /unknown/,
    ],
    [
      'bad retention',
      [...single, '--auto-compaction-retention', '1 hour'],
      'auto-compaction-retention',
      /CompactionRetention/,
    ],
    [
      'retention not a count',
      [...single, '--auto-compaction-mode', 'revision', '--auto-compaction-retention', '1h'],
      'auto-compaction-retention',
      /revision count/,
    ],
    ['bad metrics', [...single, '--metrics', 'all'], 'metrics', /basic/],
    ['bad auth token', [...single, '--auth-token', 'oauth'], 'auth-token', /unknown token type/],
    ['duplicated token option', [...single, '--auth-token', 'simple,a=1,a=2'], 'auth-token', /duplicated/],
    ['malformed token option', [...single, '--auth-token', 'simple,foo'], 'auth-token', /malformed/],
    [
      'unknown feature gate',
      [...single, '--feature-gates', 'Warp=true'],
      'feature-gates',
      /unrecognized feature gate/,
    ],
    [
      'gate dependency',
      [...single, '--feature-gates', 'LeaseCheckpointPersist=true'],
      'feature-gates',
      /requires/,
    ],
    ['discovery', [...single, '--discovery-srv', 'example.com'], 'discovery-srv', /not supported/],
    [
      'compact-hash-check-time zero',
      [...single, '--compact-hash-check-time', '0s'],
      'compact-hash-check-time',
      /> 0/,
    ],
  ];
  it.each(flagCases)('%s (flags)', (_what, args, key, problem) => {
    const err = failure(args);
    expect(err.key).toBe(key);
    expect(err.message).toBe(`${key}: ${err.problem}`);
    expect(err.message).not.toMatch(/[\r\n]/);
    expect(err.problem).toMatch(problem);
  });

  it('an env variable is named as the key when its value is bad', () => {
    const err = failure([], { ETCD_ELECTION_TIMEOUT: 'soon' });
    expect(err.key).toBe('ETCD_ELECTION_TIMEOUT');
  });

  const yamlCases: [string, string, string, RegExp][] = [
    [
      'missing CA file',
      'client-transport-security:\n  cert-file: CERT\n  key-file: CERT\n' +
        '  trusted-ca-file: /nope/ca.pem\nlisten-client-urls: https://127.0.0.1:2379\n',
      'client-transport-security.trusted-ca-file',
      /does not exist/,
    ],
    [
      'missing peer key',
      'peer-transport-security:\n  cert-file: CERT\n  key-file: /nope/key.pem\n' +
        'listen-peer-urls: https://127.0.0.1:2380\n' +
        'initial-advertise-peer-urls: https://127.0.0.1:2380\n' +
        'initial-cluster: default=https://127.0.0.1:2380\n',
      'peer-transport-security.key-file',
      /does not exist/,
    ],
    [
      'https without cert',
      `listen-client-urls: https://127.0.0.1:2379\n`,
      'client-transport-security.cert-file',
      /must be provided/,
    ],
    ['wrong type', `snapshot-count: [1, 2]\n`, 'snapshot-count', /invalid integer/],
    ['fractional number', `heartbeat-interval: 10.5\n`, 'heartbeat-interval', /invalid integer/],
    ['bad boolean', `pre-vote: perhaps\n`, 'pre-vote', /invalid boolean/],
    [
      'block not a mapping',
      `client-transport-security: yes\n`,
      'client-transport-security',
      /mapping/,
    ],
    ['not YAML', `name: [unclosed\n`, 'config-file', /cannot parse/],
    ['not a mapping', `- a\n- b\n`, 'config-file', /mapping/],
    [
      'election timeout',
      `heartbeat-interval: 500\nelection-timeout: 1000\n`,
      'election-timeout',
      /5 times/,
    ],
    ['log level', `log-level: loud\n`, 'log-level', /unknown log level/],
  ];
  it.each(yamlCases)('%s (YAML)', (_what, yaml, key, problem) => {
    const err = yamlFailure(yaml.replace(/CERT/g, `${certs.path}/etcd.pem`));
    expect(err.key).toBe(key);
    expect(err.message).not.toMatch(/[\r\n]/);
    expect(err.problem).toMatch(problem);
  });
});

describe('what etcd accepts passes', () => {
  it("--logger capnslog (etcd 3.4's default) runs zap with etcd 3.5's warning", () => {
    const { config, notices } = loadConfig(['--logger', 'capnslog'], {});
    expect(config.logger).toBe('zap');
    expect(notices).toContain("[WARNING] Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead");
  });

  it('https with auto-tls needs no certificate files', () => {
    const { config } = loadConfig(
      [
        '--listen-client-urls',
        'https://127.0.0.1:2379',
        '--advertise-client-urls',
        'https://127.0.0.1:2379',
        '--auto-tls',
      ],
      {},
    );
    expect(config.clientTls.autoTls).toBe(true);
  });

  it('localhost is a valid listen host; a named advertise mismatch is only a notice', () => {
    const { config, notices } = loadConfig(
      [
        '--listen-peer-urls',
        'http://localhost:2380',
        '--initial-advertise-peer-urls',
        'http://localhost:2380',
      ],
      {},
    );
    expect(config.listenPeerUrls[0]?.hostname).toBe('localhost');
    expect(notices.some((n) => n.includes('missing from initial-advertise-peer-urls'))).toBe(true);
  });

  it('certificate files on an http-only side are ignored with a notice, as etcd warns', () => {
    const { notices } = loadConfig(['--cert-file', '/nope.pem', '--key-file', '/nope-key.pem'], {});
    expect(notices.some((n) => n.includes('ignoring key and cert files'))).toBe(true);
  });
});
