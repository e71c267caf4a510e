/**
 * fast-check generators shared by the permission property test and the differential
 * test against etcd: keys of one or two letters a-c, and well-formed grants (a single
 * key, a range [k, e) with e > k, a prefix, or from-key), the grants etcd 3.4.23 and
 * 3.5.8+ both accept.
 */
import fc from 'fast-check';
import { prefixEnd } from '../../src/shared/bytes.js';
import type { PermissionRecord } from '../../src/auth/records.js';

export const keyArb = fc.array(fc.constantFrom(0x61, 0x62, 0x63), { minLength: 1, maxLength: 2 }).map((xs) => Buffer.from(xs));

export const SHAPES = ['key', 'range', 'prefix', 'from'] as const;

/** [key, end) as a grant or request of `shape`; a range gets an end after its key. */
export function shaped(shape: (typeof SHAPES)[number], key: Buffer, end: Buffer): { key: Buffer; rangeEnd: Buffer } {
  if (shape === 'key') return { key, rangeEnd: Buffer.alloc(0) };
  if (shape === 'prefix') return { key, rangeEnd: prefixEnd(key) };
  if (shape === 'from') return { key, rangeEnd: Buffer.from([0]) };
  const [lo, hi] = Buffer.compare(key, end) <= 0 ? [key, end] : [end, key];
  return { key: lo, rangeEnd: Buffer.compare(lo, hi) === 0 ? Buffer.concat([hi, Buffer.from('a')]) : hi };
}

export const grantArb: fc.Arbitrary<PermissionRecord> = fc
  .record({ permType: fc.constantFrom(0, 1, 2), key: keyArb, end: keyArb, shape: fc.constantFrom(...SHAPES) })
  .map(({ permType, key, end, shape }) => ({ permType, ...shaped(shape, key, end) }));
