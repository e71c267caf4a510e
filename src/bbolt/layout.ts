/**
 * bbolt's on-disk format, version 2 (bbolt page.go, db.go meta, bucket.go, freelist.go):
 * the constants, the 16-byte page header, the meta page with its FNV-64a checksum and
 * the 16-byte bucket header. Shared by reader.ts and writer.ts so both sides agree on
 * every offset; nothing here does I/O.
 *
 * Invariants: every bbolt structure is little-endian (the C structs as amd64/arm64 lay
 * them out); page ids are numbers and never exceed Number.MAX_SAFE_INTEGER (a larger
 * id cannot address a real file, so decoding one is a format error, not a silent
 * precision loss). The "no freelist" sentinel 0xFFFFFFFFFFFFFFFF is FREELIST_NONE.
 */
import { BboltFormatError } from './errors.js';

export const MAGIC = 0xed0cdaed;
export const VERSION = 2;
export const DEFAULT_PAGE_SIZE = 4096;
export const PAGE_HEADER_SIZE = 16;
/** Leaf and branch element headers are both 16 bytes (bbolt leafPageElement, branchPageElement). */
export const ELEMENT_SIZE = 16;
export const BUCKET_HEADER_SIZE = 16;
/** meta fields magic..txid: what the checksum covers (bbolt meta.sum64). */
export const META_SUMMED_SIZE = 56;
export const META_SIZE = 64;

export const FLAG_BRANCH = 0x01;
export const FLAG_LEAF = 0x02;
export const FLAG_META = 0x04;
export const FLAG_FREELIST = 0x10;
/** Leaf element flag: the value is a bucket header (bbolt bucketLeafFlag). */
export const ELEMENT_BUCKET = 0x01;

/** Page-header count at which the freelist keeps its real length in the first u64. */
export const FREELIST_COUNT_OVERFLOW = 0xffff;
/** bbolt refuses to write a node of 0xFFFF or more elements (node.go write). */
export const MAX_ELEMENTS_PER_PAGE = 0xfffe;
export const MAX_KEY_SIZE = 32768;
export const MAX_VALUE_SIZE = 0x7ffffffe;

/** meta.freelist when the freelist is not stored (etcd's NoFreelistSync). */
export const FREELIST_NONE = 0xffffffffffffffffn;

export interface PageHeader {
  readonly id: number;
  readonly flags: number;
  readonly count: number;
  readonly overflow: number;
}

export interface Meta {
  readonly magic: number;
  readonly version: number;
  readonly pageSize: number;
  readonly flags: number;
  /** Root bucket's root page. */
  readonly root: number;
  readonly sequence: bigint;
  /** Freelist page id, or null for the FREELIST_NONE sentinel. */
  readonly freelist: number | null;
  /** High-water mark: the number of pages in the image. */
  readonly pgid: number;
  readonly txid: bigint;
  readonly checksum: bigint;
}

export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A u64 LE as a safe integer; `what` names the field for the error. */
export function readId(dv: DataView, offset: number, what: string, page?: number): number {
  const v = dv.getBigUint64(offset, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new BboltFormatError(`${what} ${v} is beyond any addressable page`, { page, offset });
  }
  return Number(v);
}

export function decodePageHeader(bytes: Uint8Array, page?: number): PageHeader {
  if (bytes.length < PAGE_HEADER_SIZE) {
    throw new BboltFormatError(`page header needs ${PAGE_HEADER_SIZE} bytes, have ${bytes.length}`, { page });
  }
  const dv = view(bytes);
  return {
    id: readId(dv, 0, 'page header id', page),
    flags: dv.getUint16(8, true),
    count: dv.getUint16(10, true),
    overflow: dv.getUint32(12, true),
  };
}

export function encodePageHeader(into: Uint8Array, h: PageHeader): void {
  const dv = view(into);
  // Two 32-bit halves (ids are safe integers): no BigInt per page.
  dv.setUint32(0, h.id % 0x1_0000_0000, true);
  dv.setUint32(4, Math.floor(h.id / 0x1_0000_0000), true);
  dv.setUint16(8, h.flags, true);
  dv.setUint16(10, h.count, true);
  dv.setUint32(12, h.overflow, true);
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64 = 0xffffffffffffffffn;

/** 64-bit FNV-1a (Go's hash/fnv New64a), as bbolt sums its meta. */
export function fnv64a(bytes: Uint8Array): bigint {
  let h = FNV_OFFSET;
  for (const b of bytes) h = ((h ^ BigInt(b)) * FNV_PRIME) & U64;
  return h;
}

/** Decodes the meta body at page offset 16 of a meta page (no validation). */
export function decodeMeta(pageBytes: Uint8Array, page: number): Meta {
  if (pageBytes.length < PAGE_HEADER_SIZE + META_SIZE) {
    throw new BboltFormatError(`meta page ${page} is truncated (${pageBytes.length} bytes)`, { page });
  }
  const dv = view(pageBytes);
  const o = PAGE_HEADER_SIZE;
  const freelist = dv.getBigUint64(o + 32, true);
  return {
    magic: dv.getUint32(o, true),
    version: dv.getUint32(o + 4, true),
    pageSize: dv.getUint32(o + 8, true),
    flags: dv.getUint32(o + 12, true),
    root: readId(dv, o + 16, 'meta root', page),
    sequence: dv.getBigUint64(o + 24, true),
    freelist: freelist === FREELIST_NONE ? null : readId(dv, o + 32, 'meta freelist', page),
    pgid: readId(dv, o + 40, 'meta pgid', page),
    txid: dv.getBigUint64(o + 48, true),
    checksum: dv.getBigUint64(o + 56, true),
  };
}

/** The checksum bbolt stores: FNV-64a over meta bytes magic..txid. */
export function metaChecksum(pageBytes: Uint8Array): bigint {
  return fnv64a(pageBytes.subarray(PAGE_HEADER_SIZE, PAGE_HEADER_SIZE + META_SUMMED_SIZE));
}

/** Why a meta is unusable (bbolt meta.validate's three errors), or null when valid. */
export function metaProblem(meta: Meta, pageBytes: Uint8Array): string | null {
  if (meta.magic !== MAGIC) return `invalid magic 0x${meta.magic.toString(16)}`;
  if (meta.version !== VERSION) return `version mismatch (${meta.version}, want ${VERSION})`;
  // bbolt accepts a zero checksum without verifying it (meta.validate).
  if (meta.checksum !== 0n && meta.checksum !== metaChecksum(pageBytes)) return 'checksum error';
  return null;
}

export interface MetaFields {
  readonly pageSize: number;
  readonly root: number;
  readonly freelist: number | null;
  readonly pgid: number;
  readonly txid: bigint;
}

/** A whole meta page (pageSize bytes) for page id 0 or 1, with a real checksum. */
export function encodeMetaPage(id: 0 | 1, m: MetaFields): Uint8Array {
  const page = new Uint8Array(m.pageSize);
  encodePageHeader(page, { id, flags: FLAG_META, count: 0, overflow: 0 });
  const dv = view(page);
  const o = PAGE_HEADER_SIZE;
  dv.setUint32(o, MAGIC, true);
  dv.setUint32(o + 4, VERSION, true);
  dv.setUint32(o + 8, m.pageSize, true);
  dv.setUint32(o + 12, 0, true);
  dv.setBigUint64(o + 16, BigInt(m.root), true);
  dv.setBigUint64(o + 24, 0n, true);
  dv.setBigUint64(o + 32, m.freelist === null ? FREELIST_NONE : BigInt(m.freelist), true);
  dv.setBigUint64(o + 40, BigInt(m.pgid), true);
  dv.setBigUint64(o + 48, m.txid, true);
  dv.setBigUint64(o + 56, metaChecksum(page), true);
  return page;
}

/** Page size a reader accepts: a power of two in [1 KiB, 1 MiB] (bbolt uses the OS page size). */
export function isSupportedPageSize(p: number): boolean {
  return Number.isInteger(p) && p >= 1024 && p <= 1 << 20 && (p & (p - 1)) === 0;
}

/** Byte-wise unsigned comparison (memcmp; a proper prefix sorts first), bbolt's key order. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
