/**
 * Test-only file layers for real processes whose syncs misbehave once a trigger file
 * exists in the data dir, so a test can aim a disk fault at one member of a running
 * cluster. Never in production: the shipped process applies them only when their
 * variable is set (shared/test-faults.ts), which is why they live in storage and not in
 * src/testing (like power-cut-file-layer.ts).
 *
 * - fsyncEioFileLayer (TSETCD_TEST_FSYNC_EIO=1, trigger `<data-dir>/test-fsync-eio`):
 *   a disk whose fsync starts failing. Once the trigger is seen no sync succeeds again,
 *   so the member must stop without acknowledging anything after the first failure
 *   (fsyncgate, docs/architecture.md §3). Used by the Jepsen fsync-eio-leader fault.
 * - slowFsyncFileLayer (TSETCD_TEST_SLOW_FSYNC=1, trigger `<data-dir>/test-slow-fsync`
 *   holding a delay in milliseconds): a slow disk. Every datasync, sync and directory
 *   sync waits that long before the real one while the trigger exists; removing it makes
 *   the disk fast again. The WAL's fsync timer (etcd_disk_wal_fsync_duration_seconds,
 *   the "slow fdatasync" warning) sees the delay, as it would a slow device. Used by the
 *   live Prometheus test (etcdHighFsyncDurations).
 *
 * Reads, writes and name changes pass through unchanged in both.
 */
import type { FileHandle, FileLayer, OpenMode } from './file-layer.js';

export const FSYNC_EIO_TRIGGER = 'test-fsync-eio';
export const SLOW_FSYNC_TRIGGER = 'test-slow-fsync';

/** Runs before every sync of the wrapped layer; may throw (the sync fails) or wait. */
type BeforeSync = (path: string, call: 'fdatasync' | 'fsync') => Promise<void>;

class HookedSyncHandle implements FileHandle {
  constructor(
    private readonly inner: FileHandle,
    private readonly before: BeforeSync,
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
    await this.before(this.inner.path, 'fdatasync');
    await this.inner.datasync();
  }

  async sync(): Promise<void> {
    await this.before(this.inner.path, 'fsync');
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

function hookSyncs(inner: FileLayer, before: BeforeSync): FileLayer {
  return {
    open: async (path: string, mode: OpenMode) => new HookedSyncHandle(await inner.open(path, mode), before),
    readdir: (dir) => inner.readdir(dir),
    mkdirp: (dir) => inner.mkdirp(dir),
    rename: (from, to) => inner.rename(from, to),
    unlink: (path) => inner.unlink(path),
    rmdir: (path) => inner.rmdir(path),
    syncDir: async (dir) => {
      await before(dir, 'fsync');
      await inner.syncDir(dir);
    },
    exists: (path) => inner.exists(path),
    statSize: async (path) => inner.statSize(path),
  };
}

function eio(path: string, call: string): Error {
  return Object.assign(new Error(`EIO: i/o error, ${call} '${path}' (test fault fsync-eio)`), {
    code: 'EIO',
    errno: -5,
    syscall: call,
    path,
  });
}

/** `inner` whose syncs fail with EIO once `triggerPath` exists (checked at every sync). */
export function fsyncEioFileLayer(inner: FileLayer, triggerPath: string): FileLayer {
  let tripped = false;
  return hookSyncs(inner, async (path, call) => {
    tripped ||= await inner.exists(triggerPath);
    if (tripped) throw eio(path, call);
  });
}

/** The delay the trigger file asks for: its decimal contents, 0 when absent or unreadable. */
async function readDelayMs(inner: FileLayer, triggerPath: string): Promise<number> {
  if (!(await inner.exists(triggerPath))) return 0;
  try {
    const fh = await inner.open(triggerPath, 'r');
    try {
      const text = new TextDecoder().decode(await fh.read(0, 32)).trim();
      const ms = Number(text);
      return Number.isFinite(ms) && ms > 0 ? ms : 0;
    } finally {
      await fh.close();
    }
  } catch {
    return 0; // removed between the two calls: the disk is fast again
  }
}

/** `inner` whose syncs first wait the milliseconds written in `triggerPath`, while it exists. */
export function slowFsyncFileLayer(inner: FileLayer, triggerPath: string): FileLayer {
  return hookSyncs(inner, async () => {
    const ms = await readDelayMs(inner, triggerPath);
    if (ms > 0) await new Promise<void>((resolve) => setTimeout(resolve, ms));
  });
}
