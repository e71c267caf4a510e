/**
 * etcd Promote's pile-up adjustment, as a pure function. After a leader change every
 * lease's expiry restarts from the same instant, so leases granted close together
 * would all expire in the same second and exceed the revoke rate. Walking leases in
 * expiry order, a one-second window may hold 3/4 of the revoke rate; each lease past
 * that is delayed in proportion to how crowded its window is, minus how far it already
 * is past the window's start (a lease n seconds later needs n seconds less delay).
 *
 * Example (rate 4, target 3 per second; remaining 10 s for all five leases):
 *   leases 1-3 keep 10 s; lease 4 gets +1.33 s; lease 5 gets +1.67 s.
 * Only leases that move appear in the result. Ties order by id, so every run agrees.
 */
import type { LeaseId } from '../shared/ids.js';

export function pileUpDelays(
  leases: ReadonlyArray<{ readonly id: LeaseId; readonly remainingMs: number }>,
  revokeRatePerSecond: number,
): Map<LeaseId, number> {
  const delays = new Map<LeaseId, number>();
  if (leases.length === 0 || leases.length < revokeRatePerSecond) return delays;
  const sorted = [...leases].sort(
    (a, b) => a.remainingMs - b.remainingMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  const targetPerSecond = Math.max(1, Math.floor((3 * revokeRatePerSecond) / 4));
  let baseWindowMs = (sorted[0] as (typeof sorted)[number]).remainingMs;
  let nextWindowMs = baseWindowMs + 1000;
  let expires = 0;
  for (const l of sorted) {
    if (l.remainingMs > nextWindowMs) {
      baseWindowMs = l.remainingMs;
      nextWindowMs = baseWindowMs + 1000;
      expires = 1;
      continue;
    }
    expires++;
    if (expires <= targetPerSecond) continue;
    const delayMs = (1000 * expires) / targetPerSecond - (l.remainingMs - baseWindowMs);
    nextWindowMs = baseWindowMs + delayMs;
    delays.set(l.id, delayMs);
  }
  return delays;
}
