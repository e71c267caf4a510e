/**
 * testing: the test doubles of the storage layer, in one place, that production never
 * imports (test/tidy holds that arrow: testing may import storage and shared, and no
 * production module imports testing; docs/architecture.md §2, §5).
 *
 * - SimFileLayer (sim-file-layer.ts): an in-memory FileLayer with durable and volatile
 *   state apart and a power-cut model; the crash explorations and the whole-server
 *   simulation run on it.
 * - MemoryBackend (memory-backend.ts): an in-memory Backend with LevelDB's semantics
 *   and an unsynced-write crash model, for unit tests.
 * - FileLogBackend (file-log-backend.ts): a Backend that writes one log file through a
 *   FileLayer, so the state db lives on the SimFileLayer in crash tests and the
 *   simulation.
 *
 * The switches that break safety on purpose are not here: production reads them, so
 * their one list is shared/test-faults.ts. The power-cut file layer a real process
 * applies under TSETCD_TEST_POWER_CUT=1, and the fsync-EIO and slow-fsync ones under
 * TSETCD_TEST_FSYNC_EIO=1 / TSETCD_TEST_SLOW_FSYNC=1, stay in storage for the same reason.
 */
export { SimFileLayer } from './sim-file-layer.js';
export { MemoryBackend } from './memory-backend.js';
export { FileLogBackend } from './file-log-backend.js';
