/**
 * Progress: the leader's view of one follower (etcd tracker/progress.go).
 *
 *              +--------------------------------------------------------+
 *              |                  send snapshot                         |
 *              |                                                        v
 *        +-----------+  ack (match moves)  +---------------+     +---------------+
 *  new ->|   Probe   |-------------------->|   Replicate   |     |   Snapshot    |
 *        +-----------+<--------------------+---------------+     +---------------+
 *              ^          reject / unreachable                          |
 *              +-------------- snapshot acked, failed or reported ------+
 *
 * Probe: one MsgApp at a time (paused until a response or a heartbeat response) while
 * the leader searches for the match point. Replicate: optimistic pipelining, bounded by
 * Inflights. Snapshot: nothing is sent until the snapshot is acknowledged or reported.
 *
 * Invariant: 0 <= match < next. In state Snapshot, pendingSnapshot > 0.
 */
import { AssertionError, assert } from '../../shared/assert.js';
import { Inflights } from './inflights.js';

export const ProgressState = { Probe: 0, Replicate: 1, Snapshot: 2 } as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];
export const PROGRESS_STATE_NAMES: readonly string[] = [
  'StateProbe', 'StateReplicate', 'StateSnapshot',
];

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** Index of the snapshot being sent (state Snapshot only). */
  pendingSnapshot = 0;
  /** Heard from within the last election timeout (CheckQuorum). */
  recentActive = false;
  /** In Probe: one message is outstanding, wait for its answer. */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;

  constructor(
    next: number,
    maxInflightMsgs: number,
    maxInflightBytes: number,
    public isLearner: boolean,
  ) {
    this.next = Math.max(next, 1);
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      // Resume after the snapshot (or after our match, if larger).
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    assert(snapshotIndex > 0, 'becomeSnapshot: index 0');
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** Account for a MsgApp carrying `entries` entries (last index lastIndex) and `bytes`. */
  sentEntries(entries: number, lastIndex: number, bytes: number): void {
    if (this.state === ProgressState.Replicate) {
      if (entries > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
      // An empty append (commit only) does not pause the pipeline.
    } else if (this.state === ProgressState.Probe) {
      this.msgAppFlowPaused = true;
    } else {
      throw new AssertionError(`sending append in state ${PROGRESS_STATE_NAMES[this.state]}`);
    }
  }

  /** An ack for index n: returns whether match moved. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejection of the append at `rejected`, with the follower's hint `matchHint`.
   * Returns false for a stale rejection (the probe it answers is outdated).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.msgAppFlowPaused;
      case ProgressState.Replicate:
        return this.inflights.full();
      default:
        return true;
    }
  }

  describe(): string {
    let s = `${PROGRESS_STATE_NAMES[this.state]} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += ' learner';
    if (this.isPaused()) s += ' paused';
    if (this.pendingSnapshot > 0) s += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) s += ' inactive';
    if (this.inflights.length() > 0) s += ` inflight=${this.inflights.length()}`;
    return s;
  }
}
