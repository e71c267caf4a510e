/**
 * Membership changes with etcd's single-member (ConfChange v1) rules, applied to a
 * ProgressTracker when the server applies a committed ConfChange entry.
 *
 * - AddNode adds a voter, or promotes a learner (its Progress is kept).
 * - AddLearnerNode adds a learner; a voter is never demoted (the change is refused).
 * - RemoveNode removes a voter or learner; removing the last voter is refused.
 * - UpdateNode changes nothing raft knows about (member metadata lives in the server).
 * A refused change leaves the configuration as it was and returns a reason; every
 * member refuses the same changes, because the decision depends only on the log.
 */
import { Progress } from './tracker/progress.js';
import type { ProgressTracker } from './tracker/tracker.js';
import { ConfChangeType, type ConfChange, type ConfState, type NodeId } from './types.js';

export interface ProgressParams {
  readonly next: number;
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes: number;
}

/** Returns undefined on success, or why the change was refused. */
export function applyConfChangeToTracker(
  trk: ProgressTracker,
  cc: ConfChange,
  p: ProgressParams,
): string | undefined {
  const id = cc.nodeId;
  if (id === 0n) return 'node id 0 is invalid';
  switch (cc.type) {
    case ConfChangeType.AddNode: {
      if (trk.voters.has(id)) return undefined;
      const pr = trk.progress.get(id);
      if (pr !== undefined) {
        trk.learners.delete(id);
        pr.isLearner = false;
      } else {
        trk.progress.set(id, newProgress(p, false));
      }
      trk.voters.add(id);
      return undefined;
    }
    case ConfChangeType.AddLearnerNode: {
      if (trk.voters.has(id)) return 'a voter cannot be demoted to a learner';
      if (trk.learners.has(id)) return undefined;
      trk.learners.add(id);
      trk.progress.set(id, newProgress(p, true));
      return undefined;
    }
    case ConfChangeType.RemoveNode: {
      if (trk.voters.has(id) && trk.voters.size === 1) return 'removing the last voter';
      trk.voters.delete(id);
      trk.learners.delete(id);
      trk.progress.delete(id);
      trk.votes.delete(id);
      return undefined;
    }
    case ConfChangeType.UpdateNode:
      return undefined;
  }
}

function newProgress(p: ProgressParams, isLearner: boolean): Progress {
  const pr = new Progress(p.next, p.maxInflightMsgs, p.maxInflightBytes, isLearner);
  // A member just added counts as active, so CheckQuorum does not depose the leader
  // before the newcomer had a chance to answer (etcd confchange.go initProgress).
  pr.recentActive = true;
  return pr;
}

/** Rebuild the configuration from a ConfState (restart or snapshot install). */
export function restoreTracker(trk: ProgressTracker, cs: ConfState, p: ProgressParams): void {
  trk.voters = new Set(cs.voters);
  trk.learners = new Set(cs.learners);
  trk.progress.clear();
  trk.votes.clear();
  for (const id of cs.voters) trk.progress.set(id, newProgress(p, false));
  for (const id of cs.learners) trk.progress.set(id, newProgress(p, true));
}

export function confStateEqual(a: ConfState, b: ConfState): boolean {
  return sameIds(a.voters, b.voters) && sameIds(a.learners, b.learners);
}

function sameIds(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}
