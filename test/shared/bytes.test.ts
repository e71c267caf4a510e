import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { inRange, prefixEnd } from '../../src/shared/bytes.js';

describe('prefixEnd', () => {
  it('follows clientv3.GetPrefixRangeEnd', () => {
    expect(prefixEnd(Buffer.from('foo'))).toEqual(Buffer.from('fop'));
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixEnd(Buffer.from([0xff, 0xff]))).toEqual(Buffer.from([0]));
    expect(prefixEnd(Buffer.alloc(0))).toEqual(Buffer.from([0]));
  });
  it('bounds exactly the keys with the prefix', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4 }), fc.uint8Array({ maxLength: 6 }), (p, k) => {
        const prefix = Buffer.from(p);
        const key = Buffer.from(k);
        const hasPrefix = key.subarray(0, prefix.length).equals(prefix);
        expect(inRange(key, prefix, prefixEnd(prefix))).toBe(hasPrefix);
      }),
    );
  });
});
