/**
 * `npm run bench -- <workload> [options]`: the load generator's command line, with
 * etcd benchmark's flag names. Prints the result table, or JSON with --json. Exit code
 * 0 on a completed run (errors are part of the result), 2 on bad options, 1 when the
 * run itself failed (cannot connect, timed out).
 */
import { writeFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { type BenchOptions, OptionsError, resolveOptions, WORKLOADS, isWorkload } from './options.js';
import { formatResult } from './report.js';
import { runBench } from './runner.js';

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

async function main(): Promise<number> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('npm run bench --')
    .usage('$0 <workload> [options]\n\nworkloads: ' + WORKLOADS.join(', '))
    .option('endpoints', { type: 'string', default: 'http://127.0.0.1:2379', describe: 'comma-separated client URLs' })
    .option('cacert', { type: 'string', describe: 'CA bundle (PEM) to verify the servers' })
    .option('cert', { type: 'string', describe: 'client certificate (PEM)' })
    .option('key', { type: 'string', describe: 'client key (PEM)' })
    .option('clients', { type: 'number', describe: 'concurrent clients (default 1; mixed 16)' })
    .option('conns', { type: 'number', describe: 'HTTP/2 connections shared by the clients (default 1)' })
    .option('total', { type: 'number', describe: 'requests in total (default 10000; watch: puts)' })
    .option('duration', { type: 'number', describe: 'seconds of load instead of --total' })
    .option('warmup', { type: 'number', describe: 'unmeasured seconds before --duration' })
    .option('rate', { type: 'number', describe: 'max requests/s over all clients (0 = unlimited)' })
    .option('key-size', { type: 'number' })
    .option('val-size', { type: 'number' })
    .option('key-space-size', { type: 'number' })
    .option('sequential-keys', { type: 'boolean' })
    .option('consistency', { type: 'string', choices: ['l', 's'], describe: 'reads: linearizable or serializable' })
    .option('prefix', { type: 'string', describe: 'key prefix' })
    .option('txn-ops', { type: 'number', describe: 'txn-put: puts per txn' })
    .option('rw-ratio', { type: 'number', describe: 'txn-mixed: reads per write' })
    .option('watchers', { type: 'number', describe: 'watch: watchers in total' })
    .option('streams', { type: 'number', describe: 'watch: watch streams in total' })
    .option('watched-keys', { type: 'number', describe: 'watch: distinct keys watched' })
    .option('put-rate', { type: 'number', describe: 'watch: puts/s that trigger events' })
    .option('lease-ttl', { type: 'number', describe: 'lease-keepalive: lease TTL (s)' })
    .option('list-limit', { type: 'number', describe: 'mixed: page size of lists' })
    .option('workers', { type: 'number', describe: 'worker threads (default: min(conns, cores))' })
    .option('seed', { type: 'number' })
    .option('user', { type: 'string', describe: 'name:password: log in and send the token (etcd benchmark --user)' })
    .option('timeout', { type: 'number', describe: 'abandon the run after this many seconds' })
    .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
    .option('out', { type: 'string', describe: 'also write the JSON result to this file' })
    .demandCommand(1)
    .strict()
    .help()
    .parseAsync();

  const workload = String(argv._[0]);
  if (!isWorkload(workload)) {
    process.stderr.write(`unknown workload ${workload}; one of: ${WORKLOADS.join(', ')}\n`);
    return 2;
  }
  const consistency = str(argv.consistency);
  const given: Partial<BenchOptions> = {
    cacert: str(argv.cacert),
    cert: str(argv.cert),
    key: str(argv.key),
    clients: num(argv.clients),
    conns: num(argv.conns),
    total: num(argv.total),
    durationSec: num(argv.duration),
    warmupSec: num(argv.warmup),
    rate: num(argv.rate),
    keySize: num(argv['key-size']),
    valSize: num(argv['val-size']),
    keySpaceSize: num(argv['key-space-size']),
    sequentialKeys: typeof argv['sequential-keys'] === 'boolean' ? argv['sequential-keys'] : undefined,
    consistency: consistency === 'l' || consistency === 's' ? consistency : undefined,
    prefix: str(argv.prefix),
    txnOps: num(argv['txn-ops']),
    rwRatio: num(argv['rw-ratio']),
    watchers: num(argv.watchers),
    watchStreams: num(argv.streams),
    watchedKeys: num(argv['watched-keys']),
    putRate: num(argv['put-rate']),
    leaseTtlSec: num(argv['lease-ttl']),
    listLimit: num(argv['list-limit']),
    workers: num(argv.workers),
    seed: num(argv.seed),
    user: str(argv.user),
  } as Partial<BenchOptions>;
  let opts: BenchOptions;
  try {
    opts = resolveOptions(workload, argv.endpoints.split(',').filter((e) => e !== ''), given);
  } catch (err) {
    if (err instanceof OptionsError) {
      process.stderr.write(`bench: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const timeout = num(argv.timeout);
  const result = await runBench(opts, timeout === undefined ? undefined : timeout * 1000);
  const json = JSON.stringify(result, null, 2);
  if (argv.out !== undefined) writeFileSync(argv.out, json + '\n');
  process.stdout.write((argv.json ? json : formatResult(result)) + '\n');
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
