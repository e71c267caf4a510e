// Properties over many inputs: the three sources agree, and no input makes loadConfig
// fail with anything but a one-line ConfigError.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, describeConfig, loadConfig } from '../../src/config/index.js';
import { KEY_SPECS, envName, isFlag } from '../../src/config/keys.js';
import { makeTempDir } from './helpers.js';
import type { TempDir } from './helpers.js';

let dir: TempDir;
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => dir.remove());

const settingsArb = fc.record({
  name: fc.constantFrom('m1', 'node-a', 'x'),
  'snapshot-count': fc.integer({ min: 0, max: 1_000_000 }),
  'heartbeat-interval': fc.integer({ min: 1, max: 500 }),
  'log-level': fc.constantFrom('debug', 'info', 'warn', 'error'),
  'pre-vote': fc.boolean(),
  'grpc-keepalive-min-time': fc.integer({ min: 0, max: 100_000 }).map((ms) => `${ms}ms`),
  'max-txn-ops': fc.integer({ min: 1, max: 10_000 }),
});

function withoutSourceLine(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('config-file:'))
    .join('\n');
}

describe('properties', () => {
  it('flags, ETCD_* variables and a YAML file give the same effective config', () => {
    let round = 0;
    fc.assert(
      fc.property(settingsArb, (s) => {
        const all: Record<string, string> = {
          ...Object.fromEntries(Object.entries(s).map(([k, v]) => [k, String(v)])),
          'election-timeout': String(s['heartbeat-interval'] * 10),
          'initial-cluster': `${s.name}=http://127.0.0.1:2380`,
        };
        const fromFlags = loadConfig(
          Object.entries(all).map(([k, v]) => `--${k}=${v}`),
          {},
        );
        const env = Object.fromEntries(Object.entries(all).map(([k, v]) => [envName(k), v]));
        const fromEnv = loadConfig([], env);
        round += 1;
        const file = dir.file(`p${round}.yml`, stringify({ ...all, 'pre-vote': s['pre-vote'] }));
        const fromFile = loadConfig(['--config-file', file], {});
        const expected = withoutSourceLine(describeConfig(fromFlags.config));
        expect(withoutSourceLine(describeConfig(fromEnv.config))).toBe(expected);
        expect(withoutSourceLine(describeConfig(fromFile.config))).toBe(expected);
        expect(fromFlags.config.snapshotCount).toBe(s['snapshot-count']);
      }),
      { numRuns: 60 },
    );
  });

  const flagNames = [...KEY_SPECS.values()].filter(isFlag).map((s) => s.name);
  const valueArb = fc.oneof(
    fc.constantFrom('', '0', '1', 'true', 'x', '-1', '5s', '0x1f', 'http://127.0.0.1:1', 'a=b,c'),
    fc.string({ maxLength: 12 }),
  );
  const argArb = fc.oneof(
    fc.tuple(fc.constantFrom(...flagNames), valueArb).map(([n, v]) => `--${n}=${v}`),
    fc.constantFrom(...flagNames).map((n) => `-${n}`),
    fc.string({ maxLength: 8 }),
  );

  function onlyConfigErrors(run: () => unknown): void {
    try {
      run();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).not.toMatch(/[\r\n]/);
      expect((err as ConfigError).message.startsWith(`${(err as ConfigError).key}: `)).toBe(true);
    }
  }

  it('any command line gives a config or a one-line ConfigError', () => {
    fc.assert(
      fc.property(fc.array(argArb, { maxLength: 6 }), (args) => {
        onlyConfigErrors(() => loadConfig(args, {}));
      }),
      { numRuns: 400 },
    );
  });

  it('any YAML document gives a config or a one-line ConfigError', () => {
    let round = 0;
    const docArb = fc.dictionary(
      fc.oneof(fc.constantFrom(...flagNames, 'client-transport-security', 'debug'), fc.string()),
      fc.jsonValue({ maxDepth: 2 }),
      { maxKeys: 5 },
    );
    fc.assert(
      fc.property(docArb, (doc) => {
        round += 1;
        const file = dir.file(`y${round}.yml`, stringify(doc));
        onlyConfigErrors(() => loadConfig(['--config-file', file], {}));
      }),
      { numRuns: 300 },
    );
  });
});
