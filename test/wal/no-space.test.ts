// A disk too full for WAL preallocation: etcd warns and runs; tsetcd does the same and
// never leaves a temp file behind (docs/architecture.md §3). Other failures while
// preparing a file still fail the create, and still leave no temp file.
import { describe, expect, it } from 'vitest';
import { isFsError } from '../../src/storage/file-layer.js';
import { SimFileLayer } from '../../src/testing/sim-file-layer.js';
import type { Logger } from '../../src/shared/logger.js';
import { Wal } from '../../src/wal/index.js';
import type { WalEntry } from '../../src/wal/index.js';

const DIR = '/data/member/wal';
const META = Buffer.from('member=1,cluster=2');

function ents(from: number, to: number, term: number): WalEntry[] {
  const out: WalEntry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: 0, data: Buffer.from(`e${i}`.padEnd(200, '.')) });
  return out;
}

function recordingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (_o, msg) => void warnings.push(msg),
    error: () => {},
    child: () => logger,
  };
  return { logger, warnings };
}

/** The first write into each temp file (its zero fill) finds the disk full. */
function zeroFillFails(...alreadyFilled: string[]): (kind: string, path: string) => 'ENOSPC' | undefined {
  const seen = new Set<string>(alreadyFilled);
  return (kind, path) => {
    if (kind !== 'write' || !path.endsWith('.tmp') || seen.has(path)) return undefined;
    seen.add(path);
    return 'ENOSPC';
  };
}

async function tempFiles(fs: SimFileLayer): Promise<string[]> {
  return (await fs.readdir(DIR)).filter((n) => n.endsWith('.tmp'));
}

describe('WAL on a disk without room for preallocation', () => {
  it('create: ENOSPC while zero-filling warns, runs without preallocation, leaves no temp file', async () => {
    const fs = new SimFileLayer();
    fs.setFault(zeroFillFails());
    const { logger, warnings } = recordingLogger();
    const wal = await Wal.create(fs, DIR, META, { segmentBytes: 64 * 1024, logger });
    expect(warnings).toContain('failed to preallocate space when creating a new WAL');
    await wal.save({ entries: ents(1, 20, 1), hardState: { term: 1, vote: 0n, commit: 20 } });
    await wal.close();
    expect(await tempFiles(fs)).toEqual([]);
    const { recovered, wal: again } = await Wal.open(fs, DIR, { segmentBytes: 64 * 1024 });
    expect(recovered.entries.map((e) => e.index)).toEqual(ents(1, 20, 1).map((e) => e.index));
    await again.close();
  });

  it('cut: ENOSPC while preparing the next segment warns and the WAL keeps appending', async () => {
    const fs = new SimFileLayer();
    const { logger, warnings } = recordingLogger();
    const wal = await Wal.create(fs, DIR, META, { segmentBytes: 4096, logger });
    // create.tmp is the first segment's handle (renamed since): its writes are appends.
    fs.setFault(zeroFillFails(`${DIR}/create.tmp`));
    for (let i = 1; i <= 60; i += 5) await wal.save({ entries: ents(i, i + 4, 1) });
    expect(warnings).toContain('failed to preallocate space when creating a new WAL');
    const segments = (await fs.readdir(DIR)).filter((n) => n.endsWith('.wal'));
    expect(segments.length).toBeGreaterThan(1);
    await wal.close();
    expect(await tempFiles(fs)).toEqual([]);
    fs.setFault(undefined);
    const { recovered, wal: again } = await Wal.open(fs, DIR, { segmentBytes: 4096 });
    expect(recovered.entries.at(-1)?.index).toBe(60);
    await again.close();
  });

  it('create: an EIO while preparing fails the create and removes the temp file', async () => {
    const fs = new SimFileLayer();
    fs.setFault((kind, path) => (kind === 'sync' && path.endsWith('.tmp') ? 'EIO' : undefined));
    const err = await Wal.create(fs, DIR, META, { segmentBytes: 64 * 1024 }).catch((e: unknown) => e);
    expect(isFsError(err, 'EIO')).toBe(true);
    fs.setFault(undefined);
    expect(await tempFiles(fs)).toEqual([]);
    expect(await Wal.exists(fs, DIR)).toBe(false);
  });
});
