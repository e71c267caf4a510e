/**
 * The YAML config file (`--config-file`, `--config`, ETCD_CONFIG_FILE), read the way
 * etcd's embed.configFromFile reads it, with one deliberate difference: a key etcd
 * silently ignores (sigs.k8s.io/yaml is non-strict) gives a warning notice here, so
 * a misspelt key does not pass unnoticed.
 *
 * Contract:
 * - the document is a mapping (an empty file means "all defaults");
 * - top-level keys are etcd's (keys.ts, where both|yaml); client-transport-security,
 *   peer-transport-security and socket-options are nested blocks mapped onto the
 *   equivalent flag names; a null value leaves the default in place, as in etcd;
 * - values keep their YAML types (numbers, booleans, lists); values.ts converts them;
 * - parse errors become a one-line ConfigError on key `config-file`.
 */
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './errors.js';
import {
  CLIENT_SECURITY_KEYS,
  KEY_SPECS,
  PEER_SECURITY_KEYS,
  SOCKET_OPTION_KEYS,
  isTopLevelYaml,
} from './keys.js';
import type { RawSetting } from './source.js';

export interface YamlSettings {
  readonly settings: Map<string, RawSetting>;
  readonly notices: string[];
}

const BLOCKS: ReadonlyMap<string, ReadonlyMap<string, string>> = new Map([
  ['client-transport-security', CLIENT_SECURITY_KEYS],
  ['peer-transport-security', PEER_SECURITY_KEYS],
  ['socket-options', SOCKET_OPTION_KEYS],
]);

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseYamlConfig(text: string, path: string): YamlSettings {
  let doc: unknown;
  try {
    // YAML 1.2 core schema: `1:20` stays a string. YAML 1.1 booleans (yes/on) that etcd's
    // go-yaml v2 accepts are handled where a boolean is expected (values.ts).
    doc = parseYaml(text, { prettyErrors: false });
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
    throw new ConfigError('config-file', `cannot parse ${path}: ${first}`);
  }
  const settings = new Map<string, RawSetting>();
  const notices: string[] = [];
  if (doc === null || doc === undefined) return { settings, notices };
  if (!isMapping(doc)) {
    throw new ConfigError('config-file', `${path} must hold a YAML mapping of etcd settings`);
  }
  for (const [key, value] of Object.entries(doc)) {
    const block = BLOCKS.get(key);
    if (block !== undefined) {
      readBlock(key, value, block, settings, notices);
      continue;
    }
    const spec = KEY_SPECS.get(key);
    if (spec === undefined || !isTopLevelYaml(spec)) {
      const hint = spec === undefined ? '' : ' (it is a command-line flag, not a config file key)';
      notices.push(`unknown key ${key} in ${path} ignored${hint}`);
      continue;
    }
    if (value === null) continue;
    settings.set(key, { value, label: key, origin: 'yaml' });
  }
  return { settings, notices };
}

function readBlock(
  blockName: string,
  value: unknown,
  keys: ReadonlyMap<string, string>,
  settings: Map<string, RawSetting>,
  notices: string[],
): void {
  if (value === null) return;
  if (!isMapping(value)) throw new ConfigError(blockName, 'must be a mapping');
  for (const [subKey, subValue] of Object.entries(value)) {
    const label = `${blockName}.${subKey}`;
    const target = keys.get(subKey);
    if (target === undefined) {
      // etcd's securityConfig has skip-client-san-verification on both sides; it only
      // means something for peers.
      if (blockName === 'client-transport-security' && subKey === 'skip-client-san-verification') {
        continue;
      }
      notices.push(`unknown key ${label} ignored`);
      continue;
    }
    if (subValue === null) continue;
    settings.set(target, { value: subValue, label, origin: 'yaml' });
  }
}

/** The YAML spelling of a flag name inside a block, for messages about unset keys. */
export function yamlLabelFor(flagName: string): string {
  for (const [blockName, keys] of BLOCKS) {
    for (const [subKey, target] of keys) {
      if (target === flagName) return `${blockName}.${subKey}`;
    }
  }
  return flagName;
}
