// Compaction over the production backend (LevelDB), whose iterators answer short
// chunks before the end (a byte budget of about 16 KiB): with 1 KiB values, a
// compaction once deleted only the first 16 records and stopped. Every superseded
// record must go, and the store's in-use byte count must equal what the db holds.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MvccStore } from '../../src/mvcc/index.js';
import { LevelBackend } from '../../src/storage/level-backend.js';
import { forEachInRange, prefixRange } from '../../src/storage/backend.js';
import { KEY_PREFIX } from '../../src/storage/schema.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function keyRecords(backend: LevelBackend): Promise<{ count: number; bytes: number; bigValues: number }> {
  const out = { count: 0, bytes: 0, bigValues: 0 };
  await forEachInRange(backend, prefixRange(Buffer.from([KEY_PREFIX])), (k, v) => {
    out.count++;
    out.bytes += k.length + v.length;
    if (v.length > 1000) out.bigValues++;
  });
  return out;
}

describe('mvcc compaction on LevelDB', () => {
  it('deletes every superseded record, past short iterator chunks, and keeps recordBytes exact', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsetcd-compact-level-'));
    dirs.push(dir);
    let backend = await LevelBackend.open(dir);
    let store = await MvccStore.open(backend);
    const commit = async <T>(f: (batch: ReturnType<LevelBackend['batch']>) => T): Promise<T> => {
      const batch = backend.batch();
      const r = f(batch);
      await backend.write(batch, { sync: false });
      store.batchDurable(batch);
      return r;
    };
    const value = Buffer.alloc(1024, 'v');
    for (let i = 0; i < 200; i++) {
      await commit((b) => store.applyPut({ key: Buffer.from(`q/k${i}`), value }, b, { leaseExists: () => true }));
    }
    expect(store.recordBytes()).toBe((await keyRecords(backend)).bytes);
    // A restart counts the same bytes back.
    await store.close();
    await backend.close();
    backend = await LevelBackend.open(dir);
    store = await MvccStore.open(backend);
    expect(store.recordBytes()).toBe((await keyRecords(backend)).bytes);
    await commit((b) => store.applyDelete({ key: Buffer.from('q/'), rangeEnd: Buffer.from('q0') }, b));
    const c = await commit((b) => store.applyCompact(store.currentRevision, b));
    await c.physicalDone;
    const left = await keyRecords(backend);
    expect(left.bigValues).toBe(0);
    expect(left.count).toBeLessThanOrEqual(200);
    expect(store.recordBytes()).toBe(left.bytes);
    await store.close();
    await backend.close();
  }, 30_000);
});
