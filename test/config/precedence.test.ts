import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, formatUrls, loadConfig } from '../../src/config/index.js';
import { makeTempDir } from './helpers.js';
import type { TempDir } from './helpers.js';

function thrown(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('precedence', () => {
  let dir: TempDir;
  let file: string;
  beforeEach(() => {
    dir = makeTempDir();
    file = dir.file('etcd.yml', 'name: from-file\nsnapshot-count: 42\n');
  });
  afterEach(() => dir.remove());

  it('a config file wins over flags and env, with a notice naming what was ignored', () => {
    const { config, notices } = loadConfig(
      ['--config-file', file, '--name', 'from-flag', '--snapshot-count=7'],
      { ETCD_HEARTBEAT_INTERVAL: '50' },
    );
    expect(config.name).toBe('from-file');
    expect(config.snapshotCount).toBe(42);
    expect(config.heartbeatIntervalMs).toBe(100);
    const notice = notices.find((n) => n.includes('are ignored'));
    expect(notice).toContain(file);
    expect(notice).toContain('--name');
    expect(notice).toContain('--snapshot-count');
    expect(notice).toContain('ETCD_HEARTBEAT_INTERVAL');
  });

  it('--config is an alias of --config-file', () => {
    expect(loadConfig([`--config=${file}`], {}).config.name).toBe('from-file');
    expect(loadConfig(['-config', file], {}).config.name).toBe('from-file');
  });

  it('ETCD_CONFIG_FILE selects the file when no flag does', () => {
    const { config } = loadConfig(['--name', 'ignored'], { ETCD_CONFIG_FILE: file });
    expect(config.name).toBe('from-file');
    expect(config.configFile).toBe(file);
  });

  it('a --config-file flag beats ETCD_CONFIG_FILE', () => {
    const other = dir.file('other.yml', 'name: other\n');
    expect(loadConfig(['--config-file', other], { ETCD_CONFIG_FILE: file }).config.name).toBe(
      'other',
    );
  });

  it('an unreadable config file is one line naming the key', () => {
    const err = thrown(() => loadConfig(['--config-file', `${dir.path}/missing.yml`], {}));
    expect(err.key).toBe('config-file');
    expect(err.message).not.toContain('\n');
    expect(err.message).toContain('missing.yml');
  });

  it('ETCD_* variables fill flags that are not on the command line', () => {
    const { config } = loadConfig(
      ['--name', 'n1', '--initial-cluster', 'n1=http://127.0.0.1:2380'],
      {
        ETCD_SNAPSHOT_COUNT: '500',
        ETCD_AUTO_TLS: 'true',
        ETCD_LOG_LEVEL: 'warn',
        ETCD_GRPC_KEEPALIVE_MIN_TIME: '7s',
        ETCD_DATA_DIR: '',
      },
    );
    expect(config.snapshotCount).toBe(500);
    expect(config.clientTls.autoTls).toBe(true);
    expect(config.logLevel).toBe('warn');
    expect(config.grpcKeepaliveMinTimeMs).toBe(7000);
    expect(config.dataDir).toBe('n1.tsetcd'); // an empty variable is not used
  });

  it('a flag and its ETCD_* variable together are refused, as etcd does', () => {
    const err = thrown(() => loadConfig(['--name', 'a'], { ETCD_NAME: 'b' }));
    expect(err.key).toBe('ETCD_NAME');
    expect(err.message).toMatch(/^ETCD_NAME: conflicting environment variable is shadowed/);
  });

  it('an ETCD_* variable that names no flag is a notice, not a failure', () => {
    const { notices } = loadConfig([], { ETCD_NOT_A_FLAG: 'x', PATH: '/bin' });
    expect(notices).toContain('unrecognized environment variable ETCD_NOT_A_FLAG=x');
    expect(notices.some((n) => n.includes('PATH'))).toBe(false);
  });

  it('environment variables are ignored when a config file is used', () => {
    const { config, notices } = loadConfig([], {
      ETCD_CONFIG_FILE: file,
      ETCD_NOT_A_FLAG: 'x',
      ETCD_NAME: 'env',
    });
    expect(config.name).toBe('from-file');
    expect(notices.some((n) => n.includes('unrecognized'))).toBe(false);
  });
});

describe('Go flag syntax', () => {
  it('takes -flag and --flag, =value and separate values, bare and explicit booleans', () => {
    const { config } = loadConfig(
      [
        '-name=m1',
        '--initial-cluster',
        'm1=http://127.0.0.1:2380',
        '--auto-tls',
        '-peer-auto-tls=false',
        '--strict-reconfig-check=0',
        '--pre-vote=F',
        '-snapshot-count',
        '0x10',
        '--max-txn-ops=256',
        '--max-txn-ops=512',
      ],
      {},
    );
    expect(config.name).toBe('m1');
    expect(config.clientTls.autoTls).toBe(true);
    expect(config.peerTls.autoTls).toBe(false);
    expect(config.strictReconfigCheck).toBe(false);
    expect(config.preVote).toBe(false);
    expect(config.snapshotCount).toBe(16); // strconv.ParseUint base 0
    expect(config.maxTxnOps).toBe(512); // the last occurrence wins
  });

  it('refuses unknown flags, missing values, bad booleans and stray arguments', () => {
    expect(thrown(() => loadConfig(['--no-such-flag'], {})).message).toBe(
      'no-such-flag: flag provided but not defined: -no-such-flag',
    );
    expect(thrown(() => loadConfig(['--name'], {})).message).toBe(
      'name: flag needs an argument: -name',
    );
    expect(thrown(() => loadConfig(['--auto-tls=maybe'], {})).key).toBe('auto-tls');
    // A boolean flag does not take the next argument: "false" is then a stray argument.
    expect(thrown(() => loadConfig(['--auto-tls', 'false'], {})).message).toBe(
      'false: "false" is not a valid flag',
    );
    expect(thrown(() => loadConfig(['---name=x'], {})).message).toContain('bad flag syntax');
  });

  it('stops at -- and refuses what follows', () => {
    expect(thrown(() => loadConfig(['--', '--name=x'], {})).key).toBe('--name=x');
  });

  it('a config-file-only key is not a flag', () => {
    expect(thrown(() => loadConfig(['--client-transport-security=x'], {})).key).toBe(
      'client-transport-security',
    );
  });

  it('accepts etcd 3.5 experimental spellings as aliases, with a notice', () => {
    const { config, notices } = loadConfig(
      [
        '--experimental-watch-progress-notify-interval=5s',
        '--experimental-initial-corrupt-check=true',
      ],
      {},
    );
    expect(config.watchProgressNotifyIntervalMs).toBe(5000);
    expect(config.featureGates.initialCorruptCheck).toBe(true);
    expect(
      notices.some((n) => n.includes('experimental-watch-progress-notify-interval is deprecated')),
    ).toBe(true);
  });

  it('refuses an explicit advertise-client-urls omission when listen-client-urls is set', () => {
    const err = thrown(() => loadConfig(['--listen-client-urls', 'http://127.0.0.1:12379'], {}));
    expect(err.key).toBe('advertise-client-urls');
    const env = thrown(() => loadConfig([], { ETCD_LISTEN_CLIENT_URLS: 'http://127.0.0.1:12379' }));
    expect(env.key).toBe('advertise-client-urls');
    const ok = loadConfig(
      [
        '--listen-client-urls',
        'http://127.0.0.1:12379',
        '--advertise-client-urls',
        'http://127.0.0.1:12379',
      ],
      {},
    );
    expect(formatUrls(ok.config.listenClientUrls)).toBe('http://127.0.0.1:12379');
  });

  it('derives initial-cluster from the name when only the name is given (etcd)', () => {
    const { config } = loadConfig(
      ['--name', 'solo', '--initial-advertise-peer-urls', 'http://127.0.0.1:12380'],
      {},
    );
    expect(config.initialClusterRaw).toBe('solo=http://127.0.0.1:12380');
    expect(config.dataDir).toBe('solo.tsetcd');
  });
});
