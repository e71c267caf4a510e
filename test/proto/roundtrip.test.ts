// Round trip of etcd messages through protobufjs and grpc's proto-loader, typed with
// src/generated/pb.ts: binary keys/values (NUL, 0xff) survive byte for byte, and 64-bit
// ids above 2^53 (and above 2^63 for uint64) survive exactly whether given as a
// decimal string or a Long. The header's wire bytes are also checked against a varint
// encoder written here, independent of protobufjs.
import loader from '@grpc/proto-loader';
import Long from 'long';
import { describe, expect, it } from 'vitest';
import type { RangeResponse, WatchResponse } from '../../src/generated/pb.js';
import { loadOurProtos, PROTO_DIR, PROTO_FILES } from './protos.js';

const CLUSTER_ID = '13292385014601237006'; // > 2^63: only representable as uint64
const MEMBER_ID = Long.fromString('10501334649042878790', true);
const LEASE_ID = '7587862037293580550'; // > 2^53, < 2^63
const KEY = Uint8Array.from([0x00, 0x61, 0xff, 0x00]);
const VALUE = Uint8Array.from([0xff, 0xfe, 0x00, 0x01, 0x00, 0xff]);

function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n); // int64 negatives are sent as their two's-complement uint64
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const response: RangeResponse = {
  header: { clusterId: CLUSTER_ID, memberId: MEMBER_ID, revision: 42, raftTerm: 7 },
  kvs: [{ key: KEY, createRevision: 2, modRevision: 41, version: 3, value: VALUE, lease: LEASE_ID }],
  more: true,
  count: '9007199254740993', // 2^53 + 1
};

describe('protobufjs round trip', () => {
  const root = loadOurProtos(false);
  const RangeResponseType = root.lookupType('etcdserverpb.RangeResponse');

  it('keeps bytes and 64-bit ids exact', () => {
    const wire = RangeResponseType.encode(RangeResponseType.fromObject(response)).finish();
    const back = RangeResponseType.toObject(RangeResponseType.decode(wire), { longs: String }) as RangeResponse;
    expect(back.header).toEqual({ clusterId: CLUSTER_ID, memberId: MEMBER_ID.toString(), revision: '42', raftTerm: '7' });
    expect(back.more).toBe(true);
    expect(back.count).toBe('9007199254740993');
    const kv = back.kvs?.[0];
    expect(kv?.lease).toBe(LEASE_ID);
    expect(Buffer.from(kv?.key ?? [])).toEqual(Buffer.from(KEY));
    expect(Buffer.from(kv?.value ?? [])).toEqual(Buffer.from(VALUE));

    // As Long: the unsigned flag must follow the field type (uint64 vs int64).
    const asLong = RangeResponseType.toObject(RangeResponseType.decode(wire), { longs: Long }) as RangeResponse;
    const clusterId = asLong.header?.clusterId;
    expect(Long.isLong(clusterId)).toBe(true);
    expect(String(clusterId)).toBe(CLUSTER_ID);
    expect(String(asLong.kvs?.[0]?.lease)).toBe(LEASE_ID);
  });

  it('writes the header as etcd does (varints checked by hand)', () => {
    const Header = root.lookupType('etcdserverpb.ResponseHeader');
    const wire = Header.encode(Header.fromObject({ clusterId: CLUSTER_ID, memberId: MEMBER_ID, revision: 42, raftTerm: 7 })).finish();
    const expected = [
      0x08, ...varint(BigInt(CLUSTER_ID)),
      0x10, ...varint(BigInt(MEMBER_ID.toString())),
      0x18, ...varint(42n),
      0x20, ...varint(7n),
    ];
    expect([...wire]).toEqual(expected);
  });

  it('encodes watch_id -1 as a ten-byte varint and decodes it back', () => {
    const Watch = root.lookupType('etcdserverpb.WatchResponse');
    const msg: WatchResponse = { watchId: -1, created: true, canceled: true, cancelReason: 'etcdserver: permission denied' };
    const wire = Watch.encode(Watch.fromObject(msg)).finish();
    expect([...wire.subarray(0, 11)]).toEqual([0x10, ...varint(-1n)]);
    expect(varint(-1n)).toHaveLength(10);
    const back = Watch.toObject(Watch.decode(wire), { longs: String }) as WatchResponse;
    expect(back).toEqual({ watchId: '-1', created: true, canceled: true, cancelReason: 'etcdserver: permission denied' });
  });
});

describe('grpc proto-loader serializers (what the server registers)', () => {
  it('produce the same bytes as protobufjs and decode ids as strings', () => {
    const def = loader.loadSync([...PROTO_FILES], { includeDirs: [PROTO_DIR], longs: String });
    const kv = def['etcdserverpb.KV'];
    if (kv === undefined || 'format' in kv) throw new Error('etcdserverpb.KV service not found');
    const range = kv['Range'];
    if (range === undefined) throw new Error('KV.Range not found');
    const wire = range.responseSerialize(response);
    const RangeResponseType = loadOurProtos(false).lookupType('etcdserverpb.RangeResponse');
    expect(Buffer.from(wire)).toEqual(Buffer.from(RangeResponseType.encode(RangeResponseType.fromObject(response)).finish()));
    const back = range.responseDeserialize(wire) as RangeResponse;
    expect(back.header?.clusterId).toBe(CLUSTER_ID);
    expect(back.kvs?.[0]?.lease).toBe(LEASE_ID);
    expect(Buffer.from(back.kvs?.[0]?.key ?? [])).toEqual(Buffer.from(KEY));
  });
});
