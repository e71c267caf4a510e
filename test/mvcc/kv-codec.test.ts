// kv-codec against protobufjs: byte-identical marshalling (field order, omitted zero
// values, 64-bit leases incl. negative ones) and a round trip through the decoder.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeKeyValue, encodeKeyValue } from '../../src/mvcc/kv-codec.js';
import { leaseId } from '../../src/shared/ids.js';
import type { KeyValue } from '../../src/mvcc/types.js';
import { KeyValueType, pbEncodeKeyValue } from '../model/pb-kv.js';

const revArb = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 300 }),
  fc.integer({ min: 0, max: 2 ** 31 }),
  fc.maxSafeInteger().filter((n) => n >= 0),
);
const kvArb: fc.Arbitrary<KeyValue> = fc.record({
  key: fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
  createRevision: revArb,
  modRevision: revArb,
  version: revArb,
  value: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 0, maxLength: 5000 })).map((u) => Buffer.from(u)),
  lease: fc.oneof(fc.constant(0n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })).map(leaseId),
});

describe('kv-codec', () => {
  it('marshals byte-identically to protobufjs and round-trips', () => {
    fc.assert(
      fc.property(kvArb, (kv) => {
        const ours = encodeKeyValue(kv);
        expect(ours.bytes.toString('hex')).toBe(pbEncodeKeyValue(kv).toString('hex'));
        expect(ours.bytes.subarray(ours.valueOffset, ours.valueOffset + kv.value.length).equals(kv.value)).toBe(true);
        const back = decodeKeyValue(ours.bytes);
        expect(back.key.equals(kv.key)).toBe(true);
        expect(back.value.equals(kv.value)).toBe(true);
        expect([back.createRevision, back.modRevision, back.version, back.lease]).toEqual([
          kv.createRevision,
          kv.modRevision,
          kv.version,
          kv.lease,
        ]);
      }),
      { numRuns: 500 },
    );
  });

  it('encodes a tombstone record as the key alone, like etcd', () => {
    const kv = { key: Buffer.from('foo'), createRevision: 0, modRevision: 0, version: 0, value: Buffer.alloc(0), lease: leaseId(0n) };
    expect(encodeKeyValue(kv).bytes.toString('hex')).toBe('0a03666f6f');
  });

  it('decodes what protobufjs writes, skipping unknown fields', () => {
    const withUnknown = Buffer.concat([
      pbEncodeKeyValue({ key: Buffer.from('k'), createRevision: 2, modRevision: 3, version: 1, value: Buffer.from('v'), lease: leaseId(7n) }),
      Buffer.from([0x38, 0x05]), // field 7 varint
      Buffer.from([0x42, 0x02, 0x61, 0x62]), // field 8 bytes
      Buffer.from([0x4d, 1, 2, 3, 4]), // field 9 fixed32
    ]);
    const kv = decodeKeyValue(withUnknown);
    expect(kv.key.toString()).toBe('k');
    expect(kv.value.toString()).toBe('v');
    expect([kv.createRevision, kv.modRevision, kv.version, kv.lease]).toEqual([2, 3, 1, 7n]);
    // protobufjs agrees on our bytes too.
    const decoded = KeyValueType.toObject(KeyValueType.decode(encodeKeyValue(kv).bytes), { longs: String });
    expect(decoded['modRevision']).toBe('3');
  });

  it('rejects truncated records', () => {
    const b = encodeKeyValue({ key: Buffer.from('key'), createRevision: 5, modRevision: 5, version: 1, value: Buffer.from('value'), lease: leaseId(0n) }).bytes;
    expect(() => decodeKeyValue(b.subarray(0, b.length - 2))).toThrow(/truncated/);
  });
});
