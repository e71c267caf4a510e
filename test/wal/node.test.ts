// The WAL over the real file system (NodeFileLayer) in a temp dir: round trip across
// segments, leftover temp removal, refusal of a bit flip; and a measurement of
// saves/s and fsyncs/s for 1 client and for 64 concurrent clients (256-byte entries).
import { mkdtemp, open as fsOpen, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeFileLayer } from '../../src/storage/node-file-layer.js';
import { Wal, WalCorruptError } from '../../src/wal/index.js';
import type { WalEntry, WalOptions } from '../../src/wal/index.js';

const fs = new NodeFileLayer();
const roots: string[] = [];
afterAll(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tsetcd-wal-'));
  roots.push(d);
  return d;
}

function entry(index: number, bytes: number): WalEntry {
  return { index, term: 1, type: 0, data: Buffer.alloc(bytes, index & 0xff) };
}

describe('Wal on the real file system', () => {
  it('writes, closes and reopens across segments; removes leftover temp files', async () => {
    const dir = join(await tempDir(), 'member', 'wal');
    const opts: WalOptions = { segmentBytes: 64 * 1024 };
    const wal = await Wal.create(fs, dir, Buffer.from('meta'), opts);
    for (let i = 1; i <= 500; i += 10) {
      const es: WalEntry[] = [];
      for (let k = i; k < i + 10; k++) es.push(entry(k, 256));
      await wal.save({ entries: es, hardState: { term: 1, vote: 2n, commit: i } });
    }
    expect(wal.stats().segments).toBeGreaterThan(1);
    await wal.close();
    await writeFile(join(dir, '3.tmp'), 'leftover');
    const { wal: w2, recovered } = await Wal.open(fs, dir, opts);
    expect(recovered.entries.length).toBe(500);
    expect(
      Buffer.from(recovered.entries[499]?.data ?? []).equals(Buffer.alloc(256, 500 & 0xff)),
    ).toBe(true);
    expect(recovered.hardState).toEqual({ term: 1, vote: 2n, commit: 491 });
    expect((await readdir(dir)).includes('3.tmp')).toBe(false);
    await w2.close();
  });

  it('refuses a bit flip in an older batch, naming the file', async () => {
    const dir = await tempDir();
    const wal = await Wal.create(fs, dir, Buffer.from('meta'), { segmentBytes: 64 * 1024 });
    for (let i = 1; i <= 5; i++) await wal.save({ entries: [entry(i, 100)] });
    await wal.close();
    const seg = join(dir, '0000000000000000-0000000000000000.wal');
    const fh = await fsOpen(seg, 'r+');
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, 100);
    b[0] = (b[0] ?? 0) ^ 0x10;
    await fh.write(b, 0, 1, 100);
    await fh.close();
    const err = await Wal.open(fs, dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WalCorruptError);
    expect((err as Error).message).toContain(seg);
  });

  it('measures saves/s and fsyncs/s (1 and 64 concurrent clients, 256-byte entries)', async () => {
    const durationMs = 1500;
    const results: string[] = [];
    {
      // Baseline: the disk's own write + fdatasync rate at explicit offsets.
      const fh = await fsOpen(join(await tempDir(), 'raw'), 'w+');
      const buf = Buffer.alloc(300, 1);
      let n = 0;
      const start = performance.now();
      while (performance.now() - start < durationMs) {
        await fh.write(buf, 0, buf.length, n++ * buf.length);
        await fh.datasync();
      }
      await fh.close();
      results.push(
        `raw write+fdatasync: ${(n / ((performance.now() - start) / 1000)).toFixed(0)}/s`,
      );
    }
    for (const clients of [1, 64]) {
      const dir = await tempDir();
      const createStart = performance.now();
      const wal = await Wal.create(fs, dir, Buffer.from('meta'), {});
      if (clients === 1)
        results.push(
          `Wal.create (64 MiB preallocated): ${(performance.now() - createStart).toFixed(0)} ms`,
        );
      let next = 1;
      const start = performance.now();
      const base = wal.stats();
      const worker = async (): Promise<void> => {
        while (performance.now() - start < durationMs)
          await wal.save({ entries: [entry(next++, 256)] });
      };
      await Promise.all(Array.from({ length: clients }, worker));
      const secs = (performance.now() - start) / 1000;
      const st = wal.stats();
      const saves = st.saves - base.saves;
      const fsyncs = st.fsyncs - base.fsyncs;
      results.push(
        `${clients} client(s): ${(saves / secs).toFixed(0)} saves/s, ` +
          `${(fsyncs / secs).toFixed(0)} fsyncs/s, ` +
          `${(saves / Math.max(1, st.writes - base.writes)).toFixed(1)} saves per write`,
      );
      expect(saves).toBeGreaterThan(0);
      if (clients === 64) expect(saves / fsyncs).toBeGreaterThan(4); // group commit works
      await wal.close();
      const reopened = await Wal.open(fs, dir);
      expect(reopened.recovered.entries.length).toBe(next - 1);
      await reopened.wal.close();
    }
    console.log(`wal throughput on ${tmpdir()}:\n  ${results.join('\n  ')}`);
  });
});
