/**
 * Raft core throughput: a 3-member in-memory cluster in one process commits batched
 * proposals (64 per batch, 256-byte entries) and every member applies them. Reports
 * committed entries/s and µs/entry at 1k, 10k, 100k and 1M entries; the per-entry
 * cost should stay flat (no quadratic path in log, progress or read-index handling).
 * Logs are compacted as the server would (snapshot every 10k applied entries), so
 * memory stays bounded at 1M. Payloads come from a preallocated pool (the server gets
 * them from the network), so the figure is the cost of the Raft core alone.
 *
 * One cluster commits 1M entries and the time is read at each checkpoint, so the
 * figures show whether the per-entry cost grows with the log: "segment" is the rate
 * between two checkpoints. CPU time (user + system of this process) is shown too: on
 * a shared machine it is the steadier figure.
 *
 *   npm run build && node dist/bench/raft/raft-bench.js [--sizes 1000,10000] [--rounds 3]
 */
import { MemoryStorage, RawNode, StateType, type Message } from '../../src/raft/index.js';
import { SeededRng } from '../../src/shared/rng.js';

const BATCH = 64;
const ENTRY_BYTES = 256;
const SNAPSHOT_EVERY = 10_000;
const KEEP_AFTER_COMPACT = 1_000;
const POOL = Array.from({ length: 4096 }, (_, i) => new Uint8Array(ENTRY_BYTES).fill(i & 0xff));

interface Member {
  readonly rn: RawNode;
  readonly storage: MemoryStorage;
  applied: number;
  lastSnapshot: number;
}

function makeCluster(): Member[] {
  const voters = [1n, 2n, 3n];
  return voters.map((id) => {
    const storage = new MemoryStorage();
    const confState = { voters, learners: [] };
    storage.applySnapshot({ metadata: { index: 1, term: 1, confState }, data: new Uint8Array(0) });
    const rn = new RawNode({
      id, electionTick: 10, heartbeatTick: 1, storage, applied: 1,
      maxSizePerMsg: 1 << 20, maxInflightMsgs: 256, rng: new SeededRng(Number(id)),
    });
    return { rn, storage, applied: 1, lastSnapshot: 1 };
  });
}

/** Run Ready loops and deliver messages until the cluster is quiet. */
function pump(members: Member[], byId: Map<bigint, Member>): void {
  for (let round = 0; round < 10_000; round++) {
    const inflight: Message[] = [];
    for (const m of members) {
      if (!m.rn.hasReady()) continue;
      const rd = m.rn.ready();
      if (rd.snapshot !== undefined) m.storage.applySnapshot(rd.snapshot);
      m.storage.append(rd.entries);
      if (rd.hardState !== undefined) m.storage.setHardState(rd.hardState);
      const last = rd.entries[rd.entries.length - 1];
      if (last !== undefined) m.rn.persisted(last.index, last.term);
      for (const msg of rd.messages) inflight.push(msg);
      const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
      if (lastApplied !== undefined) m.applied = lastApplied.index;
      m.rn.advance();
      if (m.applied - m.lastSnapshot >= SNAPSHOT_EVERY) {
        m.storage.createSnapshot(m.applied, m.rn.status().confState, new Uint8Array(0));
        m.storage.compact(m.applied - KEEP_AFTER_COMPACT);
        m.lastSnapshot = m.applied;
      }
    }
    if (inflight.length === 0) return;
    for (const msg of inflight) byId.get(msg.to)?.rn.step(msg);
  }
  throw new Error('pump did not settle');
}

interface Checkpoint {
  readonly entries: number;
  readonly wallSeconds: number;
  /** CPU time of this process (user + system): steadier when the machine is shared. */
  readonly cpuSeconds: number;
}

/** Commit `total` entries on a fresh cluster, recording the time at each checkpoint. */
function run(total: number, checkpoints: readonly number[]): Checkpoint[] {
  const members = makeCluster();
  const byId = new Map(members.map((m) => [m.rn.id, m]));
  const leader = members[0];
  if (leader === undefined) throw new Error('no members');
  leader.rn.campaign();
  pump(members, byId);
  if (leader.rn.status().softState.raftState !== StateType.Leader) throw new Error('no leader');
  const base = leader.applied;
  const out: Checkpoint[] = [];
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let proposed = 0;
  let next = 0;
  while (proposed < total) {
    const n = Math.min(BATCH, total - proposed);
    for (let i = 0; i < n; i++) {
      leader.rn.propose(POOL[(proposed + i) % POOL.length] ?? new Uint8Array(ENTRY_BYTES));
    }
    proposed += n;
    pump(members, byId);
    const cp = checkpoints[next];
    if (cp !== undefined && proposed >= cp) {
      for (const m of members) {
        if (m.applied < base + cp) throw new Error(`member ${m.rn.id} applied ${m.applied}`);
      }
      const cpu = process.cpuUsage(c0);
      out.push({
        entries: cp,
        wallSeconds: (performance.now() - t0) / 1000,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
      });
      next++;
    }
  }
  return out;
}

function main(): void {
  const args = process.argv.slice(2);
  const sizesArg = args[args.indexOf('--sizes') + 1];
  const sizes =
    args.includes('--sizes') && sizesArg !== undefined
      ? sizesArg.split(',').map(Number)
      : [1_000, 10_000, 100_000, 1_000_000];
  const roundsArg = args[args.indexOf('--rounds') + 1];
  const rounds = args.includes('--rounds') && roundsArg !== undefined ? Number(roundsArg) : 3;
  const total = Math.max(...sizes);
  run(50_000, [50_000]); // warm up the JIT
  console.log(
    `raft core: 3 members in one process, batches of ${BATCH}, ` +
      `${ENTRY_BYTES}-byte entries, median of ${rounds} runs of ${total} entries`,
  );
  console.log('committed     entries/s  us/entry   segment entries/s  (cpu entries/s)');
  const results = Array.from({ length: rounds }, () => run(total, sizes));
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  sizes.forEach((size, i) => {
    const prev = i === 0 ? 0 : (sizes[i - 1] ?? 0);
    const at = (r: Checkpoint[], k: number): Checkpoint =>
      r[k] ?? { entries: 0, wallSeconds: 0, cpuSeconds: 0 };
    const rate = median(results.map((r) => size / at(r, i).wallSeconds));
    const cpuRate = median(results.map((r) => size / at(r, i).cpuSeconds));
    const since = (r: Checkpoint[]): number => (i === 0 ? 0 : at(r, i - 1).wallSeconds);
    const segment = median(results.map((r) => (size - prev) / (at(r, i).wallSeconds - since(r))));
    console.log(
      `${String(size).padStart(9)}  ${Math.round(rate).toString().padStart(12)}  ` +
        `${(1e6 / rate).toFixed(2).padStart(8)}  ${Math.round(segment).toString().padStart(18)}` +
        `  (${Math.round(cpuRate)})`,
    );
  });
}

main();
