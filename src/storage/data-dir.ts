/**
 * The data dir's own names (docs/architecture.md §3): the `member/tsetcd` marker that
 * says a data dir is tsetcd's, and the refusal of a data dir that holds etcd's files.
 */
import { dirname, join } from 'node:path';
import { StartRefusal } from '../shared/errors.js';
import type { FileLayer } from './file-layer.js';

export const MARKER = 'tsetcd';

/** `dir` itself if it exists, else its closest existing ancestor (the root at worst). */
export async function firstExistingAncestor(fs: FileLayer, dir: string): Promise<string> {
  let d = dir;
  while (!(await fs.exists(d)) && dirname(d) !== d) d = dirname(d);
  return d;
}

export async function refuseEtcdDataDir(
  fs: FileLayer,
  dataDir: string,
  paths: { member: string; wal: string },
): Promise<void> {
  const marker = join(paths.member, MARKER);
  const etcdDb = join(paths.member, 'snap', 'db');
  const hasEtcdWal =
    !(await fs.exists(marker)) &&
    (await fs.exists(paths.wal)) &&
    (await fs.readdir(paths.wal)).some((n) => n.endsWith('.wal'));
  if ((await fs.exists(etcdDb)) || (hasEtcdWal && !(await fs.exists(join(paths.member, 'db'))))) {
    throw new StartRefusal(
      'data-dir',
      `data dir ${dataDir} holds etcd's own data files (member/snap/db, member/wal); tsetcd does not open etcd's data dir. ` +
        `Migrate as with etcd: 'etcdctl snapshot save' (or this member/snap/db with --skip-hash-check), then 'tsetcd snapshot restore' into a new data dir (docs/upgrade.md).`,
    );
  }
}
