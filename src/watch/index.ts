/**
 * watch: etcd's watchable store (server/storage/mvcc/watchable_store.go, watcher.go,
 * watcher_group.go) for tsetcd: watcher groups, synced / unsynced / victim watchers,
 * catch-up from history, progress, and one ordered response queue per stream.
 *
 * Order callers follow:
 *   const hub = new WatchHub({ store, scheduler, logger });            // before apply runs
 *   applier.onChanges((events, rev) => hub.notify(events, rev));       // every applied write
 *   // per gRPC Watch stream:
 *   const s = hub.newStream();
 *   s.watch(create) / s.cancel(id) / s.requestProgress() / s.progressTick();
 *   for (;;) { const out = s.take(); if (!out) { await s.readable(); continue; } send(out); }
 *   s.close();                                                          // stream ended
 *   // after a snapshot install replaced the store: hub.restore(store)
 *   hub.close();                                                        // member stops
 *
 * Guarantees per watcher (etcd's watch API guarantees, docs/architecture.md §1): events in revision order, no
 * duplicates, every matching event from its start revision on (no gaps), all events of
 * one revision in one response, no event before its created response; prev_kv equal to
 * the key at revision - 1 (absent if that revision is compacted); a watcher whose next
 * revision compaction has passed is canceled with compact_revision. A progress response
 * at revision R (-1 requested, or periodic) means every event <= R was already queued.
 *
 * Bounds: see WatchLimits (types.ts). Pure parts (IntervalTree, WatcherGroup,
 * EventWindow, WatchStream) have no timers; the hub takes the Scheduler for catch-up.
 */
export { WatchHub, type WatchHubOptions, type WatchHubStats } from './hub.js';
export { WatchStream } from './stream.js';
export { WatcherGroup, batchByWatcher } from './watcher-group.js';
export { IntervalTree } from './interval-tree.js';
export { EventWindow } from './event-window.js';
export { Watcher, type WatcherState } from './watcher.js';
export * from './types.js';
