/**
 * The streaming front of the bbolt writer: a re-iterable source of sorted records
 * (bucket path, key, value) in, a bbolt image out through an injected ByteSink, page by
 * page in file order, awaiting the sink between records (backpressure).
 *
 * Records are sorted as tuples: by bucket path component by component, then by key,
 * where a sub-bucket's name takes its place among its parent's keys (so the stream
 * [b]/a, [b,m]/x, [b]/z writes bucket b with key a, sub-bucket m, key z). A record with
 * no key declares its bucket (needed only for an empty bucket). etcd's layout is a
 * single level of root buckets.
 *
 * planBbolt runs the layout without materialising pages and returns the image size
 * (what a Snapshot RPC needs up front for remaining_bytes); writeBbolt writes, planning
 * first unless it is handed the plan, and raises BboltWriteError if the second pass
 * does not end where the plan did (the source is not a consistent cut). A one-pass
 * writer (snapshot/save.ts spools to a file) calls writeBboltBody, which writes the tree
 * pages and returns the plan they make, then puts bboltHead(plan) in front.
 */
import { BboltWriteError } from './errors.js';
import { DEFAULT_PAGE_SIZE, FLAG_FREELIST, encodeMetaPage, encodePageHeader, isSupportedPageSize } from './layout.js';
import { BboltTreeWriter, type BboltPlan, type ByteSink, type WriterOptions } from './writer.js';

export interface BboltRecord {
  /** Bucket names from the root (at least one). */
  readonly bucket: readonly Uint8Array[];
  /** Absent: only declares the bucket. */
  readonly key?: Uint8Array;
  readonly value?: Uint8Array;
  /**
   * Several keys of `bucket` at once, in order, after `key` if both are given: a source
   * that reads in batches hands them on without one record (and one await) per key.
   */
  readonly entries?: ReadonlyArray<{ readonly key: Uint8Array; readonly value: Uint8Array }>;
}

export type RecordSource = () => Iterable<BboltRecord> | AsyncIterable<BboltRecord>;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function settings(options: WriterOptions): { pageSize: number; fillPercent: number; firstPage: number } {
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  // bbolt reads the first 4 KiB to find meta0 and refuses a shorter file (db.go Open), so
  // smaller pages could make an unopenable image.
  if (!isSupportedPageSize(pageSize) || pageSize < DEFAULT_PAGE_SIZE) throw new BboltWriteError(`unsupported page size ${pageSize}`);
  return { pageSize, fillPercent: options.fillPercent ?? 0.9, firstPage: options.freelist === 'none' ? 2 : 3 };
}

/**
 * Feeds records into a tree writer, calling `drain` after each (the sink's await point;
 * undefined when nothing is queued, so a sync source with nothing to write stays sync).
 */
async function feed(
  source: RecordSource,
  w: BboltTreeWriter,
  drain: () => Promise<void> | undefined,
): Promise<{ root: number; pgid: number }> {
  const open: Uint8Array[] = [];
  const step = (rec: BboltRecord): void => {
    if (rec.bucket.length === 0) throw new BboltWriteError('record with an empty bucket path');
    let common = 0;
    while (common < open.length && common < rec.bucket.length && sameBytes(open[common] as Uint8Array, rec.bucket[common] as Uint8Array)) {
      common++;
    }
    while (open.length > common) {
      w.closeBucket();
      open.pop();
    }
    for (let i = common; i < rec.bucket.length; i++) {
      const name = rec.bucket[i] as Uint8Array;
      w.openBucket(name);
      open.push(name);
    }
    if (rec.key !== undefined) w.put(rec.key, rec.value ?? new Uint8Array(0));
    if (rec.entries !== undefined) for (const e of rec.entries) w.put(e.key, e.value);
  };
  const records = source();
  if (Symbol.iterator in records) {
    for (const rec of records) {
      step(rec);
      const pending = drain();
      if (pending !== undefined) await pending;
    }
  } else {
    for await (const rec of records) {
      step(rec);
      const pending = drain();
      if (pending !== undefined) await pending;
    }
  }
  const end = w.finish();
  await drain();
  return end;
}

export async function planBbolt(source: RecordSource, options: WriterOptions = {}): Promise<BboltPlan> {
  const s = settings(options);
  const w = new BboltTreeWriter(() => undefined, s);
  w.materialising = false;
  const { root, pgid } = await feed(source, w, () => undefined);
  return { pageSize: s.pageSize, root, pgid, size: pgid * s.pageSize };
}

/**
 * The pages before the tree: the two metas (they name the root page and pgid, so they
 * need the plan) and, unless `freelist: 'none'`, the empty freelist page.
 */
export function bboltHead(plan: BboltPlan, options: WriterOptions = {}): Uint8Array[] {
  const s = settings(options);
  if (plan.pageSize !== s.pageSize) throw new BboltWriteError('plan was made for another page size');
  const txid = options.txid ?? 2n;
  const freelist = options.freelist === 'none' ? null : 2;
  const meta = { pageSize: s.pageSize, root: plan.root, freelist, pgid: plan.pgid };
  const pages = [encodeMetaPage(0, { ...meta, txid }), encodeMetaPage(1, { ...meta, txid: txid - 1n })];
  if (freelist !== null) {
    const page = new Uint8Array(s.pageSize);
    encodePageHeader(page, { id: 2, flags: FLAG_FREELIST, count: 0, overflow: 0 });
    pages.push(page);
  }
  return pages;
}

/**
 * One pass: writes the tree pages (every page after bboltHead's) to `sink` in page order
 * and returns the plan they make; `limit`, when given, is a plan the pages must stay
 * within (a second pass over a source that must not have changed).
 */
export async function writeBboltBody(source: RecordSource, sink: ByteSink, options: WriterOptions = {}, limit?: BboltPlan): Promise<BboltPlan> {
  const s = settings(options);
  const queue: Uint8Array[] = [];
  let expected = s.firstPage;
  const push = (page: Uint8Array, id: number, pages: number): void => {
    if (id !== expected) throw new BboltWriteError(`page ${id} emitted out of order (expected ${expected})`);
    if (limit !== undefined && id + pages > limit.pgid) throw new BboltWriteError('source yields more than it did when planned');
    expected = id + pages;
    queue.push(page);
  };
  const flush = async (): Promise<void> => {
    // A page run at a time; splice keeps the queue from growing behind a slow sink.
    for (const page of queue.splice(0, queue.length)) {
      const written = sink.write(page);
      if (written !== undefined) await written;
    }
  };
  const drain = (): Promise<void> | undefined => (queue.length === 0 ? undefined : flush());
  const w = new BboltTreeWriter((page, id, pages) => push(page as Uint8Array, id, pages), s);
  const { root, pgid } = await feed(source, w, drain);
  return { pageSize: s.pageSize, root, pgid, size: pgid * s.pageSize };
}

/**
 * Writes the whole image to `sink` in page order; returns the plan it followed. Without
 * `options.plan` it plans first (two passes over `source`); a one-pass caller writes
 * writeBboltBody's pages somewhere of its own and puts bboltHead's before them.
 */
export async function writeBbolt(
  source: RecordSource,
  sink: ByteSink,
  options: WriterOptions & { readonly plan?: BboltPlan } = {},
): Promise<BboltPlan> {
  const plan = options.plan ?? (await planBbolt(source, options));
  for (const page of bboltHead(plan, options)) {
    const written = sink.write(page);
    if (written !== undefined) await written;
  }
  const end = await writeBboltBody(source, sink, options, plan);
  if (end.root !== plan.root || end.pgid !== plan.pgid) {
    throw new BboltWriteError(`source changed between planning and writing (planned root ${plan.root}/pgid ${plan.pgid}, wrote ${end.root}/${end.pgid})`);
  }
  return plan;
}

/** Whole image in memory: for tests and small files only. */
export async function bboltBytes(source: RecordSource, options: WriterOptions = {}): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const plan = await writeBbolt(source, { write: (c) => void chunks.push(c) }, options);
  const out = new Uint8Array(plan.size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  if (off !== plan.size) throw new BboltWriteError(`wrote ${off} bytes, planned ${plan.size}`);
  return out;
}
