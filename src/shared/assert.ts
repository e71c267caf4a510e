/**
 * Assertions that stay on in production (TigerStyle; docs/architecture.md §6).
 *
 * A failed assertion means an invariant is broken: the process must not go on
 * writing data it no longer understands. `assert` throws an AssertionError that
 * the server's top level treats as fatal (log, exit non-zero).
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Exhaustiveness check for discriminated unions. */
export function unreachable(value: never, what = 'value'): never {
  throw new AssertionError(`unreachable ${what}: ${String(value)}`);
}

/** Raft indexes, terms and MVCC revisions are numbers that must stay exact. */
export function assertSafeInteger(n: number, what: string): void {
  if (!Number.isSafeInteger(n)) throw new AssertionError(`${what} is not a safe integer: ${n}`);
}
