/**
 * The Cluster service (etcd api/v3rpc/member.go). MemberList answers from the
 * member's view of the membership; with `linearizable` (the Go client >= 3.5 default)
 * it first takes a linearizable read point, as etcd does.
 */
import Long from 'long';
import type * as pb from '../../shared/pb.js';
import type { CallContext } from '../grpc/server.js';
import type { HeaderFiller } from './header.js';
import type { AnyHandler } from './services.js';

export interface MemberInfo {
  readonly id: bigint;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

export interface ClusterBackend {
  members(): readonly MemberInfo[];
  linearizableReadPoint(signal?: AbortSignal): Promise<void>;
}

export function memberToPb(m: MemberInfo): pb.Member {
  const out: pb.Member = {
    ID: Long.fromBigInt(m.id, true),
    name: m.name,
    peerURLs: [...m.peerUrls],
    clientURLs: [...m.clientUrls],
  };
  if (m.isLearner) out.isLearner = true;
  return out;
}

export function clusterHandlers(s: ClusterBackend, h: HeaderFiller): Map<string, AnyHandler> {
  const memberList = async (req: pb.MemberListRequest, ctx: CallContext): Promise<pb.MemberListResponse> => {
    if (req.linearizable === true) await s.linearizableReadPoint(ctx.signal);
    return { header: h.header(), members: s.members().map(memberToPb) };
  };
  return new Map<string, AnyHandler>([['/etcdserverpb.Cluster/MemberList', { kind: 'unary', fn: memberList as never }]]);
}
