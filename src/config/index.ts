/**
 * config/: every way etcd takes its settings — flags (Go flag syntax, etcd's names),
 * ETCD_* environment variables, and the YAML file given by --config-file, --config
 * or ETCD_CONFIG_FILE — turned into one deeply frozen Config.
 *
 * Order callers follow (cli):
 *   const { config, notices } = loadConfig(argsWithoutSubcommand, process.env);
 *   log each notice (warn level), then start the member from `config`;
 *   `tsetcd config check`: print describeConfig(config).
 *   On ConfigError: print err.message (one line naming the key) and exit non-zero.
 *
 * Precedence, as etcd (etcdmain.config.parse): a config file wins and every other flag
 * and variable is ignored (a notice says so); otherwise a flag beats nothing, an ETCD_*
 * variable fills a flag that is not on the command line, and both at once is an error
 * (etcd: "conflicting environment variable is shadowed by corresponding command-line
 * flag"). Unknown flags fail; unknown ETCD_* variables and unknown YAML keys are notices.
 *
 * Invariants of the result: see types.ts. loadConfig only reads files (the config file,
 * and existence checks of certificate files); it never binds, dials or resolves names.
 */
import { readFileSync, statSync } from 'node:fs';
import { buildConfig } from './build.js';
import type { ConfigIo } from './source.js';
import { resolveSource } from './source.js';
import type { Config } from './types.js';
import { validateConfig } from './validate.js';
import { Values } from './values.js';

export { ConfigError } from './errors.js';
export { describeConfig } from './describe.js';
export { helpText, groupedFlags } from './help.js';
export {
  GO_TLS12_CIPHER_SUITES,
  TLS13_CIPHER_SUITES,
  goToOpensslCipher,
  lookupGoCipherSuite,
  opensslCipherString,
} from './cipher-suites.js';
export { formatGoDuration, parseGoDurationMs } from './duration.js';
export {
  UrlSyntaxError,
  findDuplicateClusterUrl,
  formatUrl,
  formatUrls,
  isTlsScheme,
  parseInitialCluster,
  parseUrlList,
  splitCommaList,
  urlHostPort,
} from './urls.js';
export type { ConfigIo } from './source.js';
export type * from './types.js';

export interface LoadedConfig {
  readonly config: Config;
  /** Warnings and information for the log (etcd logs these at startup). */
  readonly notices: readonly string[];
}

/** Reads files with node:fs; fileExists means "is a regular file (following links)". */
export const nodeConfigIo: ConfigIo = {
  readFile: (path) => readFileSync(path, 'utf8'),
  fileExists: (path) => {
    try {
      return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
    } catch {
      return false;
    }
  },
};

/**
 * Builds the member's configuration. Throws ConfigError (one-line message naming the
 * key) for anything etcd would refuse to start with.
 */
export function loadConfig(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: ConfigIo = nodeConfigIo,
): LoadedConfig {
  const notices: string[] = [];
  const source = resolveSource(args, env, io, notices);
  const values = new Values(source);
  const config = buildConfig(values, notices);
  validateConfig(config, values, io, notices);
  return { config: deepFreeze(config), notices: Object.freeze(notices) };
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  if (value instanceof URL) return value;
  for (const child of Object.values(value)) deepFreeze(child);
  return value;
}
