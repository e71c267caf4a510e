/**
 * The last step of installing a state db received in a snapshot, also run at every
 * start (docs/architecture.md §3): `member/db.staged` holds the staged snapshot's index;
 * when the WAL's snapshot marker has reached it the staging is swapped in, otherwise it
 * never committed and is discarded. All names live in `member/`, so each rename is one
 * atomic directory change.
 */
import type { Logger } from '../shared/logger.js';
import { readWholeFile, removeTree, type FileLayer } from './file-layer.js';

export function swapPaths(paths: { db: string }): { staging: string; staged: string; old: string } {
  return { staging: `${paths.db}.staging`, staged: `${paths.db}.staged`, old: `${paths.db}.old` };
}

/**
 * Finishes or discards a snapshot install at start (and completes one in progress).
 * member/db.staged holds the staged snapshot's index: when the WAL's snapshot marker
 * has reached it, the install is committed and the staging is swapped in; otherwise it
 * never committed and the staging is discarded. Every name involved lives in member/,
 * so each rename is one atomic directory change, whatever subset of the unsynced
 * changes a power cut keeps.
 */
export async function finishStagedSwap(
  paths: { member: string; db: string },
  fs: FileLayer,
  logger: Logger,
  walSnapshotIndex: number,
): Promise<void> {
  const { staging, staged, old } = swapPaths(paths);
  const stagedIndex = await readStagedIndex(fs, staged);
  if (stagedIndex !== undefined && walSnapshotIndex >= stagedIndex && (await fs.exists(staging))) {
    if (await fs.exists(paths.db)) {
      await removeTree(fs, old);
      await fs.rename(paths.db, old);
    }
    await fs.rename(staging, paths.db);
    await fs.syncDir(paths.member);
    logger.info({ db: paths.db, snapshotIndex: stagedIndex }, 'swapped in the state db received in a snapshot');
  }
  const leftovers = [staging, old, staged];
  let removed = false;
  for (const p of leftovers) {
    if (await fs.exists(p)) {
      await removeTree(fs, p);
      removed = true;
    }
  }
  if (removed) await fs.syncDir(paths.member);
}

async function readStagedIndex(fs: FileLayer, path: string): Promise<number | undefined> {
  if (!(await fs.exists(path))) return undefined;
  const text = Buffer.from(await readWholeFile(fs, path)).toString('utf8').trim();
  const n = Number(text);
  // The marker's bytes are synced before its name: anything else is not our marker.
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
