// The FileLayer contract, run against both implementations: what the WAL relies on
// must behave the same over node:fs and in the simulator.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isFsError, readWholeFile } from '../../src/storage/file-layer.js';
import type { FileLayer } from '../../src/storage/file-layer.js';
import { NodeFileLayer } from '../../src/storage/node-file-layer.js';
import { SimFileLayer } from '../../src/testing/sim-file-layer.js';

const tmpDirs: string[] = [];
afterAll(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

const layers: Array<[string, () => Promise<{ fs: FileLayer; root: string }>]> = [
  [
    'node',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'tsetcd-fl-'));
      tmpDirs.push(root);
      return { fs: new NodeFileLayer(), root };
    },
  ],
  ['sim', async () => ({ fs: new SimFileLayer(), root: '/' })],
];

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFsError(err) ? err.code : err).toBe(code);
}

describe.each(layers)('FileLayer contract (%s)', (_name, make) => {
  it('writes at explicit offsets, zero-fills gaps, reads back, truncates', async () => {
    const { fs, root } = await make();
    const p = join(root, 'f');
    const fh = await fs.open(p, 'create-exclusive');
    await fh.write(Buffer.from('world'), 6);
    await fh.write(Buffer.from('hello'), 0);
    await fh.datasync();
    expect(await fh.size()).toBe(11);
    expect(Buffer.from(await fh.read(0, 100)).toString('latin1')).toBe('hello\0world');
    expect(Buffer.from(await fh.read(6, 3)).toString()).toBe('wor');
    await fh.truncate(5);
    await fh.sync();
    expect(await fh.size()).toBe(5);
    await fh.close();
    expect(Buffer.from(await readWholeFile(fs, p)).toString()).toBe('hello');
    expect(await fs.statSize(p)).toBe(5);
  });

  it('create-exclusive refuses an existing file; r/rw refuse a missing one', async () => {
    const { fs, root } = await make();
    const p = join(root, 'x');
    await (await fs.open(p, 'create-exclusive')).close();
    await rejectsWith(fs.open(p, 'create-exclusive'), 'EEXIST');
    await rejectsWith(fs.open(join(root, 'missing'), 'r'), 'ENOENT');
    await rejectsWith(fs.open(join(root, 'missing'), 'rw'), 'ENOENT');
    await rejectsWith(fs.statSize(join(root, 'missing')), 'ENOENT');
  });

  it('a read-only handle cannot write', async () => {
    const { fs, root } = await make();
    const p = join(root, 'ro');
    await (await fs.open(p, 'create-exclusive')).close();
    const fh = await fs.open(p, 'r');
    await rejectsWith(fh.write(Buffer.from('x'), 0), 'EBADF');
    await fh.close();
  });

  it('directories: mkdirp, sorted readdir, rename replaces, unlink, rmdir, syncDir', async () => {
    const { fs, root } = await make();
    const d = join(root, 'a', 'b', 'c');
    await fs.mkdirp(d);
    await fs.mkdirp(d); // idempotent
    for (const n of ['z', 'm', 'a']) {
      const fh = await fs.open(join(d, n), 'create-exclusive');
      await fh.write(Buffer.from(n), 0);
      await fh.close();
    }
    expect(await fs.readdir(d)).toEqual(['a', 'm', 'z']);
    await fs.rename(join(d, 'a'), join(d, 'z'));
    expect(await fs.readdir(d)).toEqual(['m', 'z']);
    expect(Buffer.from(await readWholeFile(fs, join(d, 'z'))).toString()).toBe('a');
    await fs.syncDir(d);
    await rejectsWith(fs.rmdir(d), 'ENOTEMPTY');
    await fs.unlink(join(d, 'm'));
    await fs.unlink(join(d, 'z'));
    expect(await fs.exists(join(d, 'z'))).toBe(false);
    await fs.rmdir(d);
    expect(await fs.exists(d)).toBe(false);
    expect(await fs.exists(join(root, 'a', 'b'))).toBe(true);
    await rejectsWith(fs.unlink(join(root, 'nope')), 'ENOENT');
  });
});
