/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum etcd uses for
 * its WAL and for HashKV (Go's crc32.MakeTable(crc32.Castagnoli)).
 *
 * `crc32c(data, seed)` follows Go's crc32.Update / zlib's crc32(crc, buf) convention:
 * the seed is a previous *result*, so crc32c(b, crc32c(a)) === crc32c(a ++ b). That is
 * what makes the WAL's chained CRC and streaming hashing (Crc32c.update) the same
 * computation. Slicing-by-8 tables: about 8x faster than byte-at-a-time in V8.
 */

const POLY = 0x82f63b78;

/** TABLES[k][b]: CRC of byte b followed by k zero bytes. */
const TABLES: readonly Int32Array[] = buildTables();

function buildTables(): Int32Array[] {
  const t: Int32Array[] = [];
  const t0 = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[i] = c;
  }
  t.push(t0);
  for (let k = 1; k < 8; k++) {
    const prev = t[k - 1] as Int32Array;
    const cur = new Int32Array(256);
    for (let i = 0; i < 256; i++) {
      const p = prev[i] as number;
      cur[i] = (p >>> 8) ^ (t0[p & 0xff] as number);
    }
    t.push(cur);
  }
  return t;
}

const tab = (k: number): Int32Array => TABLES[k] as Int32Array;
const [T0, T1, T2, T3] = [tab(0), tab(1), tab(2), tab(3)];
const [T4, T5, T6, T7] = [tab(4), tab(5), tab(6), tab(7)];

/**
 * CRC-32C of `data`, continuing from `seed` (a previous result; 0 to start).
 * crc32c(Buffer.from('123456789')) === 0xe3069283.
 */
export function crc32c(data: Uint8Array, seed = 0): number {
  // Work in int32 (no >>> 0 per step) so V8 keeps small integers; unsigned at the end.
  let crc = ~seed | 0;
  let i = 0;
  const n = data.length;
  const d = data;
  for (; i + 8 <= n; i += 8) {
    const lo =
      crc ^
      ((d[i] as number) |
        ((d[i + 1] as number) << 8) |
        ((d[i + 2] as number) << 16) |
        ((d[i + 3] as number) << 24));
    crc =
      (T7[lo & 0xff] as number) ^
      (T6[(lo >>> 8) & 0xff] as number) ^
      (T5[(lo >>> 16) & 0xff] as number) ^
      (T4[lo >>> 24] as number) ^
      (T3[d[i + 4] as number] as number) ^
      (T2[d[i + 5] as number] as number) ^
      (T1[d[i + 6] as number] as number) ^
      (T0[d[i + 7] as number] as number);
  }
  for (; i < n; i++) crc = (crc >>> 8) ^ (T0[(crc ^ (d[i] as number)) & 0xff] as number);
  return ~crc >>> 0;
}

/** Streaming form: new Crc32c().update(a).update(b).digest() === crc32c(a ++ b). */
export class Crc32c {
  private value: number;
  constructor(seed = 0) {
    this.value = seed >>> 0;
  }
  update(data: Uint8Array): this {
    this.value = crc32c(data, this.value);
    return this;
  }
  digest(): number {
    return this.value;
  }
}
