// Damage that a crash cannot explain must stop the member with one clear line (file,
// offset, what to do); damage confined to the last batch of the last segment is cut
// and the WAL goes on (docs/architecture.md §3).
import { describe, expect, it } from 'vitest';
import { readWholeFile } from '../../src/storage/file-layer.js';
import { SimFileLayer } from '../../src/testing/sim-file-layer.js';
import { FRAME_HEADER_BYTES, frameBytes, readFrameHeader } from '../../src/wal/frame.js';
import { Wal, WalCorruptError } from '../../src/wal/index.js';
import type { WalEntry, WalRecovered } from '../../src/wal/index.js';
import { describeState } from './model.js';

const DIR = '/wal';
const META = Buffer.from('meta');
const OPTS = { segmentBytes: 2048 };

function ents(from: number, to: number): WalEntry[] {
  const out: WalEntry[] = [];
  for (let i = from; i <= to; i++)
    out.push({ index: i, term: 1, type: 0, data: Buffer.from(`entry-${i}-`.repeat(3)) });
  return out;
}

/** A closed WAL of two or more segments; returns the states before and after the last save. */
async function build(): Promise<{
  fs: SimFileLayer;
  segs: string[];
  beforeLast: string;
  full: string;
}> {
  const fs = new SimFileLayer();
  const wal = await Wal.create(fs, DIR, META, OPTS);
  for (let i = 1; i <= 100; i += 4)
    await wal.save({ entries: ents(i, i + 3), hardState: { term: 1, vote: 0n, commit: i } });
  await wal.close();
  const beforeLast = describeState(await Wal.readAll(fs, DIR));
  const w2 = (await Wal.open(fs, DIR, OPTS)).wal;
  await w2.save({ entries: ents(101, 102) });
  await w2.close();
  const full = describeState(await Wal.readAll(fs, DIR));
  const segs = (await fs.readdir(DIR)).filter((n) => n.endsWith('.wal'));
  expect(segs.length).toBeGreaterThan(1);
  return { fs, segs, beforeLast, full };
}

interface FrameAt {
  offset: number;
  payloadEnd: number;
  end: number;
}

async function frames(fs: SimFileLayer, name: string): Promise<FrameAt[]> {
  const buf = Buffer.from(await readWholeFile(fs, `${DIR}/${name}`));
  const out: FrameAt[] = [];
  let off = 0;
  while (off + FRAME_HEADER_BYTES <= buf.length) {
    const h = readFrameHeader(buf, off);
    if (h.kind !== 'ok') break;
    out.push({
      offset: off,
      payloadEnd: off + FRAME_HEADER_BYTES + h.payloadLength,
      end: off + frameBytes(h.payloadLength),
    });
    off += frameBytes(h.payloadLength);
  }
  return out;
}

async function patch(
  fs: SimFileLayer,
  name: string,
  offset: number,
  f: (b: Buffer) => Uint8Array,
): Promise<void> {
  const fh = await fs.open(`${DIR}/${name}`, 'rw');
  const size = await fh.size();
  const cur = Buffer.from(await fh.read(0, size));
  const next = Buffer.from(f(cur));
  await fh.write(next.subarray(offset), offset);
  await fh.datasync();
  await fh.close();
}

const flipBit =
  (offset: number, bit: number) =>
  (b: Buffer): Buffer => {
    const c = Buffer.from(b);
    c[offset] = (c[offset] ?? 0) ^ (1 << bit);
    return c;
  };

async function openError(fs: SimFileLayer): Promise<WalCorruptError> {
  const err = await Wal.open(fs, DIR, OPTS).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WalCorruptError);
  return err as WalCorruptError;
}

describe('WAL damage', () => {
  it('a bit flip in an older batch: refused, one line naming file and offset', async () => {
    const { fs, segs } = await build();
    const last = segs.at(-1) as string;
    const fr = await frames(fs, last);
    const victim = fr[1] as FrameAt; // an older batch in the last segment
    await patch(
      fs,
      last,
      victim.offset + FRAME_HEADER_BYTES + 5,
      flipBit(victim.offset + FRAME_HEADER_BYTES + 5, 3),
    );
    const err = await openError(fs);
    expect(err.kind).toBe('wal-corrupt');
    expect(err.message).not.toContain('\n');
    expect(err.message).toContain(`${DIR}/${last}`);
    expect(err.message).toContain(`offset ${victim.offset}`);
    expect(err.message).toMatch(/member remove.*member add/);
    expect(err.file).toBe(`${DIR}/${last}`);
    expect(err.offset).toBe(victim.offset);
  });

  it('a bit flip at every other byte: refused, except in the last batch (cut)', async () => {
    const { fs, segs, beforeLast } = await build();
    let refused = 0;
    for (const name of segs) {
      const fr = await frames(fs, name);
      const isLastSeg = name === segs.at(-1);
      for (const f of fr) {
        const isLastFrame = isLastSeg && f === fr.at(-1);
        for (let off = f.offset; off < f.payloadEnd; off += 2) {
          const c = fs.clone();
          await patch(c, name, off, flipBit(off, off % 8));
          if (!isLastFrame) {
            await openError(c);
            refused++;
          } else {
            const r = await Wal.readAll(c, DIR);
            expect(describeState(r)).toBe(beforeLast);
          }
        }
      }
    }
    expect(refused).toBeGreaterThan(1000);
  });

  it('a torn final batch is cut, zeroed, and later saves work', async () => {
    const { fs, segs, beforeLast } = await build();
    const last = segs.at(-1) as string;
    const victim = (await frames(fs, last)).at(-1) as FrameAt;
    const mid = victim.offset + 24;
    await patch(fs, last, mid, (b) => {
      const c = Buffer.from(b);
      c.fill(0, mid, victim.end); // the second part of the batch never reached the disk
      return c;
    });
    const { wal, recovered } = await Wal.open(fs, DIR, OPTS);
    expect(describeState(recovered)).toBe(beforeLast);
    const tail = Buffer.from(await readWholeFile(fs, `${DIR}/${last}`)).subarray(
      victim.offset,
      victim.end,
    );
    expect(tail.every((b) => b === 0)).toBe(true); // durably zeroed before going on
    await wal.save({ entries: ents(101, 103) });
    await wal.close();
    const again = await Wal.readAll(fs, DIR);
    expect(again.entries.at(-1)?.index).toBe(103);
  });

  it('a lost header of an older batch (zeros) is refused: intact batches follow', async () => {
    const { fs, segs } = await build();
    const last = segs.at(-1) as string;
    const victim = (await frames(fs, last))[1] as FrameAt;
    await patch(fs, last, victim.offset, (b) => {
      const c = Buffer.from(b);
      c.fill(0, victim.offset, victim.offset + FRAME_HEADER_BYTES);
      return c;
    });
    expect((await openError(fs)).message).toMatch(/intact batch follows/);
  });

  it('junk after the last batch (no intact batch in it) is cut', async () => {
    const { fs, segs, full } = await build();
    const last = segs.at(-1) as string;
    const end = ((await frames(fs, last)).at(-1) as FrameAt).end;
    await patch(fs, last, end + 40, (b) => {
      const c = Buffer.from(b);
      c.fill(0xab, end + 40, end + 90);
      return c;
    });
    const { wal, recovered } = await Wal.open(fs, DIR, OPTS);
    expect(describeState(recovered)).toBe(full);
    await wal.close();
  });

  it('a missing middle segment, a stale batch and swapped batches break the chain', async () => {
    const { fs, segs } = await build();
    expect(segs.length).toBeGreaterThan(2);
    const gone = fs.clone();
    await gone.unlink(`${DIR}/${segs[1] as string}`);
    expect((await openError(gone)).message).toMatch(/segment is missing/);

    const last = segs.at(-1) as string;
    const fr = await frames(fs, last);
    const a = fr[1] as FrameAt;
    const b = fr[2] as FrameAt;
    const stale = fs.clone();
    const end = (fr.at(-1) as FrameAt).end;
    await patch(stale, last, end, (buf) => {
      const c = Buffer.from(buf);
      buf.copy(c, end, a.offset, a.end); // an old intact batch appears again after the end
      return c;
    });
    expect((await openError(stale)).message).toMatch(/chained crc mismatch/);

    if (a.end - a.offset === b.end - b.offset) {
      const swapped = fs.clone();
      await patch(swapped, last, a.offset, (buf) => {
        const c = Buffer.from(buf);
        buf.copy(c, a.offset, b.offset, b.end);
        buf.copy(c, b.offset, a.offset, a.end);
        return c;
      });
      expect((await openError(swapped)).message).toMatch(/chained crc mismatch/);
    }
  });

  it('the first segment lost entirely (nothing released) is refused', async () => {
    const { fs, segs } = await build();
    await fs.unlink(`${DIR}/${segs[0] as string}`);
    // Segment 1 now comes first: the log starts after index 1 with no snapshot marker.
    const err = await openError(fs);
    expect(err.message).toMatch(/entries 1\.\.\d+ are missing/);
  });

  it('readAll never writes', async () => {
    const { fs } = await build();
    const before = fs.opLog.length;
    const r: WalRecovered = await Wal.readAll(fs, DIR);
    expect(r.entries.length).toBeGreaterThan(0);
    expect(fs.opLog.slice(before).every((o) => o.kind === 'open' || o.kind === 'close')).toBe(true);
  });
});
