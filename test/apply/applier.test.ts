// The Applier knows every request kind from construction (src/apply/applier.ts): a new
// applier runs the lease kinds and checks a Put's lease against the lessor without any
// further wiring, and a kind it does not apply is refused alike on every member.
import { describe, expect, it } from 'vitest';
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

async function newApplier(): Promise<{ apply: (kind: RequestKind, payload: Uint8Array, term?: number) => Promise<ApplyOutcome>; lessor: Lessor; store: MvccStore }> {
  const backend = new MemoryBackend();
  const store = await MvccStore.open(backend);
  const lessor = await Lessor.open(backend, { minTtlSeconds: 2, clock: new ManualClock() });
  const applier = new Applier({ store: () => store, membership: await Membership.load(backend), lessor, logger: nullLogger });
  let index = 0;
  const apply = async (kind: RequestKind, payload: Uint8Array, term = 1): Promise<ApplyOutcome> => {
    const batch = backend.batch();
    const o = applier.apply({ kind, id: 0n, payload }, { index: ++index, term }, batch);
    await backend.write(batch, { sync: true });
    store.batchDurable(batch);
    return o;
  };
  return { apply, lessor, store };
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

  it('refuses an alarm request as unimplemented, with no change', async () => {
    const { apply, store } = await newApplier();
    const before = store.currentRevision;
    expect(code(await apply(RequestKind.Alarm, new Uint8Array()))).toBe('unimplemented');
    expect(store.currentRevision).toBe(before);
  });
});
