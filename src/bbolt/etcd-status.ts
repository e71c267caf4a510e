/**
 * What `etcdctl snapshot status` reports for a bbolt file (etcd clientv3/snapshot
 * v3_snapshot.go Status; etcdutl the same in 3.5), computed by our reader:
 * - hash: CRC-32C fed, in root-bucket order, each bucket's name and then every
 *   entry's key and value bytes, with no lengths or separators;
 * - revision: the main revision (first 8 bytes, big-endian) of the last entry of the
 *   `key` bucket, tombstones included; 0 when the bucket is empty or absent;
 * - totalKey: the number of entries across all root buckets;
 * - totalSize: pgid x pageSize.
 * A root entry that is not a bucket is an error, as in etcdctl ("cannot get hash of
 * bucket"). Nested buckets contribute their name and no value (bbolt's ForEach gives a
 * nil value for them); etcd has none.
 */
import { Crc32c } from '../shared/crc32c.js';
import { BboltFormatError } from './errors.js';
import type { BboltDb } from './reader.js';

export interface SnapshotStatus {
  readonly hash: number;
  readonly revision: number;
  readonly totalKey: number;
  readonly totalSize: number;
}

const KEY_BUCKET = 'key';

export function snapshotStatus(db: BboltDb): SnapshotStatus {
  const crc = new Crc32c();
  let revision = 0;
  let totalKey = 0;
  const root = db.root();
  for (const b of root.entries()) {
    if (!b.isBucket) throw new BboltFormatError(`cannot get hash of bucket ${Buffer.from(b.key).toString()}`);
    crc.update(b.key);
    const isKey = Buffer.from(b.key).toString('latin1') === KEY_BUCKET;
    for (const e of root.open(b).entries()) {
      crc.update(e.key);
      if (!e.isBucket) crc.update(e.value);
      totalKey++;
      if (isKey) {
        if (e.key.length < 8) throw new BboltFormatError(`key bucket entry of ${e.key.length} bytes is no revision`);
        revision = Number(new DataView(e.key.buffer, e.key.byteOffset, 8).getBigUint64(0, false));
      }
    }
  }
  return { hash: crc.digest(), revision, totalKey, totalSize: db.imageSize };
}
