/**
 * Resolution of unknown writes against the committed log (resolve.ts): entry signatures
 * match what the workloads name, counting decides only when it can, and a log with a gap
 * decides nothing.
 */
import { describe, expect, it } from 'vitest';
import type * as pb from '../../../src/generated/pb.js';
import { encodeRequest, RequestKind } from '../../../src/apply/request.js';
import { encodeInternal } from '../../../src/apply/internal-request.js';
import { codec } from '../../../src/shared/pb-codec.js';
import { versionedRegister } from '../checkers/register.js';
import { checkLinearizable } from '../checkers/wgl.js';
import type { Op } from './op.js';
import type { CommittedLog } from './resolve.js';
import { entrySignature, resolveUnknowns, sigCompareValueEquals, sigGrant, sigPut, sigTxn, txnSignatureOf } from './resolve.js';

const b = (s: string): Uint8Array => Buffer.from(s);

function op(id: number, type: Op['type'], value: number, ret = id + 1): Op {
  return { id, process: id, f: 'write', key: 'k', input: { value }, output: null, type, call: id, ret, node: 'n1', ...(type === 'info' ? { error: 'DEADLINE_EXCEEDED: x' } : {}) };
}
const sig = (o: Op): string | undefined => (o.f === 'write' ? sigPut('k', String((o.input as { value: number }).value)) : undefined);

function log(sigs: string[], gap?: string): CommittedLog {
  return { entries: new Map(sigs.map((s, i) => [i + 1, s])), maxCommit: sigs.length, members: [], ...(gap === undefined ? {} : { gap }) };
}

describe('committed-log resolution', () => {
  it('decodes log entries to the signatures the workloads give', () => {
    const put = codec<pb.PutRequest>('etcdserverpb.PutRequest').encode({ key: b('reg/1'), value: b('3'), prevKv: true });
    expect(entrySignature(encodeRequest(RequestKind.Put, 7n, put))).toBe(sigPut('reg/1', '3'));
    const txn = codec<pb.TxnRequest>('etcdserverpb.TxnRequest').encode({
      compare: [{ key: b('reg/1'), target: 3, result: 0, value: b('2') }],
      success: [{ requestPut: { key: b('reg/1'), value: b('4'), prevKv: true } }],
    });
    expect(entrySignature(encodeRequest(RequestKind.Txn, 8n, txn))).toBe(
      sigTxn([sigCompareValueEquals('reg/1', '2')], [sigPut('reg/1', '4')], []),
    );
    const grant = codec<pb.LeaseGrantRequest>('etcdserverpb.LeaseGrantRequest').encode({ ID: '2000007', TTL: 3 });
    expect(entrySignature(encodeRequest(RequestKind.LeaseGrant, 9n, grant))).toBe(sigGrant('2000007'));
    expect(entrySignature(new Uint8Array())).toBe('');
    // The append workload's guarded txn, named from the request it sends.
    const guarded: pb.TxnRequest = {
      compare: [
        { key: b('la/1'), target: 2, result: 0, modRevision: 41 },
        { key: b('la/2'), target: 0, result: 0, version: 0 },
      ],
      success: [{ requestPut: { key: b('la/2'), value: b('7,9') } }],
    };
    const encoded = codec<pb.TxnRequest>('etcdserverpb.TxnRequest').encode(guarded);
    expect(entrySignature(encodeRequest(RequestKind.Txn, 10n, encoded))).toBe(txnSignatureOf(guarded));
    expect(txnSignatureOf(guarded)).toBe('txn [cmp la/1 2 0 41;cmp la/2 0 0 0] [put la/2 7,9 0] []');
  });

  it('decodes writes under auth: with the caller in the entry header, and in the older Internal form', () => {
    const put = codec<pb.PutRequest>('etcdserverpb.PutRequest').encode({ key: b('reg/1'), value: b('3') });
    expect(entrySignature(encodeRequest(RequestKind.Put, 7n, put, { username: 'alice', revision: 12 }))).toBe(sigPut('reg/1', '3'));
    expect(entrySignature(encodeRequest(RequestKind.Put, 7n, put, { username: '', revision: 0 }))).toBe(sigPut('reg/1', '3'));
    const old = encodeInternal({ header: { username: 'alice', authRevision: 12 }, body: { type: 'write', kind: RequestKind.Put, payload: put } });
    expect(entrySignature(encodeRequest(RequestKind.Internal, 8n, old))).toBe(sigPut('reg/1', '3'));
    const auth = encodeInternal({ header: { username: 'root', authRevision: 12 }, body: { type: 'auth', req: { op: 'authStatus' } } });
    expect(entrySignature(encodeRequest(RequestKind.Internal, 9n, auth))).toBe('');
  });

  it('counts: extra entries beyond the acknowledged ones commit the unknowns, none leaves them absent', () => {
    const ops = [op(1, 'ok', 3), op(2, 'info', 3), op(3, 'info', 4), op(4, 'ok', 1)];
    const r = resolveUnknowns(ops, log([sigPut('k', '3'), sigPut('k', '1'), sigPut('k', '3')]), sig);
    expect([r.unknownBefore, r.committed, r.notCommitted, r.unresolved]).toEqual([2, 1, 1, 0]);
    const two = r.ops.find((o) => o.id === 2);
    expect(two?.type).toBe('info');
    expect(two?.committed).toBe(true);
    expect(two?.ret).toBe(6); // the history's end
    expect(r.ops.find((o) => o.id === 3)?.type).toBe('fail');
    expect(r.byError['DEADLINE_EXCEEDED: x']).toEqual({ committed: 1, notCommitted: 1, unresolved: 0 });
  });

  it('leaves unknowns alone when the count cannot tell which, or the log has a gap', () => {
    const ops = [op(1, 'info', 3), op(2, 'info', 3)];
    const partial = resolveUnknowns(ops, log([sigPut('k', '3')]), sig);
    expect([partial.committed, partial.notCommitted, partial.unresolved]).toEqual([0, 0, 2]);
    const gap = resolveUnknowns(ops, log([], 'no member holds index 1'), sig);
    expect(gap.unresolved).toBe(2);
    expect(gap.ops).toBe(ops);
  });

  it('a committed unknown write must be placed: a later read that misses it is not linearizable', () => {
    const write: Op = { ...op(1, 'info', 3), ret: 5 };
    const read: Op = { id: 2, process: 9, f: 'read', key: 'k', input: null, output: { version: 0, value: null }, type: 'ok', call: 6, ret: 7, node: 'n1' };
    expect(checkLinearizable([write, read], versionedRegister).valid).toBe(true);
    expect(checkLinearizable([{ ...write, committed: true }, read], versionedRegister).valid).toBe(false);
  });

  it('names a write answered "raft proposal dropped" that the log holds anyway', () => {
    const dropped: Op = { ...op(2, 'fail', 3), error: 'UNKNOWN: raft proposal dropped' };
    const ops = [op(1, 'ok', 3), dropped];
    expect(resolveUnknowns(ops, log([sigPut('k', '3')]), sig).droppedButCommitted).toEqual([]);
    expect(resolveUnknowns(ops, log([sigPut('k', '3'), sigPut('k', '3')]), sig).droppedButCommitted).toEqual([
      `op 2 ${sigPut('k', '3')}`,
    ]);
  });
});
