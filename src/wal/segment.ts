/**
 * Segment files: names, and the background pipeline that preallocates the next one.
 *
 * Names follow etcd: `%016x-%016x.wal` (sequence number, first entry index as a hint).
 * A segment is born as `<n>.tmp`, zero-filled to its full size and fsynced off the hot
 * path (Node has no fallocate; writing zeros also makes the size durable, so later
 * fdatasyncs flush data only). It becomes a segment by a header batch, fdatasync,
 * rename and directory fsync (Wal.cut). Leftover `*.tmp` files are garbage: they never
 * held an acknowledged byte, and Wal.open deletes them.
 */
import { posix } from 'node:path';
import { isNoSpace, type FileHandle, type FileLayer } from '../storage/file-layer.js';

export const SEGMENT_SUFFIX = '.wal';
export const TMP_SUFFIX = '.tmp';
const ZERO_CHUNK = Buffer.alloc(1 << 20);

export function segmentName(seq: number, index: number): string {
  return `${hex16(seq)}-${hex16(index)}${SEGMENT_SUFFIX}`;
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export function parseSegmentName(name: string): { seq: number; index: number } | null {
  const m = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/.exec(name);
  if (m === null) return null;
  const seq = Number.parseInt(m[1] ?? '', 16);
  const index = Number.parseInt(m[2] ?? '', 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(index)) return null;
  return { seq, index };
}

export interface PreparedFile {
  readonly path: string;
  readonly fh: FileHandle;
}

/**
 * Creates `path` and (if sizeBytes > 0) zero-fills it to sizeBytes, then fsyncs.
 * A disk too full for the preallocation is not an error (etcd warns and runs): the
 * file is cut back to empty, `onNoSpace` is told, and the segment grows as it is
 * written. Any other failure deletes the file before it is rethrown, so a failed
 * start or cut never leaves a temp file filling the disk.
 */
export async function prepareFile(
  fs: FileLayer,
  path: string,
  sizeBytes: number,
  sync: boolean,
  onNoSpace: (err: unknown) => void = () => undefined,
): Promise<FileHandle> {
  const fh = await fs.open(path, 'create-exclusive');
  try {
    try {
      for (let off = 0; off < sizeBytes; off += ZERO_CHUNK.length) {
        const n = Math.min(ZERO_CHUNK.length, sizeBytes - off);
        await fh.write(n === ZERO_CHUNK.length ? ZERO_CHUNK : ZERO_CHUNK.subarray(0, n), off);
      }
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      await fh.truncate(0);
      onNoSpace(err);
    }
    if (sync) await fh.sync();
    return fh;
  } catch (err) {
    await fh.close().catch(() => undefined);
    await fs.unlink(path).catch(() => undefined);
    throw err;
  }
}

/**
 * Keeps one preallocated temp file ready (etcd's filePipeline). The Wal calls `start()`
 * once the current segment is half full (measured: zero-filling 64 MiB right after a
 * cut halves the fsync rate of the first second), and `take()` at the cut, which waits
 * only if the segment filled faster than zeros could be written.
 */
export class SegmentPipeline {
  private next: Promise<PreparedFile> | null = null;
  private count = 0;
  private closed = false;

  constructor(
    private readonly fs: FileLayer,
    private readonly dir: string,
    private readonly sizeBytes: number,
    private readonly sync: boolean,
    private readonly onNoSpace: (err: unknown) => void = () => undefined,
  ) {}

  /** Starts preparing a file if none is (idempotent). */
  start(): void {
    if (this.next !== null || this.closed) return;
    const path = posix.join(this.dir, `${this.count++}${TMP_SUFFIX}`);
    const p = prepareFile(this.fs, path, this.sizeBytes, this.sync, this.onNoSpace).then((fh) => ({ path, fh }));
    p.catch(() => undefined); // surfaced by take(); never an unhandled rejection
    this.next = p;
  }

  async take(): Promise<PreparedFile> {
    this.start();
    const p = this.next;
    this.next = null;
    if (p === null) throw new Error('wal: segment pipeline is closed');
    return p;
  }

  /** Waits for a preparation in flight, then closes and deletes its file. */
  async close(): Promise<void> {
    this.closed = true;
    const p = this.next;
    this.next = null;
    if (p === null) return;
    try {
      const f = await p;
      await f.fh.close();
      await this.fs.unlink(f.path);
    } catch {
      // A failed or half-made temp file is removed by the next open.
    }
  }
}
