/**
 * Error classification for Jepsen clients (testing-reference §1.2, after jepsen-io/etcd
 * client.clj): which gRPC outcomes prove that an op had no effect (`fail`) and which
 * leave it unknown (`info`).
 *
 * Rule: a write whose fate is unknown is `info`, never `fail` — a timeout, UNAVAILABLE
 * ("leader changed", "no leader", "request timed out"), a reset stream or anything we do
 * not recognise may have been committed. "raft proposal dropped" (code Unknown) is
 * definite: raft refused the entry before any log held it; so is a stream the server
 * refused (REFUSED_STREAM). Only errors that etcd returns before the
 * request reaches Raft, or that describe a definite refusal, are `fail`. A read that
 * errs has no effect either way, so it is `fail` (checkers drop it).
 *
 * A request the harness never put on the wire (the channel was not connected when the
 * op was due) is `fail` with error 'not-sent': nothing could have happened.
 */

/** gRPC status names whose answer proves the request was not executed. */
const DEFINITE_CODES: ReadonlySet<string> = new Set([
  'INVALID_ARGUMENT', // validation before proposing (empty key, bad range, too many ops)
  'NOT_FOUND', // lease not found, member not found
  'ALREADY_EXISTS', // duplicate key in txn, lease exists
  'OUT_OF_RANGE', // revision compacted / future revision
  'FAILED_PRECONDITION',
  'PERMISSION_DENIED',
  'UNAUTHENTICATED',
  'RESOURCE_EXHAUSTED', // too many requests (refused before proposing), no space
  'UNIMPLEMENTED',
]);

export interface ErrorLike {
  readonly codeName: string;
  readonly details: string;
}

export type Outcome = 'fail' | 'info';

/**
 * Classifies an error answer. `idempotent` ops (reads) always `fail`: they changed
 * nothing, whatever happened to them.
 */
export function classifyError(error: ErrorLike, idempotent: boolean): Outcome {
  if (idempotent) return 'fail';
  // raft refused the proposal before it entered any log (etcd: raft.ErrProposalDropped,
  // code Unknown); a timeout without a leader is "request timed out", still unknown.
  if (error.details === PROPOSAL_DROPPED) return 'fail';
  // The server refused the stream (HTTP/2 REFUSED_STREAM: not processed, RFC 7540
  // §8.1.4), e.g. a member still starting (src/embed/member.ts listen); grpc-js has
  // already retried it once.
  if (error.codeName === 'UNAVAILABLE' && error.details === STREAM_REFUSED) return 'fail';
  return DEFINITE_CODES.has(error.codeName) ? 'fail' : 'info';
}

/** etcd's text for a proposal raft dropped (raft/raft.go ErrProposalDropped). */
export const PROPOSAL_DROPPED = 'raft proposal dropped';

/** grpc-js's text for a stream the server reset with REFUSED_STREAM. */
export const STREAM_REFUSED = 'Stream refused by server';

export function describeError(error: ErrorLike): string {
  return `${error.codeName}: ${error.details}`;
}

export const NOT_SENT = 'not-sent';
