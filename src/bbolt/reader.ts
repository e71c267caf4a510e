/**
 * Read-only access to a bbolt file (format version 2) through an injected random-access
 * PageSource: no fs here, so the same code reads a Buffer, a file through positional
 * reads, or a stream's spooled pages.
 *
 * Contract:
 * - open() validates both meta pages as bbolt does (magic 0xED0CDAED, version 2,
 *   FNV-64a checksum or 0; bbolt db.go meta.validate), takes the page size from meta0
 *   when it validates (else `fallbackPageSize`, 4096), and uses the valid meta with the
 *   highest txid whose root, freelist and pgid fit the file; anything else is a
 *   BboltFormatError naming the problem. Trailing bytes past pgid x pageSize (etcd's
 *   SHA-256 trailer) are ignored.
 * - Pages are reached only by following ids from the meta (never by scanning: real
 *   files hold free pages with stale, valid-looking data). Every page read checks the
 *   id range, the header id, the flags, the overflow run and every element's bounds.
 * - Walks are bounded: tree depth is capped (`maxDepth`), a page seen twice within one
 *   bucket walk is a cycle or a double reference and raises, and keys must come out
 *   strictly ascending (memcmp) with each child inside its branch's key range. So
 *   garbage input ends in an error, never a crash or a hang.
 * - Keys and values are views into the source's buffers; copy them if the source may
 *   reuse its buffers.
 */
import { BboltFormatError } from './errors.js';
import {
  BUCKET_HEADER_SIZE,
  DEFAULT_PAGE_SIZE,
  ELEMENT_BUCKET,
  ELEMENT_SIZE,
  FLAG_BRANCH,
  FLAG_FREELIST,
  FLAG_LEAF,
  FREELIST_COUNT_OVERFLOW,
  PAGE_HEADER_SIZE,
  compareKeys,
  decodeMeta,
  decodePageHeader,
  isSupportedPageSize,
  metaProblem,
  readId,
  view,
  type Meta,
} from './layout.js';

export interface PageSource {
  /** Bytes available (the image, maybe followed by a trailer). */
  readonly size: number;
  /** Exactly `length` bytes at `offset`; callers keep offset + length <= size. */
  read(offset: number, length: number): Uint8Array;
}

export function bytesSource(bytes: Uint8Array): PageSource {
  return { size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

export interface OpenOptions {
  /** Page size assumed when meta0 does not validate (bbolt uses the OS page size). */
  readonly fallbackPageSize?: number;
  /** Deepest B+tree (branch levels + leaf) accepted before declaring a cycle; default 64. */
  readonly maxDepth?: number;
}

export interface BboltEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  /** The value is a bucket header (leaf element flag 0x01). */
  readonly isBucket: boolean;
}

/** One decoded leaf or branch node (a page, an overflow run or an inline bucket's page image). */
interface Node {
  readonly leaf: boolean;
  readonly keys: Uint8Array[];
  /** Leaf: values. */
  readonly values: Uint8Array[];
  /** Leaf: element flags. */
  readonly flags: number[];
  /** Branch: child page ids. */
  readonly children: number[];
}

function decodeNode(bytes: Uint8Array, flags: number, count: number, where: { page?: number; base: number }): Node {
  const leaf = (flags & FLAG_LEAF) !== 0;
  const branch = (flags & FLAG_BRANCH) !== 0;
  if (leaf === branch) {
    throw new BboltFormatError(`invalid page type 0x${flags.toString(16)} where a leaf or branch was expected`, {
      page: where.page,
      offset: where.base,
    });
  }
  if (PAGE_HEADER_SIZE + count * ELEMENT_SIZE > bytes.length) {
    throw new BboltFormatError(`${count} elements do not fit in ${bytes.length} bytes`, { page: where.page, offset: where.base });
  }
  const dv = view(bytes);
  const node: Node = { leaf, keys: [], values: [], flags: [], children: [] };
  for (let i = 0; i < count; i++) {
    const el = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
    const at = { page: where.page, offset: where.base + el };
    if (leaf) {
      const f = dv.getUint32(el, true);
      const pos = dv.getUint32(el + 4, true);
      const ksize = dv.getUint32(el + 8, true);
      const vsize = dv.getUint32(el + 12, true);
      const k = el + pos;
      if (ksize === 0 || k + ksize + vsize > bytes.length) {
        throw new BboltFormatError(`leaf element ${i} (pos ${pos}, key ${ksize}, value ${vsize} bytes) is outside its page`, at);
      }
      node.flags.push(f);
      node.keys.push(bytes.subarray(k, k + ksize));
      node.values.push(bytes.subarray(k + ksize, k + ksize + vsize));
    } else {
      const pos = dv.getUint32(el, true);
      const ksize = dv.getUint32(el + 4, true);
      const k = el + pos;
      if (ksize === 0 || k + ksize > bytes.length) {
        throw new BboltFormatError(`branch element ${i} (pos ${pos}, key ${ksize} bytes) is outside its page`, at);
      }
      node.keys.push(bytes.subarray(k, k + ksize));
      node.children.push(readId(dv, el + 8, `branch element ${i} child`, where.page));
    }
  }
  if (!leaf && count === 0) throw new BboltFormatError('empty branch page', { page: where.page, offset: where.base });
  return node;
}

interface Frame {
  readonly node: Node;
  index: number;
  /** Keys of this node must sort below this (the next branch key up the path). */
  readonly hi: Uint8Array | null;
}

export class BboltDb {
  readonly pageSize: number;
  /** The meta in use. */
  readonly meta: Meta;
  /** Why each meta page was rejected (null when valid), for diagnostics. */
  readonly metaProblems: readonly [string | null, string | null];
  readonly maxDepth: number;

  private constructor(
    private readonly source: PageSource,
    pageSize: number,
    meta: Meta,
    problems: [string | null, string | null],
    maxDepth: number,
  ) {
    this.pageSize = pageSize;
    this.meta = meta;
    this.metaProblems = problems;
    this.maxDepth = maxDepth;
  }

  static open(source: PageSource, options: OpenOptions = {}): BboltDb {
    const first = Math.min(source.size, DEFAULT_PAGE_SIZE);
    if (source.size < DEFAULT_PAGE_SIZE) {
      throw new BboltFormatError(`file of ${source.size} bytes is smaller than one page: invalid database`);
    }
    const page0 = source.read(0, first);
    const meta0 = decodeMeta(page0, 0);
    const problem0 = metaProblem(meta0, page0) ?? (isSupportedPageSize(meta0.pageSize) ? null : `unsupported page size ${meta0.pageSize}`);
    const pageSize = problem0 === null ? meta0.pageSize : options.fallbackPageSize ?? DEFAULT_PAGE_SIZE;
    if (source.size < 2 * pageSize) {
      throw new BboltFormatError(`file of ${source.size} bytes is too small for two ${pageSize}-byte meta pages`);
    }
    const page1 = source.read(pageSize, pageSize);
    const meta1 = decodeMeta(page1, 1);
    let problem1 = metaProblem(meta1, page1);
    if (problem1 === null && meta1.pageSize !== pageSize) problem1 = `page size ${meta1.pageSize} differs from ${pageSize}`;
    const candidates: Array<{ meta: Meta; id: number }> = [];
    if (problem0 === null) candidates.push({ meta: meta0, id: 0 });
    if (problem1 === null) candidates.push({ meta: meta1, id: 1 });
    if (candidates.length === 0) {
      throw new BboltFormatError(`no valid meta page: meta0 ${problem0}; meta1 ${problem1}`);
    }
    candidates.sort((a, b) => (a.meta.txid > b.meta.txid ? -1 : a.meta.txid < b.meta.txid ? 1 : a.id - b.id));
    const problems: [string | null, string | null] = [problem0, problem1];
    let firstError: BboltFormatError | undefined;
    for (const c of candidates) {
      const bad = structuralProblem(c.meta, pageSize, source.size);
      if (bad === null) return new BboltDb(source, pageSize, c.meta, problems, options.maxDepth ?? 64);
      problems[c.id] = bad;
      firstError ??= new BboltFormatError(`meta${c.id}: ${bad}`, { page: c.id });
    }
    throw firstError ?? new BboltFormatError('no usable meta page');
  }

  /** pgid x pageSize: the image length (what etcd's snapshot status calls totalSize). */
  get imageSize(): number {
    return this.meta.pgid * this.pageSize;
  }

  root(): BboltBucket {
    return new BboltBucket(this, this.meta.root, null, []);
  }

  /** Walks bucket names from the root; undefined when any is missing or not a bucket. */
  bucket(...path: Uint8Array[]): BboltBucket | undefined {
    let b: BboltBucket | undefined = this.root();
    for (const name of path) {
      b = b.bucket(name);
      if (b === undefined) return undefined;
    }
    return b;
  }

  /** Raw bytes of a page and its overflow run, checked against the header. */
  pageBytes(id: number, from?: number): { bytes: Uint8Array; flags: number; count: number; overflow: number } {
    const { pgid } = this.meta;
    if (id < 2 || id >= pgid) {
      throw new BboltFormatError(`page id ${id} is out of bounds [2, ${pgid})${from !== undefined ? ` (referenced from page ${from})` : ''}`, {
        page: from,
      });
    }
    const offset = id * this.pageSize;
    const head = this.source.read(offset, this.pageSize);
    const h = decodePageHeader(head, id);
    if (h.id !== id) throw new BboltFormatError(`page header says id ${h.id}`, { page: id, offset });
    if (id + h.overflow >= pgid) {
      throw new BboltFormatError(`overflow of ${h.overflow} pages runs past pgid ${pgid}`, { page: id, offset: offset + 12 });
    }
    const bytes = h.overflow === 0 ? head : this.source.read(offset, (h.overflow + 1) * this.pageSize);
    return { bytes, flags: h.flags, count: h.count, overflow: h.overflow };
  }

  /** The decoded leaf/branch at page `id`. */
  node(id: number, from?: number): Node {
    const p = this.pageBytes(id, from);
    return decodeNode(p.bytes, p.flags, p.count, { page: id, base: id * this.pageSize });
  }

  /** Stored free page ids, sorted; null when the freelist is not synced (sentinel). */
  freelist(): number[] | null {
    const id = this.meta.freelist;
    if (id === null) return null;
    const p = this.pageBytes(id);
    if ((p.flags & FLAG_FREELIST) === 0) {
      throw new BboltFormatError(`freelist page has type 0x${p.flags.toString(16)}`, { page: id, offset: id * this.pageSize + 8 });
    }
    const dv = view(p.bytes);
    let count = p.count;
    let start = PAGE_HEADER_SIZE;
    if (count === FREELIST_COUNT_OVERFLOW) {
      count = readId(dv, PAGE_HEADER_SIZE, 'freelist count', id);
      start += 8;
    }
    if (start + count * 8 > p.bytes.length) {
      throw new BboltFormatError(`freelist of ${count} ids does not fit in ${p.overflow + 1} pages`, { page: id });
    }
    const ids: number[] = [];
    for (let i = 0; i < count; i++) ids.push(readId(dv, start + i * 8, `freelist entry ${i}`, id));
    return ids.sort((a, b) => a - b);
  }

  /**
   * bbolt's tx.Check (tx.go check/checkBucket) as a list of problems: double frees,
   * pages out of bounds, referenced twice, reachable and freed, of the wrong type, or
   * neither reachable nor free. Format errors met on the way are listed, not thrown.
   */
  check(): string[] {
    const errors: string[] = [];
    const { pgid } = this.meta;
    const freed = new Uint8Array(pgid);
    const reachable = new Uint8Array(pgid);
    reachable[0] = 1;
    reachable[1] = 1;
    let free: number[] | null = null;
    try {
      free = this.freelist();
    } catch (e) {
      errors.push(messageOf(e));
    }
    for (const id of free ?? []) {
      if (id >= pgid) errors.push(`page ${id}: freed but beyond pgid ${pgid}`);
      else if (freed[id] === 1) errors.push(`page ${id}: already freed`);
      else freed[id] = 1;
    }
    if (this.meta.freelist !== null && free !== null) {
      const fl = this.meta.freelist;
      const { overflow } = this.pageBytes(fl);
      for (let i = 0; i <= overflow; i++) reachable[fl + i] = 1;
    }
    const visitBucket = (root: number): void => {
      const stack: Array<{ id: number; depth: number; from: number | undefined }> = [{ id: root, depth: 1, from: undefined }];
      while (stack.length > 0) {
        const { id, depth, from } = stack.pop() as { id: number; depth: number; from: number | undefined };
        if (depth > this.maxDepth) {
          errors.push(`page ${id}: tree deeper than ${this.maxDepth} levels`);
          continue;
        }
        if (id >= pgid || id < 2) {
          errors.push(`page ${id}: out of bounds: ${pgid}${from !== undefined ? ` (from page ${from})` : ''}`);
          continue;
        }
        let p;
        try {
          p = this.pageBytes(id, from);
        } catch (e) {
          errors.push(messageOf(e));
          continue;
        }
        let seen = false;
        for (let i = 0; i <= p.overflow; i++) {
          if (reachable[id + i] === 1) {
            errors.push(`page ${id + i}: multiple references`);
            seen = true;
          }
          reachable[id + i] = 1;
        }
        if (freed[id] === 1) errors.push(`page ${id}: reachable freed`);
        if (seen) continue;
        let node: Node;
        try {
          node = decodeNode(p.bytes, p.flags, p.count, { page: id, base: id * this.pageSize });
        } catch (e) {
          errors.push(messageOf(e));
          continue;
        }
        if (node.leaf) {
          for (let i = 0; i < node.keys.length; i++) {
            if (((node.flags[i] as number) & ELEMENT_BUCKET) === 0) continue;
            try {
              const sub = decodeBucketHeader(node.values[i] as Uint8Array, id);
              if (sub.root !== 0) stack.push({ id: sub.root, depth: 1, from: id });
              else this.inlineSubBuckets(sub.inline as Uint8Array, id, (r) => stack.push({ id: r, depth: 1, from: id }));
            } catch (e) {
              errors.push(messageOf(e));
            }
          }
        } else {
          for (const c of node.children) stack.push({ id: c, depth: depth + 1, from: id });
        }
      }
    };
    visitBucket(this.meta.root);
    for (let i = 0; i < pgid; i++) {
      if (reachable[i] !== 1 && freed[i] !== 1) {
        // Without a stored freelist bbolt derives the free set from reachability, so
        // unreachable pages are simply free (tx.go check loads a rebuilt freelist).
        if (this.meta.freelist !== null) errors.push(`page ${i}: unreachable unfreed`);
      }
    }
    return errors;
  }

  /** Calls `onRoot` for each non-inline bucket nested inside an inline bucket's page image. */
  private inlineSubBuckets(image: Uint8Array, page: number, onRoot: (root: number) => void, depth = 0): void {
    if (depth > this.maxDepth) throw new BboltFormatError('inline buckets nested too deeply', { page });
    const node = decodeInline(image, page);
    for (let i = 0; i < node.keys.length; i++) {
      if (((node.flags[i] as number) & ELEMENT_BUCKET) === 0) continue;
      const sub = decodeBucketHeader(node.values[i] as Uint8Array, page);
      if (sub.root !== 0) onRoot(sub.root);
      else this.inlineSubBuckets(sub.inline as Uint8Array, page, onRoot, depth + 1);
    }
  }
}

function messageOf(e: unknown): string {
  if (e instanceof BboltFormatError) return e.message;
  throw e;
}

function structuralProblem(meta: Meta, pageSize: number, size: number): string | null {
  if (meta.pgid < 3) return `pgid ${meta.pgid} leaves no room for a root page`;
  if (meta.pgid * pageSize > size) {
    return `file is truncated: meta says ${meta.pgid} pages (${meta.pgid * pageSize} bytes), the file has ${size} bytes`;
  }
  if (meta.root < 2 || meta.root >= meta.pgid) return `root page ${meta.root} is out of bounds [2, ${meta.pgid})`;
  if (meta.freelist !== null && (meta.freelist < 2 || meta.freelist >= meta.pgid)) {
    return `freelist page ${meta.freelist} is out of bounds [2, ${meta.pgid})`;
  }
  return null;
}

interface BucketHeader {
  readonly root: number;
  readonly sequence: bigint;
  /** The inline page image when root is 0. */
  readonly inline: Uint8Array | null;
}

function decodeBucketHeader(value: Uint8Array, page: number): BucketHeader {
  if (value.length < BUCKET_HEADER_SIZE) {
    throw new BboltFormatError(`bucket value of ${value.length} bytes is shorter than a bucket header`, { page });
  }
  const dv = view(value);
  const root = readId(dv, 0, 'bucket root', page);
  const sequence = dv.getBigUint64(8, true);
  if (root !== 0) return { root, sequence, inline: null };
  return { root, sequence, inline: value.subarray(BUCKET_HEADER_SIZE) };
}

function decodeInline(image: Uint8Array, page: number): Node {
  if (image.length < PAGE_HEADER_SIZE) {
    throw new BboltFormatError(`inline bucket of ${image.length} bytes has no page header`, { page });
  }
  const h = decodePageHeader(image, page);
  if ((h.flags & FLAG_LEAF) === 0 || (h.flags & FLAG_BRANCH) !== 0) {
    throw new BboltFormatError(`inline bucket page has type 0x${h.flags.toString(16)}, not leaf`, { page });
  }
  return decodeNode(image, h.flags, h.count, { page, base: 0 });
}

export class BboltBucket {
  /** @param root root page id, or 0 with `inline` set. `path` names it, for errors. */
  constructor(
    private readonly db: BboltDb,
    private readonly rootId: number,
    private readonly inline: Uint8Array | null,
    readonly path: readonly Uint8Array[],
  ) {}

  /** True when the bucket lives inside its parent's leaf (bucket root 0). */
  get isInline(): boolean {
    return this.inline !== null;
  }

  private rootNode(): Node {
    if (this.inline !== null) return decodeInline(this.inline, 0);
    return this.db.node(this.rootId);
  }

  /** Every entry in key order (sub-buckets included, with isBucket set). */
  *entries(): Generator<BboltEntry> {
    const seen = new Set<number>();
    const enter = (id: number, from: number | undefined): Node => {
      if (seen.has(id)) throw new BboltFormatError(`page ${id} is reached twice in one bucket (cycle or double reference)`, { page: from });
      seen.add(id);
      return this.db.node(id, from);
    };
    const rootNode = this.inline !== null ? decodeInline(this.inline, 0) : enter(this.rootId, undefined);
    const stack: Frame[] = [{ node: rootNode, index: 0, hi: null }];
    const pageOf: number[] = [this.rootId];
    let prev: Uint8Array | null = null;
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as Frame;
      const { node } = top;
      if (top.index >= node.keys.length) {
        stack.pop();
        pageOf.pop();
        continue;
      }
      const i = top.index++;
      const key = node.keys[i] as Uint8Array;
      if (node.leaf) {
        if (prev !== null && compareKeys(prev, key) >= 0) {
          throw new BboltFormatError('leaf keys are not in ascending order', { page: pageOf[pageOf.length - 1] });
        }
        if (top.hi !== null && compareKeys(key, top.hi) >= 0) {
          throw new BboltFormatError('leaf key sorts at or after the next branch key', { page: pageOf[pageOf.length - 1] });
        }
        prev = key;
        yield { key, value: node.values[i] as Uint8Array, isBucket: (((node.flags[i] as number) & ELEMENT_BUCKET) !== 0) };
        continue;
      }
      if (stack.length >= this.db.maxDepth) {
        throw new BboltFormatError(`tree deeper than ${this.db.maxDepth} levels`, { page: pageOf[pageOf.length - 1] });
      }
      const next = i + 1 < node.keys.length ? (node.keys[i + 1] as Uint8Array) : top.hi;
      if (next !== null && top.hi !== null && compareKeys(next, top.hi) > 0) {
        throw new BboltFormatError('branch keys are not in ascending order', { page: pageOf[pageOf.length - 1] });
      }
      const child = node.children[i] as number;
      stack.push({ node: enter(child, pageOf[pageOf.length - 1]), index: 0, hi: next });
      pageOf.push(child);
    }
  }

  /** The value stored at `key` (a bucket header when it names a sub-bucket), or undefined. */
  getEntry(key: Uint8Array): BboltEntry | undefined {
    let node = this.rootNode();
    let page = this.rootId;
    for (let depth = 1; !node.leaf; depth++) {
      if (depth >= this.db.maxDepth) throw new BboltFormatError(`tree deeper than ${this.db.maxDepth} levels`, { page });
      // The last branch element whose key <= the search key; element 0 below all of them.
      let lo = 0;
      let hi = node.keys.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (compareKeys(node.keys[mid] as Uint8Array, key) <= 0) lo = mid;
        else hi = mid - 1;
      }
      const child = node.children[lo] as number;
      node = this.db.node(child, page);
      page = child;
    }
    let lo = 0;
    let hi = node.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareKeys(node.keys[mid] as Uint8Array, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= node.keys.length || compareKeys(node.keys[lo] as Uint8Array, key) !== 0) return undefined;
    return {
      key: node.keys[lo] as Uint8Array,
      value: node.values[lo] as Uint8Array,
      isBucket: ((node.flags[lo] as number) & ELEMENT_BUCKET) !== 0,
    };
  }

  /**
   * The last entry (bbolt Cursor.Last): down the rightmost children, without walking the
   * bucket. An empty leaf met on the way (bbolt never leaves one below the root) falls
   * back to a full walk.
   */
  last(): BboltEntry | undefined {
    let node = this.rootNode();
    let page = this.rootId;
    for (let depth = 1; !node.leaf; depth++) {
      if (depth >= this.db.maxDepth) throw new BboltFormatError(`tree deeper than ${this.db.maxDepth} levels`, { page });
      const child = node.children[node.children.length - 1] as number;
      node = this.db.node(child, page);
      page = child;
    }
    const i = node.keys.length - 1;
    if (i < 0) {
      if (page === this.rootId) return undefined;
      let last: BboltEntry | undefined;
      for (const e of this.entries()) last = e;
      return last;
    }
    return { key: node.keys[i] as Uint8Array, value: node.values[i] as Uint8Array, isBucket: ((node.flags[i] as number) & ELEMENT_BUCKET) !== 0 };
  }

  /** A plain value; undefined when absent or when `key` names a sub-bucket (bbolt Bucket.Get). */
  get(key: Uint8Array): Uint8Array | undefined {
    const e = this.getEntry(key);
    return e === undefined || e.isBucket ? undefined : e.value;
  }

  /** The sub-bucket `name`, or undefined when absent or a plain value. */
  bucket(name: Uint8Array): BboltBucket | undefined {
    const e = this.getEntry(name);
    if (e === undefined || !e.isBucket) return undefined;
    return this.open(e);
  }

  /** Opens the bucket an entry from entries() describes (isBucket must be set). */
  open(entry: BboltEntry): BboltBucket {
    if (this.path.length >= this.db.maxDepth) throw new BboltFormatError('buckets nested too deeply');
    const h = decodeBucketHeader(entry.value, this.inline !== null ? 0 : this.rootId);
    return new BboltBucket(this.db, h.root, h.inline, [...this.path, entry.key]);
  }
}
