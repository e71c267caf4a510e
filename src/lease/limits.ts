/**
 * The lease module's numeric limits, named as etcd names them (server/lease/lessor.go,
 * etcdserver config), and etcd's minimum TTL rule.
 */
import { assert } from '../shared/assert.js';

/** etcd's MaxLeaseTTL. */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;
/** etcd revokes at most this many leases per second (leaseRevokeRate). */
export const LEASE_REVOKE_RATE_PER_SECOND = 1000;
/** etcd's default lease checkpoint interval. */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 5 * 60_000;
/** etcd's expiredLeaseRetryInterval: an expired lease not yet revoked is offered again. */
export const EXPIRED_RETRY_MS = 3000;

/**
 * etcd's minimum TTL: ceil(((3 * electionTicks) / 2) * tickMs) in seconds, with
 * electionTicks = electionTimeoutMs / heartbeatIntervalMs in integer arithmetic as etcd
 * computes it (2 s for the default 1000 ms / 100 ms).
 */
export function minLeaseTtlSeconds(electionTimeoutMs: number, heartbeatIntervalMs: number): number {
  assert(heartbeatIntervalMs > 0, 'heartbeat interval must be positive');
  const electionTicks = Math.floor(electionTimeoutMs / heartbeatIntervalMs);
  const minMs = Math.floor((3 * electionTicks) / 2) * heartbeatIntervalMs;
  return Math.ceil(minMs / 1000);
}
