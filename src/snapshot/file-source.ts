/**
 * A snapshot file as the bbolt reader's PageSource: positional reads through node:fs,
 * never the whole file in memory (a snapshot may be larger than the process's heap).
 * The reader asks for pages synchronously, so reads are synchronous too. Reads go
 * through a few 1 MiB blocks (16 MiB at most): a walk reads neighbouring pages and
 * returns to branch pages. A block is never reused or changed, so the views the reader
 * keeps into it stay valid.
 *
 * Errors opening the file are reported as etcdctl words them ("open FILE: no such file
 * or directory"), in one line (SnapshotFileError).
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { PageSource } from '../bbolt/reader.js';

export class SnapshotFileError extends Error {
  override readonly name = 'SnapshotFileError';
}

export interface FileSource extends PageSource {
  close(): void;
  /**
   * SHA-256 of the first `length` bytes, read in order through one reused 4 MiB buffer
   * (not the block cache: a pass over the whole file would only churn it).
   */
  sha256(length: number): Uint8Array;
}

const BLOCK_BYTES = 1 << 20;
const CACHE_BLOCKS = 16;
const HASH_READ_BYTES = 4 << 20;

function fsMessage(err: unknown, path: string): string {
  const code = (err as { code?: unknown }).code;
  if (code === 'ENOENT') return `open ${path}: no such file or directory`;
  if (code === 'EACCES') return `open ${path}: permission denied`;
  if (code === 'EISDIR') return `read ${path}: is a directory`;
  return `open ${path}: ${err instanceof Error ? err.message : String(err)}`;
}

export function openFileSource(path: string): FileSource {
  let fd: number;
  let size: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new SnapshotFileError(fsMessage(err, path));
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    size = st.size;
  } catch (err) {
    closeSync(fd);
    throw new SnapshotFileError(fsMessage(err, path));
  }
  // Pages are read through 1 MiB blocks: a walk reads neighbouring pages, so one
  // syscall serves many. Blocks are never reused, so views into them stay valid.
  const blocks = new Map<number, Uint8Array>();
  const readExact = (offset: number, length: number): Uint8Array => {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, buf, done, length - done, offset + done);
      if (n === 0) throw new SnapshotFileError(`read ${path}: file shrank below ${offset + length} bytes while reading`);
      done += n;
    }
    return buf;
  };
  const block = (index: number): Uint8Array => {
    const hit = blocks.get(index);
    if (hit !== undefined) {
      blocks.delete(index);
      blocks.set(index, hit);
      return hit;
    }
    const start = index * BLOCK_BYTES;
    const b = readExact(start, Math.min(BLOCK_BYTES, size - start));
    blocks.set(index, b);
    if (blocks.size > CACHE_BLOCKS) {
      const oldest = blocks.keys().next().value;
      if (oldest !== undefined) blocks.delete(oldest);
    }
    return b;
  };
  return {
    size,
    read(offset: number, length: number): Uint8Array {
      const first = Math.floor(offset / BLOCK_BYTES);
      if (first !== Math.floor((offset + length - 1) / BLOCK_BYTES) || offset + length > size) return readExact(offset, length);
      const within = offset - first * BLOCK_BYTES;
      return block(first).subarray(within, within + length);
    },
    close(): void {
      closeSync(fd);
    },
    sha256(length: number): Uint8Array {
      const hash = createHash('sha256');
      const buf = Buffer.allocUnsafe(HASH_READ_BYTES);
      for (let off = 0; off < length; ) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, length - off), off);
        if (n === 0) throw new SnapshotFileError(`read ${path}: file shrank below ${length} bytes while reading`);
        hash.update(n === buf.length ? buf : buf.subarray(0, n));
        off += n;
      }
      return new Uint8Array(hash.digest());
    },
  };
}
