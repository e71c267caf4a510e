/**
 * The `append` workload (Elle list-append, testing-reference §1.2 and §4.7): txns of 1-4
 * micro-ops (read a key's whole list, or append a unique element) over a few keys, checked
 * for strict serializability by checkers/elle.ts.
 *
 * etcd has no append, so a txn with appends runs as Jepsen's does:
 *   txn 1 reads every key the txn touches (value and mod_revision);
 *   txn 2 is guarded by "each key unchanged" (mod_revision equal, or version 0 for a
 *   missing key) and puts the extended lists.
 * The guard covers every key the txn reads or writes, which makes the whole micro-op list
 * atomic at txn 2. A guard that fails is a
 * definite `fail` (nothing written); an error on txn 1 is `fail` (nothing was sent that
 * writes); an error on txn 2 is classified as usual (`info` unless definite). Read-only
 * txns are one Txn of Ranges.
 *
 * Unknown txns are resolved from the committed log (history/resolve.ts): txn 2's
 * signature (its guard's revisions and the full lists it puts) is unique, so its entry is
 * either in the log or not. An entry in the log may still have failed its guard at apply,
 * so "committed" keeps the op `info` (Elle decides from the reads); "not committed" makes
 * it `fail`, and a read showing its element is then an aborted read.
 *
 * Keys: 5 active keys, each retired after 60 appends (lists stay short, so reads stay
 * cheap and the checker's version orders small).
 */
import type * as pb from '../../../src/generated/pb.js';
import { checkListAppend } from '../checkers/elle.js';
import type { Mop } from '../checkers/elle.js';
import { checkRevisionOrder } from '../checkers/register.js';
import type { ClusterMember } from '../cluster/cluster.js';
import { NOT_SENT, classifyError, describeError } from '../history/classify.js';
import type { Op } from '../history/op.js';
import { txnSignatureOf } from '../history/resolve.js';
import type { WorkloadContext } from './context.js';
import { bytes, isConnected, memberFor, num, sleep, text } from './context.js';
import type { Verdict, Workload } from './workload.js';

const ACTIVE_KEYS = 5;
const APPENDS_PER_KEY = 60;
const BACKOFF_MS = 150;
/** An unknown write costs the checkers most; a member that times out is given a rest. */
const INFO_BACKOFF_MS = 1000;

function decodeList(kv: pb.KeyValue | undefined): number[] {
  const s = kv === undefined ? '' : text(kv.value);
  return s === '' ? [] : s.split(',').map(Number);
}

export function appendWorkload(
  options: { processesPerMember?: number; thinkMs?: number } = {},
): Workload {
  const perMember = options.processesPerMember ?? 2;
  const thinkMs = options.thinkMs ?? 5;
  const slots = Array.from({ length: ACTIVE_KEYS }, (_, i) => ({ key: `la/${i}`, appends: 0 }));
  let generation = ACTIVE_KEYS;
  let nextElement = 1;
  /** The signature of each op's guarded txn, by op id (resolution of unknowns). */
  const sent = new Map<number, string>();

  const genTxn = (ctx: WorkloadContext, readOnly: boolean): Mop[] => {
    const n = 1 + ctx.rng.int(4);
    const mops: Mop[] = [];
    for (let i = 0; i < n; i++) {
      const slot = slots[ctx.rng.int(slots.length)] as { key: string; appends: number };
      if (readOnly || ctx.rng.int(2) === 0) {
        mops.push(['r', slot.key, null]);
        continue;
      }
      if (slot.appends >= APPENDS_PER_KEY) {
        slot.key = `la/${generation++}`;
        slot.appends = 0;
      }
      slot.appends++;
      mops.push(['append', slot.key, nextElement++]);
    }
    return mops;
  };

  const runTxn = async (
    ctx: WorkloadContext,
    process: number,
    member: ClusterMember,
    mops: Mop[],
  ): Promise<Op> => {
    const client = ctx.client(member);
    const p = ctx.recorder.invoke(process, 'txn', undefined, mops, member.name);
    if (!isConnected(client)) return ctx.recorder.complete(p, 'fail', null, { error: NOT_SENT });
    const keys = [...new Set(mops.map((m) => m[1]))];
    const reads = await client.txn({
      success: keys.map((k) => ({ requestRange: { key: bytes(k) } })),
    });
    if (!reads.ok)
      return ctx.recorder.complete(p, 'fail', null, { error: describeError(reads.error) });
    const seen = new Map<string, { list: number[]; modRevision: number }>();
    keys.forEach((k, i) => {
      const kv = reads.value.responses?.[i]?.responseRange?.kvs?.[0];
      seen.set(k, {
        list: decodeList(kv),
        modRevision: kv === undefined ? 0 : num(kv.modRevision),
      });
    });
    const local = new Map([...seen].map(([k, v]) => [k, [...v.list]]));
    const output: Mop[] = mops.map((m) => {
      const cur = local.get(m[1]) as number[];
      if (m[0] === 'append') {
        cur.push(m[2]);
        return m;
      }
      return ['r', m[1], [...cur]];
    });
    const written = [...new Set(mops.filter((m) => m[0] === 'append').map((m) => m[1]))];
    if (written.length === 0) {
      return ctx.recorder.complete(p, 'ok', output, {
        revision: num(reads.value.header?.revision),
      });
    }
    // Guard every key the txn touched, read-only ones too: otherwise its reads could be
    // stale at txn 2 and the txn would not be atomic (write skew).
    const compare: pb.Compare[] = keys.map((k) => {
      const s = seen.get(k) as { modRevision: number };
      return s.modRevision === 0
        ? { key: bytes(k), target: 0, result: 0, version: 0 }
        : { key: bytes(k), target: 2, result: 0, modRevision: s.modRevision };
    });
    const success = written.map((k) => ({
      requestPut: { key: bytes(k), value: bytes((local.get(k) as number[]).join(',')) },
    }));
    sent.set(p.id, txnSignatureOf({ compare, success }));
    const res = await client.txn({ compare, success });
    if (!res.ok) {
      const type = classifyError(res.error, false);
      return ctx.recorder.complete(p, type, null, { error: describeError(res.error) });
    }
    if (res.value.succeeded !== true) {
      return ctx.recorder.complete(p, 'fail', null, {
        error: 'guard failed',
        revision: num(res.value.header?.revision),
      });
    }
    return ctx.recorder.complete(p, 'ok', output, { revision: num(res.value.header?.revision) });
  };

  return {
    name: 'append',
    async run(ctx) {
      const workers = ctx.cluster.members.length * perMember;
      await Promise.all(
        Array.from({ length: workers }, async (_, slot) => {
          let process = ctx.recorder.newProcess();
          let readNext = false;
          while (!ctx.stopped()) {
            const op = await runTxn(ctx, process, memberFor(ctx, slot), genTxn(ctx, readNext));
            const errored =
              op.type === 'info' || (op.type === 'fail' && op.error !== 'guard failed');
            readNext = errored;
            if (op.type === 'info') process = ctx.recorder.newProcess();
            await sleep(op.type === 'info' ? INFO_BACKOFF_MS : errored ? BACKOFF_MS : thinkMs);
          }
        }),
      );
    },
    async final(ctx) {
      // Final reads of every active key from every member anchor the version orders.
      for (const member of ctx.cluster.members) {
        const mops: Mop[] = slots.map((s) => ['r', s.key, null]);
        await runTxn(ctx, ctx.recorder.newProcess(), member, mops);
      }
    },
    check(ops): Verdict {
      const v = checkListAppend(ops);
      const revisionErrors = checkRevisionOrder(ops);
      const valid = v.valid && revisionErrors.length === 0;
      const summary = valid
        ? `strict serializable: ${v.txns} txns, ${v.edges} dependency edges`
        : `append: anomalies ${v.anomalyTypes.join(', ') || 'none'}; ${revisionErrors.length} revision-order errors`;
      const explanation = [
        ...v.anomalies.slice(0, 10).map((a) => `${a.type}: ${a.explanation}`),
        ...revisionErrors.map((e) => `revision order: ${e}`),
      ].join('\n');
      return { valid, summary, explanation, details: { anomalyTypes: v.anomalyTypes } };
    },
    isWrite: (op) => op.f === 'txn' && (op.input as Mop[]).some((m) => m[0] === 'append'),
    signature: (op) => sent.get(op.id),
  };
}
