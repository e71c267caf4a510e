/**
 * Writes a bbolt file (format version 2; docs/architecture.md §3) from a sorted stream,
 * as a bottom-up bulk load that real bbolt opens and passes tx.Check (bbolt node.go
 * write/split, bucket.go inlineable/write, tx.go WriteTo).
 *
 * Layout: page 0 and 1 are metas (txid T and T-1, as bbolt's WriteTo regenerates
 * them), page 2 an empty freelist page unless `freelist: 'none'` (then meta.freelist is
 * the not-synced sentinel etcd writes), then B+tree pages with ids in emission order,
 * ending with the root bucket's root page. No page is left unreachable, so the
 * freelist is empty and the image is exactly pgid x pageSize bytes.
 *
 * Fill: a leaf or branch takes elements until it holds at least 2 (bbolt's
 * minKeysPerPage) and the next would push it past pageSize x fillPercent (default 0.9,
 * etcd's fill for the key bucket and for defrag); a page whose elements exceed the page
 * size becomes an overflow run. A bucket whose entries fit in pageSize/4 and that has
 * no sub-bucket is written inline in its parent's leaf, as bbolt does.
 *
 * Streaming and memory: the metas come first but need the root page and pgid, which
 * are only known at the end, so either the tree pages are written first somewhere the
 * caller keeps (stream.ts writeBboltBody, one pass) and the metas put before them, or
 * writing takes two passes over a re-iterable source: plan (nothing materialised, only
 * sizes and ids) and write. Between them the source must yield the same records (a
 * consistent cut); a difference is detected and raised.
 * Memory is bounded by the open bucket depth x tree height x (one pending page of
 * element references + the largest single element), plus the pages of one record's
 * cascade waiting for the sink (at most tree height + 1; for a record of `entries`, the
 * pages of that batch). Keys and values handed in
 * are referenced, not copied, until their page is written: do not mutate them.
 *
 * Errors: unsorted keys or bucket names, keys of 0 or > 32768 bytes, oversized values,
 * a put outside any bucket, or a value where a bucket was opened raise
 * BboltWriteError. Sink errors propagate.
 */
import { BboltWriteError } from './errors.js';
import {
  BUCKET_HEADER_SIZE,
  ELEMENT_BUCKET,
  ELEMENT_SIZE,
  FLAG_BRANCH,
  FLAG_LEAF,
  MAX_ELEMENTS_PER_PAGE,
  MAX_KEY_SIZE,
  MAX_VALUE_SIZE,
  PAGE_HEADER_SIZE,
  compareKeys,
  encodePageHeader,
  view,
} from './layout.js';

const MIN_KEYS_PER_PAGE = 2;

export interface ByteSink {
  write(chunk: Uint8Array): void | Promise<void>;
}

export interface WriterOptions {
  /** Default 4096; a power of two from 4096 to 1 MiB. */
  readonly pageSize?: number;
  /** Default 0.9; clamped to bbolt's [0.1, 1.0]. */
  readonly fillPercent?: number;
  /** 'page' (default): an empty freelist page at id 2; 'none': the not-synced sentinel. */
  readonly freelist?: 'page' | 'none';
  /** txid of meta0 (meta1 gets txid - 1); default 2. */
  readonly txid?: bigint;
}

/** What a planning pass learns; a writing pass checks it ends the same way. */
export interface BboltPlan {
  readonly pageSize: number;
  readonly root: number;
  readonly pgid: number;
  /** Image bytes: pgid x pageSize. */
  readonly size: number;
}

interface Elem {
  readonly flags: number;
  readonly key: Uint8Array;
  /** Leaf value (null on branch elements). */
  readonly value: Uint8Array | null;
  /** Branch child page id. */
  readonly child: number;
}

interface Level {
  elems: Elem[];
  size: number;
}

interface BucketFrame {
  readonly name: Uint8Array | null;
  last: Uint8Array | null;
  /** Inline candidate: entries while they fit in pageSize/4; null once it is a tree. */
  small: Elem[] | null;
  smallSize: number;
  readonly levels: Level[];
}

/**
 * The synchronous core: push-style bucket/put calls, pages out through `emit` in page-id
 * order (`page` is null in a planning pass, where nothing is materialised).
 */
export class BboltTreeWriter {
  readonly pageSize: number;
  private readonly threshold: number;
  private readonly inlineMax: number;
  private next: number;
  private readonly stack: BucketFrame[];
  private finished = false;
  /** False in a planning pass: pages are counted, not built. */
  materialising = true;

  constructor(
    private readonly emit: (page: Uint8Array | null, id: number, pages: number) => void,
    options: { pageSize: number; fillPercent: number; firstPage: number },
  ) {
    this.pageSize = options.pageSize;
    const fill = Math.min(1, Math.max(0.1, options.fillPercent));
    this.threshold = Math.floor(options.pageSize * fill);
    this.inlineMax = options.pageSize / 4;
    this.next = options.firstPage;
    this.stack = [{ name: null, last: null, small: null, smallSize: 0, levels: [{ elems: [], size: PAGE_HEADER_SIZE }] }];
  }

  /** Number of buckets currently open (0 at the root). */
  get depth(): number {
    return this.stack.length - 1;
  }

  private top(): BucketFrame {
    return this.stack[this.stack.length - 1] as BucketFrame;
  }

  private ordered(frame: BucketFrame, key: Uint8Array, what: string): void {
    if (this.finished) throw new BboltWriteError('write after finish');
    if (key.length === 0 || key.length > MAX_KEY_SIZE) {
      throw new BboltWriteError(`${what} of ${key.length} bytes (must be 1..${MAX_KEY_SIZE})`);
    }
    if (frame.last !== null && compareKeys(frame.last, key) >= 0) {
      throw new BboltWriteError(`${what} ${hex(key)} does not sort after ${hex(frame.last)}`);
    }
    frame.last = key;
  }

  openBucket(name: Uint8Array): void {
    const parent = this.top();
    this.ordered(parent, name, 'bucket name');
    // bbolt never inlines a bucket that holds sub-buckets (bucket.go inlineable).
    if (parent.small !== null) this.toTree(parent);
    this.stack.push({ name, last: null, small: [], smallSize: PAGE_HEADER_SIZE, levels: [] });
  }

  put(key: Uint8Array, value: Uint8Array): void {
    if (this.stack.length === 1) throw new BboltWriteError('put outside any bucket (root entries must be buckets)');
    const frame = this.top();
    this.ordered(frame, key, 'key');
    if (value.length > MAX_VALUE_SIZE) throw new BboltWriteError(`value of ${value.length} bytes is too large`);
    this.add(frame, { flags: 0, key, value, child: 0 });
  }

  closeBucket(): void {
    if (this.stack.length === 1) throw new BboltWriteError('closeBucket with no open bucket');
    const frame = this.stack.pop() as BucketFrame;
    const name = frame.name as Uint8Array;
    const value = frame.small !== null ? inlineBucket(frame.small, frame.smallSize) : bucketHeader(this.flushTree(frame));
    this.add(this.top(), { flags: ELEMENT_BUCKET, key: name, value, child: 0 });
  }

  /** Closes every open bucket and writes the root bucket's tree; returns its root and pgid. */
  finish(): { root: number; pgid: number } {
    while (this.stack.length > 1) this.closeBucket();
    const root = this.flushTree(this.top());
    this.finished = true;
    return { root, pgid: this.next };
  }

  private add(frame: BucketFrame, elem: Elem): void {
    if (frame.small !== null) {
      const size = ELEMENT_SIZE + elem.key.length + (elem.value as Uint8Array).length;
      if (frame.smallSize + size <= this.inlineMax && (elem.flags & ELEMENT_BUCKET) === 0) {
        frame.small.push(elem);
        frame.smallSize += size;
        return;
      }
      this.toTree(frame);
    }
    this.addToLevel(frame, 0, elem);
  }

  private toTree(frame: BucketFrame): void {
    const small = frame.small ?? [];
    frame.small = null;
    frame.levels.push({ elems: [], size: PAGE_HEADER_SIZE });
    for (const e of small) this.addToLevel(frame, 0, e);
  }

  private addToLevel(frame: BucketFrame, i: number, elem: Elem): void {
    let level = frame.levels[i];
    if (level === undefined) {
      level = { elems: [], size: PAGE_HEADER_SIZE };
      frame.levels.push(level);
    }
    const size = ELEMENT_SIZE + elem.key.length + (elem.value?.length ?? 0);
    const n = level.elems.length;
    if ((n >= MIN_KEYS_PER_PAGE && level.size + size > this.threshold) || n >= MAX_ELEMENTS_PER_PAGE) {
      const first = (level.elems[0] as Elem).key;
      const id = this.writeNode(level, i === 0);
      level.elems = [];
      level.size = PAGE_HEADER_SIZE;
      this.addToLevel(frame, i + 1, { flags: 0, key: first, value: null, child: id });
      // addToLevel may have appended levels; `level` still points at level i.
    }
    level.elems.push(elem);
    level.size += size;
  }

  /** Writes the pending pages bottom up; the last level left with one page is the root. */
  private flushTree(frame: BucketFrame): number {
    for (let i = 0; ; i++) {
      const level = frame.levels[i] as Level;
      const id = this.writeNode(level, i === 0);
      if (i === frame.levels.length - 1) return id;
      const first = (level.elems[0] as Elem).key;
      level.elems = [];
      level.size = PAGE_HEADER_SIZE;
      this.addToLevel(frame, i + 1, { flags: 0, key: first, value: null, child: id });
    }
  }

  private writeNode(level: Level, leaf: boolean): number {
    const pages = Math.ceil(level.size / this.pageSize);
    const id = this.next;
    this.next += pages;
    if (pages - 1 > 0xffffffff) throw new BboltWriteError('node too large for one overflow run');
    // The flags/id live in the header; a planning pass only needs the id arithmetic.
    this.emit(this.materialising ? nodeBytes(level.elems, leaf, id, pages, this.pageSize) : null, id, pages);
    return id;
  }
}

/**
 * Page images are cut from 1 MiB zeroed slabs: one allocation per 256 pages instead of
 * one per page (a page allocation each was the writer's largest cost in a save's CPU
 * profile). A slab lives as long as any page cut from it; sinks copy or send pages and
 * drop them.
 */
const SLAB_BYTES = 1 << 20;
let slab = new Uint8Array(0);
let slabUsed = 0;

function zeroedPages(bytes: number): Uint8Array {
  if (bytes > SLAB_BYTES / 4) return new Uint8Array(bytes);
  if (slabUsed + bytes > slab.length) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + bytes);
  slabUsed += bytes;
  return out;
}

function nodeBytes(elems: readonly Elem[], leaf: boolean, id: number, pages: number, pageSize: number): Uint8Array {
  const out = zeroedPages(pages * pageSize);
  encodePageHeader(out, { id, flags: leaf ? FLAG_LEAF : FLAG_BRANCH, count: elems.length, overflow: pages - 1 });
  writeNodeInto(out, elems, leaf);
  return out;
}

/** Serialises elements after the page header as bbolt node.write does: headers, then packed data. */
function writeNodeInto(out: Uint8Array, elems: readonly Elem[], leaf: boolean): void {
  const dv = view(out);
  let off = PAGE_HEADER_SIZE + ELEMENT_SIZE * elems.length;
  for (let i = 0; i < elems.length; i++) {
    const e = elems[i] as Elem;
    const el = PAGE_HEADER_SIZE + ELEMENT_SIZE * i;
    if (leaf) {
      const v = e.value as Uint8Array;
      dv.setUint32(el, e.flags, true);
      dv.setUint32(el + 4, off - el, true);
      dv.setUint32(el + 8, e.key.length, true);
      dv.setUint32(el + 12, v.length, true);
      out.set(e.key, off);
      out.set(v, off + e.key.length);
      off += e.key.length + v.length;
    } else {
      dv.setUint32(el, off - el, true);
      dv.setUint32(el + 4, e.key.length, true);
      dv.setBigUint64(el + 8, BigInt(e.child), true);
      out.set(e.key, off);
      off += e.key.length;
    }
  }
}

function bucketHeader(root: number): Uint8Array {
  const out = new Uint8Array(BUCKET_HEADER_SIZE);
  view(out).setBigUint64(0, BigInt(root), true);
  return out;
}

/** Bucket header with root 0, then the leaf's page image (id 0), unpadded (bucket.go write). */
function inlineBucket(elems: readonly Elem[], size: number): Uint8Array {
  const out = new Uint8Array(BUCKET_HEADER_SIZE + size);
  const image = out.subarray(BUCKET_HEADER_SIZE);
  encodePageHeader(image, { id: 0, flags: FLAG_LEAF, count: elems.length, overflow: 0 });
  writeNodeInto(image, elems, true);
  return out;
}

function hex(b: Uint8Array): string {
  const s = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, 24)).toString('hex');
  return b.length > 24 ? `${s}...` : s;
}
