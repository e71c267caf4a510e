// The simulated file layer's crash model: what a power cut keeps and what it loses.
import { describe, expect, it } from 'vitest';
import { isFsError, readWholeFile } from '../../src/storage/file-layer.js';
import { SimFileLayer } from '../../src/testing/sim-file-layer.js';
import { SeededRng } from '../../src/shared/rng.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

async function writeFile(
  fs: SimFileLayer,
  path: string,
  data: string,
  sync: boolean,
): Promise<void> {
  const fh = await fs.open(path, 'create-exclusive');
  await fh.write(Buffer.from(data), 0);
  if (sync) await fh.datasync();
  await fh.close();
}

describe('SimFileLayer crash model', () => {
  it('a power cut drops unsynced writes and keeps synced ones', async () => {
    const fs = new SimFileLayer();
    await fs.mkdirp('/d');
    await fs.syncDir('/');
    await writeFile(fs, '/d/f', 'durable', true);
    await fs.syncDir('/d');
    const fh = await fs.open('/d/f', 'rw');
    await fh.write(Buffer.from('VOLATILE'), 0);
    expect(text(fs.peek('/d/f'))).toBe('VOLATILE');
    expect(fs.hasUnsynced()).toBe(true);
    fs.crash(new SeededRng(1), 'drop');
    expect(text(await readWholeFile(fs, '/d/f'))).toBe('durable');
    expect(fs.hasUnsynced()).toBe(false);
  });

  it('a created or renamed name survives only after syncDir of its directory', async () => {
    const fs = new SimFileLayer();
    await writeFile(fs, '/a', 'A', true); // data synced, name not
    fs.crash(new SeededRng(1), 'drop');
    expect(await fs.exists('/a')).toBe(false);

    await writeFile(fs, '/a', 'A', true);
    await fs.syncDir('/');
    await fs.rename('/a', '/b');
    fs.crash(new SeededRng(1), 'drop');
    expect(await fs.readdir('/')).toEqual(['a']);

    await fs.rename('/a', '/b');
    await fs.syncDir('/');
    fs.crash(new SeededRng(1), 'drop');
    expect(await fs.readdir('/')).toEqual(['b']);
    expect(text(await readWholeFile(fs, '/b'))).toBe('A');
  });

  it('a file in a directory whose own name was never synced vanishes with it', async () => {
    const fs = new SimFileLayer();
    await fs.mkdirp('/x/y');
    await writeFile(fs, '/x/y/f', 'F', true);
    await fs.syncDir('/x/y');
    await fs.syncDir('/x'); // '/' not synced: x is not durable
    fs.crash(new SeededRng(1), 'drop');
    expect(await fs.exists('/x')).toBe(false);
  });

  it("'keep' is a process crash: everything stays", async () => {
    const fs = new SimFileLayer();
    await writeFile(fs, '/a', 'unsynced', false);
    fs.crash(new SeededRng(1), 'keep');
    expect(text(await readWholeFile(fs, '/a'))).toBe('unsynced');
  });

  it('handles from before a crash fail with EBADF and change nothing', async () => {
    const fs = new SimFileLayer();
    await writeFile(fs, '/a', 'a', true);
    await fs.syncDir('/');
    const fh = await fs.open('/a', 'rw');
    fs.crash(new SeededRng(1), 'drop');
    const err = await fh.write(Buffer.from('zzz'), 0).catch((e: unknown) => e);
    expect(isFsError(err, 'EBADF')).toBe(true);
    expect(text(await readWholeFile(fs, '/a'))).toBe('a');
  });

  it('random crashes explore drop, keep, torn and reordered pages, deterministically', async () => {
    const page = 16;
    const base = new SimFileLayer({ pageBytes: page, sectorBytes: 8 });
    await writeFile(base, '/f', '.'.repeat(64), true);
    await base.syncDir('/');
    const fh = await base.open('/f', 'rw');
    await fh.write(Buffer.from('A'.repeat(32)), 0); // two pages
    await fh.write(Buffer.from('B'.repeat(32)), 32); // two more
    const seen = new Set<string>();
    const outcomes: string[] = [];
    for (let seed = 0; seed < 300; seed++) {
      const fs = base.clone();
      fs.crash(new SeededRng(seed));
      const out = text(fs.peek('/f'));
      outcomes.push(out);
      expect(out.length).toBe(64);
      // Every byte is old or new at its position, except a garbage-filled torn sector.
      seen.add(out);
    }
    const has = (pred: (s: string) => boolean): boolean => [...seen].some(pred);
    expect(has((s) => s === '.'.repeat(64))).toBe(true); // nothing kept
    expect(has((s) => s === 'A'.repeat(32) + 'B'.repeat(32))).toBe(true); // all kept
    // Reordered: a later page persisted while an earlier one did not.
    expect(has((s) => s.slice(0, 16) === '.'.repeat(16) && s.slice(48) === 'B'.repeat(16))).toBe(
      true,
    );
    // Torn inside the first write at a sector (8 bytes) boundary, nothing after.
    expect(has((s) => /^A{8}\.{56}$/.test(s) || /^A{24}\.{40}$/.test(s))).toBe(true);
    // Same seeds, same outcomes.
    for (let seed = 0; seed < 20; seed++) {
      const fs = base.clone();
      fs.crash(new SeededRng(seed));
      expect(text(fs.peek('/f'))).toBe(outcomes[seed]);
    }
  });

  it('clone + replay of the op log rebuilds the state at every point', async () => {
    const fs = new SimFileLayer();
    const start = fs.clone();
    await fs.mkdirp('/w');
    await writeFile(fs, '/w/1', 'one', true);
    await fs.syncDir('/w');
    const fh = await fs.open('/w/1', 'rw');
    await fh.write(Buffer.from('ONE!'), 0);
    await fs.rename('/w/1', '/w/2');
    const ops = fs.opLog;
    expect(ops.map((o) => o.kind)).toEqual([
      'mkdirp',
      'open',
      'write',
      'datasync',
      'close',
      'syncDir',
      'open',
      'write',
      'rename',
    ]);
    const again = start.clone();
    again.replay(ops);
    expect(text(again.peek('/w/2'))).toBe('ONE!');
    expect(text(again.peek('/w/2', 'durable'))).toBe('one');
    const partial = start.clone();
    partial.replay(ops.slice(0, 4));
    expect(text(partial.peek('/w/1', 'durable'))).toBe('one');
  });

  it('injected faults fail the operation without effect', async () => {
    const fs = new SimFileLayer();
    await writeFile(fs, '/a', 'a', false);
    fs.setFault((kind) => (kind === 'datasync' ? 'EIO' : undefined));
    const fh = await fs.open('/a', 'rw');
    const err = await fh.datasync().catch((e: unknown) => e);
    expect(isFsError(err, 'EIO')).toBe(true);
    expect(fs.hasUnsynced()).toBe(true);
  });
});
