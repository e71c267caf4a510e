// Micro-benchmark of the state store (not in CI: TSETCD_BENCH=1 to run):
// - puts/s through applyPut + one synced LevelBackend write per batch of 100 and per 1;
// - Range of 10,000 keys at the current revision and at an older revision;
// - MvccStore.open() time over 100,000 keys of 1 KiB.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MvccStore } from '../../src/mvcc/index.js';
import { LevelBackend } from '../../src/storage/level-backend.js';
import { leaseId } from '../../src/shared/ids.js';

const enabled = process.env['TSETCD_BENCH'] === '1';
const ctx = { leaseExists: () => true };
const NO_LEASE = leaseId(0n);

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

describe.skipIf(!enabled)('mvcc micro-benchmark', () => {
  it('measures puts, ranges and open', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsetcd-bench-'));
    try {
      const backend = await LevelBackend.open(join(dir, 'db'));
      let store = await MvccStore.open(backend);
      const value = Buffer.alloc(1024, 0x61);
      const key = (i: number): Buffer => Buffer.from(`/registry/pods/default/pod-${String(i).padStart(7, '0')}`);

      for (const perBatch of [1, 100]) {
        const n = perBatch === 1 ? 2000 : 50_000;
        const t0 = process.hrtime.bigint();
        let applyNs = 0n;
        for (let i = 0; i < n; i += perBatch) {
          const batch = backend.batch();
          const a0 = process.hrtime.bigint();
          for (let j = 0; j < perBatch; j++) store.applyPut({ key: key((i + j) % 10_000), value, lease: NO_LEASE }, batch, ctx);
          applyNs += process.hrtime.bigint() - a0;
          await backend.write(batch, { sync: true });
          store.batchDurable(batch);
        }
        const total = ms(t0);
        console.log(`puts, ${perBatch}/synced batch: ${Math.round(n / (total / 1000))} puts/s (apply alone ${Math.round(n / (Number(applyNs) / 1e9))} puts/s)`);
      }

      const rev = store.currentRevision;
      for (let i = 0; i < 10_000; i += 100) {
        const batch = backend.batch();
        for (let j = 0; j < 100; j++) store.applyPut({ key: key(i + j), value, lease: NO_LEASE }, batch, ctx);
        await backend.write(batch, { sync: false });
        store.batchDurable(batch);
      }
      const prefix = { key: Buffer.from('/registry/pods/'), rangeEnd: Buffer.from('/registry/pods0') };
      for (let round = 0; round < 3; round++) {
        const t0 = process.hrtime.bigint();
        const cur = await store.range(prefix);
        const tCur = ms(t0);
        const t1 = process.hrtime.bigint();
        const old = await store.range({ ...prefix, revision: rev });
        const tOld = ms(t1);
        expect(cur.count).toBe(10_000);
        expect(old.count).toBe(10_000);
        console.log(`range 10,000 keys: current rev ${tCur.toFixed(1)} ms, older rev (backend reads) ${tOld.toFixed(1)} ms`);
      }

      for (let i = 10_000; i < 100_000; i += 1000) {
        const batch = backend.batch();
        for (let j = 0; j < 1000; j++) store.applyPut({ key: key(i + j), value, lease: NO_LEASE }, batch, ctx);
        await backend.write(batch, { sync: false });
        store.batchDurable(batch);
      }
      await store.close();
      const t2 = process.hrtime.bigint();
      store = await MvccStore.open(backend);
      console.log(`open() with ${store.keyCount()} keys of 1 KiB (${store.currentRevision - 1} records): ${ms(t2).toFixed(0)} ms, heap ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MiB, rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`);
      expect(store.keyCount()).toBe(100_000);
      const t3 = process.hrtime.bigint();
      const b = backend.batch();
      const c = store.applyCompact(store.currentRevision - 1, b);
      const tIndex = ms(t3);
      await backend.write(b, { sync: true });
      store.batchDurable(b);
      await c.physicalDone;
      console.log(`compact: index ${tIndex.toFixed(0)} ms, physical ${ms(t3).toFixed(0)} ms`);
      const t4 = process.hrtime.bigint();
      await store.hashKV(0);
      console.log(`hashKV over 100,000 keys: ${ms(t4).toFixed(0)} ms`);
      await store.close();
      await backend.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
