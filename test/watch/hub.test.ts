// The watch hub and its streams over a real MvccStore (MemoryBackend): ordering of
// created responses and events, start revisions, create refusals, cancel, filters,
// prev_kv (live, from the window and from the backend), compaction cancel including
// the tombstone at the compaction revision, progress, slow watchers (victims, catch-up,
// memory bounds), catch-up of revisions applied but not yet written, restore.
import { describe, expect, it } from 'vitest';
import type { WatchOut } from '../../src/watch/index.js';
import { b, create, drain, drainAll, eventsOf, Harness } from './harness.js';

function kinds(out: readonly WatchOut[]): string[] {
  return out.map((o) => (o.kind === 'events' ? `events:${o.watchId}:${o.events.length}` : `${o.kind}:${'watchId' in o ? o.watchId : ''}`));
}

describe('watch hub: creation and live events', () => {
  it('queues created responses in request order, each before any event of its watcher', async () => {
    const h = await Harness.create();
    const s = h.hub.newStream();
    h.put('a', '1'); // rev 2
    expect(s.watch(create({ key: 'a' }))).toBe(0);
    expect(s.watch(create({ key: 'a', startRevision: 2 }))).toBe(1); // replay: unsynced
    h.put('a', '2'); // rev 3
    expect(s.watch(create({ key: 'a', watchId: 7 }))).toBe(7);
    await h.settle();
    const out = drain(s);
    expect(out[0]).toEqual({ kind: 'created', watchId: 0, revision: 2 });
    expect(out[1]).toEqual({ kind: 'created', watchId: 1, revision: 2 });
    const createdAt = (id: number): number => out.findIndex((o) => o.kind === 'created' && o.watchId === id);
    for (const [i, o] of out.entries()) if (o.kind === 'events') expect(createdAt(o.watchId)).toBeLessThan(i);
    expect(eventsOf(out, 0)).toEqual(['PUT a=2@3']);
    expect(eventsOf(out, 1)).toEqual(['PUT a=1@2', 'PUT a=2@3']);
    expect(eventsOf(out, 7)).toEqual([]);
    const live = out.find((o) => o.kind === 'events' && o.watchId === 0);
    expect(live).toMatchObject({ revision: 3 }); // header = event revision
  });

  it('assigns ids from a per-stream counter, skipping ids the client chose', async () => {
    const h = await Harness.create();
    const s = h.hub.newStream();
    expect(s.watch(create({ key: 'a', watchId: 1 }))).toBe(1);
    expect(s.watch(create({ key: 'a' }))).toBe(0);
    expect(s.watch(create({ key: 'a' }))).toBe(2);
    expect(h.hub.newStream().watch(create({ key: 'a' }))).toBe(0);
  });

  it('refuses negative start, duplicate ids and empty ranges with watch id -1', async () => {
    const h = await Harness.create();
    const s = h.hub.newStream();
    expect(s.watch(create({ key: 'a', startRevision: -5 }))).toBe(-1);
    expect(s.watch(create({ key: 'a', watchId: 3 }))).toBe(3);
    expect(s.watch(create({ key: 'a', watchId: 3 }))).toBe(-1);
    expect(s.watch(create({ key: 'b', rangeEnd: b('a') }))).toBe(-1);
    expect(s.watch(create({ key: 'b', rangeEnd: b('b') }))).toBe(-1);
    expect(s.watch(create({ key: '', rangeEnd: b('\0') }))).toBe(4 - 4); // everything: fine
    const out = drain(s);
    expect(out.filter((o) => o.kind === 'refused').map((o) => (o.kind === 'refused' ? o.reason : ''))).toEqual([
      'compacted',
      'duplicate-id',
      'empty-range',
      'empty-range',
    ]);
  });

  it('delivers a future start revision only from that revision on', async () => {
    const h = await Harness.create();
    const s = h.hub.newStream();
    s.watch(create({ key: 'k', startRevision: 4 }));
    for (let i = 0; i < 4; i++) h.put('k', `v${i}`); // revs 2..5
    await h.settle();
    expect(eventsOf(drain(s), 0)).toEqual(['PUT k=v2@4', 'PUT k=v3@5']);
  });

  it('keeps one response per revision, all events of a txn together', async () => {
    const h = await Harness.create();
    const s = h.hub.newStream();
    s.watch(create({ key: 'a', rangeEnd: b('z') }));
    h.txnPut([
      ['a', '1'],
      ['b', '2'],
      ['zz', 'outside'],
    ]);
    const out = drain(s).filter((o) => o.kind === 'events');
    expect(out).toHaveLength(1);
    expect(eventsOf(out, 0)).toEqual(['PUT a=1@2', 'PUT b=2@2']);
  });

  it('applies NOPUT and NODELETE filters and sends nothing when all are filtered', async () => {
    const h = await Harness.create();
    const s = h.hub.newStream();
    s.watch(create({ key: 'k', noPut: true }));
    s.watch(create({ key: 'k', noDelete: true }));
    h.put('k', '1');
    h.del('k');
    const out = drain(s);
    expect(eventsOf(out, 0)).toEqual(['DELETE k@3']);
    expect(eventsOf(out, 1)).toEqual(['PUT k=1@2']);
    expect(out.filter((o) => o.kind === 'events')).toHaveLength(2);
    expect(s.allSynced).toBe(true);
  });

  it('cancels a watcher, ignores an unknown id, and closes streams', async () => {
    const h = await Harness.create();
    const s = h.hub.newStream();
    s.watch(create({ key: 'k' }));
    expect(s.cancel(0)).toBe(true);
    expect(s.cancel(0)).toBe(false);
    expect(s.cancel(42)).toBe(false);
    h.put('k', '1');
    expect(kinds(drain(s))).toEqual(['created:0', 'canceled:0']);
    s.watch(create({ key: 'k' }));
    s.close();
    h.put('k', '2');
    expect(drain(s)).toEqual([]);
    expect(h.hub.stats()).toMatchObject({ streams: 0, synced: 0, unsynced: 0 });
  });
});

describe('watch hub: prev_kv', () => {
  it('carries the previous value for live, window and backend catch-up events', async () => {
    const h = await Harness.create({ windowRevisions: 2 });
    h.put('k', '1'); // 2
    h.put('k', '2'); // 3
    h.del('k'); // 4
    h.put('k', '3'); // 5 (a create again)
    h.put('k', '4'); // 6
    await h.flush();
    const s = h.hub.newStream();
    s.watch(create({ key: 'k', startRevision: 2, prevKv: true })); // revs 2..4 from the backend
    s.watch(create({ key: 'k', startRevision: 6, prevKv: true })); // from the window
    s.watch(create({ key: 'k', prevKv: true }));
    h.put('k', '5'); // 7, live
    const out = await drainAll(h, s);
    expect(eventsOf(out, 0, true)).toEqual([
      'PUT k=1@2 prev=-',
      'PUT k=2@3 prev=1@2',
      'DELETE k@4 prev=2@3',
      'PUT k=3@5 prev=-',
      'PUT k=4@6 prev=3@5',
      'PUT k=5@7 prev=4@6',
    ]);
    expect(eventsOf(out, 1, true)).toEqual(['PUT k=4@6 prev=3@5', 'PUT k=5@7 prev=4@6']);
    expect(eventsOf(out, 2, true)).toEqual(['PUT k=5@7 prev=4@6']);
    const o = out.find((x) => x.kind === 'events' && x.watchId === 0);
    expect(o).toMatchObject({ prevKv: true });
  });

  it('reads prev_kv from the store at rev - 1 when the chunk starts after it, omitting compacted ones', async () => {
    const h = await Harness.create({ windowRevisions: 1 });
    h.put('k', '1'); // 2
    h.put('x', '1'); // 3
    h.put('k', '2'); // 4
    h.put('x', '2'); // 5
    h.put('k', '3'); // 6
    h.put('x', '3'); // 7
    await h.flush();
    await h.compact(5);
    const s = h.hub.newStream();
    s.watch(create({ key: 'k', startRevision: 6, prevKv: true }));
    const out = await drainAll(h, s);
    expect(eventsOf(out, 0, true)).toEqual(['PUT k=3@6 prev=2@4']); // k at 5 is still readable
  });

  // The differential test's seed=2013657515 path=142: a watch from the compaction
  // revision C whose first event is at C. etcd reads prev_kv at C - 1 (etcd
  // v3rpc/watch.go sendLoop), which is compacted (mvcc kvstore_txn.go rangeKeys:
  // rev < compactMainRev), and sends the event without it. The event window still
  // held the value that apply saw; it must not leak out.
  it.each([
    ['the event window', 10],
    ['the backend', 1],
  ])('omits prev_kv at the compaction revision itself (read from %s)', async (_from, windowRevisions) => {
    const h = await Harness.create({ windowRevisions });
    h.put('k', '1'); // 2
    h.put('k', '2'); // 3
    h.put('x', '1'); // 4
    h.put('k', '3'); // 5
    await h.flush();
    await h.compact(3);
    const s = h.hub.newStream();
    s.watch(create({ key: 'k', startRevision: 3, prevKv: true }));
    const out = await drainAll(h, s);
    expect(eventsOf(out, 0, true)).toEqual(['PUT k=2@3 prev=-', 'PUT k=3@5 prev=2@3']);
  });
});

describe('watch hub: compaction', () => {
  it('cancels an unsynced watcher whose next revision was compacted, after its created', async () => {
    const h = await Harness.create();
    for (let i = 0; i < 5; i++) h.put('k', `${i}`); // 2..6
    await h.compact(5);
    const s = h.hub.newStream();
    s.watch(create({ key: 'k', startRevision: 3 }));
    const out = await drainAll(h, s);
    expect(out).toEqual([
      { kind: 'created', watchId: 0, revision: 6 },
      { kind: 'compacted', watchId: 0, compactRevision: 5 },
    ]);
    expect(s.allSynced).toBe(false); // a compacted watcher stays until the client cancels it
    expect(s.cancel(0)).toBe(true);
    expect(s.allSynced).toBe(true);
  });

  it('delivers a delete at exactly the compaction revision to a watcher starting there', async () => {
    const h = await Harness.create({ windowRevisions: 1 });
    h.put('k', '1'); // 2
    h.put('other', '1'); // 3
    const delRev = h.del('k'); // 4
    h.put('other', '2'); // 5
    await h.flush();
    await h.compact(delRev);
    const s = h.hub.newStream();
    s.watch(create({ key: 'k', startRevision: delRev, prevKv: true }));
    s.watch(create({ key: '', rangeEnd: b('\0'), startRevision: delRev }));
    const out = await drainAll(h, s);
    expect(eventsOf(out, 0, true)).toEqual(['DELETE k@4 prev=-']); // k@3 is compacted
    expect(eventsOf(out, 1)).toEqual(['DELETE k@4', 'PUT other=2@5']);
  });

  it('cancels a slow watcher that compaction passed while it was a victim', async () => {
    const h = await Harness.create({ streamQueueResponses: 1, windowRevisions: 2 });
    const s = h.hub.newStream();
    s.watch(create({ key: 'k' }));
    drain(s);
    for (let i = 0; i < 6; i++) h.put('k', `${i}`); // 2..7: queue holds rev 2, the watcher is a victim from 3
    expect(s.victims.size).toBe(1);
    await h.flush();
    await h.compact(5);
    const out = await drainAll(h, s);
    expect(eventsOf(out, 0)).toEqual(['PUT k=0@2']);
    expect(out[out.length - 1]).toEqual({ kind: 'compacted', watchId: 0, compactRevision: 5 });
  });
});

describe('watch hub: progress', () => {
  it('answers a progress request with -1 only when every watcher is synced', async () => {
    const h = await Harness.create();
    const s = h.hub.newStream();
    expect(s.requestProgress()).toBe(false); // no watchers: nothing, as etcd
    h.put('k', '1');
    s.watch(create({ key: 'k', startRevision: 1 })); // unsynced until catch-up
    expect(s.requestProgress()).toBe(false);
    await h.settle();
    expect(s.requestProgress()).toBe(true);
    const out = drain(s);
    const last = out[out.length - 1];
    expect(last).toEqual({ kind: 'progress', watchId: -1, revision: 2 });
    // every event up to the progress revision came before it
    expect(eventsOf(out, 0)).toEqual(['PUT k=1@2']);
  });

  it('syncs a quiet watcher with no matching history so progress is answered (etcd #17507)', async () => {
    const h = await Harness.create();
    for (let i = 0; i < 5; i++) h.put('other', `${i}`);
    await h.flush();
    const s = h.hub.newStream();
    s.watch(create({ key: 'quiet', startRevision: 2 }));
    await h.settle();
    expect(s.requestProgress()).toBe(true);
  });

  it('sends periodic progress only to synced progress watchers without recent events', async () => {
    const h = await Harness.create();
    const s = h.hub.newStream();
    s.watch(create({ key: 'a', progressNotify: true }));
    s.watch(create({ key: 'b', progressNotify: true }));
    s.watch(create({ key: 'c' }));
    drain(s);
    h.put('a', '1');
    s.progressTick(); // 'a' got an event since the last tick: only 'b'
    expect(kinds(drain(s))).toEqual(['events:0:1', 'progress:1']);
    s.progressTick();
    expect(drain(s)).toEqual([
      { kind: 'progress', watchId: 0, revision: 2 },
      { kind: 'progress', watchId: 1, revision: 2 },
    ]);
  });
});

describe('watch hub: slow watchers and bounds', () => {
  it('parks watchers of a full stream as victims and catches them up without loss', async () => {
    const h = await Harness.create({ streamQueueResponses: 4, windowRevisions: 3, syncChunkRevisions: 5 });
    const s = h.hub.newStream();
    const other = h.hub.newStream();
    s.watch(create({ key: 'k' }));
    s.watch(create({ key: 'j', prevKv: true }));
    other.watch(create({ key: 'k' }));
    const out = drain(s);
    const wantK: string[] = [];
    const wantJ: string[] = [];
    let prevJ = '-';
    for (let i = 0; i < 50; i++) {
      const key = i % 2 === 0 ? 'k' : 'j';
      const r = h.put(key, `${i}`);
      if (key === 'k') wantK.push(`PUT k=${i}@${r}`);
      else {
        wantJ.push(`PUT j=${i}@${r} prev=${prevJ}`);
        prevJ = `${i}@${r}`;
      }
      expect(s.queued).toBeLessThanOrEqual(4);
      if (i % 7 === 0) drain(other);
    }
    expect(s.victims.size).toBe(2);
    expect(h.hub.stats()).toMatchObject({ victims: 2, windowRevisions: 3 });
    // Most revisions are neither in the window nor written yet: catch-up must wait for
    // them instead of skipping them.
    for (let i = 0; i < 500 && !(s.allSynced && s.victims.size === 0 && s.queued === 0); i++) {
      out.push(...drain(s));
      await h.settle();
      if (i === 3) await h.flush(10);
      if (i === 20) await h.flush();
      expect(s.queued).toBeLessThanOrEqual(4);
    }
    expect(eventsOf(out, 0)).toEqual(wantK);
    expect(eventsOf(out, 1, true)).toEqual(wantJ);
    expect(s.allSynced).toBe(true);
    expect(h.hub.stats()).toMatchObject({ victims: 0, unsynced: 0 });
    // the other stream was drained often enough to stay synced all along
    expect(other.allSynced).toBe(true);
    expect(other.victims.size).toBe(0);
  });

  it('bounds a stream by queued bytes as well as responses', async () => {
    const h = await Harness.create({ streamQueueBytes: 10_000 });
    const s = h.hub.newStream();
    s.watch(create({ key: 'big' }));
    drain(s);
    h.put('big', 'x'.repeat(20_000)); // an empty queue always takes one response
    h.put('big', 'y');
    expect(s.queued).toBe(1);
    expect(s.victims.size).toBe(1);
    const out = await drainAll(h, s);
    expect(eventsOf(out, 0).map((e) => e.slice(0, 9))).toEqual(['PUT big=x', 'PUT big=y']);
  });

  it('holds the request reader back while control responses pile up', async () => {
    const h = await Harness.create({ controlQueueResponses: 2 });
    const s = h.hub.newStream();
    s.watch(create({ key: 'a' }));
    s.watch(create({ key: 'b' }));
    let room = false;
    void s.controlRoom().then(() => {
      room = true;
    });
    await h.settle();
    expect(room).toBe(false);
    s.take();
    await h.settle();
    expect(room).toBe(true);
  });

  it('closes every stream when the hub closes', async () => {
    const h = await Harness.create();
    const s = h.hub.newStream();
    s.watch(create({ key: 'a', startRevision: 1 }));
    h.hub.close();
    expect(s.closed).toBe(true);
    h.put('a', '1');
    expect(drain(s)).toEqual([]);
    await expect(s.readable()).resolves.toBeUndefined();
  });

  it('waits for a revision that is neither in the window nor written yet', async () => {
    const h = await Harness.create({ windowRevisions: 1 });
    for (let i = 0; i < 5; i++) h.put('k', `${i}`); // 2..6, none written
    const s = h.hub.newStream();
    s.watch(create({ key: 'k', startRevision: 2 }));
    await h.settle();
    expect(eventsOf(drain(s), 0)).toEqual([]);
    expect(s.allSynced).toBe(false);
    await h.flush(2); // revs 2, 3 written
    await h.settle();
    expect(eventsOf(drain(s), 0)).toEqual(['PUT k=0@2', 'PUT k=1@3']);
    await h.flush();
    await h.settle();
    expect(eventsOf(drain(s), 0)).toEqual(['PUT k=2@4', 'PUT k=3@5', 'PUT k=4@6']);
    expect(s.allSynced).toBe(true);
  });

  it('bounds catch-up responses by revisions per chunk', async () => {
    const h = await Harness.create({ windowRevisions: 1, syncChunkRevisions: 3 });
    for (let i = 0; i < 10; i++) h.put('k', `${i}`); // 2..11
    await h.flush();
    const s = h.hub.newStream();
    s.watch(create({ key: 'k', startRevision: 2 }));
    const out = await drainAll(h, s);
    const sizes = out.filter((o) => o.kind === 'events').map((o) => (o.kind === 'events' ? o.events.length : 0));
    expect(sizes.every((n) => n <= 3)).toBe(true);
    expect(eventsOf(out, 0)).toHaveLength(10);
  });

  it('restores after a snapshot: synced watchers catch up from the new store', async () => {
    const h = await Harness.create();
    const s = h.hub.newStream();
    s.watch(create({ key: 'k' }));
    h.put('k', '1'); // 2
    await h.flush();
    drain(s);
    // A new store whose history continues this one (here: the same store, 2 more writes
    // applied without notifying, as a snapshot install would bring them).
    const other = await Harness.create();
    other.put('k', '1');
    other.put('k', '2');
    other.put('k', '3');
    await other.flush();
    h.hub.restore(other.store);
    const out = await drainAll(h, s);
    expect(eventsOf(out, 0)).toEqual(['PUT k=2@3', 'PUT k=3@4']);
    expect(s.allSynced).toBe(true);
  });
});
