/**
 * The real file layer over node:fs/promises (FileHandle). Every call but a small write
 * goes through libuv's thread pool, so two calls in flight may complete in any order: callers
 * that need ordering (the WAL) keep at most one write + sync in flight and always
 * pass explicit offsets (docs/architecture.md §3).
 */
import { constants, fdatasync, writeSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { FileHandle, FileLayer, OpenMode } from './file-layer.js';

const OPEN_FLAGS: Record<OpenMode, number> = {
  r: constants.O_RDONLY,
  rw: constants.O_RDWR,
  'create-exclusive': constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
};

/** Writes up to this size go straight to the page cache on the calling thread. */
const SYNC_WRITE_MAX_BYTES = 256 * 1024;

class NodeFileHandle implements FileHandle {
  constructor(
    readonly path: string,
    private readonly fh: fsp.FileHandle,
  ) {}

  async read(position: number, length: number): Promise<Uint8Array> {
    // Not zeroed: only the bytes read are returned (a short read returns a subarray).
    const buf = Buffer.allocUnsafeSlow(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, position + done);
      if (bytesRead === 0) break; // end of file
      done += bytesRead;
    }
    return done === length ? buf : buf.subarray(0, done);
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    if (data.length <= SYNC_WRITE_MAX_BYTES) {
      // A small write only copies into the page cache: done here it costs a microsecond
      // or two, where a thread-pool round trip costs tens of microseconds and, on a busy
      // machine, a context switch or two on every WAL append (docs/architecture.md §4).
      // Durability is unchanged: nothing is durable before datasync.
      while (done < data.length) done += writeSync(this.fh.fd, data, done, data.length - done, position + done);
      return;
    }
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  }

  datasync(): Promise<void> {
    // The callback API on the handle's fd: the same pool call, but FileHandle's promise
    // machinery cost ~4x more main-thread time per WAL fsync (docs/architecture.md §4).
    return new Promise((resolve, reject) => {
      fdatasync(this.fh.fd, (err) => (err === null ? resolve() : reject(err)));
    });
  }

  sync(): Promise<void> {
    return this.fh.sync();
  }

  truncate(sizeBytes: number): Promise<void> {
    return this.fh.truncate(sizeBytes);
  }

  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

export class NodeFileLayer implements FileLayer {
  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    return new NodeFileHandle(path, await fsp.open(path, OPEN_FLAGS[mode], 0o600));
  }

  async readdir(dir: string): Promise<string[]> {
    const names = await fsp.readdir(dir);
    return names.sort();
  }

  async mkdirp(dir: string): Promise<void> {
    // etcd creates data dirs 0700 (fileutil.PrivateDirMode).
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  }

  rename(from: string, to: string): Promise<void> {
    return fsp.rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return fsp.unlink(path);
  }

  rmdir(path: string): Promise<void> {
    return fsp.rmdir(path);
  }

  async syncDir(dir: string): Promise<void> {
    const fh = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await fsp.lstat(path);
      return true;
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return false;
      throw err;
    }
  }

  async statSize(path: string): Promise<number> {
    return (await fsp.stat(path)).size;
  }
}

export const nodeFileLayer: FileLayer = new NodeFileLayer();
