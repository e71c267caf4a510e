/**
 * One Jepsen run: start a cluster in network namespaces, drive a workload while the
 * nemesis injects faults, heal, prove liveness and convergence, run the checker, and write
 * the results folder test-results/jepsen/<run>/ (history.jsonl, schedule.json,
 * verdict.json; member logs when the run fails).
 *
 * Pass criteria (test/jepsen/README.md, C1-C5): a definite valid verdict; at least
 * `minOkBeforeFault` ok ops before the first fault; a leader change for every fault that
 * aimed at the leader; fewer than 10 % unknown writes; after healing a write commits
 * within 10 election timeouts and all members agree on revision and HashKV; no member
 * exited on its own and no member log shows an assertion or fatal error.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SeededRng } from '../../../src/shared/rng.js';
import { REPO_ROOT } from '../../helpers/processes.js';
import type { ClusterMember, ClusterOptions } from '../cluster/cluster.js';
import { Cluster, destroyLiveClusters, sleep } from '../cluster/cluster.js';
import { startMonitor, statuses } from '../cluster/status.js';
import type { Op } from '../history/op.js';
import { Recorder } from '../history/recorder.js';
import { readCommittedLog, resolveUnknowns } from '../history/resolve.js';
import type { Resolution } from '../history/resolve.js';
import type { FaultKind, TargetRule } from '../nemesis/faults.js';
import { CLOCK_RATE_FAULTS, LINK_FAULTS } from '../nemesis/faults.js';
import { ClientPool } from '../workloads/context.js';
import type { WorkloadContext } from '../workloads/context.js';
import { bytes } from '../workloads/context.js';
import { openWatch } from '../workloads/streams.js';
import type { Verdict, Workload } from '../workloads/workload.js';
import { leaderChangeProblems, logProblems, okBefore, quorumlessProblems, writeStats } from './criteria.js';
import type { WriteStats } from './criteria.js';
import { appendRunLine, leaderChanges } from './results.js';
import { Nemesis } from './schedule.js';
import type { ScheduledFault } from './schedule.js';

export interface RunSpec {
  readonly name: string;
  readonly seed: number;
  readonly cluster: ClusterOptions;
  readonly workload: () => Workload;
  readonly faults: readonly FaultKind[];
  readonly target?: TargetRule;
  /** Inject the faults in list order (ScheduleOptions.inOrder). */
  readonly faultsInOrder?: boolean;
  readonly durationMs: number;
  readonly warmupMs?: number;
  readonly holdMs?: readonly [number, number];
  readonly quietMs?: readonly [number, number];
  readonly deadlineMs?: number;
  /** Compact to (current revision - 5) through a random member every this many ms. */
  readonly compactEveryMs?: number;
  readonly minOkBeforeFault?: number;
  readonly maxInfoRatio?: number;
  /** The row exists to exercise snapshot installs: fewer than this many fails it. */
  readonly minSnapshotInstalls?: number;
  /** A service the workload needs; when it answers UNIMPLEMENTED the run fails at once. */
  readonly needs?: 'Watch' | 'Lease';
  /** Runs beside the traffic from the nemesis's start (e.g. a snapshot save); each line it returns is a problem. */
  readonly during?: (ctx: WorkloadContext) => Promise<readonly string[]>;
  /** After the checker, with the ops as the committed log resolved them: more criteria, one problem per line. */
  readonly afterCheck?: (ops: readonly Op[]) => Promise<readonly string[]>;
}

export interface RunResult {
  readonly name: string;
  readonly seed: number;
  readonly dir: string;
  readonly passed: boolean;
  /** Every broken criterion, one line each (empty when passed). */
  readonly problems: readonly string[];
  readonly verdict: Verdict;
  readonly writes: WriteStats;
  readonly ops: number;
  readonly schedule: readonly ScheduledFault[];
  readonly recoveryMs: number | null;
  /** A printable report: seed, schedule, problems, smallest failing window. */
  readonly report: string;
}

export function resultsRoot(): string {
  return process.env['JEPSEN_RESULTS_DIR'] ?? join(REPO_ROOT, 'test-results', 'jepsen');
}

export async function runJepsen(spec: RunSpec): Promise<RunResult> {
  try {
    return await runJepsenUnguarded(spec);
  } finally {
    // Whatever went wrong, no member, namespace or data dir outlives the run.
    await destroyLiveClusters();
  }
}

async function runJepsenUnguarded(spec: RunSpec): Promise<RunResult> {
  const startedAt = new Date().toISOString();
  const wallStart = Date.now();
  const stamp = startedAt.replace(/[:.]/g, '-');
  const dir = join(resultsRoot(), `${stamp}-${spec.name}-${spec.seed}`);
  mkdirSync(dir, { recursive: true });
  const recorder = new Recorder(dir);
  const rng = new SeededRng(spec.seed);
  const workload = spec.workload();
  const electionMs = spec.cluster.electionMs;
  // Two election timeouts: a write that outlives a leader change still answers; shorter
  // deadlines on a loaded 2-core machine turn slow successes into unknown writes.
  const deadlineMs = spec.deadlineMs ?? 2 * electionMs;
  const problems: string[] = [];
  recorder.note(`run ${spec.name} seed ${spec.seed}`);

  const cluster = await Cluster.start(clusterOptionsFor(spec));
  if (spec.needs !== undefined) {
    const missing = await serviceMissing(cluster, spec.needs);
    if (missing !== undefined) {
      await cluster.destroy();
      // A row whose service is missing fails: a green matrix must mean every row ran.
      const report = `jepsen run ${spec.name}: FAILED - ${missing} (the row cannot run)`;
      writeFileSync(join(dir, 'report.txt'), report);
      return {
        name: spec.name,
        seed: spec.seed,
        dir,
        passed: false,
        problems: [missing],
        verdict: { valid: 'unknown', summary: missing },
        writes: writeStats([], () => false),
        ops: 0,
        schedule: [],
        recoveryMs: null,
        report,
      };
    }
  }
  const pool = new ClientPool();
  let trafficStopped = false;
  const ctx: WorkloadContext = {
    recorder,
    cluster,
    rng,
    deadlineMs,
    stopped: () => trafficStopped,
    client: (m) => pool.get(m, deadlineMs),
  };
  const monitor = startMonitor(cluster, recorder);
  const nemesis = new Nemesis(cluster, recorder, rng, {
    faults: spec.faults,
    target: spec.target ?? 'leader',
    inOrder: spec.faultsInOrder === true,
    warmupMs: spec.warmupMs ?? 8000,
    holdMs: spec.holdMs ?? [Math.max(2000, 3 * electionMs), Math.max(4000, 5 * electionMs)],
    quietMs: spec.quietMs ?? [2000, 4000],
    recoverMs: 30_000,
    warmedUp: () =>
      okBefore(recorder.ops(), Number.POSITIVE_INFINITY) >= (spec.minOkBeforeFault ?? 100),
  });
  let recoveryMs: number | null = null;
  let verdict: Verdict = { valid: 'unknown', summary: 'not checked' };
  try {
    await pool.connectAll(cluster.members, deadlineMs, 5000);
    const traffic = workload.run(ctx);
    const compactor =
      spec.compactEveryMs === undefined
        ? undefined
        : compactLoop(ctx, spec.compactEveryMs, () => trafficStopped);
    nemesis.start();
    const beside = (spec.during?.(ctx) ?? Promise.resolve([])).catch((err: unknown) => [
      `beside the traffic: ${String(err)}`,
    ]);
    await sleep(spec.durationMs);
    await nemesis.stop();
    const healedAt = recorder.now();
    recorder.note('healed');
    // A cluster whose members all refused to come back has nothing left to probe.
    const alive = cluster.members.some((m) => m.state === 'running');
    if (!alive) problems.push('no member is running after healing');
    // Liveness (C3): a write commits within 10 election timeouts of the heal.
    const probeMetadata = workload.adminMetadata === undefined ? undefined : (m: ClusterMember) => workload.adminMetadata?.(ctx, m) ?? Promise.resolve(undefined);
    recoveryMs = alive ? await probeWrite(cluster, 10 * electionMs, healedAt, recorder, probeMetadata) : null;
    if (recoveryMs === null)
      problems.push(`no write committed within ${10 * electionMs} ms after healing`);
    trafficStopped = true;
    await traffic;
    await compactor;
    problems.push(...(await beside));
    recorder.abandonPending('run ended');
    if (alive) {
      await cluster
        .waitHealthy(10 * electionMs)
        .catch((err: unknown) => problems.push(`after healing: ${String(err)}`));
      await workload.final(ctx);
      const converge = await convergence(cluster, 15_000);
      if (converge !== null) problems.push(converge);
    }
  } finally {
    trafficStopped = true;
    await monitor.stop();
    pool.closeAll();
  }

  if (cluster.network.proxied) {
    recorder.note(`fault proxy link stats: ${JSON.stringify(await cluster.network.linkStats())}`);
  }
  // Every member stops before its WAL is read: nothing commits after the reading.
  await Promise.all(cluster.members.map((m) => m.kill()));
  const ops = recorder.ops();
  const records = recorder.records();
  const log = await readCommittedLog(cluster.members.map((m) => m.dataDir));
  const resolution = resolveUnknowns(ops, log, (op) => workload.signature?.(op));
  recorder.note(
    `unknown writes resolved by the committed log: ${JSON.stringify({ ...resolution, ops: undefined, members: log.members })}`,
  );
  verdict = workload.check(resolution.ops, records);
  for (const d of resolution.droppedButCommitted)
    problems.push(`answered "raft proposal dropped" but in the committed log: ${d}`);
  if (verdict.valid !== true) problems.push(`checker: ${verdict.summary}`);
  if (spec.afterCheck !== undefined) {
    problems.push(
      ...(await spec.afterCheck(resolution.ops).catch((err: unknown) => [`after the check: ${String(err)}`])),
    );
  }
  const first = nemesis.firstFaultAt;
  const minOk = spec.minOkBeforeFault ?? 100;
  if (spec.faults.length > 0) {
    if (first === undefined) problems.push('no fault was injected');
    else if (okBefore(ops, first) < minOk) {
      problems.push(`only ${okBefore(ops, first)} ok ops before the first fault (need ${minOk})`);
    }
  }
  for (const f of nemesis.schedule)
    if (f.error !== undefined) problems.push(`nemesis ${f.kind}: ${f.error}`);
  problems.push(...leaderChangeProblems(records, nemesis.schedule, 30_000));
  problems.push(...quorumlessProblems(ops, workload.isWrite, nemesis.schedule));
  const writes = writeStats(ops, workload.isWrite);
  const maxInfo = spec.maxInfoRatio ?? 0.1;
  if (writes.infoRatio >= maxInfo) {
    problems.push(
      `${(100 * writes.infoRatio).toFixed(1)} % of sent writes are unknown (limit ${100 * maxInfo} %)`,
    );
  }
  if (writes.ok === 0) problems.push('no write succeeded');
  for (const e of cluster.unexpectedExits)
    problems.push(`member ${e.member} exited by itself (${e.how})`);
  const logs = cluster.members.map((m) => readFileSync(m.logPath, 'utf8'));
  cluster.members.forEach((m, i) => problems.push(...logProblems(m.name, logs[i] ?? '')));
  const snapshots = snapshotCounts(logs);
  if (snapshots.installed < (spec.minSnapshotInstalls ?? 0)) {
    problems.push(
      `${snapshots.installed} snapshot installs (need ${spec.minSnapshotInstalls ?? 0}): the row did not exercise snapshot catch-up`,
    );
  }

  const passed = problems.length === 0;
  recorder.flush();
  writeFileSync(join(dir, 'schedule.json'), JSON.stringify(nemesis.schedule, null, 2));
  const report = formatReport(
    spec,
    dir,
    passed,
    problems,
    verdict,
    writes,
    ops.length,
    nemesis.schedule,
    recoveryMs,
    cluster,
    snapshots,
    resolution,
  );
  writeFileSync(
    join(dir, 'verdict.json'),
    JSON.stringify(
      {
        name: spec.name,
        seed: spec.seed,
        passed,
        problems,
        verdict: { ...verdict, details: undefined },
        writes,
        ops: ops.length,
        recoveryMs,
        snapshots,
        unknowns: { ...resolution, ops: undefined },
      },
      null,
      2,
    ),
  );
  writeFileSync(join(dir, 'report.txt'), report);
  appendRunLine(resultsRoot(), {
    name: spec.name,
    seed: spec.seed,
    passed,
    problems,
    verdict: verdict.summary,
    ops: ops.length,
    faults: nemesis.schedule.length,
    leaderChanges: leaderChanges(records),
    unknownBefore: resolution.unknownBefore,
    committed: resolution.committed,
    notCommitted: resolution.notCommitted,
    unresolved: resolution.unresolved,
    snapshotInstalls: snapshots.installed,
    wallMs: Date.now() - wallStart,
    startedAt,
  });
  if (!passed || process.env['JEPSEN_KEEP_LOGS'] === '1') {
    for (const m of cluster.members) copyFileSync(m.logPath, join(dir, `${m.name}.log`));
  }
  await cluster.destroy();
  return {
    name: spec.name,
    seed: spec.seed,
    dir,
    passed,
    problems,
    verdict,
    writes,
    ops: ops.length,
    schedule: nemesis.schedule,
    recoveryMs,
    report,
  };
}

interface SnapshotCounts {
  readonly sent: number;
  readonly installed: number;
}

/** Snapshot sends and installs the member logs record (etcd-server.ts, member-storage.ts lines). */
function snapshotCounts(logs: readonly string[]): SnapshotCounts {
  const count = (re: RegExp): number =>
    logs.reduce((n, l) => n + (l.match(re)?.length ?? 0), 0);
  return {
    sent: count(/sending a snapshot to a follower/g),
    installed: count(/installed a snapshot from the leader/g),
  };
}

/** A reason when `service` answers UNIMPLEMENTED on the first member, else undefined. */
async function serviceMissing(
  cluster: Cluster,
  service: 'Watch' | 'Lease',
): Promise<string | undefined> {
  const m = cluster.members[0];
  if (m === undefined) return 'no member';
  if (service === 'Lease') {
    const r = await m.admin().unary('Lease', 'LeaseLeases', {}, { deadlineMs: 3000 });
    return !r.ok && r.error.codeName === 'UNIMPLEMENTED'
      ? `Lease service: ${r.error.details}`
      : undefined;
  }
  const why = await new Promise<string | undefined>((resolve) => {
    const s = openWatch(
      m.admin(),
      () => {
        s.close();
        resolve(undefined);
      },
      (end) => resolve(end.startsWith('UNIMPLEMENTED') ? `Watch service: ${end}` : undefined),
    );
    s.send({ createRequest: { key: bytes('jepsen/probe'), startRevision: 1 } });
    setTimeout(() => {
      s.close();
      resolve(undefined);
    }, 3000);
  });
  return why;
}

/** The faults decide part of the members' setup: libfaketime for wall-clock, the WAL test layers for power cuts and fsync EIO, the fault proxies for link faults. */
export function clusterOptionsFor(spec: RunSpec): ClusterOptions {
  const env: Record<string, string> = { ...spec.cluster.env };
  if (spec.faults.includes('power-cut')) env['TSETCD_TEST_POWER_CUT'] = '1';
  if (spec.faults.includes('fsync-eio-leader')) env['TSETCD_TEST_FSYNC_EIO'] = '1';
  const proxied = spec.faults.some((f) => LINK_FAULTS.includes(f));
  const rates = spec.faults.some((f) => CLOCK_RATE_FAULTS.includes(f));
  if (rates && spec.faults.includes('wall-clock')) {
    throw new Error(`${spec.name}: wall-clock offsets and clock rates cannot share a row (a faked monotonic clock would jump)`);
  }
  return {
    ...spec.cluster,
    env,
    faketime: spec.cluster.faketime === true || spec.faults.includes('wall-clock') || rates,
    ...(rates ? { fakeMonotonic: true } : {}),
    ...(proxied ? { faultProxySeed: spec.seed } : {}),
  };
}

async function probeWrite(
  cluster: Cluster,
  budgetMs: number,
  healedAt: number,
  recorder: Recorder,
  metadata?: (m: ClusterMember) => Promise<Readonly<Record<string, string>> | undefined>,
): Promise<number | null> {
  const deadline = Date.now() + budgetMs;
  let i = 0;
  while (Date.now() < deadline) {
    if (cluster.members.every((x) => x.state === 'down')) return null;
    const m = cluster.members[i++ % cluster.members.length];
    if (m !== undefined && m.state === 'running') {
      const md = metadata === undefined ? {} : await metadata(m);
      const put = { key: bytes('jepsen/liveness'), value: bytes(String(i)) };
      const r = md === undefined ? undefined : await m.admin().unary('KV', 'Put', put, { metadata: md });
      if (r?.ok === true) return recorder.now() - healedAt;
    }
    await sleep(100);
  }
  return null;
}

/** null when every member reports the same revision and HashKV; else what differs. */
async function convergence(cluster: Cluster, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (cluster.members.every((x) => x.state === 'down')) return 'every member is down';
    const ss = await statuses(cluster, 1000);
    const revs = new Set(ss.map((s) => s.revision));
    if (ss.length === cluster.members.length && revs.size === 1) {
      const rev = ss[0]?.revision ?? 0;
      const hashes = await Promise.all(
        cluster.members.map((m) => m.admin().hashKV({ revision: rev })),
      );
      const seen = hashes.map(
        (h, i) =>
          `${cluster.members[i]?.name}=${h.ok ? `${h.value.hash}/${String(h.value.compactRevision)}` : h.error.codeName}`,
      );
      const distinct = new Set(
        hashes.map((h) => (h.ok ? `${h.value.hash}/${String(h.value.compactRevision)}` : 'error')),
      );
      if (distinct.size === 1 && !distinct.has('error')) return null;
      last = `HashKV at revision ${rev} differs: ${seen.join(' ')}`;
    } else {
      last = `revisions differ: ${ss.map((s) => `${s.member.name}=${s.revision}`).join(' ')} (${ss.length} of ${cluster.members.length} answered)`;
    }
    await sleep(300);
  }
  return `members did not converge within ${timeoutMs} ms: ${last}`;
}

async function compactLoop(
  ctx: WorkloadContext,
  everyMs: number,
  stopped: () => boolean,
): Promise<void> {
  let defrag = true;
  while (!stopped()) {
    await sleep(everyMs);
    const ss = await statuses(ctx.cluster, 500);
    const s = ss[ctx.rng.int(Math.max(1, ss.length))];
    if (s === undefined || s.revision < 10) continue;
    const r = await s.member.admin().compact({ revision: s.revision - 5 });
    ctx.recorder.note(
      `compact ${s.revision - 5} via ${s.member.name}: ${r.ok ? 'ok' : r.error.codeName}`,
    );
    if (defrag && ctx.rng.int(4) === 0) {
      // Defragmentation during traffic, once the server has it (Jepsen's admin nemesis).
      const d = await s.member.admin().unary('Maintenance', 'Defragment', {}, { deadlineMs: 5000 });
      if (!d.ok && d.error.codeName === 'UNIMPLEMENTED') defrag = false;
      ctx.recorder.note(`defragment ${s.member.name}: ${d.ok ? 'ok' : d.error.codeName}`);
    }
  }
}

function formatReport(
  spec: RunSpec,
  dir: string,
  passed: boolean,
  problems: readonly string[],
  verdict: Verdict,
  writes: WriteStats,
  ops: number,
  schedule: readonly ScheduledFault[],
  recoveryMs: number | null,
  cluster: Cluster,
  snapshots: SnapshotCounts,
  resolution: Resolution,
): string {
  const lines = [
    `jepsen run ${spec.name}: ${passed ? 'PASSED' : 'FAILED'}`,
    `  seed ${spec.seed} (replay: JEPSEN_SEED=${spec.seed}), results ${dir}`,
    `  cluster ${spec.cluster.size} members, heartbeat ${spec.cluster.heartbeatMs} ms, election ${spec.cluster.electionMs} ms` +
      (spec.cluster.env === undefined ? '' : `, env ${JSON.stringify(spec.cluster.env)}`),
    `  ${ops} ops; writes sent ${writes.sent}: ok ${writes.ok}, info ${writes.info} (${(100 * writes.infoRatio).toFixed(1)} %), fail ${writes.fail}; not sent ${writes.notSent}`,
    `  recovery after heal: ${recoveryMs === null ? 'none' : `${recoveryMs.toFixed(0)} ms`}`,
    `  snapshots: ${snapshots.sent} sent to followers, ${snapshots.installed} installed`,
    `  unknown writes ${resolution.unknownBefore}: committed ${resolution.committed}, not committed ${resolution.notCommitted}, unresolved ${resolution.unresolved} (${resolution.why})`,
    ...Object.entries(resolution.byError).map(
      ([e, n]) => `    ${e}: committed ${n.committed}, not committed ${n.notCommitted}, unresolved ${n.unresolved}`,
    ),
    `  verdict: ${verdict.valid === true ? 'valid' : verdict.valid === false ? 'INVALID' : 'UNKNOWN'} - ${verdict.summary}`,
    '  schedule:',
    ...schedule.flatMap((f) => [
      `    ${f.startAt.toFixed(0)}-${f.stopAt?.toFixed(0) ?? '?'} ms ${f.kind} ${f.detail}${f.error === undefined ? '' : ` (${f.error})`}`,
      ...(f.quorumless ?? []).map(
        (w) => `      no quorum ${w.from.toFixed(0)}-${w.to.toFixed(0)} ms: ${w.why}; probe writes ${w.probes}, acknowledged ${w.acked.length}`,
      ),
    ]),
  ];
  if (problems.length > 0) lines.push('  problems:', ...problems.map((p) => `    - ${p}`));
  if (verdict.explanation !== undefined && verdict.valid !== true)
    lines.push('  evidence:', verdict.explanation);
  if (cluster.unexpectedExits.length > 0) {
    for (const e of cluster.unexpectedExits)
      lines.push(`  ---- ${e.member} exited (${e.how}) ----`, e.logTail);
  }
  return lines.join('\n');
}
