// Deterministic simulation of the whole server composition (docs/architecture.md §5): three real member
// cores (src/server/member-core.ts: WAL and state db on the SimFileLayer, Raft node,
// applier, leases, watch hub, EtcdServer) under a client workload with partitions,
// message loss, kill -9 and power cuts; durability, agreement, linearizable reads and
// liveness are checked per seed (test/sim/server/run.ts). Negative controls show the
// checks catch the unsafe test switches.
// CI default: SERVER_SIM_SEEDS=30 seeds x SERVER_SIM_MS=20000 ms of virtual time.
// Replay one seed: SERVER_SIM_SEED=<n> npx vitest run --config test/vitest.config.ts test/sim/server.test.ts
import { describe, expect, it } from 'vitest';
import { runServerSeed, type ServerSimStats } from './server/run.js';
import { checkWatchers, type WatchRecording } from './server/watchers.js';

const env = process.env;
const seeds = Number(env['SERVER_SIM_SEEDS'] ?? 30);
const durationMs = Number(env['SERVER_SIM_MS'] ?? 20_000);
const first = Number(env['SERVER_SIM_FIRST_SEED'] ?? 1);
const only = env['SERVER_SIM_SEED'];

describe('whole-server deterministic simulation', () => {
  it(
    `keeps acknowledged writes, agreement and linearizable reads through crashes and partitions (${only === undefined ? `${seeds} seeds` : `seed ${only}`} x ${durationMs} ms)`,
    async () => {
      const list = only === undefined ? Array.from({ length: seeds }, (_, i) => first + i) : [Number(only)];
      const totals: ServerSimStats = {
        putsOk: 0, putsInfo: 0, readsOk: 0, readsFailed: 0, crashes: 0, powerCutsAll: 0, partitions: 0, snapshotsInstalled: 0, watchEvents: 0, events: 0,
      };
      for (const seed of list) {
        const r = await runServerSeed(seed, { durationMs });
        if (!r.ok) {
          console.error(`seed=${seed} ${r.error}\nreplay: SERVER_SIM_SEED=${seed} SERVER_SIM_MS=${durationMs} npx vitest run --config test/vitest.config.ts test/sim/server.test.ts`);
        }
        expect(r.ok, `seed=${seed}: ${r.error}`).toBe(true);
        for (const k of Object.keys(totals) as Array<keyof ServerSimStats>) totals[k] += r.stats[k];
      }
      console.log(`server sim totals: ${JSON.stringify(totals)}`);
      // The workload must exercise what it claims to.
      expect(totals.putsOk).toBeGreaterThan(list.length * 50);
      expect(totals.readsOk).toBeGreaterThan(list.length * 20);
      if (list.length >= 8) {
        expect(totals.crashes).toBeGreaterThan(0);
        expect(totals.powerCutsAll).toBeGreaterThan(0);
        expect(totals.partitions).toBeGreaterThan(0);
        expect(totals.snapshotsInstalled).toBeGreaterThan(0);
        expect(totals.watchEvents).toBeGreaterThan(list.length * 100);
      }
    },
    600_000,
  );
});

describe('whole-server simulation determinism', () => {
  it('replays a seed exactly (same events, same outcome)', async () => {
    const a = await runServerSeed(5, { durationMs: 4000 });
    const b = await runServerSeed(5, { durationMs: 4000 });
    const c = await runServerSeed(6, { durationMs: 4000 });
    expect(a.ok && b.ok && c.ok).toBe(true);
    expect(JSON.stringify(b.stats)).toBe(JSON.stringify(a.stats));
    expect(JSON.stringify(c.stats)).not.toBe(JSON.stringify(a.stats));
  }, 60_000);
});

describe('whole-server simulation negative controls', () => {
  // Each unsafe switch breaks one guarantee; the simulation must notice within a few
  // seeds, or the checks above prove nothing.
  const controls: Array<[string, Parameters<typeof runServerSeed>[1], RegExp]> = [
    ['read-without-readindex', { durationMs: 10_000, bugs: { readWithoutReadIndex: true } }, /stale read/],
    ['ack-before-commit', { durationMs: 10_000, bugs: { ackBeforeCommit: true } }, /acknowledged put|stale read|differ/],
    ['WAL without fsync', { durationMs: 10_000, unsafeNoFsync: true }, /acknowledged put|start refused|differ|stale read/],
  ];
  for (const [name, opts, expected] of controls) {
    it(`catches ${name}`, async () => {
      const failures: string[] = [];
      for (let seed = 1; seed <= 10 && failures.length === 0; seed++) {
        const r = await runServerSeed(seed, opts);
        if (!r.ok) failures.push(`seed=${seed}: ${(r.error ?? '').split('\n')[0] ?? ''}`);
      }
      console.log(`${name}: ${failures[0] ?? 'not caught'}`);
      expect(failures.length, `${name} was not caught in 10 seeds`).toBeGreaterThan(0);
      expect(failures[0]).toMatch(expected);
    }, 300_000);
  }
});

describe('whole-server simulation watch checker', () => {
  const history = new Map([
    [2, 'put k1=a prev=-'],
    [4, 'put k1=b prev=a@2'],
    [5, 'put k2=c prev=-'],
  ]);
  const rec = (startRevision: number, revs: Array<[number, string]>): WatchRecording => ({
    label: 'm1#0',
    startRevision,
    created: true,
    events: revs.map(([revision, line]) => ({ revision, line })),
  });
  it('accepts a faithful recording and rejects a gap, a duplicate, a wrong event', () => {
    const all: Array<[number, string]> = [...history];
    expect(checkWatchers([rec(1, all)], history)).toBeUndefined();
    expect(checkWatchers([rec(3, all.slice(1))], history)).toBeUndefined();
    expect(checkWatchers([rec(1, all.slice(1))], history)).toMatch(/missed revision 2/);
    expect(checkWatchers([rec(1, [all[0] as [number, string], all[0] as [number, string]])], history)).toMatch(/out of order or duplicated/);
    expect(checkWatchers([rec(1, [[2, 'put k1=a prev=-'], [4, 'put k1=b prev=-']])], history)).toMatch(/history has/);
  });
});
