/**
 * The file layer: the only way the WAL (and later snapshot install) touches files
 * (docs/architecture.md §2, §3). Implementations: node-file-layer.ts over node:fs/promises
 * (production), and the test doubles in src/testing: sim-file-layer.ts, in memory, which separates durable from volatile state so a
 * simulated power cut loses exactly what a real one may lose.
 *
 * Contract (what callers may rely on, and nothing more; POSIX as ALICE models it):
 * - `write` places bytes at an explicit offset; nothing is durable until `datasync`
 *   or `sync` of that handle resolves. Unsynced writes may be lost, torn at a sector
 *   boundary, or persisted out of order page by page.
 * - `datasync` flushes the data and the size needed to read it back (fdatasync);
 *   `sync` also flushes other metadata (fsync). After `truncate`, use `sync`.
 * - Creating, renaming and unlinking a name is durable only after `syncDir` of the
 *   directory that holds the name (fsync on the directory fd). A crash may keep any
 *   subset of unsynced name changes.
 * - All paths are absolute or relative to the process's cwd; the layer never
 *   normalises beyond what `node:path` does.
 * - Errors are Node-style: an Error with a string `code` ('ENOENT', 'EEXIST', ...),
 *   tested with `isFsError`. After a failed `datasync`/`sync` the file's state is
 *   unknown (fsyncgate): callers must not retry, they must stop.
 */

/** 'r': read only; 'rw': read and write, must exist; 'create-exclusive': O_CREAT|O_EXCL|O_RDWR. */
export type OpenMode = 'r' | 'rw' | 'create-exclusive';

export interface FileHandle {
  /** The path the handle was opened with (for error messages). */
  readonly path: string;
  /**
   * Up to `length` bytes from `position`; shorter only at end of file.
   * The returned bytes are the caller's (never aliased by the layer).
   */
  read(position: number, length: number): Promise<Uint8Array>;
  /** Writes all of `data` at `position`, extending the file (zero gap) if needed. */
  write(data: Uint8Array, position: number): Promise<void>;
  /** fdatasync: data and size are durable when this resolves. */
  datasync(): Promise<void>;
  /** fsync: data and all metadata are durable when this resolves. */
  sync(): Promise<void>;
  truncate(sizeBytes: number): Promise<void>;
  /** Current (volatile) size in bytes. */
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface FileLayer {
  open(path: string, mode: OpenMode): Promise<FileHandle>;
  /** Names (not paths) of the directory's entries, sorted by code unit. */
  readdir(dir: string): Promise<string[]>;
  /** mkdir -p. Not durable until the parents are synced with syncDir. */
  mkdirp(dir: string): Promise<void>;
  /** Atomic replace of `to` (POSIX rename). Durable after syncDir of both parents. */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Removes an empty directory. */
  rmdir(path: string): Promise<void>;
  /** fsync of the directory itself: makes its entry changes durable. */
  syncDir(dir: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** Size in bytes of a file (ENOENT if missing). */
  statSize(path: string): Promise<number>;
}

/** Codes the layers raise; the sim raises only these. */
export type FsErrorCode =
  'ENOENT' | 'EEXIST' | 'EISDIR' | 'ENOTDIR' | 'ENOTEMPTY' | 'EBADF' | 'EIO' | 'ENOSPC';

export function isFsError(err: unknown, code?: FsErrorCode): err is Error & { code: string } {
  if (!(err instanceof Error)) return false;
  const c: unknown = (err as Error & { code?: unknown }).code;
  return typeof c === 'string' && (code === undefined || c === code);
}

/**
 * The file system has no room (for us): ENOSPC or EDQUOT from a file call, or LevelDB's
 * IO error carrying the same errno text (classic-level reports LEVEL_IO_ERROR with
 * "No space left on device" in the message). Such a failure is not a broken disk: the
 * member stops taking writes and keeps serving reads (docs/architecture.md §3).
 */
export function isNoSpace(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code: unknown = (err as Error & { code?: unknown }).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return true;
  return /No space left on device|Disk quota exceeded/.test(err.message) || isNoSpace(err.cause);
}

/** A Node-style error (used by the sim and by callers that wrap failures). */
export function fsError(
  code: FsErrorCode,
  op: string,
  path: string,
): Error & { code: FsErrorCode } {
  const err = new Error(`${code}: ${op} '${path}'`) as Error & { code: FsErrorCode };
  err.code = code;
  return err;
}

/** Reads a whole file. */
export async function readWholeFile(fs: FileLayer, path: string): Promise<Uint8Array> {
  const fh = await fs.open(path, 'r');
  try {
    return await fh.read(0, await fh.size());
  } finally {
    await fh.close();
  }
}

/**
 * Writes a whole new file and makes its contents durable (not its name: the caller
 * syncs the directory). Replaces an existing file of that name.
 */
export async function writeWholeFile(fs: FileLayer, path: string, data: Uint8Array): Promise<void> {
  if (await fs.exists(path)) await fs.unlink(path);
  const fh = await fs.open(path, 'create-exclusive');
  try {
    await fh.write(data, 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** rm -rf: removes a file or a directory tree; a missing path is not an error. */
export async function removeTree(fs: FileLayer, path: string): Promise<void> {
  if (!(await fs.exists(path))) return;
  try {
    await fs.unlink(path);
    return;
  } catch (err) {
    // unlink(2) of a directory fails with EISDIR on Linux (EPERM elsewhere).
    if (!isFsError(err) || (err.code !== 'EISDIR' && err.code !== 'EPERM')) throw err;
  }
  for (const name of await fs.readdir(path)) await removeTree(fs, `${path}/${name}`);
  await fs.rmdir(path);
}
