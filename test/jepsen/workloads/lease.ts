/**
 * The `lease` workload: owners grant leases with their own ids (TTL `ttlSeconds`), attach
 * two keys, keep some alive for a while (keep-alive every TTL/3), then revoke them or let
 * them expire; readers list the lease keys linearizably. checkers/lease.ts decides
 * whether every disappearance was a committed revoke or a timely expiry.
 *
 * Two owners and one reader per member; an owner's calls go to its member (a keep-alive to
 * a follower is forwarded to the leader, which exercises that path under faults).
 */
import { checkLeases } from '../checkers/lease.js';
import type { ClusterMember } from '../cluster/cluster.js';
import { NOT_SENT, classifyError, describeError } from '../history/classify.js';
import type { Op } from '../history/op.js';
import { sigGrant, sigPut, sigRevoke } from '../history/resolve.js';
import type { WorkloadContext } from './context.js';
import { bytes, execute, isConnected, memberFor, num, sleep, text } from './context.js';
import { keepAliveOnce } from './streams.js';
import type { Verdict, Workload } from './workload.js';

const PREFIX = 'lease/';
const BACKOFF_MS = 150;
/** An unknown write costs the checkers most; a member that times out is given a rest. */
const INFO_BACKOFF_MS = 1000;

/** maxClockRate: the fastest clock a leader may run (clock-rate rows; checkers/lease.ts). */
export function leaseWorkload(options: { ttlSeconds?: number; maxClockRate?: number } = {}): Workload {
  const ttl = options.ttlSeconds ?? 3;
  let nextLease = 1;

  const keepalive = async (
    ctx: WorkloadContext,
    process: number,
    member: ClusterMember,
    id: string,
  ): Promise<Op> => {
    const client = ctx.client(member);
    const p = ctx.recorder.invoke(process, 'keepalive', undefined, { id }, member.name);
    if (!isConnected(client)) return ctx.recorder.complete(p, 'fail', null, { error: NOT_SENT });
    const r = await keepAliveOnce(client, id, ctx.deadlineMs);
    if (!r.ok)
      return ctx.recorder.complete(p, classifyError(r.error, false), null, {
        error: describeError(r.error),
      });
    return ctx.recorder.complete(p, 'ok', { ttl: num(r.value.TTL) });
  };

  const owner = async (ctx: WorkloadContext, slot: number): Promise<void> => {
    const member = memberFor(ctx, slot);
    while (!ctx.stopped()) {
      const process = ctx.recorder.newProcess();
      const id = String(BigInt(slot + 1) * 1_000_000n + BigInt(nextLease++));
      const g = await execute(
        ctx,
        process,
        member,
        { f: 'grant', input: { id, ttl }, idempotent: false },
        (c) => c.unary<{ TTL?: string }>('Lease', 'LeaseGrant', { ID: id, TTL: ttl }),
        (res) => ({ output: { ttl: num(res.TTL) } }),
      );
      if (g.type !== 'ok') {
        await sleep(g.type === 'info' ? INFO_BACKOFF_MS : BACKOFF_MS);
        continue;
      }
      let ok = true;
      for (const i of [0, 1]) {
        const key = `${PREFIX}${id}/${i}`;
        const put = await execute(
          ctx,
          process,
          member,
          { f: 'put', key, input: { lease: id }, idempotent: false },
          (c) => c.put({ key: bytes(key), value: bytes(id), lease: id }),
          (res) => ({ output: {}, revision: num(res.header?.revision) }),
        );
        if (put.type !== 'ok') ok = false;
      }
      const plan = ctx.rng.int(3); // 0: let it expire, 1: keep alive then revoke, 2: keep alive then expire
      const aliveForMs = plan === 0 ? 0 : 1000 * ttl + ctx.rng.int(3000 * ttl);
      const until = Date.now() + aliveForMs;
      while (ok && !ctx.stopped() && Date.now() < until) {
        await sleep((1000 * ttl) / 3);
        const k = await keepalive(ctx, process, member, id);
        if (k.type !== 'ok') await sleep(BACKOFF_MS);
      }
      if (plan === 1 && !ctx.stopped()) {
        await execute(
          ctx,
          process,
          member,
          { f: 'revoke', input: { id }, idempotent: false },
          (c) => c.unary('Lease', 'LeaseRevoke', { ID: id }),
          () => ({ output: {} }),
        );
      }
      await sleep(200);
    }
  };

  const read = (ctx: WorkloadContext, process: number, member: ClusterMember): Promise<Op> =>
    execute(
      ctx,
      process,
      member,
      { f: 'read', input: null, idempotent: true },
      (c) =>
        c.range({ key: bytes(PREFIX), rangeEnd: bytes(PREFIX.slice(0, -1) + '0'), keysOnly: true }),
      (res) => ({
        output: { keys: (res.kvs ?? []).map((kv) => text(kv.key)) },
        revision: num(res.header?.revision),
      }),
    );

  return {
    name: 'lease',
    async run(ctx) {
      const n = ctx.cluster.members.length;
      const readers = Array.from({ length: n }, async (_, slot) => {
        const process = ctx.recorder.newProcess();
        while (!ctx.stopped()) {
          const r = await read(ctx, process, memberFor(ctx, slot));
          await sleep(r.type === 'ok' ? 50 : BACKOFF_MS);
        }
      });
      const owners = Array.from({ length: 2 * n }, (_, slot) => owner(ctx, slot));
      await Promise.all([...owners, ...readers]);
    },
    async final(ctx) {
      for (const m of ctx.cluster.members) await read(ctx, ctx.recorder.newProcess(), m);
    },
    check(ops): Verdict {
      const v = checkLeases(ops, 0, options.maxClockRate ?? 1);
      return {
        valid: v.valid,
        summary: v.valid
          ? `lease safety holds: ${v.leases} leases, ${v.vanished} ended under observation`
          : `lease safety violated: ${v.violations.length} violations`,
        explanation: v.violations.join('\n'),
      };
    },
    isWrite: (op) => op.f === 'grant' || op.f === 'put' || op.f === 'revoke',
    signature(op) {
      if (op.f === 'grant') return sigGrant((op.input as { id: string }).id);
      if (op.f === 'revoke') return sigRevoke((op.input as { id: string }).id);
      if (op.f !== 'put' || op.key === undefined) return undefined;
      const lease = (op.input as { lease: string }).lease;
      return sigPut(op.key, lease, lease);
    },
  };
}
