/**
 * One member's apply layer with the auth store, on a memory backend: what the auth
 * apply tests (internal-request.test.ts, entry-caller.test.ts) feed whole log entries
 * to, each applied at the next index and written before the next.
 */
import { Applier, type ApplyOutcome } from '../../src/apply/applier.js';
import { AlarmStore } from '../../src/apply/alarms.js';
import { decodeRequest } from '../../src/apply/request.js';
import { AuthStore, SimpleTokenProvider } from '../../src/auth/index.js';
import { Membership } from '../../src/cluster/membership.js';
import { Lessor } from '../../src/lease/index.js';
import { MvccStore } from '../../src/mvcc/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { nullLogger } from '../../src/shared/logger.js';
import { SeededRng } from '../../src/shared/rng.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import { ManualScheduler } from '../helpers/manual-scheduler.js';

export interface AuthMember {
  /** Applies one encoded log entry (apply/request.ts) at the next index. */
  readonly applyEntry: (entry: Uint8Array) => Promise<ApplyOutcome>;
  readonly auth: AuthStore;
  readonly store: MvccStore;
  readonly backend: MemoryBackend;
}

export async function newAuthMember(): Promise<AuthMember> {
  const backend = new MemoryBackend();
  const store = await MvccStore.open(backend);
  const lessor = await Lessor.open(backend, { minTtlSeconds: 2, clock: new ManualClock() });
  let index = 0;
  const tokens = new SimpleTokenProvider({
    clock: new ManualClock(),
    scheduler: new ManualScheduler(),
    rng: new SeededRng(1),
    ttlMs: 0,
    waitApplied: (i) => Promise.resolve(i <= index),
  });
  const auth = await AuthStore.open(backend, { tokens, bcryptCost: 4 });
  const alarms = await AlarmStore.load(backend);
  const applier = new Applier({ store: () => store, membership: await Membership.load(backend), lessor, alarms, logger: nullLogger, auth });
  const applyEntry = async (entry: Uint8Array): Promise<ApplyOutcome> => {
    const batch = backend.batch();
    const o = applier.apply(decodeRequest(entry), { index: ++index, term: 1 }, batch);
    await backend.write(batch, { sync: true });
    store.batchDurable(batch);
    return o;
  };
  return { applyEntry, auth, store, backend };
}
