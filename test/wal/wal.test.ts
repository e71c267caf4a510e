// Unit tests of the WAL over the simulated file layer: round trip, group commit,
// segments, conflict truncation, snapshots, release, temp cleanup, write-side checks.
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../src/shared/assert.js';
import { isTsetcdError } from '../../src/shared/errors.js';
import { SeededRng } from '../../src/shared/rng.js';
import { isFsError } from '../../src/storage/file-layer.js';
import { SimFileLayer } from '../../src/testing/sim-file-layer.js';
import { Wal } from '../../src/wal/index.js';
import type { WalEntry, WalOptions } from '../../src/wal/index.js';
import { WalModel, describeState, nextSave } from './model.js';

const DIR = '/data/member/wal';
const META = Buffer.from('member=1,cluster=2');
const small: WalOptions = { segmentBytes: 2048 };

function ents(from: number, to: number, term: number, tag = ''): WalEntry[] {
  const out: WalEntry[] = [];
  for (let i = from; i <= to; i++)
    out.push({ index: i, term, type: 0, data: Buffer.from(`e${i}t${term}${tag}`) });
  return out;
}

const brief = (es: readonly WalEntry[]): string[] =>
  es.map((e) => `${e.index}/${e.term}/${Buffer.from(e.data).toString()}`);

async function reopen(
  fs: SimFileLayer,
  opts: WalOptions = small,
): Promise<Awaited<ReturnType<typeof Wal.open>>> {
  return Wal.open(fs, DIR, opts);
}

describe('Wal', () => {
  it('round-trips metadata, entries, hard state and snapshot markers', async () => {
    const fs = new SimFileLayer();
    expect(await Wal.exists(fs, DIR)).toBe(false);
    const wal = await Wal.create(fs, DIR, META, small);
    expect(await Wal.exists(fs, DIR)).toBe(true);
    await wal.save({
      entries: ents(1, 3, 1),
      hardState: { term: 1, vote: 0xffff_ffff_ffff_fff1n, commit: 2 },
    });
    await wal.save({ entries: [{ index: 4, term: 2, type: 1, data: Buffer.alloc(0) }] });
    await wal.close();
    const { wal: w2, recovered } = await reopen(fs);
    expect(Buffer.from(recovered.metadata).toString()).toBe('member=1,cluster=2');
    expect(recovered.hardState).toEqual({ term: 1, vote: 0xffff_ffff_ffff_fff1n, commit: 2 });
    expect(recovered.snapshot).toBeNull();
    expect(brief(recovered.entries)).toEqual(['1/1/e1t1', '2/1/e2t1', '3/1/e3t1', '4/2/']);
    expect(recovered.entries[3]?.type).toBe(1);
    await w2.save({ snapshot: { index: 3, term: 1, confState: Buffer.from([1, 2]) } });
    await w2.close();
    const { recovered: r3 } = await reopen(fs);
    expect(r3.snapshot).toEqual({ index: 3, term: 1, confState: Buffer.from([1, 2]) });
    expect(brief(r3.entries)).toEqual(['4/2/']);
  });

  it('a lower index truncates the log there (raft conflict), across segments too', async () => {
    const fs = new SimFileLayer();
    const wal = await Wal.create(fs, DIR, META, small);
    await wal.save({ entries: ents(1, 40, 1), hardState: { term: 1, vote: 0n, commit: 5 } });
    await wal.save({ entries: ents(41, 60, 1, 'x'.repeat(40)) }); // forces a new segment
    expect(wal.stats().segments).toBeGreaterThan(1);
    await wal.save({
      entries: ents(30, 31, 2, 'new'),
      hardState: { term: 2, vote: 3n, commit: 5 },
    });
    await wal.close();
    const { recovered } = await reopen(fs);
    expect(recovered.entries.map((e) => e.index)).toEqual([...Array(31).keys()].map((i) => i + 1));
    expect(brief(recovered.entries.slice(28))).toEqual([
      '29/1/e29t1',
      '30/2/e30t2new',
      '31/2/e31t2new',
    ]);
  });

  it('group-commits concurrent saves; each resolves only after its fdatasync', async () => {
    let syncsDone = 0;
    const fs = new SimFileLayer({
      beforeOp: async (kind) => {
        if (kind === 'datasync') await new Promise((r) => setImmediate(r)); // a slow disk
      },
    });
    const wal = await Wal.create(fs, DIR, META, { segmentBytes: 1 << 20 });
    const before = wal.stats();
    const countSyncs = (): number => fs.opLog.filter((o) => o.kind === 'datasync').length;
    const base = countSyncs();
    const resolvedAfterSyncs: number[] = [];
    const saves = [];
    for (let i = 1; i <= 100; i++) {
      saves.push(
        wal
          .save({ entries: ents(i, i, 1) })
          .then(() => resolvedAfterSyncs.push(countSyncs() - base)),
      );
      if (i % 25 === 0) await new Promise((r) => setImmediate(r)); // a few event-loop turns
    }
    await Promise.all(saves);
    syncsDone = countSyncs() - base;
    const st = wal.stats();
    expect(st.saves - before.saves).toBe(100);
    expect(st.writes - before.writes).toBeLessThanOrEqual(8);
    expect(syncsDone).toBe(st.fsyncs - before.fsyncs);
    expect(resolvedAfterSyncs.every((n) => n >= 1)).toBe(true);
    await wal.close();
    const { recovered } = await reopen(fs, { segmentBytes: 1 << 20 });
    expect(recovered.entries.length).toBe(100);
  });

  it('rolls over into named, preallocated segments and reads them all back', async () => {
    const fs = new SimFileLayer();
    const wal = await Wal.create(fs, DIR, META, small);
    for (let i = 1; i <= 200; i += 5)
      await wal.save({ entries: ents(i, i + 4, 1, '-'.repeat(30)) });
    await wal.close();
    const names = (await fs.readdir(DIR)).filter((n) => n.endsWith('.wal'));
    expect(names.length).toBeGreaterThan(3);
    expect(names[0]).toBe('0000000000000000-0000000000000000.wal');
    expect(names.every((n) => /^[0-9a-f]{16}-[0-9a-f]{16}\.wal$/.test(n))).toBe(true);
    expect(names[1]).toMatch(/^0000000000000001-00000000000000[0-9a-f]{2}\.wal$/);
    expect(await fs.readdir(DIR)).toEqual(names); // close removed the preallocated temp file
    const { recovered } = await reopen(fs);
    expect(recovered.entries.length).toBe(200);
    expect(recovered.entries.at(-1)?.index).toBe(200);
  });

  it('a batch larger than a segment gets a segment of its own, grown past the size', async () => {
    const fs = new SimFileLayer();
    const wal = await Wal.create(fs, DIR, META, small);
    await wal.save({ entries: ents(1, 2, 1) });
    const big = Buffer.alloc(5000, 0x5a);
    await wal.save({ entries: [{ index: 3, term: 1, type: 0, data: big }] });
    await wal.save({ entries: ents(4, 4, 1) });
    expect(wal.stats().segments).toBe(3);
    await wal.close();
    const { recovered } = await reopen(fs);
    expect(recovered.entries.map((e) => e.index)).toEqual([1, 2, 3, 4]);
    expect(Buffer.from(recovered.entries[2]?.data ?? []).equals(big)).toBe(true);
  });

  it('an installed snapshot replaces the log; entries go on after it', async () => {
    const fs = new SimFileLayer();
    const wal = await Wal.create(fs, DIR, META, small);
    await wal.save({ entries: ents(1, 5, 1) });
    await wal.save({
      snapshot: { index: 100, term: 3 },
      entries: ents(101, 102, 3),
      hardState: { term: 3, vote: 0n, commit: 100 },
    });
    await wal.close();
    const { recovered } = await reopen(fs);
    expect(recovered.snapshot).toEqual({ index: 100, term: 3 });
    expect(brief(recovered.entries)).toEqual(['101/3/e101t3', '102/3/e102t3']);
  });

  it('releaseTo deletes old segments below the durable snapshot only; recovery works', async () => {
    const fs = new SimFileLayer();
    const wal = await Wal.create(fs, DIR, META, small);
    for (let i = 1; i <= 300; i += 10) {
      await wal.save({
        entries: ents(i, i + 9, 1),
        hardState: { term: 1, vote: 0n, commit: i + 9 },
      });
    }
    const segs = wal.stats().segments;
    expect(segs).toBeGreaterThan(4);
    await wal.releaseTo(250); // no snapshot yet: nothing may go
    expect(wal.stats().segments).toBe(segs);
    await wal.save({ snapshot: { index: 200, term: 1 } });
    await wal.releaseTo(250); // clamped to 200
    const left = wal.stats().segments;
    expect(left).toBeLessThan(segs);
    expect(left).toBeGreaterThan(1);
    await wal.close();
    const names = (await fs.readdir(DIR)).filter((n) => n.endsWith('.wal'));
    expect(names.length).toBe(left);
    expect(names[0]?.startsWith('0000000000000000')).toBe(false);
    const { recovered } = await reopen(fs);
    expect(recovered.snapshot).toEqual({ index: 200, term: 1 });
    expect(recovered.entries[0]?.index).toBe(201);
    expect(recovered.entries.at(-1)?.index).toBe(300);
    expect(recovered.hardState.commit).toBe(300);
  });

  it('removes leftover temp files on open', async () => {
    const fs = new SimFileLayer();
    const wal = await Wal.create(fs, DIR, META, small);
    await wal.save({ entries: ents(1, 1, 1) });
    await wal.close();
    const fh = await fs.open(`${DIR}/7.tmp`, 'create-exclusive');
    await fh.write(Buffer.from('half-made segment'), 0);
    await fh.close();
    const { wal: w2 } = await reopen(fs);
    expect((await fs.readdir(DIR)).filter((n) => n === '7.tmp')).toEqual([]);
    await w2.close();
  });

  it('refuses saves that break the log rules (a caller bug) with an AssertionError', async () => {
    const fs = new SimFileLayer();
    const wal = await Wal.create(fs, DIR, META, small);
    await wal.save({ entries: ents(1, 3, 2), hardState: { term: 2, vote: 1n, commit: 1 } });
    expect(() => wal.save({ entries: ents(5, 5, 2) })).toThrow(AssertionError); // gap
    expect(() => wal.save({ entries: ents(4, 4, 1) })).toThrow(/term goes down/);
    expect(() => wal.save({ hardState: { term: 2, vote: 2n, commit: 1 } })).toThrow(/vote changes/);
    expect(() => wal.save({ hardState: { term: 1, vote: 0n, commit: 1 } })).toThrow(/term goes/);
    await wal.close();
  });

  it('an empty save is a barrier; saves after close reject with stopped', async () => {
    const fs = new SimFileLayer();
    const wal = await Wal.create(fs, DIR, META, small);
    let done = false;
    const p = wal.save({ entries: ents(1, 1, 1) }).then(() => (done = true));
    await wal.save({});
    expect(done).toBe(true);
    await p;
    await wal.close();
    const err = await wal.save({ entries: ents(2, 2, 1) }).catch((e: unknown) => e);
    expect(isTsetcdError(err, 'stopped')).toBe(true);
  });

  it('an fdatasync error fails the WAL for good (no retry after fsyncgate)', async () => {
    const fs = new SimFileLayer();
    const wal = await Wal.create(fs, DIR, META, small);
    await wal.save({ entries: ents(1, 1, 1) });
    fs.setFault((kind) => (kind === 'datasync' ? 'EIO' : undefined));
    const e1 = await wal.save({ entries: ents(2, 2, 1) }).catch((e: unknown) => e);
    expect(isFsError(e1, 'EIO')).toBe(true);
    fs.setFault(undefined);
    const e2 = await wal.save({ entries: ents(3, 3, 1) }).catch((e: unknown) => e);
    expect(e2).toBe(e1);
    await wal.close();
  });

  it('unsafeNoFsync skips every fsync, so a power cut loses acknowledged saves', async () => {
    const fs = new SimFileLayer();
    const wal = await Wal.create(fs, DIR, META, { ...small, unsafeNoFsync: true });
    await wal.save({ entries: ents(1, 3, 1) });
    expect(
      fs.opLog.some((o) => o.kind === 'datasync' || o.kind === 'sync' || o.kind === 'syncDir'),
    ).toBe(false);
    fs.crash(new SeededRng(1), 'drop');
    expect(await Wal.exists(fs, DIR)).toBe(false);
  });

  it('matches the model over long random save sequences with reopen in between', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rng = new SeededRng(seed);
      const fs = new SimFileLayer();
      const model = new WalModel();
      let wal = await Wal.create(fs, DIR, META, small);
      for (let step = 0; step < 150; step++) {
        const { req, releaseTo } = nextSave(model, rng);
        model.apply(req);
        await wal.save(req);
        if (releaseTo !== undefined) await wal.releaseTo(releaseTo);
        if (rng.int(30) === 0) {
          await wal.close();
          const r = await reopen(fs);
          expect(describeState(r.recovered), `seed ${seed} step ${step}`).toBe(
            describeState(model.state()),
          );
          wal = r.wal;
        }
      }
      await wal.close();
      const { recovered } = await reopen(fs);
      expect(describeState(recovered), `seed ${seed}`).toBe(describeState(model.state()));
    }
  });
});
