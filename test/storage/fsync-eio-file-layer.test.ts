// The fsync-EIO test layer (src/storage/fsync-eio-file-layer.ts) that the Jepsen
// fsync-eio-leader fault arms: syncs pass until the trigger file exists, then every
// datasync, sync and directory sync fails with EIO, and stays failed after the trigger
// is removed (a failed fsync leaves the file's state unknown; docs/architecture.md §3).
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FSYNC_EIO_TRIGGER, fsyncEioFileLayer } from '../../src/storage/fsync-eio-file-layer.js';
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
});
