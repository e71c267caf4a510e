/**
 * Every unknown explained where the log decides: after a run, read every member's WAL
 * (src/wal's reader, Wal.readAll), keep the entries each member itself knows committed
 * (index <= its last hard state's commit; Raft's log matching makes them agree), and
 * resolve each `info` write against them.
 *
 * Matching: the WAL keeps each client request as the protobuf bytes the client sent
 * (src/apply/request.ts), so an entry decodes to a canonical signature (`put k v lease`,
 * `txn` with its compares and ops, `grant id`, `revoke id`, `del k end`); a workload
 * gives the same signature for each of its write ops (Workload.signature). Values repeat
 * (the register writes 0..4), so resolution counts: for one signature with N committed
 * entries, A acknowledged ops and I unknown ones, N - A <= 0 means none of the I
 * committed, N - A >= I means all did; anything between stays unknown.
 *
 * Soundness needs the whole log: a member that compacted its log into a snapshot no
 * longer has the early entries, so resolution runs only when the union of the members'
 * committed entries covers every index from 1 to the highest commit; otherwise every
 * unknown stays unknown and the report says why. The WAL is read after every member was
 * killed, so nothing commits later.
 *
 * Resolved ops: `not committed` becomes `fail` (no effect, checkers drop it);
 * `committed` stays `info` (its answer is unknown) but gets `committed: true` and the
 * history's end as `ret`, so a linearizability search must place it (it cannot be
 * "never"); its output is still not checked.
 */
import { join } from 'node:path';
import type * as pb from '../../../src/generated/pb.js';
import { decodeRequest, RequestKind } from '../../../src/apply/request.js';
import { unwrapWrite } from '../../../src/apply/internal-request.js';
import { codec } from '../../../src/shared/pb-codec.js';
import { NodeFileLayer } from '../../../src/storage/node-file-layer.js';
import { Wal } from '../../../src/wal/index.js';
import { PROPOSAL_DROPPED } from './classify.js';
import type { Op } from './op.js';

export interface CommittedLog {
  /** index → signature ('' for entries that are no client write: conf changes, noops). */
  readonly entries: ReadonlyMap<number, string>;
  readonly maxCommit: number;
  /** Why resolution cannot be trusted (a gap in the union), or undefined. */
  readonly gap?: string;
  /** Per member: first/last index read, its commit, or why it could not be read. */
  readonly members: readonly string[];
}

export interface Resolution {
  readonly ops: readonly Op[];
  readonly unknownBefore: number;
  readonly committed: number;
  readonly notCommitted: number;
  readonly unresolved: number;
  readonly why: string;
  /** Per error text of the unknown ops: how many resolved each way (which errors hide commits). */
  readonly byError: Readonly<Record<string, { committed: number; notCommitted: number; unresolved: number }>>;
  /**
   * Signatures with more committed entries than acknowledged and unknown ops together,
   * where a write answered "raft proposal dropped" (a definite failure) would be the only
   * explanation: each one is a dropped write that committed (empty when the log has a gap).
   */
  readonly droppedButCommitted: readonly string[];
}

const text = (b: Uint8Array | null | undefined): string => Buffer.from(b ?? new Uint8Array()).toString('utf8');
const int = (v: unknown): string => (v === undefined || v === null ? '0' : String(v));

export function sigPut(key: string, value: string, lease = '0'): string {
  return `put ${key} ${value} ${lease}`;
}
export function sigDelete(key: string, rangeEnd = ''): string {
  return `del ${key} ${rangeEnd}`;
}
export function sigGrant(id: string): string {
  return `grant ${id}`;
}
export function sigRevoke(id: string): string {
  return `revoke ${id}`;
}
/** A compare on a key's value (target VALUE) with result EQUAL, as the register's cas sends it. */
export function sigCompareValueEquals(key: string, value: string): string {
  return `cmp ${key} 3 0 ${value}`;
}
export function sigTxn(compares: readonly string[], success: readonly string[], failure: readonly string[]): string {
  return `txn [${compares.join(';')}] [${success.join(';')}] [${failure.join(';')}]`;
}

const putCodec = codec<pb.PutRequest>('etcdserverpb.PutRequest');
const delCodec = codec<pb.DeleteRangeRequest>('etcdserverpb.DeleteRangeRequest');
const txnCodec = codec<pb.TxnRequest>('etcdserverpb.TxnRequest');
const grantCodec = codec<pb.LeaseGrantRequest>('etcdserverpb.LeaseGrantRequest');
const revokeCodec = codec<pb.LeaseRevokeRequest>('etcdserverpb.LeaseRevokeRequest');

function compareSig(c: pb.Compare): string {
  const target = Number(c.target ?? 0);
  const operand =
    target === 3 ? text(c.value) : target === 0 ? int(c.version) : target === 1 ? int(c.createRevision) : target === 2 ? int(c.modRevision) : int(c.lease);
  return `cmp ${text(c.key)} ${target} ${Number(c.result ?? 0)} ${operand}`;
}

function opSig(o: pb.RequestOp): string {
  if (o.requestPut) return sigPut(text(o.requestPut.key), text(o.requestPut.value), int(o.requestPut.lease));
  if (o.requestDeleteRange) return sigDelete(text(o.requestDeleteRange.key), text(o.requestDeleteRange.rangeEnd));
  if (o.requestRange) return `range ${text(o.requestRange.key)}`;
  return 'txn';
}

/**
 * A txn's signature from the request as a client builds it (the same rules as a decoded
 * log entry's): for workloads whose txns carry values read at run time (append).
 */
export function txnSignatureOf(t: pb.TxnRequest): string {
  return sigTxn((t.compare ?? []).map(compareSig), (t.success ?? []).map(opSig), (t.failure ?? []).map(opSig));
}

/** The canonical signature of one log entry's data ('' when it is no client write). */
export function entrySignature(data: Uint8Array): string {
  if (data.length === 0) return '';
  // A write proposed in the older Internal form (auth on) reads as the write it carries.
  const req = unwrapWrite(decodeRequest(data));
  switch (req.kind) {
    case RequestKind.Put: {
      const p = putCodec.decode(req.payload);
      return sigPut(text(p.key), text(p.value), int(p.lease));
    }
    case RequestKind.DeleteRange: {
      const d = delCodec.decode(req.payload);
      return sigDelete(text(d.key), text(d.rangeEnd));
    }
    case RequestKind.Txn: {
      return txnSignatureOf(txnCodec.decode(req.payload));
    }
    case RequestKind.LeaseGrant:
      return sigGrant(int(grantCodec.decode(req.payload).ID));
    case RequestKind.LeaseRevoke:
      return sigRevoke(int(revokeCodec.decode(req.payload).ID));
    default:
      return '';
  }
}

/** Reads each data dir's WAL (<dir>/member/wal) and unites the committed entries. */
export async function readCommittedLog(dataDirs: readonly string[]): Promise<CommittedLog> {
  const fs = new NodeFileLayer();
  const entries = new Map<number, string>();
  const members: string[] = [];
  let maxCommit = 0;
  for (const dir of dataDirs) {
    try {
      const r = await Wal.readAll(fs, join(dir, 'member', 'wal'));
      const commit = r.hardState.commit;
      maxCommit = Math.max(maxCommit, commit);
      let first = 0;
      let last = 0;
      for (const e of r.entries) {
        if (e.index > commit) break;
        if (first === 0) first = e.index;
        last = e.index;
        if (!entries.has(e.index)) entries.set(e.index, e.type === 0 ? entrySignature(e.data) : '');
      }
      members.push(`${dir}: entries ${first}..${last}, commit ${commit}, snapshot ${r.snapshot?.index ?? 0}`);
    } catch (err) {
      members.push(`${dir}: unreadable (${String(err).split('\n')[0]})`);
    }
  }
  let gap: string | undefined;
  for (let i = 1; i <= maxCommit; i++) {
    if (!entries.has(i)) {
      gap = `no member's WAL holds committed index ${i} (compacted into a snapshot or wiped)`;
      break;
    }
  }
  return { entries, maxCommit, members, ...(gap === undefined ? {} : { gap }) };
}

/**
 * Resolves the info ops that `signature` names against the committed log (see the
 * contract above). Ops without a signature (reads, or a workload that gives none) stay.
 */
export function resolveUnknowns(
  ops: readonly Op[],
  log: CommittedLog,
  signature: (op: Op) => string | undefined,
): Resolution {
  const infos = ops.filter((o) => o.type === 'info' && signature(o) !== undefined);
  const dropped = ops.filter((o) => o.type === 'fail' && (o.error ?? '').includes(PROPOSAL_DROPPED));
  const base = { unknownBefore: infos.length, committed: 0, notCommitted: 0, byError: {}, droppedButCommitted: [] };
  if (log.gap !== undefined) return { ops, ...base, unresolved: infos.length, why: log.gap };
  const inLog = new Map<string, number>();
  for (const s of log.entries.values()) if (s !== '') inLog.set(s, (inLog.get(s) ?? 0) + 1);
  const acked = new Map<string, number>();
  const unknown = new Map<string, Op[]>();
  for (const o of ops) {
    const s = signature(o);
    if (s === undefined) continue;
    if (o.type === 'ok') acked.set(s, (acked.get(s) ?? 0) + 1);
    if (o.type === 'info') unknown.set(s, [...(unknown.get(s) ?? []), o]);
  }
  const end = ops.reduce((t, o) => Math.max(t, o.ret), 0) + 1;
  const verdict = new Map<number, 'committed' | 'absent'>();
  for (const [s, list] of unknown) {
    const extra = (inLog.get(s) ?? 0) - (acked.get(s) ?? 0);
    if (extra <= 0) for (const o of list) verdict.set(o.id, 'absent');
    else if (extra >= list.length) for (const o of list) verdict.set(o.id, 'committed');
  }
  let committed = 0;
  let notCommitted = 0;
  const byError: Record<string, { committed: number; notCommitted: number; unresolved: number }> = {};
  for (const o of infos) {
    const k = (o.error ?? '?').replace(/,remote_addr=\S+/, '').slice(0, 100);
    const e = (byError[k] ??= { committed: 0, notCommitted: 0, unresolved: 0 });
    const v = verdict.get(o.id);
    if (v === 'committed') e.committed++;
    else if (v === 'absent') e.notCommitted++;
    else e.unresolved++;
  }
  const out = ops.map((o): Op => {
    const v = verdict.get(o.id);
    if (v === 'absent') {
      notCommitted++;
      return { ...o, type: 'fail', error: `${o.error ?? ''} (not in the committed log)` };
    }
    if (v === 'committed') {
      committed++;
      return { ...o, committed: true, ret: end };
    }
    return o;
  });
  const droppedButCommitted: string[] = [];
  for (const o of dropped) {
    const s = signature(o);
    if (s === undefined) continue;
    const unexplained = (inLog.get(s) ?? 0) - (acked.get(s) ?? 0) - (unknown.get(s)?.length ?? 0);
    if (unexplained > 0) droppedButCommitted.push(`op ${o.id} ${s}`);
  }
  return {
    ops: out,
    ...base,
    droppedButCommitted,
    committed,
    notCommitted,
    unresolved: infos.length - committed - notCommitted,
    why: infos.length === 0 ? 'no unknown writes' : `log 1..${log.maxCommit} complete`,
    byError,
  };
}
