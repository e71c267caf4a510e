/**
 * A snapshot file as the bbolt reader's PageSource: positional reads through node:fs,
 * never the whole file in memory (a snapshot may be larger than the process's heap).
 * The reader asks for pages synchronously, so reads are synchronous too. Every read
 * returns a fresh buffer (the reader keeps views into them). A small cache keeps the
 * most recently read pages, since a bucket walk returns to branch pages.
 *
 * Errors opening the file are reported as etcdctl words them ("open FILE: no such file
 * or directory"), in one line (SnapshotFileError).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { PageSource } from '../bbolt/reader.js';

export class SnapshotFileError extends Error {
  override readonly name = 'SnapshotFileError';
}

export interface FileSource extends PageSource {
  close(): void;
}

const CACHE_ENTRIES = 256;

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
  const cache = new Map<string, Uint8Array>();
  return {
    size,
    read(offset: number, length: number): Uint8Array {
      const key = `${offset}:${length}`;
      const hit = cache.get(key);
      if (hit !== undefined) {
        cache.delete(key);
        cache.set(key, hit);
        return hit;
      }
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, buf, done, length - done, offset + done);
        if (n === 0) throw new SnapshotFileError(`read ${path}: file shrank below ${offset + length} bytes while reading`);
        done += n;
      }
      if (length <= 64 * 1024) {
        cache.set(key, buf);
        if (cache.size > CACHE_ENTRIES) {
          const oldest = cache.keys().next().value;
          if (oldest !== undefined) cache.delete(oldest);
        }
      }
      return buf;
    },
    close(): void {
      closeSync(fd);
    },
  };
}
