/**
 * The Raft core's data types: log entries, hard state, snapshots, membership
 * (ConfState / ConfChange v1), messages, and the Ready batch handed to the server.
 *
 * Conventions (docs/architecture.md §6): node ids are 64-bit `bigint` (0n means "none"); indexes and
 * terms are `number` and must stay safe integers (asserted where they enter the core);
 * payloads are `Uint8Array`, never Buffer or string. Numeric enum values follow
 * etcd's raftpb so logs and dumps read the same.
 */

/** A member id. 0n is "no node" (etcd's raft.None). */
export type NodeId = bigint;
export const NONE: NodeId = 0n;

export const EntryType = { Normal: 0, ConfChange: 1 } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** Invariant: index >= 1 and term >= 1 for every entry in a log. */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

export const ConfChangeType = {
  AddNode: 0,
  RemoveNode: 1,
  UpdateNode: 2,
  AddLearnerNode: 3,
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

/** A single-member change (etcd ConfChange v1); `context` is opaque to raft. */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  readonly context: Uint8Array;
}

export const MessageType = {
  Hup: 0,
  Beat: 1,
  Prop: 2,
  App: 3,
  AppResp: 4,
  Vote: 5,
  VoteResp: 6,
  Snap: 7,
  Heartbeat: 8,
  HeartbeatResp: 9,
  Unreachable: 10,
  SnapStatus: 11,
  CheckQuorum: 12,
  TransferLeader: 13,
  TimeoutNow: 14,
  ReadIndex: 15,
  ReadIndexResp: 16,
  PreVote: 17,
  PreVoteResp: 18,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const MESSAGE_TYPE_NAMES: readonly string[] = Object.keys(MessageType).map((k) => `Msg${k}`);

/**
 * One Raft message. Field use by type (etcd raftpb, with one tsetcd change):
 * - App: index/logTerm = the entry preceding `entries`; commit = leader's commit.
 * - AppResp: index = last index acknowledged, or on reject the probed index, with
 *   rejectHint/logTerm = the follower's hint for fast backtracking.
 * - Vote/PreVote: index/logTerm = candidate's last entry; context = "CampaignTransfer"
 *   for a leadership-transfer campaign.
 * - Heartbeat/HeartbeatResp: commit = min(match, commit); index = ReadIndex round id
 *   (0 = none). A response echoes the round id it saw (tsetcd: fresh numeric ids instead
 *   of etcd's request context, so a retried request never matches an old round).
 * - ReadIndex/ReadIndexResp: context = the caller's request context; index = read index.
 * - Snap: snapshot (its data may travel separately; see codec.ts).
 * - TransferLeader: from = the transferee.
 */
export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  snapshot?: Snapshot;
  reject: boolean;
  rejectHint: number;
  context: Uint8Array;
}

export const EMPTY_BYTES = new Uint8Array(0);

/** A message with every field not given set to its zero value. */
export function makeMessage(fields: Partial<Message> & { type: MessageType }): Message {
  const m: Message = {
    type: fields.type,
    to: fields.to ?? NONE,
    from: fields.from ?? NONE,
    term: fields.term ?? 0,
    logTerm: fields.logTerm ?? 0,
    index: fields.index ?? 0,
    entries: fields.entries ?? [],
    commit: fields.commit ?? 0,
    reject: fields.reject ?? false,
    rejectHint: fields.rejectHint ?? 0,
    context: fields.context ?? EMPTY_BYTES,
  };
  if (fields.snapshot !== undefined) m.snapshot = fields.snapshot;
  return m;
}

export const StateType = { Follower: 0, Candidate: 1, Leader: 2, PreCandidate: 3 } as const;
export type StateType = (typeof StateType)[keyof typeof StateType];
export const STATE_NAMES: readonly string[] = [
  'StateFollower', 'StateCandidate', 'StateLeader', 'StatePreCandidate',
];

/** Volatile state, reported only when it changes; never persisted. */
export interface SoftState {
  readonly lead: NodeId;
  readonly raftState: StateType;
}

/** A confirmed ReadIndex: reads are linearizable once applied >= index. */
export interface ReadState {
  readonly index: number;
  readonly requestCtx: Uint8Array;
}

/** See index.ts for the contract the server follows with each Ready. */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly readStates: ReadState[];
  readonly entries: Entry[];
  readonly snapshot?: Snapshot;
  readonly committedEntries: Entry[];
  readonly messages: Message[];
  readonly mustSync: boolean;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: NONE, commit: 0 };

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === NONE && hs.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function isEmptySnapshot(s: Snapshot | undefined): boolean {
  return s === undefined || s.metadata.index === 0;
}

/** Bytes an entry counts for against size limits (payload plus a fixed overhead). */
export function entrySize(e: Entry): number {
  return e.data.length + 16;
}

export function payloadSize(e: Entry): number {
  return e.data.length;
}

/** Whether the message is local to a node (never crosses the network). */
export function isLocalMessage(t: MessageType): boolean {
  return (
    t === MessageType.Hup ||
    t === MessageType.Beat ||
    t === MessageType.Unreachable ||
    t === MessageType.SnapStatus ||
    t === MessageType.CheckQuorum
  );
}

export function isResponseMessage(t: MessageType): boolean {
  return (
    t === MessageType.AppResp ||
    t === MessageType.VoteResp ||
    t === MessageType.HeartbeatResp ||
    t === MessageType.Unreachable ||
    t === MessageType.PreVoteResp
  );
}

export function voteRespType(t: MessageType): MessageType {
  if (t === MessageType.Vote) return MessageType.VoteResp;
  if (t === MessageType.PreVote) return MessageType.PreVoteResp;
  throw new RangeError(`not a vote message: ${t}`);
}
