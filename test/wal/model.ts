// A deliberately simple model of what a WAL must return, and a seeded generator of
// raft-shaped save sequences (appends, conflict truncations, hard state changes,
// local snapshots, installed snapshots). Shared by the WAL tests.
import type { Rng } from '../../src/shared/rng.js';
import type {
  WalEntry,
  WalHardState,
  WalRecovered,
  WalSaveRequest,
  WalSnapshot,
} from '../../src/wal/index.js';

export interface ModelState {
  readonly entries: readonly WalEntry[]; // after the snapshot
  readonly snapshot: WalSnapshot | null;
  readonly hardState: WalHardState;
}

export class WalModel {
  /** log[i] is the entry with index i + 1 (entries at or below the snapshot are kept too). */
  private log: WalEntry[] = [];
  snapshot: WalSnapshot | null = null;
  hardState: WalHardState = { term: 0, vote: 0n, commit: 0 };

  apply(req: WalSaveRequest): void {
    const s = req.snapshot;
    if (s !== undefined) {
      const held = this.log[s.index - 1];
      if (held === undefined || held.term !== s.term) this.log = []; // raft restore
      this.snapshot = s;
    }
    for (const e of req.entries ?? []) {
      if (this.log.length === 0 && this.snapshot !== null) {
        // After a restore the log is a hole up to the snapshot; keep positions aligned.
        this.log = new Array<WalEntry>(this.snapshot.index);
      }
      this.log.length = e.index - 1;
      this.log.push(e);
    }
    if (req.hardState !== undefined) this.hardState = req.hardState;
  }

  lastIndex(): number {
    return Math.max(this.log.length, this.snapshot?.index ?? 0);
  }

  termAt(i: number): number {
    if (this.snapshot !== null && i === this.snapshot.index) return this.snapshot.term;
    return this.log[i - 1]?.term ?? 0;
  }

  state(): ModelState {
    const after = this.snapshot?.index ?? 0;
    return { entries: this.log.slice(after), snapshot: this.snapshot, hardState: this.hardState };
  }
}

/** A comparable rendering (hex data, bigint as string). */
export function describeState(s: ModelState | WalRecovered): string {
  return JSON.stringify({
    snapshot:
      s.snapshot === null ? null : [s.snapshot.index, s.snapshot.term, hex(s.snapshot.confState)],
    hardState: [s.hardState.term, String(s.hardState.vote), s.hardState.commit],
    entries: s.entries.map((e) => `${e.index}/${e.term}/${e.type}/${hex(e.data)}`),
  });
}

function hex(b: Uint8Array | undefined): string {
  return b === undefined ? '-' : Buffer.from(b).toString('hex');
}

function randomBytes(rng: Rng, max: number): Buffer {
  const b = Buffer.alloc(rng.int(max + 1));
  for (let i = 0; i < b.length; i++) b[i] = rng.int(256);
  return b;
}

/**
 * The next save a raft node could issue given the model: never truncates at or below
 * commit, terms never go down, snapshots only at committed indexes (local) or beyond
 * the log (installed from a leader). Also says whether to release afterwards.
 */
export function nextSave(
  model: WalModel,
  rng: Rng,
  dataBytesMax = 40,
): { req: WalSaveRequest; releaseTo?: number } {
  const hs = model.hardState;
  let term = Math.max(hs.term, 1);
  const snapIndex = model.snapshot?.index ?? 0;
  const roll = rng.int(20);
  if (roll === 0 && hs.commit > snapIndex) {
    // local snapshot at a committed index
    const at = snapIndex + 1 + rng.int(hs.commit - snapIndex);
    const snapshot: WalSnapshot = {
      index: at,
      term: model.termAt(at),
      confState: randomBytes(rng, 6),
    };
    return { req: { snapshot }, releaseTo: Math.max(1, at - rng.int(4)) };
  }
  if (roll === 1) {
    // installed snapshot from a leader, beyond our log
    term += rng.int(2);
    const at = model.lastIndex() + 1 + rng.int(5);
    const snapshot: WalSnapshot = { index: at, term };
    const hardState: WalHardState = { term, vote: hs.term === term ? hs.vote : 0n, commit: at };
    const entries = [
      { index: at + 1, term, type: 0 as const, data: randomBytes(rng, dataBytesMax) },
    ];
    return { req: { snapshot, entries, hardState } };
  }
  if (roll < 4) {
    // a new term, a vote, maybe commit progress
    term += 1;
    const commit = Math.max(hs.commit, Math.min(model.lastIndex(), hs.commit + rng.int(3)));
    return { req: { hardState: { term, vote: BigInt(1 + rng.int(3)), commit } } };
  }
  // append, possibly truncating uncommitted entries
  const floor = Math.max(hs.commit, snapIndex);
  const last = model.lastIndex();
  const start = last > floor && rng.int(4) === 0 ? floor + 1 + rng.int(last - floor) : last + 1;
  const count = 1 + rng.int(4);
  const entryTerm = Math.max(term, model.termAt(start - 1));
  const entries: WalEntry[] = [];
  for (let i = 0; i < count; i++) {
    entries.push({
      index: start + i,
      term: entryTerm,
      type: rng.int(5) === 0 ? 1 : 0,
      data: randomBytes(rng, dataBytesMax),
    });
  }
  const newLast = start + count - 1;
  const commit = Math.min(newLast, Math.max(hs.commit, hs.commit + rng.int(count + 1)));
  const hardState: WalHardState = {
    term: Math.max(hs.term, entryTerm),
    vote: hs.term >= entryTerm ? hs.vote : 0n,
    commit,
  };
  return { req: { entries, hardState } };
}
