/**
 * The layout of the state db: one LevelDB keyspace split by a single leading byte, the
 * way etcd splits bbolt into buckets. Every module that stores state takes its prefix
 * from here, so two modules can never collide.
 *
 * | prefix | bucket (etcd name) | owner  | record                                          |
 * |--------|--------------------|--------|-------------------------------------------------|
 * | 'k'    | key                | mvcc   | 'k' + revBytes -> marshalled mvccpb.KeyValue     |
 * | 'm'    | meta               | apply, mvcc | 'm' + ascii name -> value (see META_*)      |
 * | 'l'    | lease              | lease  | reserved: 'l' + 8-byte BE lease id -> leasepb    |
 * | 'a'    | auth, authUsers, authRoles | auth | reserved: 'a' + sub-bucket byte + name   |
 * | 'c'    | members, members_removed, cluster | cluster/membership | reserved           |
 * | 'x'    | alarm              | apply/alarms | 'x' + marshalled AlarmMember -> empty (etcd's) |
 *
 * revBytes is etcd's revision key (mvcc/revision.go): 8-byte big-endian main revision,
 * '_', 8-byte big-endian sub revision (17 bytes), plus a trailing 't' for a tombstone
 * (18 bytes). Records are therefore ordered by revision, which is what compaction,
 * watch catch-up and HashKV scan (HashKV hashes revBytes without our prefix byte, so it
 * equals etcd's). Sub-layouts of the reserved prefixes belong to their owners.
 */
import { assert } from '../shared/assert.js';

export const KEY_PREFIX = 0x6b; // 'k'
export const META_PREFIX = 0x6d; // 'm'
export const LEASE_PREFIX = 0x6c; // 'l'
export const AUTH_PREFIX = 0x61; // 'a'
export const MEMBERS_PREFIX = 0x63; // 'c'
export const ALARM_PREFIX = 0x78; // 'x'

/** etcd's bucket name for the key bucket; HashKV starts by hashing it. */
export const KEY_BUCKET_NAME = Buffer.from('key');

export function metaKey(name: string): Buffer {
  return Buffer.concat([Buffer.from([META_PREFIX]), Buffer.from(name, 'ascii')]);
}

/** Meta keys, named as etcd names them in its meta bucket. */
export const META_CONSISTENT_INDEX = metaKey('consistent_index');
export const META_TERM = metaKey('term');
export const META_CONF_STATE = metaKey('confState');
/**
 * tsetcd's own: written into a state db received in a snapshot from the leader, the
 * db's applied index at install. Until this member applies a further entry, its db may
 * legitimately be ahead of its WAL (the leader's db moved past the snapshot index).
 */
export const META_INSTALLED_INDEX = metaKey('tsetcdInstalledIndex');
/** Written by mvcc when a compaction is applied (same batch as the apply). */
export const META_SCHEDULED_COMPACT_REV = metaKey('scheduledCompactRev');
/** Written by mvcc when the physical deletion of a compaction has finished. */
export const META_FINISHED_COMPACT_REV = metaKey('finishedCompactRev');

/** A non-negative safe integer as 8 bytes big-endian (meta values). */
export function encodeUint64(n: number): Buffer {
  assert(Number.isSafeInteger(n) && n >= 0, `encodeUint64: not a non-negative safe integer: ${n}`);
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 0);
  b.writeUInt32BE(n >>> 0, 4);
  return b;
}

export function decodeUint64(b: Buffer): number {
  assert(b.length === 8, `decodeUint64: expected 8 bytes, got ${b.length}`);
  const n = b.readUInt32BE(0) * 0x1_0000_0000 + b.readUInt32BE(4);
  assert(Number.isSafeInteger(n), `decodeUint64: value above 2^53`);
  return n;
}
