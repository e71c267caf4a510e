/**
 * Raft core throughput: a 3-member in-memory cluster in one process commits batched
 * proposals (64 per batch, 256-byte entries) and every member applies them. Reports
 * committed entries/s and µs/entry at 1k, 10k, 100k and 1M entries; the per-entry
 * cost should stay flat (no quadratic path in log, progress or read-index handling).
 * Logs are compacted as the server would (snapshot every 10k applied entries), so
 * memory stays bounded at 1M. Payloads come from a preallocated pool (the server gets
 * them from the network), so the figure is the cost of the Raft core alone.
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
    storage.applySnapshot({ metadata: { index: 1, term: 1, confState: { voters, learners: [] } }, data: new Uint8Array(0) });
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

function run(entries: number): { seconds: number; committed: number } {
  const members = makeCluster();
  const byId = new Map(members.map((m) => [m.rn.id, m]));
  const leader = members[0];
  if (leader === undefined) throw new Error('no members');
  leader.rn.campaign();
  pump(members, byId);
  if (leader.rn.status().softState.raftState !== StateType.Leader) throw new Error('no leader');
  const start = leader.applied;
  const target = start + entries;
  const t0 = performance.now();
  let proposed = 0;
  while (proposed < entries) {
    const n = Math.min(BATCH, entries - proposed);
    for (let i = 0; i < n; i++) leader.rn.propose(POOL[(proposed + i) % POOL.length] ?? new Uint8Array(ENTRY_BYTES));
    proposed += n;
    pump(members, byId);
  }
  for (const m of members) if (m.applied < target) throw new Error(`member ${m.rn.id} applied ${m.applied} < ${target}`);
  return { seconds: (performance.now() - t0) / 1000, committed: entries };
}

function main(): void {
  const args = process.argv.slice(2);
  const sizesArg = args[args.indexOf('--sizes') + 1];
  const sizes = args.includes('--sizes') && sizesArg !== undefined ? sizesArg.split(',').map(Number) : [1_000, 10_000, 100_000, 1_000_000];
  const roundsArg = args[args.indexOf('--rounds') + 1];
  const rounds = args.includes('--rounds') && roundsArg !== undefined ? Number(roundsArg) : 3;
  run(20_000); // warm up the JIT
  console.log(`raft core: 3 members in one process, batches of ${BATCH}, ${ENTRY_BYTES}-byte entries (median of ${rounds})`);
  console.log('entries      entries/s    us/entry');
  for (const size of sizes) {
    const rates: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const { seconds, committed } = run(size);
      rates.push(committed / seconds);
    }
    rates.sort((a, b) => a - b);
    const median = rates[Math.floor(rates.length / 2)] ?? 0;
    console.log(`${String(size).padStart(9)}  ${Math.round(median).toString().padStart(11)}  ${(1e6 / median).toFixed(2).padStart(10)}`);
  }
}

main();
