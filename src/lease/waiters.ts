/**
 * Keep-alives of a lease that is past its expiry wait until its revoke is applied (the
 * answer is then TTL 0) or the lessor is demoted (the caller retries on the new
 * leader), as etcd's Renew waits on revokec / demotec.
 *
 * Invariant: every waiter settles exactly once: by settle(id), settleAll(), or its
 * own abort signal (then it rejects with 'canceled' and is forgotten).
 */
import { TsetcdError } from '../shared/errors.js';
import type { LeaseId } from '../shared/ids.js';

export type GoneReason = 'revoked' | 'demoted';

type Settle = (reason: GoneReason) => void;

export class ExpiryWaiters {
  private readonly byLease = new Map<LeaseId, Set<Settle>>();

  get size(): number {
    let n = 0;
    for (const s of this.byLease.values()) n += s.size;
    return n;
  }

  wait(id: LeaseId, signal?: AbortSignal): Promise<GoneReason> {
    return new Promise<GoneReason>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(new TsetcdError('canceled'));
        return;
      }
      let set = this.byLease.get(id);
      if (set === undefined) {
        set = new Set();
        this.byLease.set(id, set);
      }
      const waiters = set;
      const onAbort = (): void => {
        waiters.delete(settle);
        if (waiters.size === 0 && this.byLease.get(id) === waiters) this.byLease.delete(id);
        reject(new TsetcdError('canceled'));
      };
      const settle: Settle = (reason) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(reason);
      };
      waiters.add(settle);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  settle(id: LeaseId, reason: GoneReason): void {
    const set = this.byLease.get(id);
    if (set === undefined) return;
    this.byLease.delete(id);
    for (const s of set) s(reason);
  }

  settleAll(reason: GoneReason): void {
    const all = [...this.byLease.values()];
    this.byLease.clear();
    for (const set of all) for (const s of set) s(reason);
  }
}
