// The Applier knows every request kind from construction (src/apply/applier.ts): a new
// applier runs the lease kinds and checks a Put's lease against the lessor without any
// further wiring, and raised alarms refuse what etcd refuses, alike on every member.
import { describe, expect, it } from 'vitest';
import { AlarmAction, AlarmStore, AlarmType, encodeAlarmRequest } from '../../src/apply/alarms.js';
import { Applier, type ApplyOutcome } from '../../src/apply/applier.js';
import { leaseToPb } from '../../src/apply/convert.js';
import { RequestKind } from '../../src/apply/request.js';
import { Membership } from '../../src/cluster/membership.js';
import type * as pb from '../../src/generated/pb.js';
import {
  Lessor,
  encodeCheckpoint,
  encodeExpire,
  encodeGrantRequest,
  encodeRevokeRequest,
} from '../../src/lease/index.js';
import { MvccStore } from '../../src/mvcc/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { leaseId } from '../../src/shared/ids.js';
import { nullLogger } from '../../src/shared/logger.js';
import { codec } from '../../src/shared/pb-codec.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';

const putCodec = codec<pb.PutRequest>('etcdserverpb.PutRequest');
const LEASE = leaseId(5n);

async function newApplier(backend = new MemoryBackend()): Promise<{ apply: (kind: RequestKind, payload: Uint8Array, term?: number) => Promise<ApplyOutcome>; lessor: Lessor; store: MvccStore; alarms: AlarmStore }> {
  const store = await MvccStore.open(backend);
  const lessor = await Lessor.open(backend, { minTtlSeconds: 2, clock: new ManualClock() });
  const alarms = await AlarmStore.load(backend);
  const applier = new Applier({ store: () => store, membership: await Membership.load(backend), lessor, alarms, logger: nullLogger });
  let index = 0;
  const apply = async (kind: RequestKind, payload: Uint8Array, term = 1): Promise<ApplyOutcome> => {
    const batch = backend.batch();
    const o = applier.apply({ kind, id: 0n, payload }, { index: ++index, term }, batch);
    await backend.write(batch, { sync: true });
    store.batchDurable(batch);
    return o;
  };
  return { apply, lessor, store, alarms };
}

const put = (key: string): Uint8Array =>
  putCodec.encode({ key: Buffer.from(key), value: Buffer.from('v'), lease: leaseToPb(LEASE) ?? 0 });

const code = (o: ApplyOutcome): string | undefined => (o.ok ? undefined : o.error.code);

describe('Applier', () => {
  it('applies every lease kind and checks leases on writes as soon as it is constructed', async () => {
    const { apply, lessor, store } = await newApplier();
    expect(code(await apply(RequestKind.Put, put('early')))).toBe('lease-not-found');
    expect(code(await apply(RequestKind.LeaseGrant, encodeGrantRequest(LEASE, 60n)))).toBeUndefined();
    expect(code(await apply(RequestKind.Put, put('k')))).toBeUndefined();
    expect(lessor.keysOf(LEASE).map(String)).toEqual(['k']);
    const cp = encodeCheckpoint(1, [{ id: LEASE, remainingTtlSeconds: 30 }]);
    expect(code(await apply(RequestKind.LeaseCheckpoint, cp))).toBeUndefined();
    // An expiry proposed in term 1 but committed in an entry of term 2 is fenced off.
    expect(code(await apply(RequestKind.LeaseExpire, encodeExpire(1, LEASE), 2))).toBe('leader-changed');
    const revoked = await apply(RequestKind.LeaseRevoke, encodeRevokeRequest(LEASE));
    expect(revoked.ok && revoked.response).toEqual({ deleted: 1 });
    expect((await store.range({ key: Buffer.from('k') })).kvs).toEqual([]);
    expect(code(await apply(RequestKind.Put, put('k')))).toBe('lease-not-found');
  });

  it('applies alarm requests as etcd: ACTIVATE answers the alarm, DEACTIVATE the cleared one, GET lists; persisted', async () => {
    const backend = new MemoryBackend();
    const { apply } = await newApplier(backend);
    const alarm = (action: number, member: bigint, type: number): Promise<ApplyOutcome> =>
      apply(RequestKind.Alarm, encodeAlarmRequest(action as AlarmAction, member, type as AlarmType));
    const listed = (o: ApplyOutcome): string[] =>
      o.ok ? ((o.response as pb.AlarmResponse).alarms ?? []).map((a) => `${String(a.memberID)}:${a.alarm ?? 0}`) : ['error'];
    expect(listed(await alarm(AlarmAction.GET, 0n, AlarmType.NONE))).toEqual([]);
    expect(listed(await alarm(AlarmAction.ACTIVATE, 7n, AlarmType.NOSPACE))).toEqual(['7:1']);
    expect(listed(await alarm(AlarmAction.ACTIVATE, 7n, AlarmType.NOSPACE))).toEqual(['7:1']);
    expect(listed(await alarm(AlarmAction.ACTIVATE, 3n, AlarmType.CORRUPT))).toEqual(['3:2']);
    expect(listed(await alarm(AlarmAction.GET, 0n, AlarmType.NONE))).toEqual(['7:1', '3:2']);
    expect(listed(await alarm(AlarmAction.GET, 0n, AlarmType.CORRUPT))).toEqual(['3:2']);
    // A restart reads the same set back from the db.
    expect((await AlarmStore.load(backend)).get().map((a) => `${a.memberId}:${a.type}`)).toEqual(['7:1', '3:2']);
    expect(listed(await alarm(AlarmAction.DEACTIVATE, 9n, AlarmType.NOSPACE))).toEqual([]);
    expect(listed(await alarm(AlarmAction.DEACTIVATE, 3n, AlarmType.CORRUPT))).toEqual(['3:2']);
    expect(listed(await alarm(AlarmAction.DEACTIVATE, 7n, AlarmType.NOSPACE))).toEqual(['7:1']);
    expect((await AlarmStore.load(backend)).get()).toEqual([]);
  });

  it('refuses what etcd refuses under NOSPACE (capped) and under CORRUPT, and nothing once disarmed', async () => {
    const { apply, store } = await newApplier();
    const txn = (ops: pb.RequestOp[]): Uint8Array => codec<pb.TxnRequest>('etcdserverpb.TxnRequest').encode({ success: ops });
    const plainPut = putCodec.encode({ key: Buffer.from('a'), value: Buffer.from('v') });
    const del = codec<pb.DeleteRangeRequest>('etcdserverpb.DeleteRangeRequest').encode({ key: Buffer.from('a') });
    const compact = (rev: number): Uint8Array => codec<pb.CompactionRequest>('etcdserverpb.CompactionRequest').encode({ revision: rev });
    expect(code(await apply(RequestKind.Put, plainPut))).toBeUndefined();
    expect(code(await apply(RequestKind.LeaseGrant, encodeGrantRequest(LEASE, 60n)))).toBeUndefined();
    await apply(RequestKind.Alarm, encodeAlarmRequest(AlarmAction.ACTIVATE, 1n, AlarmType.NOSPACE));
    const before = store.currentRevision;
    expect(code(await apply(RequestKind.Put, plainPut))).toBe('no-space');
    expect(code(await apply(RequestKind.Txn, txn([{ requestPut: { key: Buffer.from('b'), value: Buffer.from('v') } }])))).toBe('no-space');
    expect(code(await apply(RequestKind.LeaseGrant, encodeGrantRequest(leaseId(6n), 60n)))).toBe('no-space');
    expect(store.currentRevision).toBe(before);
    expect(code(await apply(RequestKind.Txn, txn([{ requestDeleteRange: { key: Buffer.from('zz') } }])))).toBeUndefined();
    expect(code(await apply(RequestKind.DeleteRange, del))).toBeUndefined();
    expect(code(await apply(RequestKind.Compaction, compact(store.currentRevision)))).toBeUndefined();
    expect(code(await apply(RequestKind.LeaseRevoke, encodeRevokeRequest(LEASE)))).toBeUndefined();
    await apply(RequestKind.Alarm, encodeAlarmRequest(AlarmAction.ACTIVATE, 2n, AlarmType.CORRUPT));
    await apply(RequestKind.Alarm, encodeAlarmRequest(AlarmAction.DEACTIVATE, 1n, AlarmType.NOSPACE));
    for (const [kind, payload] of [
      [RequestKind.Put, plainPut],
      [RequestKind.DeleteRange, del],
      [RequestKind.Txn, txn([{ requestDeleteRange: { key: Buffer.from('zz') } }])],
      [RequestKind.Compaction, compact(store.currentRevision)],
      [RequestKind.LeaseGrant, encodeGrantRequest(leaseId(6n), 60n)],
      [RequestKind.LeaseRevoke, encodeRevokeRequest(leaseId(6n))],
    ] as const) {
      expect(code(await apply(kind, payload)), `kind ${kind}`).toBe('corrupt');
    }
    await apply(RequestKind.Alarm, encodeAlarmRequest(AlarmAction.DEACTIVATE, 2n, AlarmType.CORRUPT));
    expect(code(await apply(RequestKind.Put, plainPut))).toBeUndefined();
  });
});
