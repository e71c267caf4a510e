// LevelTableWriter (storage/level-tables.ts): a LevelDB written as table files must
// open in real LevelDB (classic-level) with every record, take further writes, survive
// a reopen and a full compaction, and carry correct block checksums (LevelDB only checks
// them under paranoid_checks, so this test parses the files and checks them itself).
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelBackend } from '../../src/storage/level-backend.js';
import { LevelTableWriter } from '../../src/storage/level-tables.js';
import { nodeFileLayer } from '../../src/storage/node-file-layer.js';
import { forEachInRange } from '../../src/storage/backend.js';
import { crc32c } from '../../src/shared/crc32c.js';
import { SeededRng } from '../../src/shared/rng.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tsetcd-level-tables-'));
  dirs.push(d);
  return d;
}

/**
 * Sorted distinct keys with long shared prefixes (so the manifest's table list is long),
 * some a prefix of the next, values 0 B to 100 KiB.
 */
function records(n: number, seed: number): Array<[Buffer, Buffer]> {
  const rng = new SeededRng(seed);
  const keys = new Set<string>();
  while (keys.size < n) {
    const k = `k${'/'.repeat(200)}${String(rng.int(n * 4)).padStart(7, '0')}`;
    keys.add(rng.int(10) === 0 ? k.slice(0, 202 + rng.int(6)) : k);
  }
  return [...keys].sort().map((k, i) => {
    const size = i % 97 === 0 ? 100_000 : i % 13 === 0 ? 0 : i % 7 === 0 ? 5000 : 1 + rng.int(1500);
    const v = Buffer.allocUnsafe(size);
    for (let j = 0; j < size; j++) v[j] = rng.int(256);
    return [Buffer.from(k, 'latin1'), v];
  });
}

async function all(backend: LevelBackend): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  await forEachInRange(backend, {}, (k, v) => {
    out.push([k.toString('latin1'), v.toString('hex')]);
  });
  return out;
}

const hex = (rs: Array<[Buffer, Buffer]>): Array<[string, string]> => rs.map(([k, v]) => [k.toString('latin1'), v.toString('hex')]);

function varint(b: Buffer, at: { pos: number }): number {
  let v = 0;
  let mul = 1;
  for (;;) {
    const byte = b[at.pos++] as number;
    v += (byte & 0x7f) * mul;
    if (byte < 0x80) return v;
    mul *= 128;
  }
}

const unmask = (m: number): number => {
  const r = (m - 0xa282ead8) >>> 0;
  return ((r >>> 17) | (r << 15)) >>> 0;
};

/** Checks every block trailer of a table file; returns the number of data blocks. */
function checkTable(file: Buffer): number {
  expect(file.subarray(file.length - 8).toString('hex')).toBe('57fb808b247547db');
  const footer = { pos: file.length - 48 };
  varint(file, footer);
  varint(file, footer);
  const index = { offset: varint(file, footer), size: varint(file, footer) };
  const checkBlock = (offset: number, size: number): void => {
    expect(file[offset + size]).toBe(0);
    const crc = crc32c(file.subarray(offset + size, offset + size + 1), crc32c(file.subarray(offset, offset + size)));
    expect(unmask(file.readUInt32LE(offset + size + 1))).toBe(crc);
  };
  checkBlock(index.offset, index.size);
  const block = file.subarray(index.offset, index.offset + index.size);
  const restarts = block.readUInt32LE(block.length - 4);
  const end = block.length - 4 - 4 * restarts;
  const at = { pos: 0 };
  let blocks = 0;
  while (at.pos < end) {
    expect(varint(block, at)).toBe(0);
    const keyLength = varint(block, at);
    const valueLength = varint(block, at);
    at.pos += keyLength;
    const handle = { pos: at.pos };
    checkBlock(varint(block, handle), varint(block, handle));
    at.pos += valueLength;
    blocks++;
  }
  return blocks;
}

describe('LevelTableWriter', () => {
  it('writes a LevelDB that LevelDB opens, extends, reopens and compacts with every record', async () => {
    const dir = join(await tempDir(), 'db');
    const rs = records(3000, 7);
    const writer = await LevelTableWriter.create(nodeFileLayer, dir, { tableBytes: 32 << 10 });
    for (const [k, v] of rs) {
      writer.add(k, v);
      if (writer.wantsFlush) await writer.flush();
    }
    const done = await writer.finish();
    expect(done.records).toBe(rs.length);
    // Over a hundred tables with 200-byte keys: the manifest's edit spans 32 KiB log blocks.
    expect(done.tables).toBeGreaterThan(100);
    expect((await readFile(join(dir, 'MANIFEST-000001'))).length).toBeGreaterThan(40_000);
    let dataBlocks = 0;
    for (const name of await readdir(dir)) if (name.endsWith('.ldb')) dataBlocks += checkTable(await readFile(join(dir, name)));
    expect(dataBlocks).toBeGreaterThan(done.tables);

    let backend = await LevelBackend.open(dir);
    try {
      expect(await all(backend)).toEqual(hex(rs));
      const [k0, v0] = rs[0] as [Buffer, Buffer];
      expect((await backend.get(k0))?.equals(v0)).toBe(true);
      expect(await backend.get(Buffer.from('k', 'latin1'))).toBeUndefined();
      // Writes after the load: before, between and after the loaded keys; a delete.
      await backend.write(
        backend.batch().put(Buffer.from('a'), Buffer.from('1')).put(Buffer.from(`k${'/'.repeat(200)}00000005x`), Buffer.from('2')).put(Buffer.from('z'), Buffer.from('3')).del(k0),
        { sync: true },
      );
    } finally {
      await backend.close();
    }
    const expected = hex([[Buffer.from('a'), Buffer.from('1')], ...rs.slice(1), [Buffer.from(`k${'/'.repeat(200)}00000005x`), Buffer.from('2')], [Buffer.from('z'), Buffer.from('3')]]).sort((a, b) =>
      Buffer.compare(Buffer.from(a[0], 'latin1'), Buffer.from(b[0], 'latin1')),
    );
    backend = await LevelBackend.open(dir);
    try {
      expect(await all(backend)).toEqual(expected);
      await backend.compactAll();
      expect(await all(backend)).toEqual(expected);
    } finally {
      await backend.close();
    }
  });

  it('makes an empty LevelDB from no records, and refuses keys out of order', async () => {
    const dir = join(await tempDir(), 'db');
    const empty = await LevelTableWriter.create(nodeFileLayer, dir);
    expect(await empty.finish()).toEqual({ tables: 0, records: 0 });
    const backend = await LevelBackend.open(dir);
    try {
      expect(await all(backend)).toEqual([]);
    } finally {
      await backend.close();
    }
    const w = await LevelTableWriter.create(nodeFileLayer, join(await tempDir(), 'db'));
    w.add(Buffer.from('b'), Buffer.from('1'));
    expect(() => w.add(Buffer.from('a'), Buffer.from('2'))).toThrow(/ascending/);
    expect(() => w.add(Buffer.from('b'), Buffer.from('2'))).toThrow(/ascending/);
    await w.abort();
  });
});
