import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Crc32c, crc32c } from '../../src/shared/crc32c.js';

/** Bit-at-a-time reference, straight from the definition. */
function slowCrc32c(data: Uint8Array, seed = 0): number {
  let crc = ~seed >>> 0;
  for (const b of data) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

describe('crc32c', () => {
  it('matches the known vectors', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    // RFC 3720 (iSCSI) B.4 test vectors.
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('agrees with a bit-at-a-time reference at every length and seed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat({ max: 0xffffffff }), (data, seed) => {
        expect(crc32c(data, seed)).toBe(slowCrc32c(data, seed));
      }),
    );
  });

  it('chains: crc32c(b, crc32c(a)) === crc32c(a ++ b), also through Crc32c.update', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        const whole = crc32c(Buffer.concat([a, b]));
        expect(crc32c(b, crc32c(a))).toBe(whole);
        expect(new Crc32c().update(a).update(b).digest()).toBe(whole);
      }),
    );
  });

  it('reads a subarray, not its backing buffer', () => {
    const buf = Buffer.from('xx123456789yy');
    expect(crc32c(buf.subarray(2, 11))).toBe(0xe3069283);
  });
});
