/**
 * Shared set-up of the auth unit tests: an AuthStore over a MemoryBackend with a
 * simple-token provider on a manual clock and scheduler, and a helper that applies
 * requests the way apply will (one batch per entry, written after the entry).
 */
import { ManualClock } from '../../src/shared/clock.js';
import { SeededRng } from '../../src/shared/rng.js';
import { ManualScheduler } from '../helpers/manual-scheduler.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import { AuthStore } from '../../src/auth/store.js';
import { applyAuthRequest, type AuthRequest, type AuthResponse } from '../../src/auth/apply.js';
import { SimpleTokenProvider } from '../../src/auth/simple-token.js';
import { ANONYMOUS, type AuthInfo, type TokenProvider } from '../../src/auth/types.js';

export { ManualScheduler };

export interface Harness {
  backend: MemoryBackend;
  store: AuthStore;
  clock: ManualClock;
  scheduler: ManualScheduler;
  tokens: SimpleTokenProvider;
  /** Applied index so far (tokens wait for it). */
  applied: { index: number };
  apply(r: AuthRequest, caller?: AuthInfo): Promise<AuthResponse>;
  /** The error code apply throws, or 'ok'. */
  code(r: AuthRequest, caller?: AuthInfo): Promise<string>;
}

export async function makeHarness(opts: { backend?: MemoryBackend; tokens?: (h: { clock: ManualClock; scheduler: ManualScheduler; applied: { index: number } }) => TokenProvider } = {}): Promise<Harness> {
  const backend = opts.backend ?? new MemoryBackend();
  const clock = new ManualClock();
  const scheduler = new ManualScheduler();
  const applied = { index: 0 };
  const simple = new SimpleTokenProvider({
    clock,
    scheduler,
    rng: new SeededRng(7),
    ttlMs: 300_000,
    waitApplied: async (index) => index <= applied.index,
  });
  const provider = opts.tokens?.({ clock, scheduler, applied }) ?? simple;
  const store = await AuthStore.open(backend, { tokens: provider, bcryptCost: 4 });
  const apply = async (r: AuthRequest, caller: AuthInfo = ANONYMOUS): Promise<AuthResponse> => {
    const batch = backend.batch();
    applied.index += 1;
    try {
      return applyAuthRequest(store, r, caller, { batch, index: applied.index });
    } finally {
      if (batch.length > 0) await backend.write(batch, { sync: false });
    }
  };
  const code = async (r: AuthRequest, caller?: AuthInfo): Promise<string> => {
    try {
      await apply(r, caller);
      return 'ok';
    } catch (err) {
      if (err instanceof Error && 'code' in err && typeof err.code === 'string') return err.code;
      throw err;
    }
  };
  return { backend, store, clock, scheduler, tokens: simple, applied, apply, code };
}

/** A root user with the root role, and auth enabled (what `etcdctl auth enable` leaves). */
export async function enableWithRoot(h: Harness): Promise<void> {
  await h.apply({ op: 'userAdd', req: { name: 'root', hashedPassword: '' } });
  await h.apply({ op: 'userGrantRole', req: { user: 'root', role: 'root' } });
  await h.apply({ op: 'authEnable' });
}

export const b = (s: string): Buffer => Buffer.from(s, 'latin1');

export function rootAt(h: Harness): AuthInfo {
  return { username: 'root', revision: h.store.revision };
}
