/**
 * Response headers (etcd api/v3rpc/header.go): cluster and member id of the
 * responding member, its current raft term, and a revision chosen by the handler
 * (the revision after a write, the current revision for reads and everything else).
 * The id Longs are built once: ids never change for the life of a member.
 */
import Long from 'long';
import type { ResponseHeader } from '../generated/pb.js';

export interface HeaderSource {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  raftTerm(): number;
  currentRevision(): number;
}

export class HeaderFiller {
  private readonly clusterId: Long;
  private readonly memberId: Long;

  constructor(private readonly src: HeaderSource) {
    this.clusterId = Long.fromBigInt(src.clusterId, true);
    this.memberId = Long.fromBigInt(src.memberId, true);
  }

  /** The Cluster service's: no revision (etcd api/v3rpc/member.go header()). */
  clusterHeader = (): ResponseHeader => ({ clusterId: this.clusterId, memberId: this.memberId, raftTerm: this.src.raftTerm() });

  /** A header with `revision`, or the store's current revision when omitted or 0. */
  header(revision?: number): ResponseHeader {
    return {
      clusterId: this.clusterId,
      memberId: this.memberId,
      revision: revision !== undefined && revision !== 0 ? revision : this.src.currentRevision(),
      raftTerm: this.src.raftTerm(),
    };
  }
}
