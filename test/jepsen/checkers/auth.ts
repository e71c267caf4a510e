/**
 * The auth-revoke checker (workloads/auth.ts): a permission change is linearizable with
 * the data. Root revokes the limited user's read-write permission on its keys and grants
 * it back, again and again; the user reads and writes those keys all along.
 *
 * A denied window opens when a revoke is acknowledged (its `ret`: an ok answer, or
 * "permission is not granted to the role", which proves an earlier attempt applied) and
 * closes when the next grant is first invoked (its `call`: from then on the grant may have
 * applied). Violations:
 *   - an `ok` read or write by the user that was invoked after the window opened and
 *     returned before it closed (it must be ordered after the revoke and before the grant);
 *   - a value written by a write invoked inside a window (ok, info or fail) seen by any
 *     read, the final read included: etcd checks a write at apply against the auth
 *     revision it was proposed with, so a write admitted by a stale identity never
 *     applies, even after the grant.
 * The verdict is 'unknown' when the run proves nothing: no revoke acknowledged, no ok op
 * before the first revoke, or no op refused inside a window.
 */
import type { Op } from '../history/op.js';

/** A user's write: the unique value it puts. */
export interface AuthWriteInput {
  readonly value: string;
}
/** A read's output (the user's reads, and the final read of every key as root). */
export interface AuthReadOutput {
  readonly values: readonly string[];
}

export const NOT_GRANTED = 'permission is not granted to the role';

export interface AuthVerdict {
  readonly valid: boolean | 'unknown';
  readonly windows: number;
  readonly violations: readonly string[];
  readonly refusedInWindows: number;
}

interface Window {
  readonly from: number;
  readonly to: number;
}

function revokeAcked(op: Op): boolean {
  return op.f === 'revoke' && (op.type === 'ok' || (op.error ?? '').includes(NOT_GRANTED));
}

/** The denied windows of a history, in time order. */
export function deniedWindows(ops: readonly Op[]): Window[] {
  const changes = ops.filter((o) => o.f === 'revoke' || o.f === 'grant').sort((a, b) => a.call - b.call);
  const windows: Window[] = [];
  let open: number | undefined;
  for (const o of changes) {
    if (o.f === 'revoke' && open === undefined && revokeAcked(o)) open = o.ret;
    else if (o.f === 'grant' && open !== undefined) {
      if (o.call > open) windows.push({ from: open, to: o.call });
      open = undefined;
    }
  }
  if (open !== undefined) windows.push({ from: open, to: Number.POSITIVE_INFINITY });
  return windows;
}

export function checkAuthRevoke(ops: readonly Op[]): AuthVerdict {
  const windows = deniedWindows(ops);
  const inside = (t: number): Window | undefined => windows.find((w) => t > w.from && t < w.to);
  const violations: string[] = [];
  let refused = 0;
  const forbidden = new Map<string, Op>();
  for (const o of ops) {
    if (o.f !== 'read' && o.f !== 'write') continue;
    const w = inside(o.call);
    if (w === undefined) continue;
    if (o.f === 'write') forbidden.set((o.input as AuthWriteInput).value, o);
    if (o.type === 'ok' && o.ret < w.to) {
      violations.push(`${o.f} op ${o.id} on ${o.node} succeeded inside the denied window [${w.from.toFixed(1)}, ${w.to.toFixed(1)}] ms (call ${o.call.toFixed(1)}, ret ${o.ret.toFixed(1)})`);
    }
    if (o.type === 'fail' && (o.error ?? '').includes('permission denied')) refused++;
  }
  for (const o of ops) {
    if ((o.f !== 'read' && o.f !== 'final') || o.type !== 'ok') continue;
    for (const v of (o.output as AuthReadOutput).values) {
      const w = forbidden.get(v);
      if (w !== undefined) violations.push(`${o.f} op ${o.id} on ${o.node} saw value ${v} of write op ${w.id} (${w.type}) invoked inside a denied window at ${w.call.toFixed(1)} ms`);
    }
  }
  const firstRevoke = windows[0]?.from ?? Number.POSITIVE_INFINITY;
  const okBefore = ops.some((o) => (o.f === 'read' || o.f === 'write') && o.type === 'ok' && o.ret < firstRevoke);
  const valid = violations.length > 0 ? false : windows.length === 0 || !okBefore || refused === 0 ? 'unknown' : true;
  return { valid, windows: windows.length, violations, refusedInWindows: refused };
}
