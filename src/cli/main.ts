/**
 * The tsetcd command. Member settings are parsed by src/config with etcd's own flag
 * syntax, so `tsetcd --name x --data-dir y` and `tsetcd --config-file etcd.yml` behave
 * as etcd does; the three subcommands below are routed by hand (see main()):
 *
 *   tsetcd [etcd flags]                       start a member
 *   tsetcd config check [etcd flags]          validate and print the effective settings
 *   tsetcd version | --version                print versions
 *   tsetcd snapshot status|restore FILE ...   etcd snapshot files, as etcdctl (snapshot.ts)
 *
 * Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 1 on a configuration or start-up
 * error (one line on stderr naming the problem), 2 when the member had to stop at run
 * time: a broken invariant, or a disk that failed a write or fsync (one line on stderr
 * naming the file; a full disk does not stop the member, docs/architecture.md §3).
 */
import { loadConfig, describeConfig, helpText, ConfigError } from '../config/index.js';
import { createRootLogger } from './logger.js';
import { StartRefusal } from '../shared/errors.js';
import { SERVER_VERSION, TSETCD_VERSION } from '../shared/version.js';

/** etcd's four lines (etcdmain/etcd.go), then tsetcd's own release. */
function printVersion(): void {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch;
  process.stdout.write(
    `etcd Version: ${SERVER_VERSION}\nGit SHA: Not provided (tsetcd ${TSETCD_VERSION})\n` +
      `Go Version: ${process.version} (Node.js; tsetcd is TypeScript)\nGo OS/Arch: ${process.platform}/${arch}\n` +
      `tsetcd Version: ${TSETCD_VERSION}\n`,
  );
}

const HELP_FLAGS = new Set(['help', '--help', '-h', '-help', '--h']);

function printHelp(): void {
  process.stdout.write(helpText(loadConfig([], {}).config));
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
  // etcd prints some warnings before its logger exists, as raw lines on stderr
  // ("[WARNING] Deprecated '--logger=capnslog' flag is set; ..."); the rest are log lines.
  for (const n of notices) {
    if (n.startsWith('[WARNING] ')) process.stderr.write(`${n}\n`);
    else logger.warn({}, n);
  }
  // Loaded here, not at the top: `tsetcd snapshot ...` never needs the member's code.
  const { startMember, notifySystemdReady } = await import('../embed/index.js');
  let member: Awaited<ReturnType<typeof startMember>>;
  try {
    member = await startMember(config, logger);
  } catch (err) {
    // A start refusal (data dir, WAL, listeners, peers) says what is wrong in one line.
    if (err instanceof StartRefusal) {
      logger.error({}, err.message);
      process.stderr.write(`tsetcd: ${err.message}\n`);
      process.exit(1);
    }
    // Anything else that stops a start (a certificate file that does not parse, ...)
    // is one line too, not a stack trace.
    const message = err instanceof Error ? err.message : String(err);
    logger.error({ err }, 'cannot start the member');
    process.stderr.write(`tsetcd: cannot start: ${message.split('\n')[0] ?? message}\n`);
    process.exit(1);
  }
  member.server.onFatal = (err) => {
    logger.error({ err }, 'fatal: stopping the member');
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`tsetcd: fatal: ${message.split('\n')[0] ?? message}; stopping the member\n`);
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
  logger.info({}, 'ready to serve client requests');
  await notifySystemdReady(logger);
}

/**
 * Prints the effective settings, then what the certificates will fail at: a file that
 * does not parse, a key that is not its certificate's, an expired certificate (each an
 * error: exit 1), an advertised IP or host missing from the SAN (a warning).
 */
async function configCheck(args: readonly string[]): Promise<void> {
  const { config, notices } = configOrExit(args);
  const { certificateReport } = await import('../embed/index.js');
  for (const n of notices) process.stderr.write(`warning: ${n}\n`);
  process.stdout.write(`${describeConfig(config)}\n`);
  const report = certificateReport(config, Date.now());
  for (const w of report.warnings) process.stderr.write(`warning: ${w}\n`);
  for (const e of report.errors) process.stderr.write(`tsetcd: ${e}\n`);
  if (report.errors.length > 0) process.exit(1);
}

const CONFIG_CHECK_HELP =
  'Usage:\n\n  tsetcd config check [flags]\n    Validate the settings (flags, ETCD_* variables or --config-file FILE) as a start\n' +
  '    would, then print every effective setting as key: value; exit 1 with one line\n' +
  '    naming the problem when a value is bad. Takes the flags of `tsetcd --help`.\n';

/**
 * Subcommands are routed by hand: every other argument is an etcd flag in Go's flag
 * syntax, which src/config parses (a general-purpose parser such as yargs would
 * reinterpret them).
 */
async function main(argv: readonly string[]): Promise<void> {
  const [first, second] = argv;
  if (first === 'config') {
    if (second !== undefined && HELP_FLAGS.has(second)) {
      process.stdout.write(CONFIG_CHECK_HELP);
      return;
    }
    if (second !== 'check') {
      process.stderr.write('tsetcd: usage: tsetcd config check [--config-file FILE | etcd flags]\n');
      process.exit(1);
    }
    if (argv.slice(2).some((a) => HELP_FLAGS.has(a))) {
      process.stdout.write(CONFIG_CHECK_HELP);
      return;
    }
    await configCheck(argv.slice(2));
    return;
  }
  if (first === 'snapshot') return (await import('./snapshot.js')).snapshotCommand(argv.slice(1));
  if (first === 'version' || first === '--version' || first === '-version') return printVersion();
  if (first !== undefined && HELP_FLAGS.has(first)) return printHelp();
  await runMember(argv);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`tsetcd: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
