/**
 * RecordArena: where the live records are kept, the marshalled KeyValue of every live
 * key's last put (docs/architecture.md §4, "Memory per key").
 *
 * Why not one Buffer per record: each Buffer costs a JS Buffer, an ArrayBuffer and a
 * malloc'd backing store with V8's bookkeeping, about 300 bytes beside a 1 KiB value,
 * and long-lived 1 KiB blocks interleaved with the short-lived buffers of every request
 * fragment malloc's heap. Here records are appended to 1 MiB slabs; a key's index entry
 * (a RecordOwner) holds its slab, offset and length, and a read takes a view.
 *
 * Contract:
 * - Bytes of a slab are written once, when a record is placed, and never again: a view
 *   handed out (a range response, a watch event, a pending batch, LevelDB's batch)
 *   stays valid however long it is held, even after its record was replaced or moved.
 * - release() marks an owner's record dead. A slab that is not the one being filled and
 *   whose dead bytes pass a third of it is emptied: its still-live records are copied to
 *   the current slab and their owners updated. Nothing then references the slab but
 *   views still held, and GC frees it with the last of them. The copying is memory
 *   only: which record a key holds, and every byte of it, are unchanged.
 * - A record larger than a quarter slab gets a slab of its own, dropped when released.
 *
 * ownKey() keeps the index's keys the same way, for the same reason (a Buffer with its
 * own ArrayBuffer and malloc'd block cost ~280 bytes beside a 24-byte key): a key is
 * copied into a small key slab, written once and never again, and its holder keeps the
 * slab, offset and length (not even a view: a Buffer object costs ~96 bytes of V8 heap).
 * Key slabs are not emptied (views handed out, the btree's separators), so
 * a slab lives while any key in it is referenced; they are small (4 KiB) to bound what a
 * few long-lived keys among many deleted ones can hold.
 */
import { assert } from '../shared/assert.js';

const SLAB_BYTES = 1 << 20;
const OWN_SLAB_ABOVE = SLAB_BYTES / 4;
const KEY_SLAB_BYTES = 4096;
/** Keys longer than this get a Buffer of their own. */
const OWN_KEY_ABOVE = 512;

export class Slab {
  /** Bytes placed so far (the next record goes at `used`). */
  used = 0;
  /** Bytes of released records and of a tail left unused. */
  dead = 0;
  /** Every owner ever placed here; an owner whose `slab` is another one has moved on. */
  readonly owners: RecordOwner[] = [];
  constructor(readonly buf: Buffer) {}
}

/** What holds a key: kbuf's bytes [koff, koff + klen). */
export interface KeyHolder {
  kbuf: Buffer;
  koff: number;
  klen: number;
}

/** What holds a record: its slab (undefined: no record), offset and length. */
export interface RecordOwner {
  slab: Slab | undefined;
  off: number;
  len: number;
}

export class RecordArena {
  private current: Slab = new Slab(Buffer.allocUnsafeSlow(SLAB_BYTES));
  /** Bytes of the records held (live), and of the slabs holding them, for tests and metrics. */
  liveBytes = 0;
  slabBytes = SLAB_BYTES;
  private keySlab: Buffer = Buffer.allocUnsafeSlow(KEY_SLAB_BYTES);
  private keyUsed = 0;

  /** Gives `holder` a copy of src[start, end) as its key: bytes of a key slab. */
  ownKey(holder: KeyHolder, src: Buffer, start: number, end: number): void {
    const len = end - start;
    holder.klen = len;
    if (len > OWN_KEY_ABOVE) {
      const own = Buffer.allocUnsafeSlow(len);
      src.copy(own, 0, start, end);
      holder.kbuf = own;
      holder.koff = 0;
      return;
    }
    if (this.keyUsed + len > KEY_SLAB_BYTES) {
      this.keySlab = Buffer.allocUnsafeSlow(KEY_SLAB_BYTES);
      this.keyUsed = 0;
    }
    const at = this.keyUsed;
    // Byte by byte: keys are short, and a native copy's checks cost more than the loop.
    const slab = this.keySlab;
    for (let i = 0; i < len; i++) slab[at + i] = src[start + i] as number;
    this.keyUsed = at + len;
    holder.kbuf = slab;
    holder.koff = at;
  }

  /**
   * Releases the owner's record, if any, and reserves `size` bytes for its new one;
   * returns the view the caller writes the record into (once, before any read).
   */
  place(owner: RecordOwner, size: number): Buffer {
    const slab = this.reserve(owner, size);
    return slab.buf.subarray(owner.off, owner.off + size);
  }

  /** Places a copy of `record` as the owner's record. */
  store(owner: RecordOwner, record: Uint8Array): void {
    // Straight into the slab, without a view (a restart stores every live record), and
    // TypedArray set, not Buffer.copy: its argument checks cost more than the copy.
    this.reserve(owner, record.length).buf.set(record, owner.off);
  }

  /** Releases the owner's record and gives it `size` bytes at owner.off of the returned slab. */
  private reserve(owner: RecordOwner, size: number): Slab {
    this.release(owner);
    const slab = this.slabFor(size);
    owner.slab = slab;
    owner.off = slab.used;
    owner.len = size;
    slab.used += size;
    slab.owners.push(owner);
    this.liveBytes += size;
    return slab;
  }

  /** The owner's record as a view, or undefined. */
  static view(owner: RecordOwner): Buffer | undefined {
    const s = owner.slab;
    return s === undefined ? undefined : s.buf.subarray(owner.off, owner.off + owner.len);
  }

  /** Marks the owner's record dead (no-op without one); may empty its slab. */
  release(owner: RecordOwner): void {
    const slab = owner.slab;
    if (slab === undefined) return;
    owner.slab = undefined;
    slab.dead += owner.len;
    this.liveBytes -= owner.len;
    if (slab !== this.current && slab.dead * 3 > slab.buf.length) this.empty(slab);
  }

  private slabFor(size: number): Slab {
    if (size > OWN_SLAB_ABOVE) {
      this.slabBytes += size;
      return new Slab(Buffer.allocUnsafeSlow(size));
    }
    const cur = this.current;
    if (cur.used + size <= cur.buf.length) return cur;
    cur.dead += cur.buf.length - cur.used;
    this.current = new Slab(Buffer.allocUnsafeSlow(SLAB_BYTES));
    this.slabBytes += SLAB_BYTES;
    // The slab just left may already be mostly dead (overwrites while it filled).
    if (cur.dead * 3 > cur.buf.length) this.empty(cur);
    return this.current;
  }

  /** Moves the slab's live records to the current slab; the slab is then unreferenced. */
  private empty(slab: Slab): void {
    this.slabBytes -= slab.buf.length;
    for (const o of slab.owners) {
      if (o.slab !== slab) continue;
      const from = o.off;
      const len = o.len;
      o.slab = undefined;
      this.liveBytes -= len;
      this.store(o, slab.buf.subarray(from, from + len));
    }
    slab.owners.length = 0;
    assert(slab !== this.current, 'record arena: emptied the slab being filled');
  }
}
