// MvccStore unit tests: revision rules, write results (events, lease changes), errors
// leave no change, compaction (physical deletion, tombstone at the compaction revision,
// resume after a restart), HashKV independent of physical-compaction progress and of
// restarts, reads racing compaction, not-yet-durable batches, crash recovery.
import { describe, expect, it } from 'vitest';
import { MvccStore } from '../../src/mvcc/index.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import { forEachInRange, type BackendBatch } from '../../src/storage/backend.js';
import { META_FINISHED_COMPACT_REV, META_SCHEDULED_COMPACT_REV, decodeUint64 } from '../../src/storage/schema.js';
import { isTsetcdError } from '../../src/shared/errors.js';
import { leaseId } from '../../src/shared/ids.js';
import type { Scheduler } from '../../src/shared/scheduler.js';
import type { TxnRequest, WriteContext } from '../../src/mvcc/types.js';

const b = (s: string): Buffer => Buffer.from(s);
const ctx: WriteContext = { leaseExists: (id) => id === 7n };
const L = (n: bigint): ReturnType<typeof leaseId> => leaseId(n);

/** A store whose writes are flushed after each apply. */
async function setup(backend = new MemoryBackend(), opts: { compactionBatchLimit?: number; scheduler?: Scheduler } = {}) {
  let store = await MvccStore.open(backend, opts);
  const commit = async <T>(f: (batch: BackendBatch) => T): Promise<T> => {
    const batch = backend.batch();
    const r = f(batch);
    await backend.write(batch, { sync: true });
    store.batchDurable(batch);
    return r;
  };
  return {
    backend,
    get store() {
      return store;
    },
    commit,
    put: (k: string, v: string, lease = 0n) => commit((batch) => store.applyPut({ key: b(k), value: b(v), lease: L(lease) }, batch, ctx)),
    del: (k: string, end = '') => commit((batch) => store.applyDelete({ key: b(k), rangeEnd: b(end) }, batch)),
    compact: (rev: number) => commit((batch) => store.applyCompact(rev, batch)),
    async restart() {
      await store.close();
      store = await MvccStore.open(backend, opts);
    },
  };
}

async function codeOf(f: () => unknown): Promise<string> {
  try {
    await f();
    return 'ok';
  } catch (e) {
    return isTsetcdError(e) ? e.code : `unexpected ${String(e)}`;
  }
}

describe('MvccStore revisions and results', () => {
  it('starts at 1, bumps once per changing write, not for no-op deletes or failing txns', async () => {
    const t = await setup();
    expect(t.store.currentRevision).toBe(1);
    expect(t.store.compactRevision).toBe(-1);
    expect((await t.put('a', '1')).revision).toBe(2);
    const noop = await t.del('zzz');
    expect(noop.revision).toBe(2);
    expect(noop.response).toEqual({ revision: 2, deleted: 0, prevKvs: [] });
    const failing: TxnRequest = {
      compare: [{ key: b('a'), target: 3, result: 0, value: b('nope') }],
      success: [{ requestPut: { key: b('x'), value: b('1') } }],
      failure: [{ requestDeleteRange: { key: b('nothing') } }, { requestRange: { key: b('a') } }],
    };
    const r = await t.commit((batch) => t.store.applyTxn(failing, batch, ctx));
    expect(r.revision).toBe(2);
    expect(r.response.succeeded).toBe(false);
    expect(r.response.revision).toBe(2);
    expect(r.events).toEqual([]);
    // Errors change nothing, not even in a txn whose earlier ops would have written.
    const bad: TxnRequest = {
      compare: [],
      success: [{ requestPut: { key: b('y'), value: b('1') } }, { requestPut: { key: b('z'), lease: L(8n) } }],
      failure: [],
    };
    expect(await codeOf(() => t.commit((batch) => t.store.applyTxn(bad, batch, ctx)))).toBe('lease-not-found');
    expect(await codeOf(() => t.put('q', '', 8n))).toBe('lease-not-found');
    expect(await codeOf(() => t.commit((batch) => t.store.applyPut({ key: b('q'), ignoreValue: true }, batch, ctx)))).toBe('key-not-found');
    expect(t.store.currentRevision).toBe(2);
    expect((await t.store.range({ key: b('\0'), rangeEnd: b('\0') })).count).toBe(1);
  });

  it('reports events and lease attachment changes in order', async () => {
    const t = await setup();
    await t.put('a', '1', 7n);
    const txn: TxnRequest = {
      compare: [],
      success: [
        { requestPut: { key: b('a'), value: b('2') } }, // detaches lease 7
        { requestPut: { key: b('b'), value: b('3'), lease: L(7n) } },
        { requestTxn: { compare: [], success: [{ requestDeleteRange: { key: b('b'), prevKv: true } }], failure: [] } },
      ],
      failure: [],
    };
    const r = await t.commit((batch) => t.store.applyTxn(txn, batch, ctx));
    expect(r.revision).toBe(3);
    expect(r.events.map((e) => [e.type, e.kv.key.toString(), e.kv.modRevision, e.kv.version, e.prevKv?.modRevision])).toEqual([
      ['put', 'a', 3, 2, 2],
      ['put', 'b', 3, 1, undefined],
      ['delete', 'b', 3, 0, 3],
    ]);
    expect(r.leaseChanges.map((c) => [c.key.toString(), c.oldLease, c.newLease])).toEqual([
      ['a', 7n, 0n],
      ['b', 0n, 7n],
      ['b', 7n, 0n],
    ]);
    const nested = r.response.responses[2];
    expect(nested !== undefined && 'responseTxn' in nested && nested.responseTxn.revision).toBe(0);
    expect(t.store.keyCount()).toBe(1);
  });

  it('serves reads of not-yet-durable batches, then from the backend', async () => {
    const backend = new MemoryBackend();
    const store = await MvccStore.open(backend);
    const b1 = backend.batch();
    store.applyPut({ key: b('k'), value: b('one') }, b1, ctx);
    const b2 = backend.batch();
    store.applyPut({ key: b('k'), value: b('two') }, b2, ctx);
    const old = await store.range({ key: b('k'), revision: 2 });
    expect(old.kvs[0]?.value.toString()).toBe('one');
    expect((await store.hashKV(0)).hashRevision).toBe(3);
    const before = (await store.hashKV(0)).hash;
    await backend.write(b1, { sync: false });
    store.batchDurable(b1);
    await backend.write(b2, { sync: false });
    store.batchDurable(b2);
    expect((await store.range({ key: b('k'), revision: 2 })).kvs[0]?.value.toString()).toBe('one');
    expect((await store.hashKV(0)).hash).toBe(before);
  });
});

describe('compaction', () => {
  it('keeps the latest revision <= rev and a tombstone exactly at rev; deletes the rest from the backend', async () => {
    const t = await setup(new MemoryBackend(), { compactionBatchLimit: 2 });
    await t.put('a', '1'); // 2
    await t.put('a', '2'); // 3
    await t.put('b', '1'); // 4
    await t.del('b'); // 5
    await t.put('c', '1'); // 6
    const c = await t.compact(5);
    await c.physicalDone;
    const recs: string[] = [];
    await forEachInRange(t.backend, { gte: Buffer.from('k'), lt: Buffer.from('l') }, (k) => {
      recs.push(`${k.readUInt32BE(5)}${k.length === 19 ? 't' : ''}`);
    });
    expect(recs).toEqual(['3', '5t', '6']); // 2 and 4 deleted; the tombstone at 5 kept
    expect(decodeUint64((await t.backend.get(META_FINISHED_COMPACT_REV)) as Buffer)).toBe(5);
    expect(decodeUint64((await t.backend.get(META_SCHEDULED_COMPACT_REV)) as Buffer)).toBe(5);
    expect(await codeOf(() => t.store.range({ key: b('a'), revision: 4 }))).toBe('compacted');
    expect((await t.store.range({ key: b('a'), revision: 5 })).kvs[0]?.modRevision).toBe(3);
    expect(await codeOf(() => t.compact(5))).toBe('compacted');
    expect(await codeOf(() => t.compact(9))).toBe('future-rev');
    // A restart rebuilds the same view, current revision included.
    await t.restart();
    expect(t.store.currentRevision).toBe(6);
    expect(t.store.compactRevision).toBe(5);
    expect((await t.store.range({ key: b('\0'), rangeEnd: b('\0'), revision: 5 })).kvs.map((kv) => kv.key.toString())).toEqual(['a']);
  });

  it('HashKV does not depend on how far physical compaction got, nor on restarts', async () => {
    // A scheduler we step by hand stops physical compaction between chunks.
    const steps: Array<() => void> = [];
    const manual: Scheduler = {
      after: () => ({ cancel: () => {} }),
      every: () => ({ cancel: () => {} }),
      soon: (fn) => void steps.push(fn),
    };
    const t = await setup(new MemoryBackend(), { compactionBatchLimit: 2, scheduler: manual });
    for (let i = 0; i < 12; i++) await t.put(`k${i % 4}`, `v${i}`);
    await t.del('k1');
    await t.put('k9', 'x');
    const rev = t.store.currentRevision;
    const hashes = new Set<number>();
    const c = await t.compact(rev - 4);
    hashes.add((await t.store.hashKV(rev)).hash);
    let done = false;
    void c.physicalDone.then(() => (done = true));
    let chunks = 0;
    while (!done) {
      // let one chunk finish, hash in between
      await new Promise((r) => setTimeout(r, 1));
      hashes.add((await t.store.hashKV(rev)).hash);
      const step = steps.shift();
      if (step !== undefined) {
        chunks++;
        step();
      }
    }
    expect(chunks).toBeGreaterThan(3);
    hashes.add((await t.store.hashKV(rev)).hash);
    expect(hashes.size).toBe(1);
    await t.restart();
    expect((await t.store.hashKV(rev)).hash).toBe([...hashes][0]);
  });

  it('resumes an unfinished compaction after a restart', async () => {
    const steps: Array<() => void> = [];
    const manual: Scheduler = { after: () => ({ cancel: () => {} }), every: () => ({ cancel: () => {} }), soon: (fn) => void steps.push(fn) };
    const backend = new MemoryBackend();
    const t = await setup(backend, { compactionBatchLimit: 2, scheduler: manual });
    for (let i = 0; i < 10; i++) await t.put('k', `v${i}`);
    const c = await t.compact(9);
    await new Promise((r) => setTimeout(r, 5)); // first chunk written, waiting to yield
    expect(backend.size).toBeGreaterThan(2);
    const closing = t.store.close();
    for (const s of steps.splice(0)) s();
    await closing;
    expect(await codeOf(() => c.physicalDone)).toBe('stopped');
    expect(await backend.get(META_FINISHED_COMPACT_REV)).toBeUndefined();
    const store = await MvccStore.open(backend, { compactionBatchLimit: 1000 });
    expect(store.compactRevision).toBe(9);
    for (let i = 0; i < 20 && (await backend.get(META_FINISHED_COMPACT_REV)) === undefined; i++) await new Promise((r) => setTimeout(r, 5));
    expect(decodeUint64((await backend.get(META_FINISHED_COMPACT_REV)) as Buffer)).toBe(9);
    // records left: 9 (kept), 10 and 11, and the two meta records
    expect(backend.size).toBe(5);
    expect((await store.range({ key: b('k'), revision: 9 })).kvs[0]?.value.toString()).toBe('v7');
    await store.close();
  });

  it('a read that started before a compaction still sees its revision', async () => {
    const backend = new MemoryBackend();
    const t = await setup(backend);
    for (let i = 0; i < 5; i++) await t.put('k', `v${i}`);
    // Slow down backend reads so the compaction is applied while the read is in flight.
    const realGetMany = backend.getMany.bind(backend);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    backend.getMany = async (keys) => {
      await gate;
      return realGetMany(keys);
    };
    const read = t.store.range({ key: b('k'), revision: 3 });
    const c = await t.compact(6);
    await new Promise((r) => setTimeout(r, 5));
    expect(await backend.get(META_FINISHED_COMPACT_REV)).toBeUndefined(); // waits for the read
    release();
    expect((await read).kvs[0]?.value.toString()).toBe('v1');
    await c.physicalDone;
  });

  it('stores the hash computed by a compaction for HashKV at that revision', async () => {
    const t = await setup();
    for (let i = 0; i < 6; i++) await t.put(`k${i % 2}`, `v${i}`);
    await (await t.compact(4)).physicalDone;
    const atFirst = await t.store.hashKV(4);
    expect(atFirst.compactRevision).toBe(-1); // the stored hash's previous compaction
    await (await t.compact(6)).physicalDone;
    const stored = await t.store.hashKV(6);
    expect(stored.compactRevision).toBe(4);
    expect(await codeOf(() => t.store.hashKV(5))).toBe('compacted');
    await t.restart(); // stored hashes are memory only, like etcd's
    const computed = await t.store.hashKV(6);
    expect(computed.compactRevision).toBe(6);
  });
});

describe('crash recovery', () => {
  it('reopens over holes an unfinished compaction left in a generation, and finishes it', async () => {
    const backend = new MemoryBackend();
    const t = await setup(backend);
    for (let i = 0; i < 5; i++) await t.put('k', `v${i}`); // revisions 2..6
    await t.store.close();
    // As if a compaction at 5 was scheduled and only revision 3 got deleted.
    const w = backend.batch();
    w.put(META_SCHEDULED_COMPACT_REV, Buffer.from([0, 0, 0, 0, 0, 0, 0, 5]));
    const rec3 = Buffer.concat([Buffer.from('k'), Buffer.from([0, 0, 0, 0, 0, 0, 0, 3, 0x5f, 0, 0, 0, 0, 0, 0, 0, 0])]);
    expect(await backend.get(rec3)).toBeDefined();
    w.del(rec3);
    await backend.write(w, { sync: true });
    const store = await MvccStore.open(backend);
    expect(store.compactRevision).toBe(5);
    const r = await store.range({ key: b('k'), revision: 5 });
    expect([r.kvs[0]?.value.toString(), r.kvs[0]?.version]).toEqual(['v3', 4]);
    for (let i = 0; i < 50 && (await backend.get(META_FINISHED_COMPACT_REV)) === undefined; i++) await new Promise((res) => setTimeout(res, 5));
    expect(decodeUint64((await backend.get(META_FINISHED_COMPACT_REV)) as Buffer)).toBe(5);
    expect(backend.size).toBe(4); // revisions 5 and 6, two meta records
    await store.close();
  });

  it('a power loss drops unsynced batches and the store reopens at the last synced revision', async () => {
    const backend = new MemoryBackend();
    const store = await MvccStore.open(backend);
    for (let i = 0; i < 4; i++) {
      const batch = backend.batch();
      store.applyPut({ key: b(`k${i}`), value: b('v') }, batch, ctx);
      await backend.write(batch, { sync: i < 2 });
      store.batchDurable(batch);
    }
    await store.close();
    backend.crash();
    const reopened = await MvccStore.open(backend);
    expect(reopened.currentRevision).toBe(3);
    expect((await reopened.range({ key: b('\0'), rangeEnd: b('\0') })).kvs.map((kv) => kv.key.toString())).toEqual(['k0', 'k1']);
  });
});
