/**
 * Watch validator across faults. A 3-member cluster takes a random
 * write workload (puts, deletes, multi-key txns, prefix deletes) from two writers on
 * random members, with compactions every few seconds; watches start at random times
 * on random members, from random revisions (some below the last compaction), over a
 * single key, a key group or the whole space, with prev_kv and NOPUT / NODELETE
 * filters, and ask for progress now and then. Meanwhile the leader is killed with
 * SIGKILL and started again, and a follower is stopped and restarted. A watch whose
 * member goes away resumes on another member from the revision after the last it saw,
 * as etcd's Go client does.
 *
 * Ground truth: two collector watches from revision 1 on different members (resumed
 * the same way, never compacted past: compactions stay below what they have seen). Their
 * histories must be identical, dense (every revision of the run has its events: all
 * writes are in the watched space), contain every acknowledged write at its revision
 * with exactly its effects, and replay to the final state a linearizable Range reads.
 * Then every watch is checked against it (test/concurrency/watch-check.ts: ordered,
 * unique, atomic, reliable up to what the watch is known to cover, resumable,
 * bookmarkable, prev_kv, is_create, filters, compaction cancels). At the end every
 * live watch must catch up to the final revision (events or a progress notification).
 *
 * Knobs: VALIDATOR_SECONDS (workload length, default 45), VALIDATOR_SEED.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { EtcdGrpcClient, Reply } from '../helpers/grpc-client.js';
import { connectMember, expectOk } from '../helpers/grpc-client.js';
import type { Member } from '../helpers/processes.js';
import {
  dumpMemberLogsOnFailure,
  sleep,
  stopAllMembers,
  targetFromEnv,
} from '../helpers/processes.js';
import { startCluster, waitForLeader } from './cluster/cluster.js';
import { SeededRng } from '../../src/shared/rng.js';
import type * as pb from '../../src/generated/pb.js';
import { checkWatch, History, type HistEvent, type WatchSpec } from '../concurrency/watch-check.js';
import { WatchRunner, kvOf } from '../concurrency/watch-runner.js';
import type { WireKv } from '../concurrency/wire.js';

const target = targetFromEnv();
const WORKLOAD_MS = Number(process.env['VALIDATOR_SECONDS'] ?? 45) * 1000;
const SEED = Number(process.env['VALIDATOR_SEED'] ?? Date.now() % 1_000_000);
const KEYS = Array.from({ length: 16 }, (_v, i) => `v/k${String(i).padStart(2, '0')}`);
const GROUPS: Array<[string, string]> = [
  ['v/k0', 'v/k1'],
  ['v/k1', 'v/k2'],
  ['v/k04', 'v/k12'],
];

let members: Member[];
const down = new Set<Member>();
const clients = new Map<Member, EtcdGrpcClient>();

beforeAll(async () => {
  members = await startCluster({
    target,
    size: 3,
    extraConfig:
      target === 'tsetcd'
        ? { 'snapshot-count': 300, 'snapshot-catchup-entries': 50 }
        : { 'snapshot-count': 300 },
  });
  for (const m of members) clients.set(m, newClient(m));
}, 90_000);
afterAll(async () => {
  for (const c of clients.values()) c.close();
  await stopAllMembers();
}, 30_000);
dumpMemberLogsOnFailure();

function newClient(m: Member): EtcdGrpcClient {
  return connectMember(m, {
    deadlineMs: 3_000,
    channelOptions: {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 500,
    },
  });
}

const rng = new SeededRng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)] as T;
const live = (): Member[] => members.filter((m) => !down.has(m) && m.running);

function clientOf(avoid?: Member): EtcdGrpcClient | undefined {
  const ms = live().filter((m) => m !== avoid);
  const m = ms.length > 0 ? pick(ms) : live()[0];
  return m === undefined ? undefined : clients.get(m);
}

/** An acknowledged write: what it put and which keys it deleted (if they existed). */
interface Ack {
  readonly rev: number;
  readonly puts: ReadonlyMap<string, string>;
  readonly deletes: readonly string[];
  /** A prefix delete: every key under it that existed is deleted. */
  readonly deletePrefix?: string;
}

const acks: Ack[] = [];
const issuedValues = new Set<string>();
const compactions: number[] = [];
const stats = { ops: 0, failed: 0, compactions: 0, kills: 0, restarts: 0 };

async function writer(id: number, until: number): Promise<void> {
  for (let n = 0; Date.now() < until; n++) {
    const c = clientOf();
    if (c === undefined) {
      await sleep(100);
      continue;
    }
    const value = `w${id}-${n}`;
    const roll = rng.int(100);
    let reply: Reply<{ header?: pb.ResponseHeader | null }>;
    let puts = new Map<string, string>();
    let deletes: string[] = [];
    let deletePrefix: string | undefined;
    if (roll < 50) {
      const key = pick(KEYS);
      puts.set(key, value);
      issuedValues.add(value);
      reply = await c.put({
        key: Buffer.from(key),
        value: Buffer.from(value),
        prevKv: rng.int(2) === 0,
      });
    } else if (roll < 70) {
      const key = pick(KEYS);
      deletes = [key];
      reply = await c.deleteRange({ key: Buffer.from(key) });
    } else if (roll < 95) {
      const keys = [...new Set([pick(KEYS), pick(KEYS), pick(KEYS)])];
      const ops = keys.map((k, i) => {
        if (i === 0 && rng.int(3) === 0) {
          deletes.push(k);
          return { requestDeleteRange: { key: Buffer.from(k) } };
        }
        const v = `${value}.${i}`;
        issuedValues.add(v);
        puts.set(k, v);
        return { requestPut: { key: Buffer.from(k), value: Buffer.from(v) } };
      });
      reply = await c.txn({ compare: [], success: ops, failure: [] });
    } else {
      deletePrefix = pick(['v/k0', 'v/k1']);
      reply = await c.deleteRange({
        key: Buffer.from(deletePrefix),
        rangeEnd: Buffer.from(
          `${deletePrefix.slice(0, -1)}${String.fromCharCode(deletePrefix.charCodeAt(deletePrefix.length - 1) + 1)}`,
        ),
      });
    }
    stats.ops++;
    if (!reply.ok) {
      stats.failed++;
      await sleep(50);
      continue;
    }
    // A write that changed nothing (a delete of absent keys) takes no revision of its own.
    if (puts.size > 0 || deletedSomething(reply.value)) {
      const rev = Number(reply.value.header?.revision);
      acks.push({ rev, puts, deletes, ...(deletePrefix === undefined ? {} : { deletePrefix }) });
    }
    puts = new Map();
    await sleep(10);
  }
}

function deletedSomething(v: unknown): boolean {
  const r = v as {
    deleted?: string;
    responses?: Array<{ responseDeleteRange?: { deleted?: string } | null }>;
  };
  if (r.deleted !== undefined && r.deleted !== '0') return true;
  return (r.responses ?? []).some((op) => (op.responseDeleteRange?.deleted ?? '0') !== '0');
}

const runners: WatchRunner[] = [];
const host = {
  pickMember: (avoid?: Member): Member | undefined => {
    const ms = live().filter((m) => m !== avoid);
    return ms.length > 0 ? pick(ms) : live()[0];
  },
};

async function currentRevision(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const c = clientOf();
    const r = c === undefined ? undefined : await c.range({ key: Buffer.from('v/none') });
    if (r?.ok === true) return Number(r.value.header?.revision);
    await sleep(100);
  }
  throw new Error('no member answers a range');
}

function randomSpec(now: number): WatchSpec {
  const lastCompaction = compactions[compactions.length - 1] ?? 1;
  const roll = rng.int(10);
  let key: string;
  let rangeEnd: string;
  if (roll < 3) {
    key = pick(KEYS);
    rangeEnd = '';
  } else if (roll < 7) {
    [key, rangeEnd] = pick(GROUPS);
  } else {
    key = 'v/';
    rangeEnd = 'v0';
  }
  // A fifth start around the last compaction (some below it: compaction cancels),
  // the rest anywhere from there to just past the current revision (future starts).
  const low = Math.max(1, lastCompaction - 5);
  const high = rng.int(5) === 0 ? lastCompaction + 3 : now + 3;
  const startRev = low + rng.int(Math.max(1, high - low));
  return {
    key,
    rangeEnd,
    startRev,
    prevKv: rng.int(10) < 7,
    noPut: rng.int(10) === 0,
    noDelete: rng.int(10) === 0,
  };
}

it(`watches across faults deliver the committed history (${target}, seed ${SEED})`, async () => {
  const t0 = Date.now();
  const until = t0 + WORKLOAD_MS;
  const collectors = [0, 1].map((i) => {
    const r = new WatchRunner(
      `collector${i}`,
      { key: 'v/', rangeEnd: 'v0', startRev: 1, prevKv: true, noPut: false, noDelete: false },
      {
        pickMember: (avoid) => {
          const preferred = members[i];
          if (
            preferred !== undefined &&
            !down.has(preferred) &&
            preferred.running &&
            preferred !== avoid
          )
            return preferred;
          return host.pickMember(avoid);
        },
      },
    );
    r.start();
    return r;
  });
  const writers = [writer(1, until), writer(2, until)];

  const compactor = (async () => {
    while (Date.now() < until) {
      await sleep(4_000);
      const now = await currentRevision();
      const rev = Math.min(now - 50, ...collectors.map((c) => c.lastSeen));
      if (rev <= (compactions[compactions.length - 1] ?? 1)) continue;
      compactions.push(rev); // issued: prev_kv may be missing below it from now on
      const r = await clientOf()?.compact({ revision: rev });
      if (r?.ok === true) stats.compactions++;
    }
  })();

  const spawner = (async () => {
    for (let i = 0; Date.now() < until - 5_000; i++) {
      await sleep(1_200);
      const spec = randomSpec(await currentRevision());
      const r = new WatchRunner(`w${i}`, spec, host);
      runners.push(r);
      r.start();
      if (rng.int(10) < 6) {
        const lifeMs = 3_000 + rng.int(20_000);
        void sleep(lifeMs).then(() => r.stop());
      }
    }
  })();

  const progress = (async () => {
    while (Date.now() < until) {
      await sleep(1_500);
      for (const r of runners) if (rng.int(3) === 0) r.requestProgress();
    }
  })();

  const faults = (async () => {
    await sleep(Math.min(12_000, WORKLOAD_MS / 4));
    const view = await waitForLeader(members, 15_000);
    down.add(view.leader);
    await view.leader.kill();
    stats.kills++;
    await sleep(5_000);
    await view.leader.start();
    clients.get(view.leader)?.close();
    clients.set(view.leader, newClient(view.leader));
    down.delete(view.leader);
    stats.restarts++;
    await sleep(Math.min(10_000, WORKLOAD_MS / 5));
    const now = await waitForLeader(members, 15_000);
    const follower =
      members.find((m) => m !== now.leader && m !== view.leader) ??
      members.find((m) => m !== now.leader);
    if (follower === undefined) throw new Error('no follower to restart');
    down.add(follower);
    await follower.stop();
    await sleep(6_000);
    await follower.start();
    clients.get(follower)?.close();
    clients.set(follower, newClient(follower));
    down.delete(follower);
    stats.restarts++;
  })();

  await Promise.all([...writers, compactor, spawner, progress, faults]);
  await waitForLeader(members, 20_000);
  // The anchor write: its revision is the last of the history every live watch must reach.
  const anchor = expectOk(
    await (clientOf() as EtcdGrpcClient).put({
      key: Buffer.from('v/k00'),
      value: Buffer.from('anchor'),
    }),
    'anchor',
  );
  issuedValues.add('anchor');
  const finalRev = Number(anchor.header?.revision);
  acks.push({ rev: finalRev, puts: new Map([['v/k00', 'anchor']]), deletes: [] });

  const liveRunners = [...collectors, ...runners].filter((r) => !r.ended);
  const deadline = Date.now() + 20_000;
  while (liveRunners.some((r) => r.lastSeen < finalRev) && Date.now() < deadline) {
    for (const r of liveRunners) if (r.lastSeen < finalRev) r.requestProgress();
    await sleep(500);
  }
  const lagging = liveRunners
    .filter((r) => r.lastSeen < finalRev)
    .map((r) => `${r.observed.name} at ${r.lastSeen}`);
  for (const r of liveRunners) r.observed.coveredTo = finalRev;
  await Promise.all([...collectors, ...runners].map((r) => r.stop()));

  // ---- ground truth ----
  const toHist = (r: WatchRunner): HistEvent[] =>
    r.observed.segments
      .flatMap((s) =>
        s.responses.flatMap((o) =>
          o.kind === 'events'
            ? o.events.map((e) => ({ type: e.type, rev: e.kv.mod, kv: e.kv }))
            : [],
        ),
      )
      .filter((e) => e.rev <= finalRev);
  const [h0, h1] = collectors.map(toHist) as [HistEvent[], HistEvent[]];
  const problems: string[] = [];
  if (lagging.length > 0)
    problems.push(
      `watches that never reached the final revision ${finalRev}: ${lagging.join(', ')}`,
    );
  if (JSON.stringify(h0) !== JSON.stringify(h1))
    problems.push('the two collectors saw different histories');
  const history = new History(h0);
  const gaps = history.gaps(2, finalRev);
  if (gaps.length > 0)
    problems.push(`history has no events at revisions ${gaps.slice(0, 10).join(', ')}`);
  for (const a of acks) {
    const at = history.byRev.get(a.rev) ?? [];
    const putsSeen = new Map(at.filter((e) => e.type === 'put').map((e) => [e.kv.key, e.kv.value]));
    const delsSeen = at
      .filter((e) => e.type === 'delete')
      .map((e) => e.kv.key)
      .sort();
    const expectDels = (
      a.deletePrefix !== undefined
        ? [...history.stateMap(a.rev - 1).keys()].filter((k) =>
            k.startsWith(a.deletePrefix as string),
          )
        : a.deletes.filter((k) => history.stateAt(k, a.rev - 1) !== undefined && !a.puts.has(k))
    ).sort();
    if (
      JSON.stringify([...putsSeen].sort()) !== JSON.stringify([...a.puts].sort()) ||
      JSON.stringify(delsSeen) !== JSON.stringify(expectDels)
    ) {
      problems.push(
        `acknowledged write at ${a.rev} (${JSON.stringify([...a.puts])} -${JSON.stringify(expectDels)}) shows as ${JSON.stringify(at.map((e) => [e.type, e.kv.key, e.kv.value]))}`,
      );
      if (problems.length > 20) break;
    }
  }
  for (const e of h0)
    if (e.type === 'put' && !issuedValues.has(e.kv.value))
      problems.push(`value ${e.kv.value} at ${e.rev} was never written`);
  const final = expectOk(
    await (clientOf() as EtcdGrpcClient).range({
      key: Buffer.from('v/'),
      rangeEnd: Buffer.from('v0'),
      revision: finalRev,
    }),
    'final range',
  );
  const finalState = (final.kvs ?? []).map((kv) => kvOf(kv as unknown as WireKv));
  const replayed = [...history.stateMap(finalRev).values()].sort((a, b) =>
    a.key < b.key ? -1 : 1,
  );
  expect(finalState, 'the final state read back equals the replayed history').toEqual(replayed);

  // ---- every watch against it ----
  const ctx = { maxCompactRev: Math.max(0, ...compactions), compactions };
  let events = 0;
  let progressChecked = 0;
  let compactCancels = 0;
  for (const r of [...collectors, ...runners]) {
    problems.push(...r.unexpected.map((u) => `${r.observed.name}: ${u}`));
    problems.push(...checkWatch(history, r.observed, ctx));
    for (const s of r.observed.segments) {
      for (const o of s.responses) {
        if (o.kind === 'events') events += o.events.length;
        else if (o.kind === 'progress') progressChecked++;
        else compactCancels++;
      }
    }
  }
  const resumes = [...collectors, ...runners].reduce((n, r) => n + r.resumes, 0);
  console.log(
    `watch validator (${target}, seed ${SEED}): ${finalRev} revisions, ${stats.ops} writes (${stats.failed} failed),` +
      ` ${stats.compactions} compactions, ${stats.kills} kill -9, ${stats.restarts} restarts, ${runners.length + 2} watches,` +
      ` ${resumes} resumes, ${events} events checked, ${progressChecked} progress notifications, ${compactCancels} compaction cancels,` +
      ` ${Date.now() - t0} ms`,
  );
  // etcd 3.4.23 still has the requested-progress ordering bug (#15220, fixed in 3.5):
  // a progress revision may trail an event already sent. Only a real etcd is excused.
  const excused =
    target === 'etcd'
      ? problems.filter((p) => !/progress at \d+ after an event/.test(p))
      : problems;
  expect(excused, `seed ${SEED}`).toEqual([]);
  expect(stats.kills + stats.restarts).toBeGreaterThanOrEqual(3);
  expect(resumes).toBeGreaterThan(0);
  expect(finalRev).toBeGreaterThan(300);
}, 180_000);
