/**
 * Config for one Raft member, with defaults and validation (etcd-io/raft Config).
 * Every limit that grows with client input is named here (docs/architecture.md §6).
 */
import { assert, assertSafeInteger } from '../shared/assert.js';
import { nullLogger, type Logger } from '../shared/logger.js';
import type { Rng } from '../shared/rng.js';
import type { RaftFaults } from '../shared/test-faults.js';
import type { Storage } from './storage.js';
import type { NodeId } from './types.js';

/** The test faults the Raft core honours; each is described in shared/test-faults.ts. */
export type RaftBugs = RaftFaults;

export interface Config {
  readonly id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns (randomized in [n, 2n)). */
  readonly electionTick: number;
  /** Ticks between leader heartbeats; must be < electionTick. */
  readonly heartbeatTick: number;
  readonly storage: Storage;
  /** Last index the application already applied (on restart). */
  readonly applied?: number;
  /** Byte budget of the entries in one MsgApp (at least one entry is always sent). */
  readonly maxSizePerMsg?: number;
  /** Byte budget of committed entries handed out in one Ready. */
  readonly maxCommittedSizePerReady?: number;
  /** MsgApp messages in flight per follower in StateReplicate. */
  readonly maxInflightMsgs?: number;
  /** Bytes in flight per follower (0 = unlimited). */
  readonly maxInflightBytes?: number;
  /**
   * Payload bytes of uncommitted entries the leader accepts before dropping proposals
   * (0 = unlimited).
   */
  readonly maxUncommittedEntriesSize?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly rng: Rng;
  readonly logger?: Logger;
  readonly bugs?: RaftBugs;
}

export interface ResolvedConfig {
  readonly id: NodeId;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly storage: Storage;
  readonly applied: number;
  readonly maxSizePerMsg: number;
  readonly maxCommittedSizePerReady: number;
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes: number;
  readonly maxUncommittedEntriesSize: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly rng: Rng;
  readonly logger: Logger;
  readonly bugs: RaftBugs;
}

export function resolveConfig(c: Config): ResolvedConfig {
  assert(c.id !== 0n, 'raft config: id must not be 0 (None)');
  assert(c.heartbeatTick > 0, 'raft config: heartbeatTick must be > 0');
  assert(c.electionTick > c.heartbeatTick, 'raft config: electionTick must be > heartbeatTick');
  const r: ResolvedConfig = {
    id: c.id,
    electionTick: c.electionTick,
    heartbeatTick: c.heartbeatTick,
    storage: c.storage,
    applied: c.applied ?? 0,
    maxSizePerMsg: c.maxSizePerMsg ?? 1024 * 1024,
    maxCommittedSizePerReady: c.maxCommittedSizePerReady ?? 64 * 1024 * 1024,
    maxInflightMsgs: c.maxInflightMsgs ?? 256,
    maxInflightBytes: c.maxInflightBytes ?? 0,
    maxUncommittedEntriesSize: c.maxUncommittedEntriesSize ?? 0,
    preVote: c.preVote ?? true,
    checkQuorum: c.checkQuorum ?? true,
    rng: c.rng,
    logger: c.logger ?? nullLogger,
    bugs: c.bugs ?? {},
  };
  const counts = [
    'electionTick', 'heartbeatTick', 'applied', 'maxSizePerMsg', 'maxInflightMsgs',
  ] as const;
  for (const k of counts) {
    assertSafeInteger(r[k], `raft config ${k}`);
  }
  assert(r.maxInflightMsgs > 0, 'raft config: maxInflightMsgs must be > 0');
  return r;
}
