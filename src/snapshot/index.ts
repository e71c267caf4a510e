/**
 * snapshot/: etcd snapshot files offline, for the `tsetcd snapshot` commands: `status`
 * (what etcdctl prints for a file) and `restore` (a file to a new data dir). It reads
 * the file through bbolt/ and writes the data dir through server/'s MemberStorage, so
 * the layout on disk stays owned by server/ and storage/ (docs/architecture.md §3).
 */
import { snapshotStatus, type SnapshotStatus } from '../bbolt/etcd-status.js';
import { BboltFormatError } from '../bbolt/errors.js';
import { BboltDb } from '../bbolt/reader.js';
import { nodeFileLayer } from '../storage/node-file-layer.js';
import { openFileSource, SnapshotFileError } from './file-source.js';
import { restoreSnapshot, RestoreError, type RestoreRequest, type RestoreResult } from './restore.js';

export { formatStatus, humanizeBytes, isStatusFormat, STATUS_FORMATS, type StatusFormat } from './status.js';
export { RestoreError, type RestoreRequest, type RestoreResult } from './restore.js';
export type { SnapshotStatus } from '../bbolt/etcd-status.js';

/** `snapshot status FILE`: throws RestoreError with a one-line message on any problem. */
export function snapshotFileStatus(path: string): SnapshotStatus {
  let source;
  try {
    source = openFileSource(path);
  } catch (err) {
    if (err instanceof SnapshotFileError) throw new RestoreError(err.message);
    throw err;
  }
  try {
    return snapshotStatus(BboltDb.open(source));
  } catch (err) {
    if (err instanceof BboltFormatError || err instanceof SnapshotFileError) throw new RestoreError(`snapshot ${path}: ${err.message}`);
    throw err;
  } finally {
    source.close();
  }
}

/** restoreSnapshot on the real file system. */
export function restoreSnapshotFile(req: Omit<RestoreRequest, 'fs'>): Promise<RestoreResult> {
  return restoreSnapshot({ ...req, fs: nodeFileLayer });
}
