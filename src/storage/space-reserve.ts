/**
 * The space reserve (docs/architecture.md §3): `member/space.reserve`, zeros kept back
 * so that a start on a full disk can still open the state db. LevelDB's open writes its
 * memtable log into a table file and a new manifest, which a full disk refuses; an open
 * that fails for want of room releases the reserve and tries once more. Once the member
 * is open the reserve is put back; what does not fit back says the disk is (still)
 * full, and the member starts refusing writes. Written once: a whole reserve from an
 * earlier start is left as it is.
 */
import { dirname } from 'node:path';
import type { Logger } from '../shared/logger.js';
import { isNoSpace, type FileHandle, type FileLayer } from './file-layer.js';

export const SPACE_RESERVE_NAME = 'space.reserve';

/**
 * The reserve the process shell keeps: LevelDB's open writes the memtable's log
 * into a table file and a new manifest (up to the 4 MiB write buffer, more after a
 * large batch), which a full disk refuses; this is room for that, released at start.
 */
export const SPACE_RESERVE_BYTES_DEFAULT = 16 * 1024 * 1024;
const ZEROS = Buffer.alloc(1024 * 1024);

/**
 * Makes sure the reserve holds `bytes` (a whole one from an earlier start stays as it
 * is: no write at all). Otherwise writes a new one of zeros and syncs it; a disk that
 * has no room for all of it keeps the part that fit (the next start can release that
 * much) and returns the ENOSPC: this member starts refusing writes. Other errors stop
 * the start.
 */
export async function putBackReserve(fs: FileLayer, path: string, bytes: number, logger: Logger): Promise<Error | undefined> {
  if (bytes <= 0) return undefined;
  if (await fs.exists(path)) {
    if ((await fs.statSize(path)) >= bytes) return undefined;
    await fs.unlink(path);
  }
  let fh: FileHandle | undefined;
  let full: Error | undefined;
  let written = 0;
  try {
    fh = await fs.open(path, 'create-exclusive');
    while (written < bytes) {
      const n = Math.min(ZEROS.length, bytes - written);
      await fh.write(ZEROS.subarray(0, n), written);
      written += n;
    }
  } catch (err) {
    if (!isNoSpace(err) || !(err instanceof Error)) throw err;
    full = err;
  }
  try {
    if (fh !== undefined) {
      await fh.truncate(written); // a short write may have left a partial chunk
      await fh.sync();
      await fh.close();
    }
    await fs.syncDir(dirname(path));
  } catch (err) {
    if (!isNoSpace(err) || !(err instanceof Error)) throw err;
    full ??= err;
  }
  if (full !== undefined) {
    logger.warn(
      { reserve: path, wantedBytes: bytes, keptBytes: written, error: full.message },
      'no space left on device at start: this member refuses writes (NOSPACE) and serves reads; free or grow the disk, then restart it',
    );
  }
  return full;
}

/** Opens the state db; an open that finds no room releases the reserve and tries once more. */
export async function openWithReserve<T>(fs: FileLayer, reservePath: string, open: () => Promise<T>, logger: Logger): Promise<T> {
  try {
    return await open();
  } catch (err) {
    if (!isNoSpace(err) || !(await fs.exists(reservePath))) throw err;
    logger.warn({ reserve: reservePath }, 'no space left to open the state db: releasing the space reserve');
    await fs.unlink(reservePath);
    return open();
  }
}
