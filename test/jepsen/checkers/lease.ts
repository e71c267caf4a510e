/**
 * Lease safety (test/jepsen/README.md): a lease's keys vanish only at a committed revoke or expiry, and
 * expiry never comes early. Checked from the driver's side with one clock:
 *
 * - A key k of lease L "vanished" in an ok read R if R does not show k although k's ok put
 *   completed before R was invoked. (Keys are written once and never deleted by the
 *   workload, so only the end of L can remove them.)
 * - Early expiry: unless a revoke of L was invoked before R returned, L must have expired,
 *   and its expiry cannot precede c + TTL for any acknowledged keep-alive (or the grant)
 *   invoked at c (the server renewed L at some point after c, to a deadline of at least
 *   that point + TTL). R returning before that bound is a violation.
 * - Resurrection: an ok keep-alive of L invoked after R returned that reports TTL > 0 means
 *   L was alive after its keys vanished.
 * - Atomicity: every other key of L whose put completed before R was invoked must be
 *   missing from R too (a revoke deletes all attached keys in one revision); and a key
 *   that vanished never shows up again in a later read.
 *
 * - Clock rate: when some leader's clock may run up to `maxClockRate` x real time (the
 *   clock-rate fault), its TTL passes that much faster, so the bound is c + TTL / rate:
 *   the leases shrink as etcd documents, and still never end sooner than that.
 *
 * Op shapes (workloads/lease.ts): grant {id, ttl} -> {ttl}; put key {lease} ; keepalive
 * {id} -> {ttl}; revoke {id}; read -> {keys: string[]} (the keys under the lease prefix).
 * Lease ids are chosen by the client, so even info grants are identifiable.
 */
import type { Op } from '../history/op.js';

export interface LeaseVerdict {
  readonly valid: boolean;
  readonly violations: readonly string[];
  readonly leases: number;
  readonly vanished: number;
}

interface LeaseFacts {
  ttlMs: number;
  renewals: number[]; // call times of the grant and of keep-alives answered with TTL > 0
  aliveAfter: { call: number; id: number }[];
  revokes: number[]; // call times of revoke attempts (ok or info)
  keys: Map<string, number>; // key -> ret time of its ok put
}

const MAX_VIOLATIONS = 30;

export function checkLeases(ops: readonly Op[], toleranceMs = 0, maxClockRate = 1): LeaseVerdict {
  const leases = new Map<string, LeaseFacts>();
  const facts = (id: string): LeaseFacts => {
    let f = leases.get(id);
    if (f === undefined)
      leases.set(
        id,
        (f = { ttlMs: 0, renewals: [], aliveAfter: [], revokes: [], keys: new Map() }),
      );
    return f;
  };
  const keyLease = new Map<string, string>();
  for (const op of ops) {
    const input = op.input as { id?: string; ttl?: number; lease?: string };
    if (op.f === 'grant' && op.type === 'ok') {
      const f = facts(String(input.id));
      f.ttlMs = 1000 * ((op.output as { ttl: number }).ttl ?? input.ttl ?? 0);
      f.renewals.push(op.call);
    } else if (op.f === 'keepalive' && op.type === 'ok') {
      const ttl = (op.output as { ttl: number }).ttl;
      if (ttl > 0) {
        const f = facts(String(input.id));
        f.renewals.push(op.call);
        f.aliveAfter.push({ call: op.call, id: op.id });
      }
    } else if (op.f === 'revoke' && op.type !== 'fail') {
      facts(String(input.id)).revokes.push(op.call);
    } else if (op.f === 'put' && op.type === 'ok' && op.key !== undefined) {
      facts(String(input.lease)).keys.set(op.key, op.ret);
      keyLease.set(op.key, String(input.lease));
    }
  }
  const violations: string[] = [];
  const add = (s: string): void => {
    if (violations.length < MAX_VIOLATIONS) violations.push(s);
  };
  const reads = ops
    .filter((o) => o.f === 'read' && o.type === 'ok')
    .sort((a, b) => a.call - b.call);
  const vanishedAt = new Map<string, Op>(); // key -> first read that missed it
  const leaseEnd = new Map<string, Op>(); // lease -> first read that missed one of its keys
  for (const r of reads) {
    const present = new Set((r.output as { keys: string[] }).keys);
    for (const k of present) {
      const gone = vanishedAt.get(k);
      if (gone !== undefined && gone.ret < r.call) {
        add(`key ${k} came back: read ${r.id} shows it after read ${gone.id} missed it`);
      }
    }
    for (const [id, f] of leases) {
      const missing = [...f.keys]
        .filter(([k, putRet]) => putRet < r.call && !present.has(k))
        .map(([k]) => k);
      if (missing.length === 0) continue;
      for (const k of missing) if (!vanishedAt.has(k)) vanishedAt.set(k, r);
      const stillThere = [...f.keys]
        .filter(([k, putRet]) => putRet < r.call && present.has(k))
        .map(([k]) => k);
      if (stillThere.length > 0) {
        add(
          `lease ${id} not atomic: read ${r.id} misses ${missing.join(',')} but shows ${stillThere.join(',')}`,
        );
      }
      if (leaseEnd.has(id)) continue;
      leaseEnd.set(id, r);
      const revoked = f.revokes.some((c) => c < r.ret);
      if (!revoked) {
        const latest = f.renewals.filter((c) => c < r.ret);
        const lower =
          latest.length === 0
            ? Number.NEGATIVE_INFINITY
            : Math.max(...latest) + f.ttlMs / maxClockRate - toleranceMs;
        if (r.ret < lower) {
          add(
            `lease ${id} expired early: read ${r.id} (returned at ${r.ret.toFixed(1)} ms) misses ${missing.join(',')}, ` +
              `but a renewal invoked at ${Math.max(...latest).toFixed(1)} ms with TTL ${f.ttlMs} ms${maxClockRate === 1 ? '' : ` at up to ${maxClockRate}x`} keeps it alive until ` +
              `${lower.toFixed(1)} ms; no revoke was sent`,
          );
        }
      }
      for (const a of f.aliveAfter) {
        if (a.call > r.ret)
          add(
            `lease ${id} alive after its keys vanished: keep-alive ${a.id} at ${a.call.toFixed(1)} ms answered TTL > 0 after read ${r.id}`,
          );
      }
    }
  }
  return {
    valid: violations.length === 0,
    violations,
    leases: leases.size,
    vanished: leaseEnd.size,
  };
}
