/**
 * `npm run bench:compare -- [--quick] [--members 1|3] [--rounds N]`: tsetcd against
 * Debian's etcd on this machine, in this run (docs/architecture.md §4).
 *
 * Each round runs three sessions in the order etcd, tsetcd, etcd again (A B A'): the
 * second etcd session gives the A/A noise band each ratio is read against. Every session
 * starts a fresh cluster (fresh data dirs, same seed-style mTLS configs for both kinds),
 * runs every case, measures the footprint, and stops it (compare-session.ts).
 * If tsetcd cannot start (not built yet, or no 3-member support yet), that is recorded
 * once, shown on every row, and tsetcd is not retried; etcd and A/A still run. Once
 * tsetcd has served in the run, a later cluster that does not start (cluster.ts has
 * already retried a port in use) costs only that round's tsetcd session, in the notes.
 * Output: the table on stdout; the small result file bench/results/<name>.json (meant to
 * be committed: commit, machine, load, every figure; result-file.ts) and the per-round
 * data in bench/results/raw/<name>.json (git-ignored).
 * Cleanup: every server process group is killed on exit, SIGINT and SIGTERM; the temp
 * directory (PKI, data) is removed unless --keep.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ClusterStartError, killAllClustersSync, type ServerKind } from './cluster.js';
import { profile as makeProfile } from './compare-plan.js';
import { formatSummary, LABEL_A, LABEL_AA, LABEL_B, shortReason, summarize } from './compare-report.js';
import { runSession, type SessionEnv, type SessionResult } from './compare-session.js';
import { type Ceiling, measureCeiling } from './ceiling.js';
import { buildGoLoadgen, GO_WORKLOADS } from './go-client.js';
import { makePki } from './pki.js';
import { parseScaleKeys, runScalePhase, SCALE_8GIB_KEYS, SCALE_KEYS, scaleCases } from './scale-phase.js';
import { MIX_SECONDS, parseMixSeconds } from './scale-mix.js';
import { GC_STATS_ENV } from '../src/embed/gc-stats.js';
import {
  commandLine,
  costsOf,
  figuresOf,
  loadAverage,
  machine,
  RESULT_FORMAT,
  repoRoot,
  type ResultFile,
  resultName,
  tsetcdBuild,
} from './result-file.js';
import { type RestartPhaseResult, runRestartPhase } from './restart-phase.js';
import { type RestorePhaseResult, type RestoreTool, runRestorePhase } from './restore-phase.js';
import { type SavePhaseResult, runSavePhase } from './save-phase.js';
import { median } from './stats.js';
import { WorkerPool } from './runner.js';

function etcdVersion(bin: string): string | undefined {
  try {
    const out = execFileSync(bin, ['--version'], { encoding: 'utf8' });
    return /etcd Version: (\S+)/.exec(out)?.[1] ?? out.split('\n')[0];
  } catch {
    return undefined;
  }
}

/** The issue allows installing Debian's etcd-server when it is missing. */
function ensureEtcd(bin: string, log: (s: string) => void): string {
  const v = etcdVersion(bin);
  if (v !== undefined) return v;
  if (bin === 'etcd' && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    log('etcd not found: installing Debian etcd-server with apt-get');
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', 'etcd-server'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    const after = etcdVersion(bin);
    if (after !== undefined) return after;
  }
  throw new Error(`etcd binary "${bin}" not found: apt-get install etcd-server, or pass --etcd-bin`);
}

/** bin/tsetcd is run as `node bin/tsetcd` unless it is a shell launcher. */
function tsetcdCommand(launcher: string): { file: string; args: string[] } {
  let first = '';
  try {
    first = readFileSync(launcher, 'utf8').split('\n')[0] ?? '';
  } catch {
    // missing: spawning `node <missing file>` fails fast and is reported as a start failure
  }
  if (first.startsWith('#!') && !first.includes('node')) return { file: launcher, args: [] };
  return { file: process.execPath, args: [launcher] };
}

async function main(): Promise<number> {
  // Read first, before this process and its servers add to it.
  const loadBefore = loadAverage();
  const argv = await yargs(hideBin(process.argv))
    .scriptName('npm run bench:compare --')
    .option('quick', { type: 'boolean', default: false, describe: 'short profile (under 3 minutes)' })
    .option('members', { type: 'number', default: 3, choices: [1, 3] })
    .option('rounds', { type: 'number', describe: 'rounds of A B A (default 5)' })
    .option('only', {
      type: 'string',
      describe: 'run only cases whose id contains this text (opt-in cases, e.g. watch-scale, run only when named)',
    })
    .option('footprint', {
      type: 'boolean',
      default: true,
      describe: 'measure the footprint and restarts (--no-footprint: workload cases only)',
    })
    .option('etcd-bin', { type: 'string', default: 'etcd' })
    .option('etcdctl-bin', { type: 'string', default: 'etcdctl' })
    .option('restore-keys', {
      type: 'number',
      describe: 'keys of 1 KiB in the snapshot restore phase (default 10k quick, 100k full; 1000000 for the 1M figure; 0: skip)',
    })
    .option('save-keys', {
      type: 'number',
      describe: 'keys of 1 KiB on the clusters of the snapshot save phase (default 10k quick, 100k full; 1000000 for the 1M figure; 0: skip)',
    })
    .option('tsetcd-bin', { type: 'string', describe: 'tsetcd launcher (default <repo>/bin/tsetcd)' })
    .option('out', {
      type: 'string',
      describe: 'result file (default bench/results/<UTC time>-<profile>-<N>member.json); per-round data goes to raw/ beside it',
    })
    .option('scale', {
      type: 'boolean',
      default: false,
      describe: 'the scale profile only: load, memory, kube mix, sequential puts and restart at --scale-keys (Go client; see bench/README.md)',
    })
    .option('scale-keys', {
      type: 'string',
      default: SCALE_KEYS.join(','),
      describe: 'scale: comma-separated key counts (1 KiB values; 10000 or 10k, 1M), one case each in one result file',
    })
    .option('scale-mix', {
      type: 'number',
      default: MIX_SECONDS,
      describe: 'scale: seconds of the kube-apiserver-like mix after each load (lists, writes, prev_kv watch, lease churn; Go client); 0: no mix step',
    })
    .option('scale-8gib', {
      type: 'boolean',
      default: false,
      describe: `scale: the 8 GiB case alone (${SCALE_8GIB_KEYS} keys of 1 KiB; hours on a small machine)`,
    })
    .option('client', {
      type: 'string',
      choices: ['ts', 'go'],
      default: 'ts',
      describe: "load generator: ours (ts) or the Go one on etcd's clientv3 (go: put, txn-put and range cases only)",
    })
    .option('warmup', {
      type: 'number',
      describe: 'seconds of unmeasured warm-up run before each duration-mode case, both sides alike (default 1 quick, 2 full; 0: none)',
    })
    .option('keep', { type: 'boolean', default: false, describe: 'keep the temp directory' })
    .strict()
    .help()
    .parseAsync();

  const log = (s: string): void => {
    process.stderr.write(`${s}\n`);
  };
  const root = repoRoot();
  const profile = makeProfile(argv.quick ? 'quick' : 'full', argv.rounds, argv.only);
  const scaleKeys = argv['scale-8gib'] ? [SCALE_8GIB_KEYS] : parseScaleKeys(argv['scale-keys']);
  const scale = argv.scale || argv['scale-8gib'];
  const mixSeconds = parseMixSeconds(argv['scale-mix']);
  if (argv.warmup !== undefined) {
    if (!(argv.warmup >= 0)) throw new Error(`--warmup: want seconds >= 0, got ${argv.warmup}`);
    profile.warmupSec = argv.warmup;
  }
  if (scale) {
    // The scale phase replaces every other case and phase (scale-phase.ts); one round
    // (A B A') per key count unless --rounds says otherwise.
    profile.rounds = argv.rounds ?? 1;
    profile.cases = scaleCases(scaleKeys, mixSeconds > 0);
    profile.footprintSession = 'none';
    profile.bigRestartKeys = 0;
    profile.restoreKeys = 0;
    profile.saveKeys = 0;
    // The scale steps run no workload case: the load phase comes first on every cluster
    // and is what the sequential puts and the restart follow.
    profile.warmupSec = 0;
    // tsetcd members log their GC pauses each second (src/embed/gc-stats.ts); etcd ignores it.
    process.env[GC_STATS_ENV] = '1';
  }
  if (!argv.footprint) {
    profile.footprintSession = 'none';
    profile.bigRestartKeys = 0;
  }
  if (argv['restore-keys'] !== undefined) profile.restoreKeys = argv['restore-keys'];
  // --only names cases; the restore phase runs with them only when named.
  if (argv.only !== undefined && !'snapshot-restore'.includes(argv.only)) profile.restoreKeys = 0;
  if (argv['save-keys'] !== undefined) profile.saveKeys = argv['save-keys'];
  if (argv.only !== undefined && !'snapshot-save'.includes(argv.only)) profile.saveKeys = 0;
  const goClient = argv.client === 'go' || scale;
  if (goClient && !scale) {
    // the Go loadgen has no --user: auth cases stay with our generator
    const runs = (c: (typeof profile.cases)[number]): boolean => GO_WORKLOADS.includes(c.workload) && c.auth !== true;
    const dropped = profile.cases.filter((c) => !runs(c)).map((c) => c.id);
    profile.cases = profile.cases.filter(runs);
    if (dropped.length > 0) log(`--client go: cases the Go client does not run: ${dropped.join(', ')}`);
  }
  const etcdBin = argv['etcd-bin'];
  const etcdVer = ensureEtcd(etcdBin, log);
  const tsetcdLauncher = argv['tsetcd-bin'] ?? join(root, 'bin', 'tsetcd');
  const workDir = mkdtempSync(join(tmpdir(), 'tsetcd-bench-'));
  const cleanup = (): void => {
    killAllClustersSync();
    if (!argv.keep) rmSync(workDir, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      log(`bench:compare: ${sig}, stopping servers`);
      cleanup();
      process.exit(130);
    });
  }

  const startedAt = new Date();
  const build = tsetcdBuild(tsetcdLauncher);
  const load1Min: number[] = [];
  const loadTimer = setInterval(() => load1Min.push(loadAverage()[0]), 15_000);
  loadTimer.unref();
  log(
    `bench:compare ${scale ? 'scale' : profile.name}, ${argv.members} member(s), ${profile.rounds} rounds, etcd ${etcdVer}, ` +
      `${availableParallelism()} cores, tsetcd ${build.commit ?? 'outside git'}${build.dirty ? ' (DIRTY tree)' : ''}, ` +
      `load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, work dir ${workDir}`,
  );
  if (build.dirty) log(`  the tree has changes, the result file will say so: ${build.dirtyPaths.join(', ')}`);
  if (build.distOlderThanSrc) log('  dist/ is older than src/: run `npm run build` first, or the result file will say so');
  let goLoadgen: string | undefined;
  if (goClient) {
    log('building the Go load generator (bench/go/loadgen) offline');
    goLoadgen = await buildGoLoadgen(mkdirAndReturn(join(workDir, 'go')));
  }
  const notes: string[] = [];
  const env: SessionEnv = {
    workDir,
    pki: makePki(mkdirAndReturn(join(workDir, 'pki'))),
    members: argv.members,
    profile,
    command: (kind: ServerKind) => (kind === 'etcd' ? { file: etcdBin, args: [] } : tsetcdCommand(tsetcdLauncher)),
    log,
    pool: new WorkerPool(),
    keep: argv.keep,
    ...(goLoadgen === undefined ? {} : { goLoadgen }),
    note: (line) => {
      notes.push(line);
      log(`  note: ${line}`);
    },
  };

  // The generator's own ceiling: the multi-client put case against a do-nothing server,
  // in the first and the last round (so one busy moment does not decide it).
  // (Not with --client go: the ceiling is the TypeScript generator's.)
  const putCase = goClient ? undefined : profile.cases.find((c) => c.workload === 'put' && (c.options.clients ?? 1) > 1);
  const ceilings: Ceiling[] = [];

  const sessions: SessionResult[] = [];
  let tsetcdUnavailable: string | undefined;
  if (scale && goLoadgen !== undefined) {
    log(`scale: ${scaleKeys.join(', ')} keys of 1 KiB, ${profile.rounds} round(s) of A B A' each${mixSeconds > 0 ? `, ${mixSeconds} s of kube mix after each load` : ''}`);
    sessions.push(
      ...(await runScalePhase(env, goLoadgen, scaleKeys, [
        [LABEL_A, 'etcd'],
        [LABEL_B, 'tsetcd'],
        [LABEL_AA, 'etcd'],
      ], mixSeconds)),
    );
  }
  for (let round = 1; round <= (scale ? 0 : profile.rounds); round++) {
    log(`round ${round}/${profile.rounds}`);
    if (putCase !== undefined && (round === 1 || round === profile.rounds)) {
      const c = await measureCeiling(env.pool, env.pki, putCase.id, putCase.options);
      ceilings.push(c);
      log(
        `  generator ceiling (null server, ${putCase.id}): ` +
          (c.error ?? `${Math.round(c.throughputOpsPerSec)} ops/s using ${c.generatorCores.toFixed(2)} cores`),
      );
    }
    for (const [label, kind] of [
      [LABEL_A, 'etcd'],
      [LABEL_B, 'tsetcd'],
      [LABEL_AA, 'etcd'],
    ] as const) {
      if (kind === 'tsetcd' && tsetcdUnavailable !== undefined) continue;
      try {
        sessions.push(await runSession(env, kind, label, round));
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        if (!(err instanceof ClusterStartError) || kind === 'etcd') throw err;
        if (sessions.some((s) => s.kind === 'tsetcd')) {
          // tsetcd has served in this run: one cluster that did not come up costs this
          // round's tsetcd figures, not the remaining rounds.
          env.note(`round ${round}: a tsetcd cluster did not start, so this round has no tsetcd figures: ${shortReason(msg)}`);
          continue;
        }
        tsetcdUnavailable = `${argv.members}-member tsetcd did not start (not retried): ${msg}`;
        log(`  ${label}: ${tsetcdUnavailable}`);
      }
    }
  }

  await env.pool.close();

  let restart: RestartPhaseResult | undefined;
  if (profile.bigRestartKeys > 0) {
    log(`big restart: ${profile.bigRestartKeys} keys, ${profile.rounds} restarts per side (A B A')`);
    const sides = [
      [LABEL_A, 'etcd'],
      ...(tsetcdUnavailable === undefined ? [[LABEL_B, 'tsetcd'] as const] : []),
      [LABEL_AA, 'etcd'],
    ] as const;
    restart = await runRestartPhase(env, sides);
  }

  let restore: RestorePhaseResult | undefined;
  if (profile.restoreKeys > 0) {
    log(`snapshot restore: ${profile.restoreKeys} keys, ${profile.rounds} restores per side (A B A')`);
    const etcdctl: RestoreTool = {
      command: (file, dataDir) => ({
        file: argv['etcdctl-bin'],
        args: ['snapshot', 'restore', file, `--data-dir=${dataDir}`],
        env: { ETCDCTL_API: '3' },
      }),
    };
    const tsetcd = tsetcdCommand(tsetcdLauncher);
    const ours: RestoreTool = {
      command: (file, dataDir) => ({ file: tsetcd.file, args: [...tsetcd.args, 'snapshot', 'restore', file, `--data-dir=${dataDir}`] }),
    };
    restore = await runRestorePhase({
      workDir,
      keys: profile.restoreKeys,
      rounds: profile.rounds,
      sides: [
        [LABEL_A, etcdctl],
        [LABEL_B, ours],
        [LABEL_AA, etcdctl],
      ],
      log,
      keep: argv.keep,
      timeoutMs: profile.restartTimeoutMs * 5,
    });
  }

  let save: SavePhaseResult | undefined;
  if (profile.saveKeys > 0) {
    log(`snapshot save: ${profile.saveKeys} keys, ${profile.rounds} saves per side (A B A')`);
    save = await runSavePhase(env, profile.saveKeys, argv['etcdctl-bin'], [
      [LABEL_A, 'etcd'],
      ...(tsetcdUnavailable === undefined ? [[LABEL_B, 'tsetcd'] as const] : []),
      [LABEL_AA, 'etcd'],
    ]);
  }

  const { rows, costs } = summarize(profile, sessions, tsetcdUnavailable, restart, restore, save);
  const title =
    `tsetcd ${build.commit?.slice(0, 12) ?? '(outside git)'}${build.dirty ? ' (dirty tree)' : ''} / etcd ${etcdVer}, ` +
    `${scale ? 'scale' : profile.name} profile, ${argv.members} member(s), mTLS, ${profile.rounds} rounds ` +
    `(A B A'), ${availableParallelism()} cores, ${startedAt.toISOString()}`;
  process.stdout.write(`\n${title}\n\n${formatSummary(rows, costs)}\n`);
  if (putCase !== undefined) {
    const etcdRow = rows.find((r) => r.section === putCase.id && r.unit === 'ops/s');
    const ceilingOps = median(ceilings.map((c) => c.throughputOpsPerSec));
    const failedCeiling = ceilings.find((c) => c.error !== undefined)?.error;
    process.stdout.write(
      `\ngenerator ceiling (${putCase.id} against a null gRPC server, same mTLS, same machine, median of ` +
        `${ceilings.length}): ${Math.round(ceilingOps)} ops/s, generator ` +
        `${median(ceilings.map((c) => c.generatorCores)).toFixed(2)} cores` +
        (etcdRow !== undefined && Number.isFinite(etcdRow.etcd)
          ? ` = ${(ceilingOps / etcdRow.etcd).toFixed(1)}x the etcd median on that case`
          : '') +
        (failedCeiling !== undefined ? `; a ceiling run failed: ${failedCeiling}` : '') +
        '\n',
    );
  }
  if (tsetcdUnavailable !== undefined) process.stdout.write(`\n${tsetcdUnavailable}\n`);

  clearInterval(loadTimer);
  const loadAfter = loadAverage();
  const finishedAt = new Date();
  const runProfile: ResultFile['profile'] = {
    name: scale ? 'scale' : profile.name,
    members: argv.members,
    rounds: profile.rounds,
    only: argv.only ?? null,
    footprint: argv.footprint,
    ...(goClient && !scale ? { client: 'go' } : {}),
    warmupMs: Math.round(profile.warmupSec * 1000),
  };
  const name = argv.out === undefined ? resultName(startedAt, runProfile) : basename(argv.out).replace(/\.json$/, '');
  const outFile = argv.out ?? join(root, 'bench', 'results', `${name}.json`);
  const rawFile = join(dirname(outFile), 'raw', `${name}.json`);
  mkdirSync(dirname(rawFile), { recursive: true });
  const raw = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    profile,
    members: argv.members,
    tsetcdUnavailable: tsetcdUnavailable ?? null,
    notes,
    generatorCeiling: ceilings,
    bigRestart: restart ?? null,
    snapshotRestore: restore ?? null,
    snapshotSave: save ?? null,
    summary: rows,
    costs,
    sessions,
  };
  writeFileSync(rawFile, `${JSON.stringify(raw, null, 2)}\n`);
  const okCeilings = ceilings.filter((c) => c.error === undefined);
  const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);
  const result: ResultFile = {
    format: RESULT_FORMAT,
    name,
    command: commandLine(hideBin(process.argv), process.env['npm_lifecycle_event'] === 'bench:compare'),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    tsetcd: build,
    etcd: { version: etcdVer, bin: etcdBin },
    machine: machine(),
    load: {
      before: loadBefore,
      after: loadAfter,
      max1MinDuring: Math.max(loadBefore[0], loadAfter[0], ...load1Min),
      samplesDuring: load1Min.length,
    },
    profile: runProfile,
    tsetcdUnavailable: tsetcdUnavailable ?? null,
    notes,
    generatorCeiling:
      ceilings.length === 0
        ? null
        : {
            opsPerSec: finiteOrNull(median(okCeilings.map((c) => c.throughputOpsPerSec))),
            generatorCores: finiteOrNull(median(okCeilings.map((c) => c.generatorCores))),
            runs: ceilings.length,
            error: ceilings.find((c) => c.error !== undefined)?.error ?? null,
          },
    figures: figuresOf(rows),
    costs: costsOf(costs),
    rawFile: relative(root, rawFile),
  };
  writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
  log(`per-round data written to ${rawFile} (git-ignored)`);
  log(`result file written to ${outFile}: commit it on its own, then \`npm run bench:tables\``);
  return 0;
}

function mkdirAndReturn(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench:compare failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
