/**
 * A test-only file layer for real processes that makes every datasync/sync fail with
 * EIO once a trigger file exists: a disk whose fsync starts failing while the member
 * runs. Enabled by TSETCD_TEST_FSYNC_EIO=1 (the fsyncEio test fault,
 * shared/test-faults.ts); the trigger is `<data-dir>/test-fsync-eio`, so the Jepsen
 * nemesis can aim it at one member of a running cluster. Never in production. It stays
 * in storage, not src/testing, because the shipped process applies it when that
 * variable is set (like power-cut-file-layer.ts).
 *
 * Invariant: before the trigger exists the layer is the inner one; after, no sync
 * succeeds, so the member must stop without acknowledging anything after the first
 * failure (fsyncgate, docs/architecture.md §3).
 */
import type { FileHandle, FileLayer, OpenMode } from './file-layer.js';

export const FSYNC_EIO_TRIGGER = 'test-fsync-eio';

function eio(path: string, call: string): Error {
  return Object.assign(new Error(`EIO: i/o error, ${call} '${path}' (test fault fsync-eio)`), {
    code: 'EIO',
    errno: -5,
    syscall: call,
    path,
  });
}

class FailingSyncHandle implements FileHandle {
  constructor(
    private readonly inner: FileHandle,
    private readonly armed: () => Promise<boolean>,
  ) {}

  get path(): string {
    return this.inner.path;
  }

  read(position: number, length: number): Promise<Uint8Array> {
    return this.inner.read(position, length);
  }

  write(data: Uint8Array, position: number): Promise<void> {
    return this.inner.write(data, position);
  }

  async datasync(): Promise<void> {
    if (await this.armed()) throw eio(this.inner.path, 'fdatasync');
    await this.inner.datasync();
  }

  async sync(): Promise<void> {
    if (await this.armed()) throw eio(this.inner.path, 'fsync');
    await this.inner.sync();
  }

  truncate(sizeBytes: number): Promise<void> {
    return this.inner.truncate(sizeBytes);
  }

  size(): Promise<number> {
    return this.inner.size();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** `inner` whose syncs fail with EIO once `triggerPath` exists (checked at every sync). */
export function fsyncEioFileLayer(inner: FileLayer, triggerPath: string): FileLayer {
  let tripped = false;
  const armed = async (): Promise<boolean> => (tripped ||= await inner.exists(triggerPath));
  return {
    open: async (path: string, mode: OpenMode) => new FailingSyncHandle(await inner.open(path, mode), armed),
    readdir: (dir) => inner.readdir(dir),
    mkdirp: (dir) => inner.mkdirp(dir),
    rename: (from, to) => inner.rename(from, to),
    unlink: (path) => inner.unlink(path),
    rmdir: (path) => inner.rmdir(path),
    syncDir: async (dir) => {
      if (await armed()) throw eio(dir, 'fsync');
      await inner.syncDir(dir);
    },
    exists: (path) => inner.exists(path),
    statSize: async (path) => inner.statSize(path),
  };
}
