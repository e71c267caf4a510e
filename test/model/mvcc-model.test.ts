// Model test: MvccStore (over MemoryBackend and over LevelBackend in a temp dir) against
// the plain reference model in kv-model.ts, through random sequences of put, delete,
// txn (nested, failing compares), compact, range at random revisions with every option,
// HashKV, and restarts in the middle (close, reopen the same backend). Batches are
// sometimes left unwritten for a few operations so reads see not-yet-durable writes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { isTsetcdError } from '../../src/shared/errors.js';
import type { Backend, BackendBatch } from '../../src/storage/backend.js';
import { LevelBackend } from '../../src/storage/level-backend.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import { MvccStore } from '../../src/mvcc/index.js';
import type { WriteContext } from '../../src/mvcc/types.js';
import { KvModel } from './kv-model.js';
import { deleteArb, putArb, rangeArb, resolveRev, resolveTxn, txnArb, type GenRange, type RevRef } from './gen.js';

type ArbT<A> = A extends fc.Arbitrary<infer T> ? T : never;
type Op =
  | { t: 'put'; p: ArbT<typeof putArb>; flush: boolean }
  | { t: 'del'; d: ArbT<typeof deleteArb>; flush: boolean }
  | { t: 'txn'; x: ArbT<typeof txnArb>; flush: boolean }
  | { t: 'range'; r: GenRange }
  | { t: 'compact'; rev: RevRef; wait: boolean }
  | { t: 'hash'; rev: RevRef }
  | { t: 'restart' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('put' as const), p: putArb, flush: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), d: deleteArb, flush: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('txn' as const), x: txnArb, flush: fc.boolean() }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('range' as const), r: rangeArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('compact' as const), rev: fc.integer({ min: 0, max: 5 }).map<RevRef>((n) => ({ kind: 'back', n })), wait: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('hash' as const), rev: fc.oneof(fc.constant<RevRef>({ kind: 'zero' }), fc.integer({ min: -1, max: 4 }).map<RevRef>((n) => ({ kind: 'back', n }))) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'restart' as const }) },
);

const ctx: WriteContext = { leaseExists: (id) => id === 1n };

/** JSON-comparable form: Buffers as latin1 strings, bigints as strings. */
function norm(v: unknown): unknown {
  if (v === undefined) return undefined;
  return JSON.parse(
    JSON.stringify(v, (_k, x: unknown) => {
      if (typeof x === 'bigint') return `${x}n`;
      if (x !== null && typeof x === 'object' && (x as { type?: string }).type === 'Buffer') {
        return `b:${Buffer.from((x as { data: number[] }).data).toString('latin1')}`;
      }
      return x;
    }),
  );
}

async function outcome<T>(f: () => T | Promise<T>): Promise<{ ok: unknown } | { err: string }> {
  try {
    return { ok: norm(await f()) };
  } catch (e) {
    if (isTsetcdError(e)) return { err: e.code };
    throw e;
  }
}

interface Harness {
  backend: Backend;
  reopenBackend(): Promise<Backend>;
  cleanup(): Promise<void>;
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function memoryHarness(): Promise<Harness> {
  const backend = new MemoryBackend();
  return { backend, reopenBackend: async () => backend, cleanup: async () => {} };
}

async function levelHarness(): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'tsetcd-model-'));
  dirs.push(dir);
  const path = join(dir, 'db');
  const h: Harness = {
    backend: await LevelBackend.open(path),
    async reopenBackend() {
      await h.backend.close();
      h.backend = await LevelBackend.open(path);
      return h.backend;
    },
    async cleanup() {
      await h.backend.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return h;
}

async function runSequence(ops: Op[], makeHarness: () => Promise<Harness>): Promise<void> {
  const h = await makeHarness();
  const model = new KvModel();
  const openStore = (): Promise<MvccStore> => MvccStore.open(h.backend, { compactionBatchLimit: 2, compactionIndexChunk: 2 });
  let store = await openStore();
  const queued: BackendBatch[] = [];
  const flush = async (): Promise<void> => {
    for (const b of queued.splice(0)) {
      await h.backend.write(b, { sync: false });
      store.batchDurable(b);
    }
  };
  const write = async <T>(f: (b: BackendBatch) => T, flushNow: boolean): Promise<T> => {
    const b = h.backend.batch();
    queued.push(b);
    try {
      return f(b);
    } finally {
      if (flushNow) await flush();
    }
  };
  try {
    for (const [i, op] of ops.entries()) {
      const where = `op ${i}: ${JSON.stringify(norm(op))}`;
      switch (op.t) {
        case 'put': {
          const want = await outcome(() => model.put(op.p));
          const got = await outcome(() => write((b) => store.applyPut(op.p, b, ctx).response, op.flush));
          expect(got, where).toEqual(want);
          break;
        }
        case 'del': {
          const want = await outcome(() => model.deleteRange(op.d));
          const got = await outcome(() => write((b) => store.applyDelete(op.d, b).response, op.flush));
          expect(got, where).toEqual(want);
          break;
        }
        case 'txn': {
          const txn = resolveTxn(op.x, model.rev);
          const want = await outcome(() => model.txn(txn));
          const got = await outcome(() => write((b) => store.applyTxn(txn, b, ctx).response, op.flush));
          expect(got, where).toEqual(want);
          const ro = txn.success.every((o) => 'requestRange' in o) && txn.failure.every((o) => 'requestRange' in o);
          if (ro) expect(await outcome(() => store.txnReadOnly(txn)), where).toEqual(want);
          break;
        }
        case 'range': {
          const req = { ...op.r.req, revision: resolveRev(op.r.rev, model.rev) };
          const want = await outcome(() => model.range(req));
          expect(await outcome(() => store.range(req)), where).toEqual(want);
          break;
        }
        case 'compact': {
          const rev = resolveRev(op.rev, model.rev);
          const want = await outcome(() => {
            model.compact(rev);
            return {};
          });
          let done: Promise<void> | undefined;
          const got = await outcome(() =>
            write((b) => {
              done = store.applyCompact(rev, b).physicalDone;
              return {};
            }, true),
          );
          expect(got, where).toEqual('err' in want ? want : { ok: {} });
          if (op.wait && done !== undefined) await done;
          break;
        }
        case 'hash': {
          const rev = resolveRev(op.rev, model.rev);
          const got = await outcome(() => store.hashKV(rev));
          const want = await outcome(() => model.hashKV(rev));
          if ('ok' in got) {
            const r = got.ok as { hash: number; compactRevision: number; hashRevision: number; revision: number };
            expect(r.revision, where).toBe(model.rev);
            const stored = model.compactions.find((c) => c.rev === rev && c.prev === r.compactRevision);
            if (r.compactRevision !== model.compactRev && stored !== undefined) {
              // A hash stored by the compaction at rev (etcd hashStorage).
              expect(r.hash, where).toBe(model.compactionHash(stored.prev, stored.rev));
              break;
            }
          }
          if ('ok' in got) delete (got.ok as { revision?: number }).revision;
          expect(norm(got), where).toEqual(norm(want));
          break;
        }
        case 'restart': {
          await flush();
          await store.close();
          await h.reopenBackend();
          store = await openStore();
          break;
        }
      }
      expect(store.currentRevision, where).toBe(model.rev);
      expect(store.compactRevision, where).toBe(model.compactRev);
    }
    // Every revision still readable gives the model's full keyspace.
    for (let rev = Math.max(1, model.compactRev); rev <= model.rev; rev++) {
      const req = { key: Buffer.from([0]), rangeEnd: Buffer.from([0]), revision: rev };
      expect(norm(await store.range(req)), `full range at ${rev}`).toEqual(norm(model.range(req)));
    }
    await flush();
    await store.close();
  } finally {
    await h.cleanup();
  }
}

describe('MvccStore against the reference model', () => {
  it('MemoryBackend', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 80, size: 'max' }), (ops) => runSequence(ops, memoryHarness)),
      { numRuns: Number(process.env['MODEL_RUNS'] ?? 150) },
    );
  });

  it('LevelBackend', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 50, size: 'max' }), (ops) => runSequence(ops, levelHarness)),
      { numRuns: Number(process.env['MODEL_RUNS_LEVEL'] ?? 40) },
    );
  });
});
