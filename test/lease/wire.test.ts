// The lease module's hand-written protobuf: byte-identical to protobufjs for etcd's
// messages (so a client's raw LeaseRevokeRequest and our own encodings mean the same),
// leasepb records round-trip, fenced payloads carry the term.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import Long from 'long';
import { codec } from '../../src/shared/pb-codec.js';
import type * as pb from '../../src/generated/pb.js';
import {
  decodeCheckpointRequest,
  decodeFenced,
  decodeLeaseRecord,
  encodeCheckpoint,
  encodeCheckpointRequest,
  encodeExpire,
  encodeGrantRequest,
  encodeLeaseRecord,
  encodeRevokeRequest,
  leaseRecordKey,
} from '../../src/lease/index.js';
import { decodeGrantRequest, decodeRevokeRequest } from '../../src/lease/wire.js';
import { leaseId } from '../../src/shared/ids.js';

const int64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
const grantCodec = codec<pb.LeaseGrantRequest>('etcdserverpb.LeaseGrantRequest');
const revokeCodec = codec<pb.LeaseRevokeRequest>('etcdserverpb.LeaseRevokeRequest');
const checkpointCodec = codec<pb.LeaseCheckpointRequest>('etcdserverpb.LeaseCheckpointRequest');

describe('lease wire formats', () => {
  it('LeaseGrantRequest and LeaseRevokeRequest match protobufjs both ways', () => {
    fc.assert(
      fc.property(int64, int64, (id, ttl) => {
        const ours = encodeGrantRequest(leaseId(id), ttl);
        const theirs = grantCodec.encode({ ID: Long.fromBigInt(id), TTL: Long.fromBigInt(ttl) });
        expect(Buffer.from(ours)).toEqual(Buffer.from(theirs));
        expect(decodeGrantRequest(theirs)).toEqual({ id, ttlSeconds: ttl });
        const rev = revokeCodec.encode({ ID: Long.fromBigInt(id) });
        expect(Buffer.from(encodeRevokeRequest(leaseId(id)))).toEqual(Buffer.from(rev));
        expect(decodeRevokeRequest(rev)).toBe(id);
      }),
    );
  });

  it('LeaseCheckpointRequest matches protobufjs', () => {
    const cps = [
      { id: leaseId(7n), remainingTtlSeconds: 120 },
      { id: leaseId(-3n), remainingTtlSeconds: 0 },
      { id: leaseId((1n << 62n) + 5n), remainingTtlSeconds: 9_000_000_000 },
    ];
    const ours = encodeCheckpointRequest(cps);
    const decoded = checkpointCodec.decode(ours);
    expect(
      decoded.checkpoints?.map((c) => [BigInt(String(c.ID)), Number(String(c.remaining_TTL))]),
    ).toEqual(cps.map((c) => [c.id, c.remainingTtlSeconds]));
    expect(decodeCheckpointRequest(checkpointCodec.encode(decoded))).toEqual(cps);
  });

  it('leasepb records round-trip and keys are the prefix plus the big-endian id', () => {
    fc.assert(
      fc.property(int64, fc.integer({ min: 0, max: 9_000_000_000 }), fc.nat(), (id, ttl, rem) => {
        const r = { id: leaseId(id), ttlSeconds: ttl, remainingTtlSeconds: rem };
        expect(decodeLeaseRecord(encodeLeaseRecord(r))).toEqual(r);
      }),
    );
    expect(leaseRecordKey(leaseId(0x0102n))).toEqual(Buffer.from([0x6c, 0, 0, 0, 0, 0, 0, 1, 2]));
    // leasepb.Lease{ID: 1, TTL: 10} as etcd's gogo-proto writes it.
    expect(encodeLeaseRecord({ id: leaseId(1n), ttlSeconds: 10, remainingTtlSeconds: 0 })).toEqual(
      Buffer.from([8, 1, 16, 10]),
    );
  });

  it('fenced payloads carry the proposer term before the body', () => {
    const p = encodeExpire(5, leaseId(42n));
    const f = decodeFenced(p);
    expect(f.term).toBe(5);
    expect(decodeRevokeRequest(f.body)).toBe(42n);
    const c = decodeFenced(encodeCheckpoint(9, [{ id: leaseId(1n), remainingTtlSeconds: 3 }]));
    expect(c.term).toBe(9);
    expect(decodeCheckpointRequest(c.body)).toEqual([{ id: 1n, remainingTtlSeconds: 3 }]);
  });

  it('skips unknown fields', () => {
    // field 9 varint 1, field 10 bytes "ab", then ID = 3
    const buf = Buffer.from([0x48, 1, 0x52, 2, 0x61, 0x62, 0x08, 3]);
    expect(decodeRevokeRequest(buf)).toBe(3n);
  });
});
