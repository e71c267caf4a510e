/**
 * Command-line and environment sources, with the semantics of Go's `flag` package and
 * etcd's pkg/flags.SetFlagsFromEnv, because operators' systemd units and scripts were
 * written against them.
 *
 * Contract (Go flag):
 * - `-name` and `--name` are the same; a value follows as `=value` or as the next
 *   argument; a boolean flag takes no separate argument (`--auto-tls` = true,
 *   `--auto-tls=false`); the last occurrence of a flag wins.
 * - Parsing stops at the first non-flag argument or after `--`; etcd then refuses any
 *   leftover argument (`"x" is not a valid flag`). Unknown flags are refused.
 * Contract (environment, etcd pkg/flags):
 * - each flag also reads ETCD_<FLAG> (upper case, dashes as underscores) when the flag
 *   is not on the command line and the variable is non-empty;
 * - a variable for a flag that IS on the command line is fatal in etcd ("conflicting
 *   environment variable is shadowed by corresponding command-line flag"), so here it is
 *   a ConfigError;
 * - any other ETCD_* variable gives the notice "unrecognized environment variable".
 */
import { ConfigError } from './errors.js';
import { CONFIG_FILE_FLAGS, KEY_SPECS, envName, isFlag } from './keys.js';
import type { RawSetting } from './source.js';

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** strconv.ParseBool */
export function parseGoBool(text: string): boolean | undefined {
  if (GO_TRUE.has(text)) return true;
  if (GO_FALSE.has(text)) return false;
  return undefined;
}

function isBoolFlag(name: string): boolean {
  const kind = KEY_SPECS.get(name)?.kind;
  return kind === 'bool' || kind === 'legacy';
}

function isKnownFlag(name: string): boolean {
  if (CONFIG_FILE_FLAGS.includes(name)) return true;
  const spec = KEY_SPECS.get(name);
  return spec !== undefined && isFlag(spec);
}

/** Parses arguments like Go's flag.FlagSet.Parse. Returns flag name -> raw value. */
export function parseGoFlags(args: readonly string[]): Map<string, string> {
  const values = new Map<string, string>();
  let i = 0;
  while (i < args.length) {
    const arg = args[i] ?? '';
    if (arg.length < 2 || !arg.startsWith('-')) break;
    i += 1;
    if (arg === '--') break;
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    if (body === '' || body.startsWith('-') || body.startsWith('=')) {
      throw new ConfigError(arg, `bad flag syntax: ${arg}`);
    }
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    let value = eq < 0 ? undefined : body.slice(eq + 1);
    if (!isKnownFlag(name)) throw new ConfigError(name, `flag provided but not defined: -${name}`);
    if (isBoolFlag(name)) {
      if (value === undefined) value = 'true';
      else if (KEY_SPECS.get(name)?.kind === 'bool' && parseGoBool(value) === undefined) {
        throw new ConfigError(
          name,
          `invalid boolean value ${JSON.stringify(value)} for -${name}: parse error`,
        );
      }
    } else if (value === undefined) {
      const next = args[i];
      if (next === undefined) throw new ConfigError(name, `flag needs an argument: -${name}`);
      value = next;
      i += 1;
    }
    // --config is tsetcd's alias of --config-file; both land on one key, last one wins.
    values.set(name === 'config' ? 'config-file' : name, value);
  }
  const leftover = args[i];
  if (leftover !== undefined) {
    throw new ConfigError(leftover, `${JSON.stringify(leftover)} is not a valid flag`);
  }
  return values;
}

export interface CommandLineSettings {
  readonly settings: Map<string, RawSetting>;
  readonly notices: string[];
}

/** Variables etcd reads outside the flag set, so they are not "unrecognized". */
const SPECIAL_ENV = new Set(['ETCD_UNSUPPORTED_ARCH']);

/**
 * Merges parsed flags with ETCD_* variables (configFromCmdLine + SetFlagsFromEnv).
 * Only used when no config file is in effect.
 */
export function mergeFlagsAndEnv(
  flags: ReadonlyMap<string, string>,
  env: Readonly<Record<string, string | undefined>>,
): CommandLineSettings {
  const settings = new Map<string, RawSetting>();
  const notices: string[] = [];
  for (const [name, value] of flags) settings.set(name, { value, label: name, origin: 'flag' });

  const usedEnv = new Set<string>();
  const envForFlagOnCommandLine = new Map<string, string>();
  for (const spec of KEY_SPECS.values()) {
    if (!isFlag(spec)) continue;
    const key = envName(spec.name);
    if (flags.has(spec.name)) {
      envForFlagOnCommandLine.set(key, spec.name);
      continue;
    }
    const value = env[key];
    if (value === undefined || value === '') continue;
    usedEnv.add(key);
    settings.set(spec.name, { value, label: key, origin: 'env' });
  }

  for (const key of Object.keys(env).sort()) {
    const value = env[key];
    if (value === undefined || usedEnv.has(key)) continue;
    const shadowedFlag = envForFlagOnCommandLine.get(key);
    if (shadowedFlag !== undefined) {
      throw new ConfigError(
        key,
        `conflicting environment variable is shadowed by corresponding command-line flag ` +
          `--${shadowedFlag} (either unset environment variable or disable flag)`,
      );
    }
    if (!key.startsWith('ETCD_') || SPECIAL_ENV.has(key)) continue;
    if (key === 'ETCD_VERSION') {
      notices.push(`cannot set special environment variable ETCD_VERSION=${value}; ignored`);
      continue;
    }
    notices.push(`unrecognized environment variable ${key}=${value}`);
  }
  return { settings, notices };
}
