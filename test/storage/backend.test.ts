// Backend contract, run against both implementations: ordering, atomic batches,
// iterator snapshots and ranges; MemoryBackend's crash model.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { forEachInRange, prefixRange, prefixUpperBound, type Backend } from '../../src/storage/backend.js';
import { LevelBackend } from '../../src/storage/level-backend.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import { SeededRng } from '../../src/shared/rng.js';
import { FileLogBackend } from '../../src/testing/file-log-backend.js';
import { SimFileLayer } from '../../src/testing/sim-file-layer.js';
import { nodeFileLayer } from '../../src/storage/node-file-layer.js';

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);
const s = (str: string): Buffer => Buffer.from(str, 'latin1');

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function levelBackend(): Promise<LevelBackend> {
  const dir = await mkdtemp(join(tmpdir(), 'tsetcd-backend-'));
  dirs.push(dir);
  return LevelBackend.open(join(dir, 'db'));
}

async function fileLogOnDisk(): Promise<Backend> {
  const dir = await mkdtemp(join(tmpdir(), 'tsetcd-backend-'));
  dirs.push(dir);
  return FileLogBackend.open(nodeFileLayer, join(dir, 'db'));
}

const kinds: Array<[string, () => Promise<Backend>]> = [
  ['MemoryBackend', async () => new MemoryBackend()],
  ['LevelBackend', levelBackend],
  ['FileLogBackend (sim)', () => FileLogBackend.open(new SimFileLayer(), '/data/db')],
  ['FileLogBackend (disk)', fileLogOnDisk],
];

describe.each(kinds)('%s', (_name, make) => {
  it('orders keys by unsigned bytes and applies a batch atomically in order', async () => {
    const db = await make();
    const batch = db.batch();
    batch.put(b(0xff), s('ff')).put(b(0x00), s('zero')).put(s('a'), s('1')).put(s('a\0'), s('2'));
    batch.put(s('a'), s('1b')).del(b(0xff)).put(b(0xff, 0x00), s('ff00'));
    await db.write(batch, { sync: true });
    expect(batch.isWritten).toBe(true);
    const seen: string[] = [];
    await forEachInRange(db, {}, (k, v) => {
      seen.push(`${k.toString('hex')}=${v.toString('latin1')}`);
    }, 2);
    expect(seen).toEqual(['00=zero', '61=1b', '6100=2', 'ff00=ff00']);
    expect(await db.get(b(0xff))).toBeUndefined();
    expect((await db.getMany([s('a'), b(1), b(0)])).map((v) => v?.toString())).toEqual([
      '1b',
      undefined,
      'zero',
    ]);
    expect(await db.sizeBytes()).toBeGreaterThan(0);
    await db.close();
  });

  it('iterators read a snapshot and honour bounds, limit and reverse', async () => {
    const db = await make();
    const w = db.batch();
    for (let i = 0; i < 20; i++) w.put(b(0x6b, i), b(i));
    w.put(b(0x6c, 0), b(99));
    await db.write(w, { sync: false });
    const it = db.iterator({ gt: b(0x6b, 2), lte: b(0x6b, 10), limit: 5 });
    const w2 = db.batch();
    w2.del(b(0x6b, 3)).put(b(0x6b, 4), b(44));
    await db.write(w2, { sync: false });
    const got = [...(await it.nextv(3)), ...(await it.nextv(10)), ...(await it.nextv(10))];
    await it.close();
    expect(got.map(([k, v]) => [k[1], v[0]])).toEqual([[3, 3], [4, 4], [5, 5], [6, 6], [7, 7]]);
    const rev: number[] = [];
    await forEachInRange(db, { ...prefixRange(b(0x6b)), reverse: true, limit: 3 }, (k) => {
      rev.push(k[1] as number);
    });
    expect(rev).toEqual([19, 18, 17]);
    let n = 0;
    await forEachInRange(db, prefixRange(b(0x6b)), () => ++n < 4);
    expect(n).toBe(4);
    await db.close();
  });

  it('a read view sees one state across many reads and iterators while writes go on, and close ends its iterators', async () => {
    const db = await make();
    const w = db.batch();
    for (let i = 0; i < 10; i++) w.put(b(0x6b, i), b(i));
    await db.write(w, { sync: true });
    const view = db.readView();
    const first = view.iterator(prefixRange(b(0x6b)));
    expect((await first.nextv(4)).map(([k]) => k[1])).toEqual([0, 1, 2, 3]);
    // Writes land (and are visible to the db) while the view is open.
    const w2 = db.batch();
    w2.del(b(0x6b, 5)).put(b(0x6b, 0), b(100)).put(b(0x6b, 50), b(50));
    await db.write(w2, { sync: true });
    expect(await db.get(b(0x6b, 50))).toEqual(b(50));
    // The view still sees the state it was taken at, in the open iterator and new ones.
    expect((await first.nextv(100)).map(([k]) => k[1])).toEqual([4, 5, 6, 7, 8, 9]);
    for (let pass = 0; pass < 2; pass++) {
      const again = view.iterator(prefixRange(b(0x6b)));
      expect((await again.nextv(100)).map(([k, v]) => [k[1], v[0]])).toEqual(
        Array.from({ length: 10 }, (_, i) => [i, i]),
      );
      await again.close();
    }
    expect(await view.get(b(0x6b, 0))).toEqual(b(0));
    expect(await view.get(b(0x6b, 50))).toBeUndefined();
    // close() with an iterator still open (a cancelled stream) closes it, then the view.
    const dangling = view.iterator(prefixRange(b(0x6b)));
    await dangling.nextv(1);
    await view.close();
    await view.close();
    expect(() => view.iterator({})).toThrow(/closed BackendReadView/);
    await expect(dangling.nextv(1)).rejects.toThrow();
    // The db itself is unaffected and closes cleanly (nothing left open).
    expect(await db.get(b(0x6b, 0))).toEqual(b(100));
    await db.close();
  });

  it('matches a sorted-map model under random batches', async () => {
    const db = await make();
    const model = new Map<string, string>();
    const keyArb = fc.uint8Array({ minLength: 1, maxLength: 3 }).map((u) => Buffer.from(u));
    const opArb = fc.record({ del: fc.boolean(), key: keyArb, value: fc.uint8Array({ maxLength: 4 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(opArb, { maxLength: 8 }), { maxLength: 6 }), async (batches) => {
        for (const ops of batches) {
          const batch = db.batch();
          for (const op of ops) {
            if (op.del) {
              batch.del(op.key);
              model.delete(op.key.toString('hex'));
            } else {
              batch.put(op.key, Buffer.from(op.value));
              model.set(op.key.toString('hex'), Buffer.from(op.value).toString('hex'));
            }
          }
          await db.write(batch, { sync: false });
        }
        const all: string[] = [];
        await forEachInRange(db, {}, (k, v) => {
          all.push(`${k.toString('hex')}=${v.toString('hex')}`);
        });
        const want = [...model.entries()]
          .sort(([a], [c]) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(c, 'hex')))
          .map(([k, v]) => `${k}=${v}`);
        expect(all).toEqual(want);
      }),
      { numRuns: 30 },
    );
    await db.close();
  });
});

describe('prefix helpers', () => {
  it('computes upper bounds, with none for all-0xff', () => {
    expect(prefixUpperBound(b(0x6b))).toEqual(b(0x6c));
    expect(prefixUpperBound(b(0x01, 0xff))).toEqual(b(0x02));
    expect(prefixUpperBound(b(0xff, 0xff))).toBeUndefined();
    expect(prefixRange(b(0xff))).toEqual({ gte: b(0xff) });
  });
});

describe('MemoryBackend crash model', () => {
  it('loses unsynced writes after the last sync and keeps synced ones', async () => {
    const db = new MemoryBackend();
    await db.write(db.batch().put(s('a'), s('1')), { sync: false });
    await db.write(db.batch().put(s('b'), s('2')), { sync: true }); // makes 'a' durable too
    await db.write(db.batch().put(s('c'), s('3')).del(s('a')), { sync: false });
    await db.write(db.batch().put(s('b'), s('22')), { sync: false });
    db.crash();
    expect((await db.getMany([s('a'), s('b'), s('c')])).map((v) => v?.toString())).toEqual([
      '1',
      '2',
      undefined,
    ]);
  });

  it('with an rng may drop a middle unsynced batch and keep a later one', async () => {
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const db = new MemoryBackend();
      await db.write(db.batch().put(s('x'), s('0')), { sync: true });
      await db.write(db.batch().put(s('a'), s('1')), { sync: false });
      await db.write(db.batch().put(s('b'), s('2')), { sync: false });
      db.crash(new SeededRng(seed));
      const got = await db.getMany([s('x'), s('a'), s('b')]);
      expect(got[0]?.toString()).toBe('0');
      outcomes.add(got.map((v) => (v === undefined ? '-' : v.toString())).join(''));
    }
    expect(outcomes).toEqual(new Set(['0--', '01-', '0-2', '012']));
  });

  it('copies caller buffers and rejects a second write of a batch', async () => {
    const db = new MemoryBackend();
    const key = s('k');
    const value = s('v');
    const batch = db.batch().put(key, value);
    await db.write(batch, { sync: true });
    value[0] = 0x77;
    expect((await db.get(s('k')))?.toString()).toBe('v');
    await expect(db.write(batch, { sync: true })).rejects.toThrow(/written twice/);
  });
});

describe('FileLogBackend crash model', () => {
  const put = (db: Backend, k: string, v: string): ReturnType<Backend['write']> =>
    db.write(db.batch().put(s(k), s(v)), { sync: false });

  async function contents(db: Backend): Promise<string[]> {
    const out: string[] = [];
    await forEachInRange(db, {}, (k, v) => {
      out.push(`${k.toString('latin1')}=${v.toString('latin1')}`);
    });
    return out;
  }

  it('keeps everything across a process crash and reopens with the same contents', async () => {
    const fs = new SimFileLayer();
    const db = await FileLogBackend.open(fs, '/d/db');
    await put(db, 'a', '1');
    await db.write(db.batch().put(s('b'), s('2')).del(s('a')), { sync: false });
    fs.crash(new SeededRng(1), 'keep');
    const again = await FileLogBackend.open(fs, '/d/db');
    expect(await contents(again)).toEqual(['b=2']);
  });

  it('after a power cut at every point, recovers a prefix of the writes that includes every synced one', async () => {
    // Writes w1..w8 (some synced), each a two-key batch: recovery must show the state
    // after some prefix w1..wk, with k at least the last synced write issued.
    for (let seed = 1; seed <= 60; seed++) {
      const rng = new SeededRng(seed);
      const fs = new SimFileLayer({ pageBytes: 16, sectorBytes: 4 });
      const db = await FileLogBackend.open(fs, '/d/db');
      // Like LevelDB, the backend syncs its own directory, not the parents' entries.
      await fs.syncDir('/d');
      await fs.syncDir('/');
      const states: string[][] = [[]];
      const model = new Map<string, string>();
      let lastSynced = 0;
      for (let w = 1; w <= 8; w++) {
        const sync = rng.int(3) === 0;
        const k1 = `k${rng.int(4)}`;
        const k2 = `k${rng.int(4)}`;
        const batch = db.batch().put(s(k1), s(`v${w}`));
        if (rng.int(2) === 0) batch.del(s(k2));
        else batch.put(s(k2), s(`w${w}`));
        for (const op of batch.ops) {
          if (op.type === 'put') model.set(op.key.toString('latin1'), op.value.toString('latin1'));
          else model.delete(op.key.toString('latin1'));
        }
        states.push([...model].sort(([a], [b2]) => (a < b2 ? -1 : 1)).map(([k, v]) => `${k}=${v}`));
        await db.write(batch, { sync });
        if (sync) lastSynced = w;
      }
      fs.crash(rng, 'random');
      const again = await FileLogBackend.open(fs, '/d/db');
      const got = await contents(again);
      const k = states.findIndex((st, i) => i >= lastSynced && JSON.stringify(st) === JSON.stringify(got));
      expect(k, `seed=${seed}: recovered ${JSON.stringify(got)} is not a prefix state at or after write ${lastSynced}`).toBeGreaterThanOrEqual(lastSynced);
      // After the cut, new writes land after whole frames and survive a clean reopen.
      await again.write(again.batch().put(s('z'), s('after')), { sync: true });
      fs.crash(rng, 'drop');
      const third = await FileLogBackend.open(fs, '/d/db');
      expect(await third.get(s('z'))).toEqual(s('after'));
    }
  });
});

describe('LevelBackend compactAll (defragment)', () => {
  it('drops deleted records even when they never left the log, and leaves no marker behind', async () => {
    const db = await levelBackend();
    const key = (i: number): Buffer => s(`k${String(i).padStart(5, '0')}`);
    for (let i = 0; i < 180; i++) await db.write(db.batch().put(key(i), Buffer.alloc(20_000, i)), { sync: false });
    const del = db.batch();
    for (let i = 0; i < 180; i++) del.del(key(i));
    await db.write(del, { sync: false });
    await db.write(db.batch().put(s('kept'), s('v')), { sync: false });
    await db.compactAll();
    // One pass: the 3.6 MB of deleted values are gone from the files, not only the log.
    const { readdir, stat } = await import('node:fs/promises');
    let bytes = 0;
    for (const name of await readdir(db.location)) bytes += (await stat(join(db.location, name))).size;
    expect(bytes).toBeLessThan(100_000);
    const seen: string[] = [];
    await forEachInRange(db, {}, (k) => {
      seen.push(k.toString('latin1'));
    });
    expect(seen).toEqual(['kept']);
    await db.close();
  }, 30_000);
});
