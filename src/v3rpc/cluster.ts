/**
 * The Cluster service (etcd api/v3rpc/member.go, etcdserver/server.go AddMember,
 * RemoveMember, UpdateMember, PromoteMember; api/membership/cluster.go checks).
 *
 * Membership changes go through the log as Raft ConfChanges, one at a time; the
 * answer comes after the change is applied on this member. With strict-reconfig-check
 * (the default) a change that would leave fewer started voters than a quorum is
 * refused, and so is one made while voters are not all connected for etcd's
 * HealthInterval (5 s; "etcdserver: unhealthy cluster"), as etcd refuses them. MemberList with `linearizable` (the Go client >= 3.5
 * default) first takes a linearizable read point. With auth on, add, remove, update and
 * promote need root (etcd checkMembershipOperationPermission), after the URL checks.
 */
import Long from 'long';
import type * as pb from '../generated/pb.js';
import { toBigInt } from '../shared/pb-codec.js';
import { TsetcdError } from '../shared/errors.js';
import { memberId, type MemberId } from '../shared/ids.js';
import { ConfChangeType, type ConfChange } from '../raft/types.js';
import type { ApplyOutcome } from '../apply/applier.js';
import type { Member } from '../cluster/membership.js';
import { computeMemberId, etcdUrlString } from '../cluster/ids.js';
import type { CallContext } from '../grpc/server.js';
import type { HeaderFiller } from './header.js';
import type { AnyHandler } from './services.js';
import { OPEN_GATE, credentialsOf, type AuthGate } from '../auth/index.js';
import type { Observe } from '../shared/observe.js';

export interface ClusterBackend {
  members(): readonly Member[];
  member(id: bigint): Member | undefined;
  isRemoved(id: bigint): boolean;
  linearizableReadPoint(signal?: AbortSignal): Promise<void>;
  proposeConfChange(type: ConfChange['type'], member: Member, signal?: AbortSignal): Promise<ApplyOutcome>;
  readonly clusterToken: string;
  readonly strictReconfigCheck: boolean;
  readonly maxLearners: number;
  nowSeconds(): number;
  /** Whether a learner is caught up (>= 90% of the leader's log); leader only. */
  learnerReady(id: bigint): Promise<boolean>;
  isLeader(): boolean;
  /** A follower hands MemberPromote to the leader (etcd forwards it over the peer port). */
  /** Learner promotions this leader made (etcd_server_learner_promote_successes). */
  readonly observe?: Observe;
  promoteOnLeader(id: bigint, signal?: AbortSignal, token?: string): Promise<void>;
  /** This member's id (always counted as connected). */
  readonly selfId: bigint;
  /**
   * Monotonic ms since this member's stream to the peer connected; undefined while it
   * is not connected (the peer transport's ActiveSince).
   */
  peerActiveSinceMs(id: bigint): number | undefined;
  /** Monotonic ms, the same clock as peerActiveSinceMs. */
  nowMs(): number;
}

/** etcd's HealthInterval: a peer counts as healthy once connected this long. */
const HEALTH_INTERVAL_MS = 5000;

export function memberToPb(m: Member): pb.Member {
  const out: pb.Member = {
    ID: Long.fromBigInt(m.id, true),
    name: m.name,
    peerURLs: [...m.peerUrls],
    clientURLs: [...m.clientUrls],
  };
  if (m.isLearner) out.isLearner = true;
  return out;
}

/** Started voters must still form a quorum after the change (etcd IsReadyTo*VotingMember). */
function startedQuorumAfter(members: readonly Member[], delta: 1 | -1, removing?: bigint): boolean {
  const voters = members.filter((m) => !m.isLearner && m.id !== removing);
  const started = voters.filter((m) => m.name !== '').length;
  const total = delta === 1 ? voters.length + 1 : voters.length;
  if (delta === 1 && started === 1 && total === 2) return true; // growing a one-member cluster
  return started >= Math.floor(total / 2) + 1;
}

/** Voters connected to this member for at least HEALTH_INTERVAL_MS (self included). */
function connectedVoters(s: ClusterBackend, voters: readonly Member[]): number {
  const since = s.nowMs() - HEALTH_INTERVAL_MS;
  return voters.filter((m) => {
    if (m.id === s.selfId) return true;
    const t = s.peerActiveSinceMs(m.id);
    return t !== undefined && t <= since;
  }).length;
}

/**
 * etcd's mayRemoveMember health rule: a voter that is down may go; otherwise the
 * voters connected for HealthInterval, minus the one removed, must still be a quorum.
 */
function healthyAfterRemoving(s: ClusterBackend, id: bigint): boolean {
  if (id !== s.selfId && s.peerActiveSinceMs(id) === undefined) return true;
  const voters = s.members().filter((m) => !m.isLearner);
  return connectedVoters(s, voters) - 1 >= 1 + Math.floor((voters.length - 1) / 2);
}

function parsePeerUrls(urls: readonly string[] | undefined): string[] {
  const list = urls ?? [];
  if (list.length === 0) throw new TsetcdError('member-bad-urls');
  return list.map((u) => {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new TsetcdError('member-bad-urls');
    }
    if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.port === '' || parsed.pathname.length > 1) {
      throw new TsetcdError('member-bad-urls');
    }
    return etcdUrlString(u);
  });
}

export function clusterHandlers(s: ClusterBackend, h: HeaderFiller, gate: AuthGate = OPEN_GATE): Map<string, AnyHandler> {
  const list = (): pb.Member[] => s.members().map(memberToPb);

  async function change(type: ConfChange['type'], member: Member, ctx: CallContext): Promise<void> {
    const outcome = await s.proposeConfChange(type, member, ctx.signal);
    if (!outcome.ok) throw outcome.error;
  }

  const memberList = async (req: pb.MemberListRequest, ctx: CallContext): Promise<pb.MemberListResponse> => {
    if (req.linearizable === true) await s.linearizableReadPoint(ctx.signal);
    return { header: h.clusterHeader(), members: list() };
  };

  const memberAdd = async (req: pb.MemberAddRequest, ctx: CallContext): Promise<pb.MemberAddResponse> => {
    const peerUrls = parsePeerUrls(req.peerURLs);
    await gate.admin(ctx);
    const isLearner = req.isLearner === true;
    const members = s.members();
    if (members.some((m) => m.peerUrls.some((u) => peerUrls.includes(u)))) throw new TsetcdError('peer-url-exist');
    if (isLearner && members.filter((m) => m.isLearner).length >= s.maxLearners) {
      throw new TsetcdError('too-many-learners');
    }
    if (!isLearner && s.strictReconfigCheck && !startedQuorumAfter(members, 1)) {
      throw new TsetcdError('unhealthy-reconfig');
    }
    // etcd's mayAddMember: every voter connected for HealthInterval (learners too).
    const voters = members.filter((m) => !m.isLearner);
    if (s.strictReconfigCheck && connectedVoters(s, voters) < voters.length) throw new TsetcdError('unhealthy-cluster');
    const id = computeMemberId(peerUrls, s.clusterToken, s.nowSeconds());
    if (s.member(id) !== undefined || s.isRemoved(id)) throw new TsetcdError('member-exist');
    const member: Member = { id, name: '', peerUrls, clientUrls: [], isLearner };
    await change(isLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode, member, ctx);
    return { header: h.clusterHeader(), member: memberToPb(member), members: list() };
  };

  const target = (id: pb.MemberRemoveRequest['ID']): { id: MemberId; member: Member } => {
    const mid = memberId(toBigInt(id, true));
    const member = s.member(mid);
    if (member === undefined) throw new TsetcdError('member-not-found');
    return { id: mid, member };
  };

  const memberRemove = async (req: pb.MemberRemoveRequest, ctx: CallContext): Promise<pb.MemberRemoveResponse> => {
    await gate.admin(ctx);
    const { id, member } = target(req.ID);
    if (!member.isLearner && s.strictReconfigCheck && !startedQuorumAfter(s.members(), -1, id)) {
      throw new TsetcdError('unhealthy-reconfig');
    }
    if (!member.isLearner && s.strictReconfigCheck && !healthyAfterRemoving(s, id)) {
      throw new TsetcdError('unhealthy-cluster');
    }
    await change(ConfChangeType.RemoveNode, member, ctx);
    return { header: h.clusterHeader(), members: list() };
  };

  const memberUpdate = async (req: pb.MemberUpdateRequest, ctx: CallContext): Promise<pb.MemberUpdateResponse> => {
    const peerUrls = parsePeerUrls(req.peerURLs);
    await gate.admin(ctx);
    const { member } = target(req.ID);
    await change(ConfChangeType.UpdateNode, { ...member, peerUrls }, ctx);
    return { header: h.clusterHeader(), members: list() };
  };

  const memberPromote = async (req: pb.MemberPromoteRequest, ctx: CallContext): Promise<pb.MemberPromoteResponse> => {
    await gate.admin(ctx);
    const { id, member } = target(req.ID);
    if (!member.isLearner) throw new TsetcdError('member-not-learner');
    if (!s.isLeader()) {
      await s.promoteOnLeader(id, ctx.signal, credentialsOf(ctx.metadata, ctx).token);
      await s.linearizableReadPoint(ctx.signal);
      return { header: h.clusterHeader(), members: list() };
    }
    if (!(await s.learnerReady(id))) throw new TsetcdError('learner-not-ready');
    await change(ConfChangeType.AddNode, { ...member, isLearner: false }, ctx);
    s.observe?.('server.learnerPromoted', 1);
    return { header: h.clusterHeader(), members: list() };
  };

  return new Map<string, AnyHandler>([
    ['/etcdserverpb.Cluster/MemberList', { kind: 'unary', fn: memberList }],
    ['/etcdserverpb.Cluster/MemberAdd', { kind: 'unary', fn: memberAdd }],
    ['/etcdserverpb.Cluster/MemberRemove', { kind: 'unary', fn: memberRemove }],
    ['/etcdserverpb.Cluster/MemberUpdate', { kind: 'unary', fn: memberUpdate }],
    ['/etcdserverpb.Cluster/MemberPromote', { kind: 'unary', fn: memberPromote }],
  ]);
}
