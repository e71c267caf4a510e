/**
 * Maintenance.Snapshot's one-pass save (src/snapshot/save.ts): the image spooled to a
 * file in the member dir and streamed after its metas is byte for byte the image the
 * two-pass writer streams from the same state (which the bbolt and integration tests
 * check against real bbolt and etcd); the spool leaves no file behind; a spool that
 * cannot be written (ENOSPC) falls back to the two passes with a warning and the same
 * bytes; a client that goes away while the spool is written ends the save with the spool
 * closed and removed. A MemoryBackend holds a state with a value larger than the
 * spool's 1 MiB buffer (an overflow run written as it is).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readEtcdBackend } from '../../src/bbolt/etcd-layout.js';
import { BboltDb, bytesSource } from '../../src/bbolt/reader.js';
import { streamEtcdSnapshot, type SnapshotSpoolDir } from '../../src/snapshot/save.js';
import { fsError, type FileLayer } from '../../src/storage/file-layer.js';
import { nodeFileLayer } from '../../src/storage/node-file-layer.js';
import { KEY_PREFIX, META_CONSISTENT_INDEX, encodeUint64 } from '../../src/storage/schema.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import type { SnapshotChunkOut } from '../../src/v3rpc/maintenance.js';
import { captureLogger, type Logged } from '../helpers/capture-logger.js';

const dir = mkdtempSync(join(tmpdir(), 'tsetcd-save-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function revKey(main: number): Buffer {
  const k = Buffer.alloc(18);
  k[0] = KEY_PREFIX;
  k.writeUInt32BE(Math.floor(main / 2 ** 32), 1);
  k.writeUInt32BE(main >>> 0, 5);
  k[9] = 0x5f;
  return k;
}

async function backendWith(records: number): Promise<MemoryBackend> {
  const b = new MemoryBackend();
  const batch = b.batch();
  batch.put(META_CONSISTENT_INDEX, encodeUint64(records + 7));
  let seed = 1;
  for (let i = 1; i <= records; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    // Mostly small values, some spanning pages, one larger than the spool's buffer.
    const size = i === 100 ? 1_300_000 : i % 97 === 0 ? 9000 + (seed % 5000) : 20 + (seed % 1200);
    batch.put(revKey(i), Buffer.alloc(size, i % 251));
  }
  await b.write(batch, { sync: true });
  return b;
}

async function save(backend: MemoryBackend, logs: Logged[], spool?: SnapshotSpoolDir, signal?: AbortSignal): Promise<{ image: Buffer; digest: Buffer; remaining: number[] }> {
  const chunks: SnapshotChunkOut[] = [];
  await streamEtcdSnapshot(backend, async (c) => void chunks.push(c), {
    logger: captureLogger(logs),
    nowMs: () => 0,
    ...(spool === undefined ? {} : { spool }),
    ...(signal === undefined ? {} : { signal }),
  });
  const last = chunks.pop();
  return {
    image: Buffer.concat(chunks.map((c) => c.blob)),
    digest: Buffer.from(last?.blob ?? []),
    remaining: chunks.map((c) => c.remainingBytes),
  };
}

/** The node file layer, with writes failing ENOSPC when `full`. */
function fullDisk(): FileLayer {
  return {
    ...nodeFileLayer,
    open: async (path, mode) => {
      const fh = await nodeFileLayer.open(path, mode);
      return Object.assign(Object.create(fh) as typeof fh, {
        write: () => Promise.reject(fsError('ENOSPC', 'write', path)),
        close: () => fh.close(),
      });
    },
    unlink: (p) => nodeFileLayer.unlink(p),
  };
}

describe('snapshot save spool', () => {
  it('one pass through the spool streams the two-pass image, and leaves no file', async () => {
    const backend = await backendWith(3000);
    const logs: Logged[] = [];
    const twoPass = await save(backend, logs);
    const onePass = await save(backend, logs, { fs: nodeFileLayer, dir });
    expect(onePass.image.length).toBeGreaterThan(4_000_000);
    expect(onePass.image.equals(twoPass.image)).toBe(true);
    expect(onePass.digest.equals(createHash('sha256').update(onePass.image).digest())).toBe(true);
    // remaining_bytes counts down to 0 over 32 KiB blobs, as etcd sends them.
    expect(onePass.remaining.at(-1)).toBe(0);
    expect(onePass.remaining[0]).toBe(onePass.image.length - 32 * 1024);
    expect(readdirSync(dir)).toEqual([]);
    expect(logs.filter((l) => l.level === 'warn')).toEqual([]);
    expect(logs.filter((l) => l.msg === 'laid out the database snapshot').map((l) => l.fields['spooled'])).toEqual([false, true]);
    const cut = readEtcdBackend(BboltDb.open(bytesSource(onePass.image)));
    expect(cut.consistentIndex).toBe(3007n);
    expect([...cut.keys()].length).toBe(3000);
  });

  it('falls back to two passes, with the same bytes, when the spool cannot be written', async () => {
    const backend = await backendWith(500);
    const logs: Logged[] = [];
    const twoPass = await save(backend, logs);
    const fallback = await save(backend, logs, { fs: fullDisk(), dir });
    expect(fallback.image.equals(twoPass.image)).toBe(true);
    expect(logs.some((l) => l.level === 'warn' && l.msg.includes('could not spool'))).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('stops spooling when the client goes away, closing and removing the spool', async () => {
    const backend = await backendWith(3000);
    const ac = new AbortController();
    ac.abort(new Error('client went away'));
    await expect(save(backend, [], { fs: nodeFileLayer, dir }, ac.signal)).rejects.toThrow('client went away');
    expect(readdirSync(dir)).toEqual([]);
    // The view was closed: the backend takes writes and serves a later save.
    const after = await save(backend, [], { fs: nodeFileLayer, dir });
    expect(after.image.length).toBeGreaterThan(4_000_000);
  });
});
