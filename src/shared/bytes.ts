/**
 * Byte helpers with etcd's key conventions. Keys and values are arbitrary bytes
 * (Buffers), never strings (docs/architecture.md §4).
 */
export const EMPTY = Buffer.alloc(0);
/** range_end "\0": every key >= key. */
export const ZERO_BYTE = Buffer.from([0]);

/** Lexicographic byte order, the order etcd sorts keys in. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/**
 * The smallest key greater than every key with this prefix: the last byte that is
 * not 0xff, plus one, with the trailing 0xff bytes dropped. All-0xff (or empty)
 * gives "\0", which etcd reads as "to the end of the keyspace" (clientv3.GetPrefixRangeEnd).
 */
export function prefixEnd(prefix: Uint8Array): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const b = prefix[i];
    if (b !== undefined && b < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = b + 1;
      return end;
    }
  }
  return Buffer.from(ZERO_BYTE);
}

/** Whether `end` means "to the end of the keyspace". */
export function isOpenEnd(end: Uint8Array): boolean {
  return end.length === 1 && end[0] === 0;
}

/** Whether key lies in [start, end) with etcd's conventions for an empty or "\0" end. */
export function inRange(key: Uint8Array, start: Uint8Array, end: Uint8Array): boolean {
  if (end.length === 0) return Buffer.compare(key, start) === 0;
  if (Buffer.compare(key, start) < 0) return false;
  return isOpenEnd(end) || Buffer.compare(key, end) < 0;
}

/**
 * A Buffer view of decoded bytes. protobufjs leaves an absent bytes field as its
 * prototype default, an empty plain array, hence the ArrayLike case.
 */
export function toBuffer(b: Uint8Array | ArrayLike<number> | undefined | null): Buffer {
  if (b == null) return EMPTY;
  if (Buffer.isBuffer(b)) return b;
  if (b instanceof Uint8Array) return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return b.length === 0 ? EMPTY : Buffer.from(Array.from(b));
}
