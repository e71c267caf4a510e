/**
 * FileLogBackend: a Backend whose durable form is one append-only log file in a
 * directory, written through a FileLayer. It exists so crash tests and the
 * deterministic simulator can run the state db on the SimFileLayer, where a power cut
 * loses, tears or reorders exactly the unsynced bytes, and where renaming the db's
 * directory (a snapshot install swap) is subject to the same crash model as the WAL.
 * LevelBackend stays the production backend.
 *
 * It mirrors what LevelDB guarantees and no more (backend.ts contract):
 * - every write appends one frame `[u32 payload length][u32 crc32c(payload)][payload]`
 *   to `<dir>/LOG`; `sync: true` then fdatasyncs, which also makes every earlier
 *   unsynced frame durable (LevelDB's log works the same way);
 * - a process crash loses nothing (the bytes are in the file layer's volatile image);
 * - a power cut may lose, tear or garble unsynced frames: open replays frames up to
 *   the first one that is short or fails its CRC and cuts the file there, so what
 *   survives is a prefix of the writes, each batch whole or absent (LevelDB recovers
 *   its log the same way with paranoid checks off);
 * - reads and iterators are served by an in-memory MemoryBackend holding the image.
 *
 * Payload: ops in batch order, each `[u8 kind: 1 put, 2 del][u32 key len][key]`
 * followed for a put by `[u32 value len][value]`.
 */
import { join } from 'node:path';
import { crc32c } from '../shared/crc32c.js';
import {
  BackendBatch,
  type Backend,
  type BackendIterator,
  type BackendRange,
  type BackendReadView,
  type WriteOptions,
} from '../storage/backend.js';
import type { FileHandle, FileLayer } from '../storage/file-layer.js';
import { MemoryBackend } from './memory-backend.js';

const LOG = 'LOG';
const HEADER_BYTES = 8;

export class FileLogBackend implements Backend {
  private constructor(
    private readonly file: FileHandle,
    private readonly image: MemoryBackend,
    private end: number,
  ) {}

  /**
   * Opens the db in `dir`, creating the directory and an empty log when missing (as
   * LevelDB's createIfMissing). The new directory entry is made durable: LevelDB
   * fsyncs its directory when it creates files.
   */
  static async open(fs: FileLayer, dir: string): Promise<FileLogBackend> {
    const path = join(dir, LOG);
    let file: FileHandle;
    if (await fs.exists(path)) {
      file = await fs.open(path, 'rw');
    } else {
      await fs.mkdirp(dir);
      file = await fs.open(path, 'create-exclusive');
      await file.sync();
      await fs.syncDir(dir);
    }
    const image = new MemoryBackend();
    const bytes = await file.read(0, await file.size());
    const end = replay(bytes, image);
    if (end < bytes.length) {
      // A torn or garbled tail from a power cut: cut it so new frames follow whole ones.
      await file.truncate(end);
      await file.sync();
    }
    return new FileLogBackend(file, image, end);
  }

  get(key: Buffer): Promise<Buffer | undefined> {
    return this.image.get(key);
  }

  getSync(key: Buffer): Buffer | undefined {
    return this.image.getSync(key);
  }

  getMany(keys: readonly Buffer[]): Promise<Array<Buffer | undefined>> {
    return this.image.getMany(keys);
  }

  iterator(range: BackendRange): BackendIterator {
    return this.image.iterator(range);
  }

  readView(): BackendReadView {
    return this.image.readView();
  }

  batch(): BackendBatch {
    return new BackendBatch();
  }

  async write(batch: BackendBatch, options: WriteOptions): Promise<void> {
    if (batch.length === 0) {
      batch.markWritten();
      if (options.sync) await this.file.datasync();
      return;
    }
    const frame = encodeFrame(batch);
    const at = this.end;
    this.end += frame.length;
    // The image changes before the append resolves, as LevelDB's memtable does: reads
    // see a write once it was issued; durability is what the promise reports.
    const copy = new BackendBatch();
    for (const op of batch.ops) {
      if (op.type === 'put') copy.put(op.key, op.value);
      else copy.del(op.key);
    }
    batch.markWritten();
    await this.image.write(copy, { sync: true });
    await this.file.write(frame, at);
    if (options.sync) await this.file.datasync();
  }

  /** The log keeps every frame; compacting it is not needed by the tests it serves. */
  compactAll(): Promise<void> {
    return Promise.resolve();
  }

  sizeBytes(): Promise<number> {
    return Promise.resolve(Math.max(this.end, 1));
  }

  async close(): Promise<void> {
    await this.image.close();
    await this.file.close();
  }
}

function encodeFrame(batch: BackendBatch): Uint8Array {
  let size = 0;
  for (const op of batch.ops) size += 5 + op.key.length + (op.type === 'put' ? 4 + op.value.length : 0);
  const out = Buffer.alloc(HEADER_BYTES + size);
  let pos = HEADER_BYTES;
  for (const op of batch.ops) {
    out[pos] = op.type === 'put' ? 1 : 2;
    out.writeUInt32BE(op.key.length, pos + 1);
    op.key.copy(out, pos + 5);
    pos += 5 + op.key.length;
    if (op.type === 'put') {
      out.writeUInt32BE(op.value.length, pos);
      op.value.copy(out, pos + 4);
      pos += 4 + op.value.length;
    }
  }
  out.writeUInt32BE(size, 0);
  out.writeUInt32BE(crc32c(out.subarray(HEADER_BYTES)), 4);
  return out;
}

/** Applies every whole frame of `bytes` to `image`; returns where the whole frames end. */
function replay(bytes: Uint8Array, image: MemoryBackend): number {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  while (pos + HEADER_BYTES <= buf.length) {
    const size = buf.readUInt32BE(pos);
    const start = pos + HEADER_BYTES;
    // A zero length is never written (a batch frame holds at least its header), so it
    // marks zeros left by a torn write, as does a frame running past the end.
    if (size === 0 || start + size > buf.length) break;
    const payload = buf.subarray(start, start + size);
    if (crc32c(payload) !== buf.readUInt32BE(pos + 4)) break;
    const batch = decodePayload(payload);
    if (batch === undefined) break;
    void image.write(batch, { sync: true });
    pos = start + size;
  }
  return pos;
}

function decodePayload(p: Buffer): BackendBatch | undefined {
  const batch = new BackendBatch();
  let pos = 0;
  while (pos < p.length) {
    const kind = p[pos];
    if (pos + 5 > p.length) return undefined;
    const klen = p.readUInt32BE(pos + 1);
    const key = Buffer.from(p.subarray(pos + 5, pos + 5 + klen));
    pos += 5 + klen;
    if (kind === 2) {
      batch.del(key);
    } else if (kind === 1) {
      if (pos + 4 > p.length) return undefined;
      const vlen = p.readUInt32BE(pos);
      batch.put(key, Buffer.from(p.subarray(pos + 4, pos + 4 + vlen)));
      pos += 4 + vlen;
    } else {
      return undefined;
    }
    if (pos > p.length) return undefined;
  }
  return batch;
}
