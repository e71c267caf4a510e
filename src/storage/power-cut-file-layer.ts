/**
 * A test-only file layer for real processes that makes `kill -9` lose exactly what a
 * power cut may lose from the WAL: writes stay in this process's memory until the
 * handle's datasync/sync, and only then reach the file (and its fsync). A crash of the
 * process therefore drops every unsynced write, which a plain kill -9 cannot show
 * (the page cache survives it). Enabled by TSETCD_TEST_POWER_CUT=1 (the powerCut
 * test fault, shared/test-faults.ts); never in production. It stays in storage, not
 * src/testing, because the shipped process applies it when that variable is set.
 *
 * Directory operations (create, rename, unlink) pass straight through: the WAL makes
 * them durable with syncDir before relying on them, and losing them is modelled by
 * the in-memory SimFileLayer in the crash-exploration tests instead.
 */
import type { FileHandle, FileLayer, OpenMode } from './file-layer.js';

class BufferedHandle implements FileHandle {
  /** Unsynced writes in order; later ones win where they overlap. */
  private pending: Array<{ data: Uint8Array; position: number }> = [];
  private pendingEnd = 0;

  constructor(private readonly inner: FileHandle) {}

  get path(): string {
    return this.inner.path;
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    const size = await this.size();
    const end = Math.min(size, position + length);
    const out = new Uint8Array(Math.max(0, end - position));
    const base = await this.inner.read(position, length);
    out.set(base.subarray(0, out.length));
    for (const w of this.pending) {
      const from = Math.max(w.position, position);
      const to = Math.min(w.position + w.data.length, end);
      if (from < to) out.set(w.data.subarray(from - w.position, to - w.position), from - position);
    }
    return out;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    this.pending.push({ data: Uint8Array.from(data), position });
    this.pendingEnd = Math.max(this.pendingEnd, position + data.length);
  }

  private async flush(): Promise<void> {
    const writes = this.pending;
    this.pending = [];
    this.pendingEnd = 0;
    for (const w of writes) await this.inner.write(w.data, w.position);
  }

  async datasync(): Promise<void> {
    await this.flush();
    await this.inner.datasync();
  }

  async sync(): Promise<void> {
    await this.flush();
    await this.inner.sync();
  }

  async truncate(sizeBytes: number): Promise<void> {
    await this.flush();
    await this.inner.truncate(sizeBytes);
  }

  async size(): Promise<number> {
    return Math.max(await this.inner.size(), this.pendingEnd);
  }

  async close(): Promise<void> {
    // Hand unsynced writes to the OS on close (not durable, but not dropped by a
    // clean close either); only a crash before a sync loses them.
    await this.flush();
    await this.inner.close();
  }
}

export function powerCutFileLayer(inner: FileLayer): FileLayer {
  return {
    open: async (path: string, mode: OpenMode) => new BufferedHandle(await inner.open(path, mode)),
    readdir: (dir) => inner.readdir(dir),
    mkdirp: (dir) => inner.mkdirp(dir),
    rename: (from, to) => inner.rename(from, to),
    unlink: (path) => inner.unlink(path),
    rmdir: (path) => inner.rmdir(path),
    syncDir: (dir) => inner.syncDir(dir),
    exists: (path) => inner.exists(path),
    statSize: async (path) => inner.statSize(path),
  };
}
