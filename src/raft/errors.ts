/**
 * The Raft core's operating conditions, as typed errors with a stable code (etcd-io/raft
 * sentinel errors ErrCompacted, ErrUnavailable, ErrSnapshotTemporarilyUnavailable,
 * ErrProposalDropped, ErrStepLocalMsg). They are conditions the caller handles, not
 * broken invariants: those throw AssertionError from shared/assert.
 */
export type RaftErrorCode =
  | 'raft/compacted'
  | 'raft/unavailable'
  | 'raft/snapshot-temporarily-unavailable'
  | 'raft/snap-out-of-date'
  | 'raft/proposal-dropped'
  | 'raft/step-local-msg'
  | 'raft/step-peer-not-found';

export class RaftError extends Error {
  override readonly name = 'RaftError';
  constructor(
    readonly code: RaftErrorCode,
    detail?: string,
  ) {
    super(detail === undefined ? code : `${code}: ${detail}`);
  }
}

export function isRaftError(err: unknown, code?: RaftErrorCode): err is RaftError {
  return err instanceof RaftError && (code === undefined || err.code === code);
}
