/**
 * Whether a member's state db and its WAL can start together (docs/architecture.md §3),
 * checked at every start: a db behind the WAL's snapshot marker, a db ahead of the WAL's
 * last entry, or a gap between the db's applied index and the WAL's first entry refuses
 * the start with one line saying what to do. Also the commit index a start hands raft.
 */
import { StartRefusal } from '../shared/errors.js';
import type { WalEntry, WalHardState } from './types.js';

/** A state db at `appliedIndex` against the WAL's entries and last snapshot marker. */
export function checkAgreement(
  dataDir: string,
  walDir: string,
  appliedIndex: number,
  entries: readonly WalEntry[],
  snapshotIndex: number,
  installedIndex: number,
): void {
  const first = entries[0];
  const last = entries[entries.length - 1];
  const lastIndex = last?.index ?? snapshotIndex;
  if (appliedIndex < snapshotIndex) {
    throw new StartRefusal(
      'data-dir',
      `data dir ${dataDir}: the state db has applied index ${appliedIndex}, below the snapshot index ${snapshotIndex} recorded in the WAL in ${walDir}; the db lost data. Restore this member from a snapshot or remove it and re-add it to the cluster`,
    );
  }
  // A db received in a snapshot may be ahead of the log until the next apply: the
  // leader streamed its db as it was after the snapshot index; those entries are
  // committed on the cluster and arrive again from the leader.
  const justInstalled = installedIndex === appliedIndex && snapshotIndex > 0;
  if (appliedIndex > lastIndex && !justInstalled) {
    throw new StartRefusal(
      'data-dir',
      `data dir ${dataDir}: the state db has applied index ${appliedIndex} but the WAL in ${walDir} ends at ${lastIndex}; the WAL lost entries the db holds. Restore this member from a snapshot or remove it and re-add it to the cluster`,
    );
  }
  if (first !== undefined && first.index > appliedIndex + 1) {
    throw new StartRefusal(
      'data-dir',
      `data dir ${dataDir}: the WAL in ${walDir} starts at index ${first.index} but the state db is only at ${appliedIndex}; entries in between are missing. Restore this member from a snapshot or remove it and re-add it to the cluster`,
    );
  }
}

/**
 * A commit-only hard state is not fsynced on its own (etcd's MustSync is false; the
 * server lets it ride with the next write), so the WAL's last hard state may hold a
 * commit index below a snapshot marker written after it: the marker is only written
 * once the db batch holding that index is durable, so that index was committed. Raft
 * refuses a commit below its snapshot (found by the whole-server simulation: a power
 * cut right after a snapshot marker made the member refuse to start).
 */
export function withCommitAtLeast(hs: WalHardState, snapshotIndex: number): WalHardState {
  return hs.commit >= snapshotIndex ? hs : { ...hs, commit: snapshotIndex };
}
