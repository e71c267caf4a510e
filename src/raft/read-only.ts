/**
 * ReadOnly: the leader's ReadIndex rounds (Raft thesis §6.4, with tsetcd's rules).
 *
 * A request is answered with the commit index the leader recorded when a round
 * *started*, once a majority of voters acknowledged a heartbeat of that round or a
 * later one. Rules (docs/architecture.md §1):
 * - A request that arrives while a round is in flight waits for the next round:
 *   that round's heartbeats left before the request arrived, so their acks cannot
 *   prove leadership at the time of the request (joining would allow a stale read).
 * - Round ids are fresh numbers from a counter that never repeats for this node, so an
 *   ack echoes exactly one round, and confirms that round and every earlier one.
 * - The leader serves reads only after it committed an entry in its term (raft.ts
 *   keeps those requests in `waitingForCommit` until then).
 *
 * Invariant: `rounds` ids increase strictly; each request is in exactly one of
 * waitingForCommit, waiting, or one round.
 */
import type { NodeId } from './types.js';

export interface ReadRequest {
  /** Who asked: the leader itself (local) or a follower that forwarded MsgReadIndex. */
  readonly from: NodeId;
  readonly requestCtx: Uint8Array;
}

export interface ReadRound {
  readonly id: number;
  /** The leader's commit index when the round started: the read index. */
  readonly index: number;
  readonly requests: ReadRequest[];
}

export class ReadOnly {
  waitingForCommit: ReadRequest[] = [];
  private waiting: ReadRequest[] = [];
  private rounds: ReadRound[] = [];
  /** Highest round id each member acknowledged during this leadership. */
  private readonly acked = new Map<NodeId, number>();
  private nextRoundId = 1;

  add(req: ReadRequest): void {
    this.waiting.push(req);
  }

  /** Test-only bug: put the request into the newest in-flight round. */
  joinInflight(req: ReadRequest): boolean {
    const last = this.rounds[this.rounds.length - 1];
    if (last === undefined) return false;
    last.requests.push(req);
    return true;
  }

  hasWaiting(): boolean {
    return this.waiting.length > 0;
  }

  inFlight(): boolean {
    return this.rounds.length > 0;
  }

  /** Start a round for every waiting request; returns its id (0 if nothing waits). */
  startRound(commitIndex: number): number {
    if (this.waiting.length === 0) return 0;
    const id = this.nextRoundId++;
    this.rounds.push({ id, index: commitIndex, requests: this.waiting });
    this.waiting = [];
    return id;
  }

  /** The id heartbeats carry: the newest round (0 when none is in flight). */
  lastRoundId(): number {
    const last = this.rounds[this.rounds.length - 1];
    return last === undefined ? 0 : last.id;
  }

  /**
   * Record that `from` acknowledged round `roundId`, and return the rounds now confirmed
   * by a quorum (`isQuorum` decides, given who acknowledged at least a round id).
   */
  recvAck(
    from: NodeId,
    roundId: number,
    isQuorum: (ackedAtLeast: (id: NodeId) => boolean) => boolean,
  ): ReadRound[] {
    if (roundId === 0) return [];
    const prev = this.acked.get(from) ?? 0;
    if (roundId > prev) this.acked.set(from, roundId);
    let n = 0;
    for (const r of this.rounds) {
      if (!isQuorum((id) => (this.acked.get(id) ?? 0) >= r.id)) break;
      n++;
    }
    if (n === 0) return [];
    return this.rounds.splice(0, n);
  }

  /** Drop everything (leadership lost or gained): callers retry with fresh requests. */
  reset(): void {
    this.waitingForCommit = [];
    this.waiting = [];
    this.rounds = [];
    this.acked.clear();
  }
}
