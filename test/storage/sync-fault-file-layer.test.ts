// The sync-fault test layers (src/storage/sync-fault-file-layer.ts). The fsync-EIO one, that the Jepsen
// fsync-eio-leader fault arms: syncs pass until the trigger file exists, then every
// datasync, sync and directory sync fails with EIO, and stays failed after the trigger
// is removed (a failed fsync leaves the file's state unknown; docs/architecture.md §3).
// The slow one, that the live Prometheus test arms: syncs wait the trigger's milliseconds
// while it exists, and are fast again once it is removed.
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FSYNC_EIO_TRIGGER,
  fsyncEioFileLayer,
  SLOW_FSYNC_TRIGGER,
  slowFsyncFileLayer,
} from '../../src/storage/sync-fault-file-layer.js';
import { nodeFileLayer } from '../../src/storage/node-file-layer.js';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('fsync-EIO file layer', () => {
  it('fails every sync with EIO once the trigger exists, and keeps failing', async () => {
    dir = mkdtempSync(join(tmpdir(), 'fsync-eio-'));
    const trigger = join(dir, FSYNC_EIO_TRIGGER);
    const fs = fsyncEioFileLayer(nodeFileLayer, trigger);
    const fh = await fs.open(join(dir, 'f'), 'create-exclusive');
    await fh.write(new Uint8Array([1, 2, 3]), 0);
    await fh.datasync();
    await fs.syncDir(dir);
    writeFileSync(trigger, '');
    await expect(fh.datasync()).rejects.toMatchObject({ code: 'EIO', syscall: 'fdatasync' });
    await expect(fh.sync()).rejects.toMatchObject({ code: 'EIO', syscall: 'fsync' });
    await expect(fs.syncDir(dir)).rejects.toMatchObject({ code: 'EIO' });
    unlinkSync(trigger);
    await expect(fh.datasync()).rejects.toMatchObject({ code: 'EIO' });
    // Writes and reads still pass through: only syncs fail.
    expect([...(await fh.read(0, 3))]).toEqual([1, 2, 3]);
    await fh.close();
  });

  it('slow: every sync waits the trigger\'s milliseconds while it exists', async () => {
    dir = mkdtempSync(join(tmpdir(), 'slow-fsync-'));
    const trigger = join(dir, SLOW_FSYNC_TRIGGER);
    const fs = slowFsyncFileLayer(nodeFileLayer, trigger);
    const fh = await fs.open(join(dir, 'f'), 'create-exclusive');
    await fh.write(new Uint8Array([1, 2, 3]), 0);
    const timed = async (fn: () => Promise<void>): Promise<number> => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    expect(await timed(() => fh.datasync())).toBeLessThan(150);
    writeFileSync(trigger, '300\n');
    expect(await timed(() => fh.datasync())).toBeGreaterThanOrEqual(295);
    expect(await timed(() => fh.sync())).toBeGreaterThanOrEqual(295);
    expect(await timed(() => fs.syncDir(dir))).toBeGreaterThanOrEqual(295);
    unlinkSync(trigger);
    expect(await timed(() => fh.datasync())).toBeLessThan(150);
    expect([...(await fh.read(0, 3))]).toEqual([1, 2, 3]);
    await fh.close();
  });
});
