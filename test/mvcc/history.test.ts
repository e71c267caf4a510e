// MvccStore.readRevisions: the revision log read back as events (what watch catch-up
// sees below its in-memory window). Every durable revision comes back whole and equal
// to what apply reported (without prev_kv), tombstones carry their delete revision,
// the bound stops only between revisions, a revision whose batch is not written yet is
// absent, and contiguousEnd trusts a read only up to its first gap above compaction.
import { describe, expect, it } from 'vitest';
import { contiguousEnd, MvccStore, type MvccEvent, type RevisionEvents } from '../../src/mvcc/index.js';
import { leaseId } from '../../src/shared/ids.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';

const b = (s: string): Buffer => Buffer.from(s);
const ctx = { leaseExists: (): boolean => false };
const NO_LEASE = leaseId(0n);
const ALL = { maxRecords: 1_000_000, maxBytes: 1 << 30 };

const withoutPrev = (events: readonly MvccEvent[]): MvccEvent[] =>
  events.map((e) =>
    e.type === 'delete'
      ? { type: 'delete', kv: { key: e.kv.key, createRevision: 0, modRevision: e.kv.modRevision, version: 0, value: Buffer.alloc(0), lease: NO_LEASE }, prevKv: undefined }
      : { type: 'put', kv: e.kv, prevKv: undefined },
  );

async function storeWithHistory(): Promise<{ store: MvccStore; backend: MemoryBackend; applied: RevisionEvents[] }> {
  const backend = new MemoryBackend();
  const store = await MvccStore.open(backend);
  const applied: RevisionEvents[] = [];
  const write = async (f: (batch: ReturnType<MemoryBackend['batch']>) => { events: MvccEvent[]; revision: number }): Promise<void> => {
    const batch = backend.batch();
    const r = f(batch);
    applied.push({ revision: r.revision, events: withoutPrev(r.events) });
    await backend.write(batch, { sync: true });
    store.batchDurable(batch);
  };
  await write((batch) => store.applyPut({ key: b('a'), value: b('1'), lease: NO_LEASE }, batch, ctx));
  await write((batch) => store.applyPut({ key: b('b'), value: b('2'), lease: NO_LEASE }, batch, ctx));
  // One revision with three changes, the key 'a' twice (sub revisions 0..2).
  await write((batch) =>
    store.applyTxn(
      {
        compare: [],
        success: [
          { requestPut: { key: b('a'), value: b('3'), lease: NO_LEASE } },
          { requestDeleteRange: { key: b('b') } },
          { requestDeleteRange: { key: b('a') } },
        ],
        failure: [],
      },
      batch,
      ctx,
    ),
  );
  await write((batch) => store.applyPut({ key: b('c'), value: b('4'), lease: NO_LEASE }, batch, ctx));
  return { store, backend, applied };
}

describe('MvccStore.readRevisions', () => {
  it('returns every durable revision whole, as apply reported it', async () => {
    const { store, applied } = await storeWithHistory();
    const read = await store.readRevisions(2, store.currentRevision, ALL);
    expect(read.scannedTo).toBe(store.currentRevision);
    expect(read.revisions).toEqual(applied);
    expect(read.revisions[2]?.events.map((e) => `${e.type} ${e.kv.key.toString()}@${e.kv.modRevision}`)).toEqual([
      'put a@4',
      'delete b@4',
      'delete a@4',
    ]);
    expect(contiguousEnd(read, 2, store.compactRevision)).toBe(store.currentRevision);
  });

  it('stops between revisions when the bound is spent, never inside one', async () => {
    const { store, applied } = await storeWithHistory();
    const read = await store.readRevisions(2, store.currentRevision, { maxRecords: 3, maxBytes: 1 << 30 });
    // 1 + 1 records, then the 3-record revision 4 is finished although it passes the bound.
    expect(read.revisions.map((r) => r.revision)).toEqual([2, 3, 4]);
    expect(read.revisions[2]?.events).toHaveLength(3);
    expect(read.scannedTo).toBe(4);
    expect(read.revisions).toEqual(applied.slice(0, 3));
  });

  it('does not see a revision whose batch is not written yet; contiguousEnd stops before it', async () => {
    const { store, backend } = await storeWithHistory();
    const batch = backend.batch();
    store.applyPut({ key: b('d'), value: b('5'), lease: NO_LEASE }, batch, ctx);
    const read = await store.readRevisions(5, store.currentRevision, ALL);
    expect(read.revisions.map((r) => r.revision)).toEqual([5]);
    expect(contiguousEnd(read, 5, store.compactRevision)).toBe(5);
    await backend.write(batch, { sync: true });
    store.batchDurable(batch);
    const again = await store.readRevisions(5, store.currentRevision, ALL);
    expect(again.revisions.map((r) => r.revision)).toEqual([5, 6]);
  });

  it('contiguousEnd: a gap below the compact revision is compaction, above it is missing data', () => {
    const rev = (revision: number): RevisionEvents => ({ revision, events: [] });
    const read = { revisions: [rev(5), rev(6), rev(8)], scannedTo: 9 };
    expect(contiguousEnd(read, 3, 5)).toBe(6); // 3, 4 compacted away; 7 missing
    expect(contiguousEnd(read, 3, -1)).toBe(2); // nothing compacted: 3 is missing
    expect(contiguousEnd({ revisions: [rev(2), rev(3)], scannedTo: 3 }, 2, -1)).toBe(3);
  });
});
