/**
 * One seed of the whole-server simulation: a 3-member cluster of real member cores
 * under a client workload (puts and linearizable reads on random members) and faults
 * (partitions, message loss and delay, kill -9, power cuts of one member or of all),
 * then heal, restart everything, and check:
 *   - every start opens its data dir (no refusal, no corruption after a crash);
 *   - durability: every acknowledged put is in the final history at the revision it
 *     was acknowledged with, with its value;
 *   - agreement: after convergence every member's state db holds the same key records
 *     (the same MVCC history, byte for byte) at the same applied index;
 *   - linearizable reads: a read sees every put acknowledged before it was invoked,
 *     and what it saw is in the final history;
 *   - liveness: after healing, a put through every member succeeds.
 * Client operations that never answered (their member crashed, or they timed out) are
 * indeterminate: they may or may not be in the history.
 */
import { codec } from '../../../src/shared/pb-codec.js';
import type * as pb from '../../../src/generated/pb.js';
import { RequestKind } from '../../../src/apply/request.js';
import { forEachInRange, prefixRange } from '../../../src/storage/backend.js';
import { KEY_PREFIX } from '../../../src/storage/schema.js';
import type { CrashMode } from '../../../src/testing/sim-file-layer.js';
import type { MemberFaults } from '../../../src/shared/test-faults.js';
import { ELECTION_MS, SimCluster, type SimMember } from './cluster.js';
import { SimWorld } from './world.js';
import { checkWatchers, describeEvent } from './watchers.js';

const putCodec = codec<pb.PutRequest>('etcdserverpb.PutRequest');
const KEYS = 6;

export interface ServerSimOptions {
  readonly durationMs: number;
  readonly bugs?: MemberFaults;
  readonly unsafeNoFsync?: boolean;
  /** Faults to draw from (default all). */
  readonly faults?: ReadonlyArray<FaultKind>;
}

export type FaultKind = 'partition' | 'lossy' | 'kill' | 'power-cut-one' | 'power-cut-all';
const ALL_FAULTS: readonly FaultKind[] = ['partition', 'lossy', 'kill', 'power-cut-one', 'power-cut-all'];

export interface ServerSimStats {
  putsOk: number;
  putsInfo: number;
  readsOk: number;
  readsFailed: number;
  crashes: number;
  powerCutsAll: number;
  partitions: number;
  snapshotsInstalled: number;
  watchEvents: number;
  events: number;
}

export interface ServerSimResult {
  readonly ok: boolean;
  readonly error?: string;
  readonly stats: ServerSimStats;
}

interface PutOp {
  readonly key: string;
  readonly value: string;
  readonly invokeSeq: number;
  status: 'pending' | 'ok' | 'info';
  revision: number;
  completeSeq: number;
}

interface ReadOp {
  readonly key: string;
  readonly invokeSeq: number;
  readonly member: string;
  modRevision: number;
  value: string;
  storeRevision: number;
}

class Failure extends Error {}

export async function runServerSeed(seed: number, opts: ServerSimOptions): Promise<ServerSimResult> {
  const world = new SimWorld();
  const cluster = new SimCluster(world, {
    size: 3,
    seed,
    // Small, so snapshots, log compaction and snapshot catch-up happen in every run.
    snapshotCount: 40,
    snapshotCatchupEntries: 10,
    ...(opts.bugs !== undefined ? { bugs: opts.bugs } : {}),
    ...(opts.unsafeNoFsync === true ? { unsafeNoFsync: true } : {}),
  });
  const rng = cluster.rng;
  const stats: ServerSimStats = {
    putsOk: 0,
    putsInfo: 0,
    readsOk: 0,
    readsFailed: 0,
    crashes: 0,
    powerCutsAll: 0,
    partitions: 0,
    snapshotsInstalled: 0,
    watchEvents: 0,
    events: 0,
  };
  const puts: PutOp[] = [];
  const reads: ReadOp[] = [];
  let logical = 0;
  let valueSeq = 0;
  const faultKinds = opts.faults ?? ALL_FAULTS;

  const boot = (m: SimMember): void => {
    void m.boot().catch((err: unknown) => cluster.fatal(`${m.self.name}: start refused: ${String(err)}`));
  };
  const check = (): void => {
    if (cluster.error !== undefined) throw new Failure(cluster.error);
  };

  function newPut(key: string, value: string): PutOp {
    const op: PutOp = { key, value, invokeSeq: ++logical, status: 'pending', revision: 0, completeSeq: 0 };
    puts.push(op);
    return op;
  }

  /** Proposes op's put; `onError` hears timeouts and lost leaders (indeterminate). */
  function sendPut(server: NonNullable<SimMember['core']>['server'], op: PutOp, onError: () => void): void {
    const payload = putCodec.encode({ key: Buffer.from(op.key), value: Buffer.from(op.value) });
    server.propose(RequestKind.Put, payload).then((outcome) => {
      if (!outcome.ok) return onError();
      op.status = 'ok';
      op.revision = outcome.revision;
      op.completeSeq = ++logical;
    }, onError);
  }

  function clientPut(m: SimMember): void {
    const server = m.core?.server;
    if (server === undefined) return;
    const op = newPut(`k${rng.int(KEYS)}`, `v${++valueSeq}`);
    // A timeout or a lost leader: the put may still commit. Indeterminate.
    sendPut(server, op, () => void (op.status = 'info'));
  }

  function clientRead(m: SimMember): void {
    const core = m.core;
    if (core === undefined) return;
    const key = `k${rng.int(KEYS)}`;
    const invokeSeq = ++logical;
    core.server
      .linearizableReadPoint()
      .then(async () => {
        const r = await core.storage.store.range({ key: Buffer.from(key) });
        const kv = r.kvs[0];
        reads.push({
          key,
          invokeSeq,
          member: m.incarnation.label,
          modRevision: kv?.modRevision ?? 0,
          value: kv?.value.toString() ?? '',
          storeRevision: r.revision,
        });
        stats.readsOk++;
      })
      .catch(() => {
        stats.readsFailed++;
      });
  }

  function injectFault(): void {
    const kind = faultKinds[rng.int(faultKinds.length)];
    const n = cluster.members.length;
    const pick = (): SimMember => cluster.leader() ?? (cluster.members[rng.int(n)] as SimMember);
    switch (kind) {
      case 'partition': {
        stats.partitions++;
        cluster.note('partition');
        const victim = rng.int(2) === 0 ? pick().index : rng.int(n);
        const oneWay = rng.int(3) === 0;
        for (let o = 0; o < n; o++) {
          if (o === victim) continue;
          cluster.faults.cut.add(`${victim}>${o}`);
          if (!oneWay) cluster.faults.cut.add(`${o}>${victim}`);
        }
        world.at(500 + rng.int(3000), () => cluster.faults.cut.clear());
        break;
      }
      case 'lossy': {
        cluster.faults.drop = 0.05 + rng.float() * 0.25;
        cluster.faults.maxDelayMs = 5 + rng.int(60);
        world.at(500 + rng.int(3000), () => {
          cluster.faults.drop = 0;
          cluster.faults.maxDelayMs = 5;
        });
        break;
      }
      case 'kill':
      case 'power-cut-one': {
        const victim = rng.int(3) === 0 ? pick() : (cluster.members[rng.int(n)] as SimMember);
        if (!victim.up) break;
        stats.crashes++;
        const mode: CrashMode = kind === 'kill' ? 'keep' : rng.int(2) === 0 ? 'random' : 'drop';
        victim.crash(mode);
        world.at(200 + rng.int(2500), () => boot(victim));
        break;
      }
      case 'power-cut-all': {
        stats.powerCutsAll++;
        for (const m of cluster.members) {
          if (m.up || m.booting) m.crash(rng.int(2) === 0 ? 'random' : 'drop');
        }
        world.at(100 + rng.int(1500), () => {
          for (const m of cluster.members) if (!m.up && !m.booting) boot(m);
        });
        break;
      }
      default:
        break;
    }
  }

  try {
    for (const m of cluster.members) boot(m);
    const bootDeadline = 10 * ELECTION_MS;
    await world.runWhile(bootDeadline, () => cluster.leader() === undefined && cluster.error === undefined);
    check();
    if (cluster.leader() === undefined) throw new Failure('no leader within 10 election timeouts of the first start');

    // The workload: a client step every 10-30 ms, a fault every 1-3 s on average.
    let nextFaultAt = world.now + 1000 + rng.int(2000);
    const end = world.now + opts.durationMs;
    const driver = (): void => {
      if (world.now >= end) return;
      const live = cluster.members.filter((m) => m.up);
      const m = live[rng.int(Math.max(1, live.length))];
      if (m !== undefined) {
        if (rng.int(10) < 6) clientPut(m);
        else clientRead(m);
      }
      if (world.now >= nextFaultAt) {
        injectFault();
        nextFaultAt = world.now + 1000 + rng.int(2000);
      }
      world.at(10 + rng.int(20), driver);
    };
    world.at(0, driver);
    await world.runUntil(end, check);
    check();

    // Heal, restart everyone down, and require progress through every member.
    cluster.heal();
    for (const m of cluster.members) if (!m.up && !m.booting) boot(m);
    await world.runWhile(world.now + 20 * ELECTION_MS, () => cluster.members.some((m) => !m.up) && cluster.error === undefined);
    check();
    const down = cluster.members.filter((m) => !m.up).map((m) => m.self.name);
    if (down.length > 0) throw new Failure(`members ${down.join(',')} did not come back after healing`);
    const finals: PutOp[] = [];
    for (const m of cluster.members) {
      const op = newPut('final', `final-${m.self.name}`);
      finals.push(op);
      const server = m.core?.server;
      if (server === undefined) throw new Failure(`${m.self.name} not serving after restart`);
      const attempt = (): void => sendPut(server, op, () => void world.at(100, attempt));
      attempt();
    }
    const live = await world.runWhile(world.now + 30 * ELECTION_MS, () => finals.some((f) => f.status !== 'ok') && cluster.error === undefined);
    check();
    if (!live) throw new Failure(`no progress after healing: puts through ${finals.filter((f) => f.status !== 'ok').length} member(s) never succeeded`);

    // Converge: every member applied the same index; then let db writes settle.
    const converged = await world.runWhile(world.now + 20 * ELECTION_MS, () => {
      const applied = cluster.members.map((m) => m.core?.server.appliedIndex ?? -1);
      const commit = Math.max(...cluster.members.map((m) => m.core?.server.raftStatus().commit ?? 0));
      return applied.some((a) => a !== commit);
    });
    if (!converged) {
      throw new Failure(`members did not converge: applied ${cluster.members.map((m) => m.core?.server.appliedIndex).join(',')}`);
    }
    await world.runUntil(world.now + 2000, check);
    check();

    for (const op of puts) {
      if (op.status === 'ok') stats.putsOk++;
      else stats.putsInfo++;
    }
    await checkAgreement(cluster);
    await checkHistory(cluster, puts, reads);
    const watchError = checkWatchers(cluster.watches, await watchedHistory(cluster));
    if (watchError !== undefined) throw new Failure(`watch: ${watchError}`);
    stats.watchEvents = cluster.watches.reduce((n, w) => n + w.events.length, 0);
    stats.snapshotsInstalled = cluster.stats.snapshotsInstalled;
    stats.events = world.eventsRun;
    return { ok: true, stats };
  } catch (err) {
    stats.snapshotsInstalled = cluster.stats.snapshotsInstalled;
    stats.events = world.eventsRun;
    const msg = err instanceof Failure ? err.message : String((err as Error).stack ?? err);
    return { ok: false, error: `${msg}\ntrace (last 40):\n${cluster.trace.slice(-40).join('\n')}`, stats };
  }
}

async function keyRecords(m: SimMember): Promise<string[]> {
  const core = m.core;
  if (core === undefined) throw new Failure(`${m.self.name} is down at the end`);
  const out: string[] = [];
  await forEachInRange(core.storage.backend, prefixRange(Buffer.from([KEY_PREFIX])), (k, v) => {
    out.push(`${k.toString('hex')}=${v.toString('hex')}`);
  });
  return out;
}

async function checkAgreement(cluster: SimCluster): Promise<void> {
  const [first, ...rest] = cluster.members;
  if (first === undefined) return;
  const base = await keyRecords(first);
  for (const m of rest) {
    const other = await keyRecords(m);
    const at = base.findIndex((r, i) => other[i] !== r);
    if (at >= 0 || base.length !== other.length) {
      const i = at >= 0 ? at : Math.min(base.length, other.length);
      throw new Failure(
        `state dbs differ: ${first.self.name} has ${base.length} key records, ${m.self.name} ${other.length}; first difference at record ${i}: ${base[i] ?? '(none)'} vs ${other[i] ?? '(none)'}`,
      );
    }
  }
}

async function checkHistory(cluster: SimCluster, puts: readonly PutOp[], reads: readonly ReadOp[]): Promise<void> {
  const store = cluster.members[0]?.core?.storage.store;
  if (store === undefined) throw new Failure('m1 is down at the end');
  const valueAt = async (key: string, revision: number): Promise<{ mod: number; value: string } | undefined> => {
    const r = await store.range({ key: Buffer.from(key), revision });
    const kv = r.kvs[0];
    return kv === undefined ? undefined : { mod: kv.modRevision, value: kv.value.toString() };
  };
  for (const op of puts) {
    if (op.status !== 'ok') continue;
    const got = await valueAt(op.key, op.revision);
    if (got?.mod !== op.revision || got.value !== op.value) {
      throw new Failure(
        `acknowledged put ${op.key}=${op.value} at revision ${op.revision} is not in the final history (found ${JSON.stringify(got)})`,
      );
    }
  }
  // Puts in acknowledgement order, to find what every read must have seen.
  const acked = puts.filter((p) => p.status === 'ok').sort((a, b) => a.completeSeq - b.completeSeq);
  for (const r of reads) {
    let needKey = 0;
    let needStore = 0;
    for (const p of acked) {
      if (p.completeSeq >= r.invokeSeq) break;
      needStore = Math.max(needStore, p.revision);
      if (p.key === r.key) needKey = Math.max(needKey, p.revision);
    }
    if (r.modRevision < needKey || r.storeRevision < needStore) {
      throw new Failure(
        `stale read on ${r.member}: ${r.key} at mod revision ${r.modRevision} (store ${r.storeRevision}), but a put acknowledged before the read was invoked is at revision ${needKey} (store ${needStore})`,
      );
    }
    if (r.modRevision > 0) {
      const got = await valueAt(r.key, r.modRevision);
      if (got?.mod !== r.modRevision || got.value !== r.value) {
        throw new Failure(
          `read on ${r.member} saw ${r.key}=${r.value} at revision ${r.modRevision}, which the final history does not hold (${JSON.stringify(got)})`,
        );
      }
    }
  }
}

/** The change at each revision on the watched keys ["k", "l"), as watch events describe it. */
async function watchedHistory(cluster: SimCluster): Promise<Map<number, string>> {
  const store = cluster.members[0]?.core?.storage.store;
  if (store === undefined) throw new Failure('m1 is down at the end');
  const out = new Map<number, string>();
  for (let rev = 1; rev <= store.currentRevision; rev++) {
    const r = await store.range({ key: Buffer.from('k'), rangeEnd: Buffer.from('l'), revision: rev, minModRevision: rev, maxModRevision: rev });
    const kv = r.kvs[0];
    if (kv === undefined) continue;
    const prev = kv.version > 1 ? (await store.range({ key: kv.key, revision: rev - 1 })).kvs[0] : undefined;
    out.set(rev, describeEvent({ type: 'put', kv, prevKv: prev }));
  }
  return out;
}
