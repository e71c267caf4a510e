/**
 * ProgressTracker: the current configuration (voters and learners, etcd ConfChange v1:
 * no joint consensus), one Progress per member, and the votes of the current election.
 * Quorum is a simple majority of voters; learners never count (never vote, never ack
 * toward commit, never count for CheckQuorum or ReadIndex).
 *
 * Invariant: voters and learners are disjoint; every voter and learner has a Progress
 * and nothing else does.
 */
import { AssertionError } from '../../shared/assert.js';
import type { ConfState, NodeId } from '../types.js';
import type { Progress } from './progress.js';

export const VoteResult = { Pending: 0, Lost: 1, Won: 2 } as const;
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult];

/** The largest index that a majority of `values` is at or above (0 for no voters). */
export function majorityIndex(values: number[]): number {
  if (values.length === 0) return 0;
  values.sort((a, b) => b - a);
  const q = Math.floor(values.length / 2);
  return values[q] ?? 0;
}

export class ProgressTracker {
  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  confState(): ConfState {
    return { voters: sortIds(this.voters), learners: sortIds(this.learners) };
  }

  quorum(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  isSingleton(): boolean {
    return this.voters.size === 1;
  }

  /**
   * Highest index replicated on a majority of voters (by their acknowledged match).
   * `withLearners` is the learnerCountsToCommit test fault (shared/test-faults.ts) only.
   */
  committed(withLearners = false): number {
    const matches: number[] = [];
    for (const id of this.voters) matches.push(this.mustGet(id).match);
    if (withLearners) for (const id of this.learners) matches.push(this.mustGet(id).match);
    return majorityIndex(matches);
  }

  /** Whether a majority of voters was active since the last check. */
  quorumActive(self: NodeId): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === self || this.mustGet(id).recentActive) active++;
    }
    return active >= this.quorum();
  }

  /** Whether `ids` (a set of acknowledging voters, self included) is a majority. */
  isQuorum(count: (id: NodeId) => boolean): boolean {
    let n = 0;
    for (const id of this.voters) if (count(id)) n++;
    return n >= this.quorum();
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = this.quorum();
    let result: VoteResult = VoteResult.Pending;
    if (granted >= q) result = VoteResult.Won;
    else if (this.voters.size - rejected < q) result = VoteResult.Lost;
    return { granted, rejected, result };
  }

  mustGet(id: NodeId): Progress {
    const pr = this.progress.get(id);
    if (!(pr !== undefined)) throw new AssertionError(`no progress for ${id.toString(16)}`);
    return pr;
  }

  /** Members in id order (deterministic iteration for messages and tests). */
  ids(): NodeId[] {
    return sortIds(this.progress.keys());
  }

  voterIds(): NodeId[] {
    return sortIds(this.voters);
  }
}

export function sortIds(ids: Iterable<NodeId>): NodeId[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
