/**
 * The settings of a one-member core for tests that open a real member core on the
 * simulated file layer (openMemberCore): member m1 in /data/m1, etcd's default timing,
 * pre-vote on, etcd's default request and snapshot limits.
 */
import { computeClusterId, computeMemberId } from '../../src/cluster/ids.js';
import { openMemberCore, type MemberCore } from '../../src/server/member-core.js';
import type { OpenBackend } from '../../src/server/member-storage.js';
import type { Clock } from '../../src/shared/clock.js';
import type { Logger } from '../../src/shared/logger.js';
import { SeededRng } from '../../src/shared/rng.js';
import { systemScheduler } from '../../src/shared/scheduler.js';
import type { FileLayer } from '../../src/storage/file-layer.js';
import { FileLogBackend } from '../../src/testing/index.js';

export const ONE_MEMBER_SETTINGS = {
  name: 'm1',
  dataDir: '/data/m1',
  walDir: undefined,
  unsafeNoFsync: false,
  initialClusterState: 'new',
  electionTimeoutMs: 1000,
  heartbeatIntervalMs: 100,
  preVote: true,
  initialElectionTickAdvance: true,
  maxRequestBytes: 1.5 * 1024 * 1024,
  snapshotCount: 100_000,
  snapshotCatchupEntries: 5000,
} as const;

/** What bootOneMember varies between tests; the rest is ONE_MEMBER_SETTINGS's member. */
export interface OneMemberBoot {
  readonly fs: FileLayer;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Token of the member id (computeMemberId of m1's peer URL). */
  readonly clusterToken: string;
  readonly seed?: number;
  /** Default: the file-log backend on `fs`. */
  readonly openBackend?: OpenBackend;
  readonly walSegmentBytes?: number;
  readonly spaceReserveBytes?: number;
  /** Default: ONE_MEMBER_SETTINGS's (etcd 3.5's 100,000 and 5,000). */
  readonly snapshotCount?: number;
  readonly snapshotCatchupEntries?: number;
}

/**
 * Opens member m1 as the only voter of a new cluster on `fs`, not started yet, so the
 * caller can hook onFatal before the first Ready; then startAndLead.
 */
export function bootOneMember(b: OneMemberBoot): Promise<MemberCore> {
  const peerUrls = ['http://m1:2380'];
  const id = computeMemberId(peerUrls, b.clusterToken);
  return openMemberCore({
    settings: {
      ...ONE_MEMBER_SETTINGS,
      ...(b.snapshotCount !== undefined ? { snapshotCount: b.snapshotCount } : {}),
      ...(b.snapshotCatchupEntries !== undefined ? { snapshotCatchupEntries: b.snapshotCatchupEntries } : {}),
    },
    initialMembers: [{ id, name: 'm1', peerUrls, clientUrls: [], isLearner: false }],
    newIdentity: { memberId: id, clusterId: computeClusterId([id]) },
    joinPeers: [],
    fs: b.fs,
    // The state db lives on the same simulated files (never LevelDB under a real /data/m1).
    openBackend: b.openBackend ?? ((dir) => FileLogBackend.open(b.fs, dir)),
    ...(b.walSegmentBytes !== undefined ? { walSegmentBytes: b.walSegmentBytes } : {}),
    ...(b.spaceReserveBytes !== undefined ? { spaceReserveBytes: b.spaceReserveBytes } : {}),
    clock: b.clock,
    scheduler: systemScheduler,
    rng: new SeededRng(b.seed ?? 1),
    logger: b.logger,
    makePeerLink: () => undefined,
  });
}

/** Starts the core and waits (5 s at most) until it is a leader ready to serve. */
export async function startAndLead(core: MemberCore): Promise<void> {
  core.start(() => 0);
  const deadline = Date.now() + 5000;
  while (!core.server.isReadyLeader()) {
    if (Date.now() > deadline) throw new Error('no leader within 5 s');
    await new Promise((res) => setTimeout(res, 10));
  }
}
