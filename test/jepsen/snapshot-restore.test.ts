/**
 * Snapshot save and restore under faults (test/jepsen/README.md "Snapshot save and restore
 * under faults"): the register workload runs on a 3-member tsetcd cluster while the leader
 * is killed and partitioned; in the middle, the real `etcdctl snapshot save` runs against
 * a running member. After the run, `tsetcd snapshot restore` turns the file into a fresh
 * 1-member cluster, and checkers/snapshot.ts holds its keys to the history: exactly the
 * acknowledged writes up to the snapshot's revision R, none after. The same restored state
 * checked at R-1 and at the first acknowledged revision after R must fail (the check
 * bites). Every criterion of a matrix row applies too (runner.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { removeWhenTestProcessExits } from '../helpers/cleanup.js';
import { etcdctlFor, parseGetKvs, runEtcdctl } from '../helpers/etcdctl.js';
import { startMember, stopAllMembers, TSETCD_BIN } from '../helpers/processes.js';
import { requireTools } from '../helpers/require-tool.js';
import type { RestoredKv } from './checkers/snapshot.js';
import { checkRestoredRegister } from './checkers/snapshot.js';
import { destroyLiveClusters, sleep } from './cluster/cluster.js';
import type { Op } from './history/op.js';
import { seedFor } from './run/profiles.js';
import { runJepsen } from './run/runner.js';
import type { WorkloadContext } from './workloads/context.js';
import { registerWorkload } from './workloads/register.js';

const run = promisify(execFile);
afterEach(destroyLiveClusters);
afterAll(stopAllMembers, 60_000);

const TRAFFIC_MS = 18_000;
const WARMUP_MS = 4000;
/** The save starts this long into the first fault (whose hold is 3-5 s). */
const SAVE_INTO_FAULT_MS = 1000;

interface Saved {
  readonly file: string;
  readonly member: string;
  readonly revision: number;
  /** The last nemesis event when the save started. */
  readonly during: string;
}

/** `etcdctl snapshot save` against a running member, trying the others while faults hit it. */
async function saveMidRun(ctx: WorkloadContext, file: string): Promise<Saved | string> {
  const faulted = (): boolean => ctx.recorder.records().some((r) => r.kind === 'nemesis' && r.phase === 'start');
  while (!faulted()) {
    if (ctx.stopped()) return 'no fault started, so no snapshot was saved under one';
    await sleep(100);
  }
  await sleep(SAVE_INTO_FAULT_MS);
  const active = ctx.recorder
    .records()
    .filter((r) => r.kind === 'nemesis')
    .map((r) => (r.kind === 'nemesis' ? `${r.phase} ${r.fault} ${r.targets.join(',')}` : ''))
    .pop();
  ctx.recorder.note(`snapshot save while the last nemesis event is: ${active ?? 'none'}`);
  const failures: string[] = [];
  for (let attempt = 0; attempt < 6 && !ctx.stopped(); attempt++) {
    const running = ctx.cluster.members.filter((m) => m.state === 'running');
    const m = running[ctx.rng.int(Math.max(1, running.length))];
    if (m === undefined) {
      await sleep(500);
      continue;
    }
    ctx.recorder.note(`snapshot save via ${m.name} starts`);
    const r = await runEtcdctl(['snapshot', 'save', file], { endpoints: [m.clientUrl], timeoutMs: 15_000 });
    ctx.recorder.note(`snapshot save via ${m.name}: exit ${String(r.code)} ${r.stderr.trim().split('\n').pop() ?? ''}`);
    if (r.code === 0) {
      const status = await runEtcdctl(['snapshot', 'status', file, '-w', 'json'], { endpoints: ['127.0.0.1:1'] });
      const revision = Number(/"revision":(\d+)/.exec(status.stdout)?.[1]);
      if (status.code !== 0 || !(revision > 0)) return `snapshot status: ${status.stdout}${status.stderr}`;
      return { file, member: m.name, revision, during: active ?? 'none' };
    }
    failures.push(`${m.name}: ${r.stderr.trim()}`);
    await sleep(500);
  }
  return `no snapshot saved: ${failures.join('; ')}`;
}

/** The file restored by `tsetcd snapshot restore` into a fresh 1-member cluster; its reg/ keys and revision. */
async function restoreAndRead(saved: Saved): Promise<{ kvs: RestoredKv[]; revision: number }> {
  const member = await startMember({
    target: 'tsetcd',
    name: 'restored',
    beforeStart: async (m) => {
      await run(
        TSETCD_BIN,
        [
          'snapshot', 'restore', saved.file,
          `--name=${m.name}`,
          `--initial-cluster=${m.name}=${m.peerUrl}`,
          `--initial-advertise-peer-urls=${m.peerUrl}`,
          `--data-dir=${m.dataDir}`,
          `--wal-dir=${m.walDir}`,
        ],
        { timeout: 60_000 },
      );
    },
  });
  try {
    const got = await etcdctlFor(member, ['get', 'reg/', '--prefix', '-w', 'json']);
    if (got.code !== 0) throw new Error(`${got.command}: ${got.stderr}`);
    const revision = Number(/"revision":(\d+)/.exec(got.stdout)?.[1]);
    const b64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');
    const kvs = parseGetKvs(got.stdout).map((kv) => ({
      key: b64(kv.key),
      value: b64(kv.value),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
    }));
    return { kvs, revision };
  } finally {
    await member.dispose();
  }
}

/** Ok writes and succeeded compare-and-sets: the ops whose answer names the revision they wrote. */
function acknowledgedWrites(ops: readonly Op[]): Op[] {
  return ops.filter(
    (o) =>
      o.type === 'ok' &&
      (o.f === 'write' || (o.f === 'cas' && (o.output as { succeeded?: boolean } | null)?.succeeded === true)),
  );
}

/** Problems of the restored state against the history, and of the two controls that must fail. */
async function checkRestore(saved: Saved | string | undefined, ops: readonly Op[]): Promise<string[]> {
  if (saved === undefined) return ['the snapshot save never ran'];
  if (typeof saved === 'string') return []; // the save's own problem is already reported
  const { kvs, revision } = await restoreAndRead(saved);
  const R = saved.revision;
  const problems = checkRestoredRegister(ops, kvs, R).map((p) => `restored at ${R}: ${p}`);
  if (revision !== R) problems.push(`the restored member answers at revision ${revision}, the snapshot is at ${R}`);
  const before = checkRestoredRegister(ops, kvs, R - 1);
  if (before.length === 0) problems.push(`control: the restored state also passes at revision ${R - 1}`);
  const after = acknowledgedWrites(ops)
    .filter((o) => (o.revision ?? 0) > R)
    .reduce((min, o) => Math.min(min, o.revision ?? min), Number.POSITIVE_INFINITY);
  if (!Number.isFinite(after)) problems.push(`control: no write was acknowledged after the snapshot's revision ${R}`);
  else if (checkRestoredRegister(ops, kvs, after).length === 0)
    problems.push(`control: the restored state also passes at revision ${after}, after an acknowledged write`);
  console.log(
    `snapshot via ${saved.member} (nemesis: ${saved.during}) at revision ${R}: ${kvs.length} reg/ keys restored, ` +
      `${acknowledgedWrites(ops).filter((o) => (o.revision ?? 0) <= R).length} writes acknowledged at or below R; ` +
      `controls: ${before.length} problems at ${R - 1}, ${Number.isFinite(after) ? checkRestoredRegister(ops, kvs, after).length : 0} at ${after}`,
  );
  return problems;
}

describe('jepsen snapshot save + restore', () => {
  it('register-snapshot-restore: a snapshot saved under faults restores exactly the writes acknowledged up to its revision', async (ctx) => {
    requireTools(ctx, 'root', 'ip', 'iptables', 'etcdctl');
    const dir = mkdtempSync(join(tmpdir(), 'tsetcd-jepsen-snap-'));
    removeWhenTestProcessExits(dir);
    let saved: Saved | string | undefined;
    const name = 'register-snapshot-restore';
    const result = await runJepsen({
      name,
      seed: seedFor(name),
      cluster: { size: 3, heartbeatMs: 100, electionMs: 1000, snapshotCount: 100_000 },
      workload: () => registerWorkload(),
      faults: ['kill', 'partition-leader'],
      faultsInOrder: true,
      durationMs: TRAFFIC_MS,
      warmupMs: WARMUP_MS,
      during: async (wctx) => {
        saved = await saveMidRun(wctx, join(dir, 'mid-run.db'));
        return typeof saved === 'string' ? [saved] : [];
      },
      afterCheck: (ops) => checkRestore(saved, ops),
    });
    console.log(result.report);
    expect(result.problems, result.report).toEqual([]);
    expect(result.passed).toBe(true);
  }, 150_000);
});
