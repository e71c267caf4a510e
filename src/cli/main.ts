/**
 * The tsetcd command (yargs routes the subcommands; member settings are parsed by
 * src/config with etcd's own flag syntax, so `tsetcd --name x --data-dir y` and
 * `tsetcd --config-file etcd.yml` behave as etcd does):
 *
 *   tsetcd [etcd flags]                       start a member
 *   tsetcd config check [etcd flags]          validate and print the effective settings
 *   tsetcd version | --version                print versions
 *
 * Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 1 on a configuration or start-up
 * error (one line on stderr naming the problem), 2 when an invariant broke at run time.
 */
import yargs from 'yargs';
import { loadConfig, describeConfig, ConfigError } from '../config/index.js';
import { createRootLogger } from './logger.js';
import { startMember } from '../server/member.js';
import { notifySystemdReady } from '../server/notify.js';
import { SERVER_VERSION } from '../server/v3rpc/maintenance.js';
import { DataDirError } from '../server/member-storage.js';
import { WalCorruptError } from '../wal/index.js';
import { TsetcdError } from '../shared/errors.js';

const TSETCD_VERSION = '0.1.0';

function printVersion(): void {
  process.stdout.write(
    `tsetcd Version: ${TSETCD_VERSION}\netcd API Version: ${SERVER_VERSION}\nNode.js Version: ${process.version}\n`,
  );
}

function configOrExit(args: readonly string[]): ReturnType<typeof loadConfig> {
  try {
    return loadConfig(args, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tsetcd: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

async function runMember(args: readonly string[]): Promise<void> {
  const { config, notices } = configOrExit(args);
  const logger = createRootLogger(config);
  for (const n of notices) logger.warn({}, n);
  let member: Awaited<ReturnType<typeof startMember>>;
  try {
    member = await startMember(config, logger);
  } catch (err) {
    if (
      err instanceof DataDirError ||
      err instanceof WalCorruptError ||
      err instanceof TsetcdError ||
      (err instanceof Error && err.name === 'PeerListenError')
    ) {
      logger.error({}, err.message);
      process.stderr.write(`tsetcd: ${err.message}\n`);
      process.exit(1);
    }
    if (err instanceof Error && 'code' in err && (err.code === 'EADDRINUSE' || err.code === 'EACCES')) {
      process.stderr.write(`tsetcd: cannot listen: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  member.server.onFatal = (err) => {
    logger.error({ err }, 'fatal: stopping the member');
    process.exit(2);
  };
  let stopping = false;
  function stop(signal: string): void {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'received signal; shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    member.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  }
  // Before waiting for readiness: a member may be stopped while it waits to join, and
  // a removed member restarted from its data dir never becomes ready (it cannot
  // publish) yet must stop when its peers answer 410.
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  member.onRemoved(() => stop('removed from the cluster'));
  try {
    await member.ready;
  } catch (err) {
    if (stopping) return;
    throw err;
  }
  logger.info({ memberId: member.memberId.toString(16) }, 'ready to serve client requests');
  await notifySystemdReady(logger);
}

function configCheck(args: readonly string[]): void {
  const { config, notices } = configOrExit(args);
  for (const n of notices) process.stderr.write(`warning: ${n}\n`);
  process.stdout.write(`${describeConfig(config)}\n`);
}

/**
 * yargs routes the subcommands only; every option is handed through untouched
 * ('unknown-options-as-args'), since etcd's flags follow Go's flag syntax, which
 * src/config parses.
 */
async function main(argv: readonly string[]): Promise<void> {
  const rest = (a: readonly (string | number)[], skip: number): string[] => a.slice(skip).map(String);
  await yargs([...argv])
    .scriptName('tsetcd')
    .parserConfiguration({ 'unknown-options-as-args': true, 'halt-at-non-option': true })
    .help(false)
    .version(false)
    .strict(false)
    .command(
      'config check',
      'validate a configuration (--config-file FILE or etcd flags) and print the effective settings',
      () => undefined,
      (a) => configCheck(rest(a._, 2)),
    )
    .command('version', 'print versions', () => undefined, printVersion)
    .command(
      '$0',
      'start a member (etcd flags, ETCD_* variables, or --config-file FILE)',
      () => undefined,
      async (a) => {
        const args = rest(a._, 0);
        if (args[0] === '--version' || args[0] === '-version') return printVersion();
        if (args[0] === '--help' || args[0] === '-h') {
          process.stdout.write(
            'usage: tsetcd [etcd flags] | tsetcd --config-file FILE | tsetcd config check [...] | tsetcd version\n' +
              "tsetcd takes etcd's flags, ETCD_* environment variables and etcd's YAML config file.\n",
          );
          return undefined;
        }
        return runMember(args);
      },
    )
    .parseAsync();
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`tsetcd: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
