// Crash exploration of MemberStorage (issue 5, "Crash safety"; the pattern of
// test/wal/crash.test.ts), over the SimFileLayer with the state db on a FileLogBackend.
//
// (1) Apply batches. A seeded workload shaped like EtcdServer's Ready loop: WAL save of
// new entries + hard state (awaited: a client may be answered from here on), then one
// apply batch of the committed entries, built by the real Applier + MvccStore from
// real Put/DeleteRange/Txn requests, carrying setAppliedIndex, written with
// writeApplyBatch without waiting (the next WAL save runs while it is in flight), and
// every few entries a snapshot marker + releaseWalTo chained after the db write, as
// maybeSnapshot does. Crash after EVERY file-layer op ('drop', 'keep', random), open,
// and check: open succeeds; snapshot marker <= applied index A <= WAL last index; the db
// holds exactly the records of the crash-free run after A entries; every entry whose
// save resolved is in the WAL and every WAL entry is one that was issued; re-applying
// WAL entries (A, last] gives the crash-free state after `last` (records and keys).
//
// (2) Snapshot install (installSnapshot from a donor's real snapshotStream) on a
// receiver with WAL + db state. After each crash + open: the receiver has either its
// old db (old applied index) or exactly the donor's db (applied index = donor's), no
// staging leftovers, no refusal; from the first crash point whose durable state alone
// opens as the donor's db (the commit point) on, and whenever installSnapshot had
// resolved, every crash state opens as the donor's db. Crashes during the restart's own
// swap are explored too (crash after every op of that open, then open again).
//
// (3) Negative controls: apply batches written with sync: false, and an install whose
// syncDir of member/ after writing db.staged is skipped, must be caught.
//
// Long runs: MS_CRASH_SEEDS=<n> (apply seeds), MS_CRASH_RANDOM=<n> (random crashes per point).
import { describe, expect, it } from 'vitest';
import { EntryType, type Entry, type Snapshot } from '../../src/raft/types.js';
import type { MemberStorage, RecoveredState } from '../../src/server/member-storage.js';
import { SeededRng } from '../../src/shared/rng.js';
import type { CrashMode, SimFileLayer } from '../../src/storage/sim-file-layer.js';
import {
  applyEntries,
  buildReference,
  dumpBackend,
  liveMap,
  newApplier,
  newSimFs,
  nextRequest,
  openStorage,
  type KvModel,
  type OpenFaults,
} from './member-storage-harness.js';

const SEEDS = Number(process.env['MS_CRASH_SEEDS'] ?? 3);
const RANDOM_PER_POINT = Number(process.env['MS_CRASH_RANDOM'] ?? 3);
const CONF = { voters: [1n], learners: [] };
const SNAPSHOT_COUNT = 6;

interface ApplyRun {
  start: SimFileLayer;
  live: SimFileLayer;
  entries: Entry[];
  /** models[i]: the plain key->value model after entries 1..i. */
  models: KvModel[];
  /** WAL saves that resolved: the last entry index they made durable, and the op count then. */
  saved: Array<{ index: number; at: number }>;
}

function modeList(random: number): CrashMode[] {
  return ['drop', 'keep', ...Array<CrashMode>(random).fill('random')];
}

/** The Ready loop: persist, then apply (db write pipelined), then maybe a snapshot marker. */
async function runApplyWorkload(seed: number, readies: number, faults: OpenFaults = {}): Promise<ApplyRun> {
  const rng = new SeededRng(seed);
  const live = newSimFs();
  const start = live.clone();
  const { storage } = await openStorage(live, { ...faults, jitter: new SeededRng(seed + 1000) });
  const applier = await newApplier(() => storage.store, storage.backend);
  const entries: Entry[] = [];
  const model: KvModel = new Map();
  const models: KvModel[] = [new Map()];
  const saved: ApplyRun['saved'] = [];
  let term = 1;
  let applied = 0;
  let snapshotIndex = 0;
  let dbWrites = Promise.resolve();
  for (let r = 0; r <= readies; r++) {
    const commit = entries.length; // everything saved in earlier Readies is committed now
    const ents: Entry[] = [];
    if (r < readies) {
      if (rng.int(8) === 0) {
        term++; // a new leader appends an empty entry of its term first
        ents.push({ index: entries.length + 1, term, type: EntryType.Normal, data: new Uint8Array(0) });
      }
      for (let n = rng.int(4); n > 0; n--) {
        const index = entries.length + ents.length + 1;
        ents.push({ index, term, type: EntryType.Normal, data: nextRequest(rng, model, index) });
        models[index] = new Map(model);
      }
    }
    const empty = ents.find((e) => e.data.length === 0);
    if (empty !== undefined) models[empty.index] = new Map(models[empty.index - 1]);
    entries.push(...ents);
    await storage.save({ term, vote: 1n, commit }, ents, true);
    saved.push({ index: entries.length, at: live.opLog.length });
    if (commit > applied) {
      const batch = storage.newApplyBatch();
      const toApply = entries.slice(applied, commit);
      applyEntries(applier, toApply, batch);
      const last = toApply[toApply.length - 1];
      if (last === undefined) throw new Error('unreachable');
      storage.setAppliedIndex(batch, last.index, last.term);
      applied = commit;
      dbWrites = dbWrites.then(() => storage.writeApplyBatch(batch));
      if (applied - snapshotIndex >= SNAPSHOT_COUNT) {
        const snap: Snapshot = { metadata: { index: applied, term: last.term, confState: CONF }, data: new Uint8Array(0) };
        snapshotIndex = applied;
        // Only once the db batch holding `index` is durable (it is earlier in the chain).
        dbWrites = dbWrites.then(async () => {
          await storage.saveSnapshotMarker(snap);
          await storage.releaseWalTo(snap.metadata.index);
        });
      }
    }
  }
  await dbWrites;
  await storage.close();
  return { start, live, entries, models, saved };
}

function sameEntry(a: Entry, b: Entry | undefined): boolean {
  return b !== undefined && a.index === b.index && a.term === b.term && Buffer.from(a.data).equals(Buffer.from(b.data));
}

function mapText(m: ReadonlyMap<string, string> | undefined): string {
  return JSON.stringify([...(m ?? new Map<string, string>())].sort());
}

/** Checks one crash state of the apply workload; returns why it is wrong, or undefined. */
async function checkApplyState(
  run: ApplyRun,
  ref: { dumps: readonly string[] },
  fs: SimFileLayer,
  k: number,
): Promise<string | undefined> {
  const acked = Math.max(0, ...run.saved.filter((s) => s.at <= k).map((s) => s.index));
  let opened: { storage: MemberStorage; recovered: RecoveredState };
  try {
    opened = await openStorage(fs);
  } catch (err) {
    return `open refused a crash-only state: ${String(err)}`;
  }
  const { storage, recovered } = opened;
  try {
    const a = recovered.appliedIndex;
    const snapIndex = recovered.snapshot?.metadata.index ?? 0;
    const last = recovered.entries.at(-1)?.index ?? snapIndex;
    if (a > last) return `db applied index ${a} is past the WAL's last index ${last}`;
    if (a < snapIndex) return `db applied index ${a} is below the WAL snapshot marker ${snapIndex}`;
    if (last < acked) return `lost acknowledged entries: WAL ends at ${last}, saves up to ${acked} had resolved`;
    for (const e of recovered.entries)
      if (!sameEntry(e, run.entries[e.index - 1])) return `WAL entry ${e.index} was never written`;
    if ((recovered.hardState?.commit ?? 0) > last) return `hard state commit past the WAL's last index`;
    if ((await dumpBackend(storage.backend)) !== ref.dumps[a])
      return `db at applied index ${a} is not the state after exactly ${a} entries`;
    // Restart replays (A, last] from the WAL, as the Ready loop does after open.
    const replay = recovered.entries.filter((e) => e.index > a);
    const tail = replay.at(-1);
    if (tail !== undefined) {
      if (replay[0]?.index !== a + 1) return `WAL has no entry ${a + 1} after the db's applied index`;
      const applier = await newApplier(() => storage.store, storage.backend);
      const batch = storage.newApplyBatch();
      applyEntries(applier, replay, batch);
      storage.setAppliedIndex(batch, tail.index, tail.term);
      await storage.writeApplyBatch(batch);
    }
    if ((await dumpBackend(storage.backend)) !== ref.dumps[last])
      return `replaying (${a}, ${last}] does not give the state after ${last} entries`;
    if (mapText(await liveMap(storage.store)) !== mapText(run.models[last]))
      return `keys after replay differ from the plain model after ${last} entries`;
    return undefined;
  } finally {
    await storage.close();
  }
}

async function exploreApply(run: ApplyRun, randomPerPoint: number, maxFailures = 5): Promise<{ failures: string[]; points: number }> {
  const ref = await buildReference(run.entries);
  const failures: string[] = [];
  const ops = run.live.opLog;
  const at = run.start.clone();
  for (let k = 0; k <= ops.length && failures.length < maxFailures; k++) {
    const modes = modeList(randomPerPoint);
    for (let m = 0; m < modes.length; m++) {
      const mode = modes[m] ?? 'drop';
      const fs = at.clone();
      const crashSeed = k * 64 + m;
      fs.crash(new SeededRng(crashSeed), mode);
      const why = await checkApplyState(run, ref, fs, k);
      if (why !== undefined)
        failures.push(`crash after op ${k}/${ops.length} (${ops[k - 1]?.kind ?? 'start'}), ${mode} seed ${crashSeed}: ${why}`);
    }
    const op = ops[k];
    if (op !== undefined) at.replay([op]);
  }
  return { failures, points: ops.length + 1 };
}

describe('MemberStorage crash exploration: apply batches', () => {
  it('at every crash point: opens, db is whole batches with their applied index, acked entries kept', async () => {
    let points = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const run = await runApplyWorkload(seed, 24);
      expect(run.entries.length).toBeGreaterThan(SNAPSHOT_COUNT * 2);
      const r = await exploreApply(run, RANDOM_PER_POINT);
      points += r.points;
      expect(r.failures, `seed ${seed}`).toEqual([]);
    }
    expect(points).toBeGreaterThan(100 * SEEDS); // the exploration really ran
  }, 60_000);

  it('negative control: apply batches written with sync: false are caught', async () => {
    const run = await runApplyWorkload(7, 24, { unsyncedDbWrites: true });
    const r = await exploreApply(run, 0, 1);
    expect(r.failures.length).toBeGreaterThan(0);
    expect(r.failures[0]).toMatch(/below the snapshot|refused/);
  }, 30_000);
});
