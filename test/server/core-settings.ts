/**
 * The settings of a one-member core for tests that open a real member core on the
 * simulated file layer (openMemberCore): member m1 in /data/m1, etcd's default timing,
 * pre-vote on, etcd's default request and snapshot limits.
 */
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
