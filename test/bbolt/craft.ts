// Hand-made variations of bbolt files for reader tests: rewritten metas and a stored
// freelist listing appended free pages, in the array form or the 0xFFFF count form
// (bbolt freelist.go read) that a writer only reaches with 65535+ free pages.
import { FLAG_FREELIST, PAGE_HEADER_SIZE, encodeMetaPage, encodePageHeader, type Meta } from '../../src/bbolt/layout.js';
import { BboltDb, bytesSource } from '../../src/bbolt/reader.js';

/** Both meta pages rewritten from `meta` (meta0 txid, meta1 txid - 1), checksums fresh. */
export function setMeta(img: Uint8Array, meta: Meta): Uint8Array {
  const out = img.slice();
  const p = meta.pageSize;
  if (out.length < 2 * p) return out;
  const fields = { pageSize: p, root: meta.root, freelist: meta.freelist, pgid: meta.pgid };
  out.set(encodeMetaPage(0, { ...fields, txid: meta.txid }), 0);
  out.set(encodeMetaPage(1, { ...fields, txid: meta.txid - 1n }), p);
  return out;
}

/**
 * Appends `extra` pages of stale-looking data and, when `list`, stores them in the
 * freelist page (which must be page 2, as our writer's 'page' form puts it).
 */
export function craftFreelist(
  img: Uint8Array,
  extra: number,
  form: 'array' | 'overflow-count',
  list = true,
): { bytes: Uint8Array; freeIds: number[] } {
  const db = BboltDb.open(bytesSource(img));
  const p = db.pageSize;
  if (db.meta.freelist !== 2) throw new Error('craftFreelist needs a file with its freelist at page 2');
  const out = new Uint8Array(img.length + extra * p);
  out.set(img);
  const freeIds: number[] = [];
  for (let i = 0; i < extra; i++) {
    const id = db.meta.pgid + i;
    freeIds.push(id);
    // Stale data: a copy of the root page, header id and all (real free pages look valid).
    out.set(img.subarray(db.meta.root * p, db.meta.root * p + p), id * p);
  }
  const fl = new Uint8Array(p);
  const dv = new DataView(fl.buffer);
  const ids = list ? freeIds : [];
  let at = PAGE_HEADER_SIZE;
  if (form === 'overflow-count') {
    encodePageHeader(fl, { id: 2, flags: FLAG_FREELIST, count: 0xffff, overflow: 0 });
    dv.setBigUint64(at, BigInt(ids.length), true);
    at += 8;
  } else {
    encodePageHeader(fl, { id: 2, flags: FLAG_FREELIST, count: ids.length, overflow: 0 });
  }
  // Stored unsorted: readers sort (bbolt does too).
  for (const id of [...ids].reverse()) {
    dv.setBigUint64(at, BigInt(id), true);
    at += 8;
  }
  out.set(fl, 2 * p);
  return { bytes: setMeta(out, { ...db.meta, pgid: db.meta.pgid + extra }), freeIds };
}
