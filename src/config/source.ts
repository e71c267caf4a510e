/**
 * Chooses where settings come from, with etcd's precedence (etcdmain.config.parse):
 * a config file (--config-file, tsetcd's --config alias, else ETCD_CONFIG_FILE) wins
 * and every other flag and environment variable is ignored, with a notice saying so;
 * otherwise flags, then ETCD_* variables for flags not on the command line.
 *
 * Contract: the result maps etcd flag names (keys.ts) to raw values (strings from
 * flags/env, YAML-typed values from a file), each with the label the user wrote, and
 * has already applied the key policies: 3.5 experimental aliases copied onto their
 * 3.6 names (the experimental value wins, as in etcd), ignored keys reported, refused
 * keys thrown. Flags are parsed even when a file wins, so an unknown flag still fails.
 */
import { ConfigError, toOneLine } from './errors.js';
import { mergeFlagsAndEnv, parseGoFlags } from './flags.js';
import { KEY_SPECS, envName } from './keys.js';
import { parseYamlConfig } from './yaml-file.js';

export interface RawSetting {
  readonly value: unknown;
  /** How the user wrote the key: flag name, ETCD_* variable or YAML key path. */
  readonly label: string;
  readonly origin: 'flag' | 'env' | 'yaml';
}

export interface RawSource {
  readonly mode: 'flags' | 'file';
  readonly configFile: string | undefined;
  readonly settings: ReadonlyMap<string, RawSetting>;
}

export interface ConfigIo {
  readFile(path: string): string;
  fileExists(path: string): boolean;
}

export function resolveSource(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: ConfigIo,
  notices: string[],
): RawSource {
  const flags = parseGoFlags(args);
  const fromFlag = flags.get('config-file');
  const configFile =
    fromFlag !== undefined && fromFlag !== '' ? fromFlag : nonEmpty(env['ETCD_CONFIG_FILE']);
  if (configFile !== undefined) {
    const label = fromFlag !== undefined && fromFlag !== '' ? 'config-file' : 'ETCD_CONFIG_FILE';
    const text = readConfigFile(io, configFile, label);
    const parsed = parseYamlConfig(text, configFile);
    notices.push(describeIgnored(configFile, flags, env));
    notices.push(...parsed.notices);
    return applyKeyPolicies('file', configFile, parsed.settings, notices);
  }
  const merged = mergeFlagsAndEnv(flags, env);
  notices.push(...merged.notices);
  merged.settings.delete('config-file');
  return applyKeyPolicies('flags', undefined, merged.settings, notices);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function readConfigFile(io: ConfigIo, path: string, label: string): string {
  try {
    return io.readFile(path);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(label, `cannot read ${path}: ${toOneLine(reason)}`);
  }
}

function describeIgnored(
  path: string,
  flags: ReadonlyMap<string, string>,
  env: Readonly<Record<string, string | undefined>>,
): string {
  const ignored: string[] = [];
  for (const name of flags.keys()) if (name !== 'config-file') ignored.push(`--${name}`);
  for (const spec of KEY_SPECS.values()) {
    const key = envName(spec.name);
    if (key !== 'ETCD_CONFIG_FILE' && nonEmpty(env[key]) !== undefined) ignored.push(key);
  }
  const base =
    `loaded server configuration from ${path}; other configuration command line flags ` +
    `and environment variables are ignored`;
  return ignored.length === 0 ? base : `${base} (ignored: ${ignored.join(', ')})`;
}

function isEmptyValue(value: unknown): boolean {
  return value === '' || value === false || (Array.isArray(value) && value.length === 0);
}

function applyKeyPolicies(
  mode: RawSource['mode'],
  configFile: string | undefined,
  settings: Map<string, RawSetting>,
  notices: string[],
): RawSource {
  for (const [name, setting] of [...settings]) {
    const spec = KEY_SPECS.get(name);
    if (spec === undefined) continue;
    if (spec.use === 'refuse' && !isEmptyValue(setting.value)) {
      throw new ConfigError(
        setting.label,
        'discovery is not supported by tsetcd; bootstrap with initial-cluster',
      );
    }
    if (spec.use === 'ignore') {
      notices.push(`${setting.label} has no effect in tsetcd; ignored`);
      settings.delete(name);
      continue;
    }
    if (spec.aliasOf !== undefined) {
      notices.push(`${setting.label} is deprecated; use ${spec.aliasOf}`);
      settings.set(spec.aliasOf, setting);
      settings.delete(name);
    }
  }
  return { mode, configFile, settings };
}
