// Crash exploration of the WAL (ALICE-style, docs/architecture.md §3): run a seeded
// raft-shaped workload over the simulated file layer, then crash after EVERY file-layer
// operation, in several ways (only durable state; everything; random torn/reordered/
// subset persistence of unsynced pages and directory changes), recover, and check:
//   1. recovery never reports corruption for a crash-only state;
//   2. every save whose promise resolved before the crash point is present;
//   3. the recovered state is exactly the model's state after some save s (a prefix of
//      what was issued), so nothing that was never written appears;
//   4. the WAL works after recovery: a new save survives a further power cut.
// The same harness run with unsafeNoFsync must find lost acknowledged saves.
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../../src/shared/logger.js';
import { SeededRng } from '../../src/shared/rng.js';
import { SimFileLayer } from '../../src/testing/sim-file-layer.js';
import type { CrashMode } from '../../src/testing/sim-file-layer.js';
import { Wal } from '../../src/wal/index.js';
import type { WalOptions, WalRecovered } from '../../src/wal/index.js';
import { WalModel, describeState, nextSave } from './model.js';

const DIR = '/data/member/wal';
const META = Buffer.from('cluster=7');

interface Run {
  start: SimFileLayer;
  live: SimFileLayer;
  /** describeState after save s (index 0: the freshly created WAL). */
  states: string[];
  /** op count at which save s (1-based) resolved. */
  resolvedAt: number[];
  createdAt: number;
}

async function runWorkload(seed: number, saves: number, opts: WalOptions): Promise<Run> {
  const rng = new SeededRng(seed);
  const live = new SimFileLayer({ pageBytes: 32, sectorBytes: 8 });
  const start = live.clone();
  const model = new WalModel();
  const states = [describeState(model.state())];
  const resolvedAt: number[] = [0];
  const wal = await Wal.create(live, DIR, META, opts);
  const createdAt = live.opLog.length;
  let issued = 0;
  while (issued < saves) {
    // 1-4 saves issued in the same turn: they are group-committed together.
    const burst = Math.min(saves - issued, 1 + rng.int(4));
    const pending: Array<Promise<void>> = [];
    let release: number | undefined;
    for (let b = 0; b < burst; b++) {
      const { req, releaseTo } = nextSave(model, rng);
      model.apply(req);
      const n = ++issued;
      states.push(describeState(model.state()));
      pending.push(wal.save(req).then(() => void (resolvedAt[n] = live.opLog.length)));
      release ??= releaseTo;
    }
    await Promise.all(pending);
    if (release !== undefined) await wal.releaseTo(release);
  }
  await wal.close();
  return { start, live, states, resolvedAt, createdAt };
}

interface Verdict {
  ok: boolean;
  why?: string;
}

async function checkCrashState(
  run: Run,
  fs: SimFileLayer,
  k: number,
  opts: WalOptions,
): Promise<Verdict> {
  const acked = run.resolvedAt.filter((at, s) => s > 0 && at <= k).length;
  if (!(await Wal.exists(fs, DIR))) {
    return k >= run.createdAt ? { ok: false, why: 'WAL gone after create resolved' } : { ok: true };
  }
  const pre = fs.clone();
  const cuts: string[] = [];
  const logger = {
    ...nullLogger,
    warn: (_o: object, msg: string) => void cuts.push(msg),
    child: () => logger,
  };
  let opened: { wal: Wal; recovered: WalRecovered };
  try {
    opened = await Wal.open(fs, DIR, { ...opts, logger });
  } catch (err) {
    return { ok: false, why: `recovery failed on a crash-only state: ${String(err)}` };
  }
  const { wal, recovered } = opened;
  if (Buffer.from(recovered.metadata).toString() !== META.toString())
    return { ok: false, why: 'metadata' };
  const got = describeState(recovered);
  const match = run.states.findIndex((s, i) => i >= acked && s === got);
  if (match < 0) {
    const anyEarlier = run.states.findIndex((s) => s === got);
    return {
      ok: false,
      why:
        anyEarlier >= 0
          ? `lost acknowledged saves: state after save ${anyEarlier}, ${acked} acked`
          : `state never written: ${got}`,
    };
  }
  // The WAL goes on after recovery: two more saves (a small one, then a bigger one).
  const last = recovered.entries.at(-1);
  const index = (last?.index ?? recovered.snapshot?.index ?? 0) + 1;
  const term = Math.max(last?.term ?? 1, recovered.snapshot?.term ?? 1, recovered.hardState.term);
  let ackedAt = Infinity;
  await wal.save({ entries: [{ index, term, type: 0, data: Buffer.from('after') }] });
  ackedAt = fs.opLog.length;
  await wal.save({ entries: [{ index: index + 1, term, type: 0, data: Buffer.alloc(100, 7) }] });
  await wal.close();
  // If recovery cut a torn batch, explore crashes of the saves that followed the cut:
  // leftover bytes of the torn batch must never be mistaken for damage or data later.
  const post = fs.opLog;
  const from = cuts.length > 0 ? 0 : post.length;
  const at = pre.clone();
  at.replay(post.slice(0, from));
  for (let k2 = from; k2 <= post.length; k2++) {
    const c = at.clone();
    c.crash(new SeededRng(k * 1000 + k2), k2 === post.length ? 'drop' : 'random');
    let r: WalRecovered;
    try {
      r = await Wal.readAll(c, DIR);
    } catch (err) {
      return { ok: false, why: `after a cut, crash at post-op ${k2}: ${String(err)}` };
    }
    const has = r.entries.some(
      (e) => e.index === index && Buffer.from(e.data).toString() === 'after',
    );
    if (k2 >= ackedAt && !has)
      return { ok: false, why: `after a cut, crash at post-op ${k2} lost an acked save` };
    const op = post[k2];
    if (op !== undefined) at.replay([op]);
  }
  return { ok: true };
}

/** Crashes after every op of the run; returns the failures found. */
async function explore(run: Run, opts: WalOptions, randomPerPoint: number): Promise<string[]> {
  const failures: string[] = [];
  const ops = run.live.opLog;
  const at = run.start.clone();
  const crashRng = new SeededRng(ops.length);
  for (let k = 0; k <= ops.length; k++) {
    const modes: CrashMode[] = ['drop', 'keep', ...Array<CrashMode>(randomPerPoint).fill('random')];
    for (const mode of modes) {
      const fs = at.clone();
      fs.crash(crashRng, mode);
      const v = await checkCrashState(run, fs, k, opts);
      if (!v.ok)
        failures.push(
          `crash after op ${k}/${ops.length} (${ops[k - 1]?.kind ?? 'start'}), ${mode}: ${v.why}`,
        );
    }
    const op = ops[k];
    if (op !== undefined) at.replay([op]);
  }
  return failures;
}

describe('WAL crash exploration', () => {
  const opts: WalOptions = { segmentBytes: 1024 };

  it('at every crash point: acked kept, nothing invented, no false damage', async () => {
    let points = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const run = await runWorkload(seed, 40, opts);
      points += run.live.opLog.length + 1;
      const failures = await explore(run, opts, 4);
      expect(failures.slice(0, 5), `seed ${seed}`).toEqual([]);
    }
    expect(points).toBeGreaterThan(600); // the exploration really ran
  });

  it('with preallocation off (every write extends the file) the same holds', async () => {
    const o: WalOptions = { segmentBytes: 1024, preallocate: false };
    for (let seed = 11; seed <= 13; seed++) {
      const run = await runWorkload(seed, 30, o);
      expect((await explore(run, o, 4)).slice(0, 5), `seed ${seed}`).toEqual([]);
    }
  });

  it('finds the lost acknowledged saves when fsync is skipped (unsafeNoFsync)', async () => {
    const o: WalOptions = { segmentBytes: 1024, unsafeNoFsync: true };
    const run = await runWorkload(5, 20, o);
    const failures = await explore(run, o, 0);
    expect(failures.some((f) => /lost acknowledged|WAL gone/.test(f))).toBe(true);
  });
});
