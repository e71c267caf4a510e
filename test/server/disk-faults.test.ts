// A full or failing disk under one real member core (WAL, FileLogBackend state db,
// Raft, applier, EtcdServer) on the injected file layer (docs/architecture.md §3):
// - ENOSPC on a WAL write, a WAL fdatasync, a state-db write, or a short write that ends
//   in ENOSPC: the member does not stop; it refuses writes with NOSPACE, serves reads
//   (serializable, and linearizable as the only voter), and what it acknowledged
//   survives a restart and a power cut; a restart on a still-full disk comes up the
//   same way (the space reserve gives the state db room to open).
// - EIO on a WAL write or fdatasync (also after a short write): the member stops through
//   onFatal with an error naming the WAL file, and nothing is acknowledged after it.
import { afterEach, describe, expect, it } from 'vitest';
import { RequestKind } from '../../src/apply/request.js';
import type * as pb from '../../src/generated/pb.js';
import type { MemberCore } from '../../src/server/member-core.js';
import { systemClock } from '../../src/shared/clock.js';
import { isTsetcdError } from '../../src/shared/errors.js';
import { nullLogger } from '../../src/shared/logger.js';
import { codec } from '../../src/shared/pb-codec.js';
import { SeededRng } from '../../src/shared/rng.js';
import { bootOneMember, startAndLead } from './core-settings.js';
import type { FileHandle, FileLayer, FsErrorCode, OpenMode } from '../../src/storage/file-layer.js';
import { fsError } from '../../src/storage/file-layer.js';
import { FileLogBackend } from '../../src/testing/file-log-backend.js';
import { SimFileLayer } from '../../src/testing/sim-file-layer.js';

const putCodec = codec<pb.PutRequest>('etcdserverpb.PutRequest');
const RESERVE_BYTES = 64 * 1024;

type Op = 'write' | 'datasync';
/** Which call fails, on which files, and how. `short`: half the bytes land first. */
interface Fault {
  readonly op: Op;
  readonly pathPart: string;
  readonly code: FsErrorCode;
  readonly short?: boolean;
}

/**
 * The sim, with one switchable fault. The sim fails a call before it changes anything;
 * a short write (`short`) first writes half of the data, as a real write(2) that ran
 * out of room part way does before the next call reports ENOSPC.
 */
class FaultLayer implements FileLayer {
  fault: Fault | undefined;
  /**
   * A disk with no room at all: every write fails, and the state db cannot open
   * (LevelDB's open writes a table and a manifest). Unlinking the space reserve frees
   * room for that open, but not for the reserve again.
   */
  diskFull = false;
  constructor(readonly sim: SimFileLayer) {}
  private hit(op: Op, path: string): Fault | undefined {
    const f = this.fault;
    return f !== undefined && f.op === op && path.includes(f.pathPart) ? f : undefined;
  }
  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const fh = await this.sim.open(path, mode);
    const layer = this;
    return {
      path: fh.path,
      read: (p, n) => fh.read(p, n),
      async write(data, position) {
        const f = layer.hit('write', path);
        if (layer.diskFull) throw fsError('ENOSPC', 'write', path);
        if (f === undefined) return fh.write(data, position);
        if (f.short === true) await fh.write(data.subarray(0, data.length >> 1), position);
        throw fsError(f.code, 'write', path);
      },
      async datasync() {
        const f = layer.hit('datasync', path);
        if (f !== undefined) throw fsError(f.code, 'fdatasync', path);
        return fh.datasync();
      },
      async sync() {
        const f = layer.hit('datasync', path);
        if (f !== undefined) throw fsError(f.code, 'fsync', path);
        return fh.sync();
      },
      truncate: (n) => fh.truncate(n),
      size: () => fh.size(),
      close: () => fh.close(),
    };
  }
  readdir(dir: string): Promise<string[]> {
    return this.sim.readdir(dir);
  }
  mkdirp(dir: string): Promise<void> {
    return this.sim.mkdirp(dir);
  }
  rename(from: string, to: string): Promise<void> {
    return this.sim.rename(from, to);
  }
  unlink(path: string): Promise<void> {
    if (this.diskFull && path.endsWith('/space.reserve')) {
      this.diskFull = false;
      this.fault = { op: 'write', pathPart: '/space.reserve', code: 'ENOSPC' };
    }
    return this.sim.unlink(path);
  }
  rmdir(path: string): Promise<void> {
    return this.sim.rmdir(path);
  }
  syncDir(dir: string): Promise<void> {
    return this.sim.syncDir(dir);
  }
  exists(path: string): Promise<boolean> {
    return this.sim.exists(path);
  }
  statSize(path: string): Promise<number> {
    return this.sim.statSize(path);
  }
}

interface Running {
  readonly core: MemberCore;
  readonly fatal: unknown[];
}

const open: Running[] = [];

async function boot(fs: FaultLayer): Promise<Running> {
  const core = await bootOneMember({
    fs,
    clock: systemClock,
    logger: nullLogger,
    clusterToken: 'disk',
    openBackend: async (dir) => {
      if (fs.diskFull) {
        // classic-level's report of the same errno (an IO error, the text carries it).
        throw Object.assign(new Error(`IO error: ${dir}/000009.ldb: No space left on device`), { code: 'LEVEL_IO_ERROR' });
      }
      return FileLogBackend.open(fs, dir);
    },
    walSegmentBytes: 64 * 1024,
    spaceReserveBytes: RESERVE_BYTES,
  });
  const r: Running = { core, fatal: [] };
  core.server.onFatal = (err) => void r.fatal.push(err);
  open.push(r);
  await startAndLead(core);
  return r;
}

async function shutdown(r: Running): Promise<void> {
  const i = open.indexOf(r);
  if (i >= 0) open.splice(i, 1);
  r.core.leaseDriver.stop();
  await r.core.server.stop();
}

afterEach(async () => {
  for (const r of open.splice(0)) {
    r.core.leaseDriver.stop();
    await r.core.server.stop().catch(() => undefined);
  }
});

function put(r: Running, key: string): Promise<unknown> {
  const payload = putCodec.encode({ key: Buffer.from(key), value: Buffer.from(`value of ${key}`) });
  return r.core.server.propose(RequestKind.Put, payload);
}

async function keys(r: Running): Promise<string[]> {
  const res = await r.core.storage.store.range({ key: Buffer.from('k'), rangeEnd: Buffer.from('l') });
  return res.kvs.map((kv) => kv.key.toString());
}

/** Puts until one fails; returns the keys acknowledged and the first failure. */
async function putUntilFailure(r: Running, fs: FaultLayer, fault: Fault, before: number): Promise<{ acked: string[]; failure: unknown }> {
  const acked: string[] = [];
  for (let i = 0; i < before; i++) {
    await put(r, `k${String(i).padStart(4, '0')}`);
    acked.push(`k${String(i).padStart(4, '0')}`);
  }
  fs.fault = fault;
  // A few concurrent puts: one group-committed batch meets the fault.
  const results = await Promise.allSettled(
    [0, 1, 2, 3].map((j) => put(r, `k${String(before + j).padStart(4, '0')}`)),
  );
  results.forEach((res, j) => {
    if (res.status === 'fulfilled') acked.push(`k${String(before + j).padStart(4, '0')}`);
  });
  const failed = results.find((res) => res.status === 'rejected');
  return { acked, failure: failed?.status === 'rejected' ? failed.reason : undefined };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

const NO_SPACE_CASES: ReadonlyArray<readonly [string, Fault]> = [
  ['WAL write', { op: 'write', pathPart: '/wal/', code: 'ENOSPC' }],
  ['WAL short write', { op: 'write', pathPart: '/wal/', code: 'ENOSPC', short: true }],
  ['WAL fdatasync', { op: 'datasync', pathPart: '/wal/', code: 'ENOSPC' }],
  ['state-db write', { op: 'write', pathPart: '/db/', code: 'ENOSPC' }],
];

describe('a full disk: the member stays up, refuses writes, serves reads, loses nothing acknowledged', () => {
  for (const [name, fault] of NO_SPACE_CASES) {
    it(`ENOSPC on a ${name}`, async () => {
      const sim = new SimFileLayer();
      const fs = new FaultLayer(sim);
      const r = await boot(fs);
      const { acked } = await putUntilFailure(r, fs, fault, 20);
      // A state-db write fails in the background: the member freezes a moment later.
      await until(() => r.core.server.isFrozen, 'the member to freeze');
      expect(r.fatal).toEqual([]);
      expect(r.core.server.localAlarms()).toEqual(['NOSPACE']);
      const refused = await put(r, 'kzzz').catch((e: unknown) => e);
      expect(isTsetcdError(refused, 'no-space')).toBe(true);
      // Reads: from memory, and linearizable too while it is the only voter.
      await r.core.server.linearizableReadPoint();
      const served = await keys(r);
      for (const k of acked) expect(served).toContain(k);
      // A restart while the disk is still full: comes up refusing writes, serving reads.
      await shutdown(r);
      fs.fault = undefined;
      fs.diskFull = true;
      const again = await boot(fs);
      expect(fs.diskFull).toBe(false); // the reserve was released for the open
      expect(again.core.server.localAlarms()).toEqual(['NOSPACE']);
      expect(isTsetcdError(await put(again, 'kzzz').catch((e: unknown) => e), 'no-space')).toBe(true);
      for (const k of acked) expect(await keys(again)).toContain(k);
      await shutdown(again);
      // Room again, after a power cut: everything acknowledged is there, writes go.
      fs.fault = undefined;
      sim.crash(new SeededRng(7), 'drop');
      const healed = await boot(fs);
      expect(healed.core.server.localAlarms()).toEqual([]);
      const after = await keys(healed);
      for (const k of acked) expect(after).toContain(k);
      await put(healed, 'knew');
      expect(await keys(healed)).toContain('knew');
    }, 30_000);
  }
});

const EIO_CASES: ReadonlyArray<readonly [string, Fault]> = [
  ['WAL write', { op: 'write', pathPart: '/wal/', code: 'EIO' }],
  ['WAL short write', { op: 'write', pathPart: '/wal/', code: 'EIO', short: true }],
  ['WAL fdatasync', { op: 'datasync', pathPart: '/wal/', code: 'EIO' }],
];

describe('a failing disk: the member stops naming the file, and acknowledges nothing after the failure', () => {
  for (const [name, fault] of EIO_CASES) {
    it(`EIO on a ${name}`, async () => {
      const sim = new SimFileLayer();
      const fs = new FaultLayer(sim);
      const r = await boot(fs);
      const { acked, failure } = await putUntilFailure(r, fs, fault, 10);
      expect(failure).toBeDefined();
      await until(() => r.fatal.length > 0, 'onFatal');
      const msg = r.fatal[0] instanceof Error ? r.fatal[0].message : String(r.fatal[0]);
      expect(msg).toMatch(/^wal: (write|fdatasync) of \/data\/m1\/member\/wal\/[0-9a-f]{16}-[0-9a-f]{16}\.wal failed: EIO/);
      // The fault is gone (a retry would now succeed): still nothing is acknowledged.
      fs.fault = undefined;
      const later = await Promise.allSettled([put(r, 'klate1'), put(r, 'klate2')]);
      expect(later.map((x) => x.status)).toEqual(['rejected', 'rejected']);
      expect(acked.length).toBe(10);
      await shutdown(r);
      sim.crash(new SeededRng(3), 'drop');
      const again = await boot(fs);
      const after = await keys(again);
      for (const k of acked) expect(after).toContain(k);
      expect(after).not.toContain('klate1');
    }, 30_000);
  }
});
