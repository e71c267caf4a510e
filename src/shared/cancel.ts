/**
 * What a caller waiting on the Ready loop needs of a cancellation: whether it happened,
 * and one callback when it does. An AbortSignal is one; a gRPC call is another that
 * builds no AbortController (src/grpc/server.ts): an AbortSignal, its EventTarget and
 * its listener cost a measurable share of a put's CPU (docs/architecture.md §4).
 */
export interface CancelHook {
  readonly aborted: boolean;
  /** Runs `fn` once when canceled (never if already canceled); returns its unregistration. */
  onAbort(fn: () => void): () => void;
}

export type Cancelation = AbortSignal | CancelHook;

/** Registers `fn` for `c`'s cancellation; returns the function that unregisters it. */
export function onCancel(c: Cancelation, fn: () => void): () => void {
  if (!(c instanceof AbortSignal)) return c.onAbort(fn);
  c.addEventListener('abort', fn, { once: true });
  return () => c.removeEventListener('abort', fn);
}
