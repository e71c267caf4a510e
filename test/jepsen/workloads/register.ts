/**
 * The `register` workload (Jepsen's, testing-reference §1.2): per-key read / write /
 * compare-and-set of small integer values, with etcd's per-key version returned by every
 * op, checked per key by WGL (checkers/register.ts).
 *
 * - 3 active keys; each key retires after `opsPerKey` ops and a fresh one takes its slot,
 *   so every partition the checker searches stays small.
 * - 2 processes per member; each op goes to the process's member. Reads are
 *   linearizable Range; write is Put with prev_kv (version = prev.version + 1); cas is a
 *   Txn comparing the value, with a prev_kv Put on success.
 * - No retries; after an `info` the process takes a fresh id.
 */
import type { Op } from '../history/op.js';
import type { HistoryRecord } from '../history/op.js';
import type * as pb from '../../../src/generated/pb.js';
import { checkRegister, relevantRegisterOps, versionedRegister } from '../checkers/register.js';
import { checkLinearizable } from '../checkers/wgl.js';
import { formatOps, smallestFailingWindow } from '../checkers/window.js';
import { sigCompareValueEquals, sigPut, sigTxn } from '../history/resolve.js';
import type { WorkloadContext } from './context.js';
import { bytes, execute, memberFor, num, sleep, text } from './context.js';
import type { Verdict, Workload } from './workload.js';

const ACTIVE_KEYS = 3;
const VALUES = 5;
/** A key retires after this many unknown writes: each one multiplies the WGL search. */
const MAX_INFO_PER_KEY = 3;
/** After an error the process backs off and reads next (etcd robustness traffic rule). */
const BACKOFF_MS = 150;
/** An unknown write costs the checkers most; a member that times out is given a rest. */
const INFO_BACKOFF_MS = 1000;

export interface RegisterOptions {
  readonly opsPerKey?: number;
  readonly processesPerMember?: number;
  readonly thinkMs?: number;
}

function readValue(kv: pb.KeyValue | undefined): { version: number; value: number | null } {
  if (kv === undefined) return { version: 0, value: null };
  return { version: num(kv.version), value: Number(text(kv.value)) };
}

export function registerWorkload(options: RegisterOptions = {}): Workload {
  const opsPerKey = options.opsPerKey ?? 100;
  const perMember = options.processesPerMember ?? 2;
  const thinkMs = options.thinkMs ?? 5;
  const slots = Array.from({ length: ACTIVE_KEYS }, (_, i) => ({
    key: `reg/${i}`,
    used: 0,
    infos: 0,
  }));
  let generation = ACTIVE_KEYS;
  const allKeys = new Set(slots.map((s) => s.key));

  const pickKey = (ctx: WorkloadContext): string => {
    const slot = slots[ctx.rng.int(slots.length)] as { key: string; used: number; infos: number };
    if (slot.used >= opsPerKey || slot.infos >= MAX_INFO_PER_KEY) {
      slot.key = `reg/${generation++}`;
      slot.used = 0;
      slot.infos = 0;
      allKeys.add(slot.key);
    }
    slot.used++;
    return slot.key;
  };

  const oneOp = async (
    ctx: WorkloadContext,
    process: number,
    slot: number,
    readOnly: boolean,
  ): Promise<Op> => {
    const member = memberFor(ctx, slot);
    const key = pickKey(ctx);
    const dice = ctx.rng.int(4);
    if (dice < 2 || readOnly) return read(ctx, process, member, key);
    if (dice === 2) {
      const value = ctx.rng.int(VALUES);
      return execute(
        ctx,
        process,
        member,
        { f: 'write', key, input: { value }, idempotent: false },
        (c) => c.put({ key: bytes(key), value: bytes(String(value)), prevKv: true }),
        (res) => ({
          output: { version: res.prevKv ? num(res.prevKv.version) + 1 : 1 },
          revision: num(res.header?.revision),
        }),
      );
    }
    const from = ctx.rng.int(VALUES);
    const to = ctx.rng.int(VALUES);
    return execute(
      ctx,
      process,
      member,
      { f: 'cas', key, input: { from, to }, idempotent: false },
      (c) =>
        c.txn({
          compare: [{ key: bytes(key), target: 3, result: 0, value: bytes(String(from)) }],
          success: [{ requestPut: { key: bytes(key), value: bytes(String(to)), prevKv: true } }],
        }),
      (res) => {
        const revision = num(res.header?.revision);
        if (res.succeeded !== true) return { output: { succeeded: false }, revision };
        const prev = res.responses?.[0]?.responsePut?.prevKv;
        return { output: { succeeded: true, version: prev ? num(prev.version) + 1 : 1 }, revision };
      },
    );
  };

  const read = (
    ctx: WorkloadContext,
    process: number,
    member: ReturnType<typeof memberFor>,
    key: string,
  ): Promise<Op> =>
    execute(
      ctx,
      process,
      member,
      { f: 'read', key, input: null, idempotent: true },
      (c) => c.range({ key: bytes(key) }),
      (res) => ({ output: readValue(res.kvs?.[0]), revision: num(res.header?.revision) }),
    );

  return {
    name: 'register',
    async run(ctx) {
      const workers = ctx.cluster.members.length * perMember;
      await Promise.all(
        Array.from({ length: workers }, async (_, slot) => {
          let process = ctx.recorder.newProcess();
          let readNext = false;
          while (!ctx.stopped()) {
            const op = await oneOp(ctx, process, slot, readNext);
            readNext = op.type !== 'ok';
            if (op.type === 'info') {
              process = ctx.recorder.newProcess();
              const s = slots.find((x) => x.key === op.key);
              if (s !== undefined) s.infos++;
            }
            await sleep(
              op.type === 'ok' ? thinkMs : op.type === 'info' ? INFO_BACKOFF_MS : BACKOFF_MS,
            );
          }
        }),
      );
    },
    async final(ctx) {
      for (const [i, member] of ctx.cluster.members.entries()) {
        const process = ctx.recorder.newProcess();
        for (const key of slots.map((s) => s.key)) await read(ctx, process, member, key);
        void i;
      }
    },
    check(ops: readonly Op[], _records: readonly HistoryRecord[]): Verdict {
      const v = checkRegister(ops);
      if (v.valid === true) {
        return { valid: true, summary: `linearizable: ${v.keys} keys, ${ops.length} ops` };
      }
      const lines: string[] = [];
      for (const e of v.revisionErrors) lines.push(`revision order: ${e}`);
      const first = v.failures[0];
      if (first !== undefined) {
        const keyOps = ops.filter((o) => o.key === first.key);
        const win = smallestFailingWindow(
          keyOps,
          (h) => checkLinearizable(relevantRegisterOps(h), versionedRegister).valid === false,
        );
        if (first.result.valid === false) {
          const ce = first.result.counterexample;
          lines.push(
            `key ${first.key}: no linearization; deepest state ${ce.state}, blocked at op ${ce.blockedOp}`,
          );
        }
        if (win !== undefined) {
          lines.push(
            `smallest failing window on ${first.key}: [${win.fromMs.toFixed(1)} ms, ${win.toMs.toFixed(1)} ms], last straw op ${win.lastStraw.id}`,
          );
          lines.push(formatOps(win.ops));
        }
      }
      for (const u of v.unknown) lines.push(`key ${u.key}: unknown (${u.ops} ops)`);
      return {
        valid: v.valid,
        summary: `register: ${v.failures.length} non-linearizable keys, ${v.unknown.length} unknown, ${v.revisionErrors.length} revision-order errors`,
        explanation: lines.join('\n'),
        details: { failures: v.failures.map((f) => f.key), unknown: v.unknown.map((u) => u.key) },
      };
    },
    isWrite: (op) => op.f === 'write' || op.f === 'cas',
    signature(op) {
      if (op.key === undefined) return undefined;
      if (op.f === 'write') return sigPut(op.key, String((op.input as { value: number }).value));
      if (op.f !== 'cas') return undefined;
      const { from, to } = op.input as { from: number; to: number };
      return sigTxn([sigCompareValueEquals(op.key, String(from))], [sigPut(op.key, String(to))], []);
    },
  };
}
