/**
 * etcd's backend schema on top of bbolt (docs/architecture.md §3), both ways: a cut of
 * a member's state in, the ordered record stream the bbolt writer turns into a file
 * etcd 3.4/3.5 restores (etcdBackendRecords); an etcd bbolt file in, the same cut out
 * (readEtcdBackend).
 *
 * Buckets, in byte order (mvcc/backend, mvcc/kvstore.go, etcdserver/cindex,
 * lease/lessor.go, etcdserver/api/membership/store.go, auth/store.go, and 3.5's
 * server/mvcc/buckets): alarm, auth, authRoles, authUsers, cluster, key, lease,
 * members, members_removed, meta. All ten are always written (empty ones inline).
 * - key: 17-byte revision keys (8-byte BE main, '_', 8-byte BE sub), 18 with a
 *   trailing 't' for a tombstone (mvcc/revision.go, kvstore.go) -> mvccpb.KeyValue bytes
 *   as the cut stores them (tsetcd keeps them marshalled already).
 * - meta: consistent_index (u64 BE), term (u64 BE, 3.5, written when > 0),
 *   scheduledCompactRev / finishedCompactRev (revision key (C, 0)), confState (3.5 JSON).
 * - lease: 8-byte BE int64 id -> leasepb.Lease; members: lowercase hex id -> member JSON
 *   (Go encoding/json, fields id, peerURLs, isLearner?, name?, clientURLs?);
 *   members_removed: hex id -> "removed"; cluster: clusterVersion (and 3.5 downgrade);
 *   alarm: marshalled AlarmMember -> empty; auth: authEnabled (1 byte), authRevision
 *   (u64 BE); authUsers / authRoles: name -> marshalled authpb.User / Role, passed through.
 *
 * Ids are bigint everywhere (they exceed 2^53); JSON is produced and parsed without
 * passing ids through doubles. readEtcdBackend streams the key bucket (keys() walks
 * the file again on each call; the last revision comes from the bucket's rightmost
 * path) and loads the small buckets eagerly. A file without a
 * key or meta bucket, or with a key-bucket entry that is not a revision key, is a
 * BboltFormatError ("not an etcd backend"). Unknown buckets and meta keys are ignored.
 */
import { BboltFormatError } from './errors.js';
import { decodeAlarm, decodeLease, encodeAlarm, encodeLease, type AlarmRecord, type LeaseRecord } from './etcd-proto.js';
import { compareKeys } from './layout.js';
import type { BboltDb } from './reader.js';
import type { BboltRecord, RecordSource } from './stream.js';

export type { AlarmRecord, LeaseRecord } from './etcd-proto.js';

export interface Revision {
  readonly main: number;
  readonly sub: number;
}

export interface KeyBucketEntry {
  /** 17-byte revision key, or 18 with 't' for a tombstone. */
  readonly key: Uint8Array;
  /** Marshalled mvccpb.KeyValue (a tombstone's holds only the user key). */
  readonly value: Uint8Array;
}

/** Shaped like src/cluster's Member (its branded ids are bigints), so a cut can pass those as they are. */
export interface EtcdMember {
  readonly id: bigint;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

export interface ConfStateRecord {
  readonly voters: readonly bigint[];
  readonly learners: readonly bigint[];
  readonly votersOutgoing: readonly bigint[];
  readonly learnersNext: readonly bigint[];
  readonly autoLeave: boolean;
}

export interface NamedBytes {
  readonly name: Uint8Array;
  /** Marshalled authpb.User or authpb.Role. */
  readonly value: Uint8Array;
}

export interface EtcdBackendCut {
  /**
   * The key bucket in ascending revision-key order; called once per writing pass. An
   * async source may yield batches (arrays of entries, in order) instead of entries.
   */
  readonly keys: () => Iterable<KeyBucketEntry> | AsyncIterable<KeyBucketEntry | readonly KeyBucketEntry[]>;
  readonly consistentIndex: bigint;
  /** 3.5's meta/term; absent (or 0) is not written, as in 3.4. */
  readonly term?: bigint;
  readonly scheduledCompactRev?: number;
  readonly finishedCompactRev?: number;
  readonly confState?: ConfStateRecord;
  readonly leases: readonly LeaseRecord[];
  readonly members: readonly EtcdMember[];
  readonly removedMembers: readonly bigint[];
  readonly clusterVersion?: string;
  readonly downgrade?: { readonly targetVersion: string; readonly enabled: boolean };
  readonly alarms: readonly AlarmRecord[];
  readonly auth: {
    readonly enabled?: boolean;
    readonly revision?: bigint;
    readonly users: readonly NamedBytes[];
    readonly roles: readonly NamedBytes[];
  };
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

export const BUCKETS = {
  alarm: enc('alarm'),
  auth: enc('auth'),
  authRoles: enc('authRoles'),
  authUsers: enc('authUsers'),
  cluster: enc('cluster'),
  key: enc('key'),
  lease: enc('lease'),
  members: enc('members'),
  membersRemoved: enc('members_removed'),
  meta: enc('meta'),
} as const;

const META = {
  consistentIndex: enc('consistent_index'),
  term: enc('term'),
  scheduledCompactRev: enc('scheduledCompactRev'),
  finishedCompactRev: enc('finishedCompactRev'),
  confState: enc('confState'),
};
const AUTH_ENABLED = enc('authEnabled');
const AUTH_REVISION = enc('authRevision');
const CLUSTER_VERSION = enc('clusterVersion');
const DOWNGRADE = enc('downgrade');
const REMOVED = enc('removed');

export function revisionKey(rev: Revision, tombstone = false): Uint8Array {
  if (!Number.isSafeInteger(rev.main) || !Number.isSafeInteger(rev.sub) || rev.main < 0 || rev.sub < 0) {
    throw new RangeError(`revision (${rev.main}, ${rev.sub}) is not a pair of non-negative safe integers`);
  }
  const out = new Uint8Array(tombstone ? 18 : 17);
  // Two 32-bit halves: no BigInt on this per-record path.
  const dv = new DataView(out.buffer);
  dv.setUint32(0, Math.floor(rev.main / 0x1_0000_0000), false);
  dv.setUint32(4, rev.main >>> 0, false);
  out[8] = 0x5f;
  dv.setUint32(9, Math.floor(rev.sub / 0x1_0000_0000), false);
  dv.setUint32(13, rev.sub >>> 0, false);
  if (tombstone) out[17] = 0x74;
  return out;
}

export function parseRevisionKey(key: Uint8Array): Revision & { readonly tombstone: boolean } {
  const ok = (key.length === 17 || (key.length === 18 && key[17] === 0x74)) && key[8] === 0x5f;
  if (!ok) throw new BboltFormatError(`not an etcd backend: key bucket entry ${Buffer.from(key).toString('hex')} is not a revision key`);
  const dv = new DataView(key.buffer, key.byteOffset, key.length);
  const main = dv.getBigInt64(0, false);
  const sub = dv.getBigInt64(9, false);
  if (main < 0n || sub < 0n || main > BigInt(Number.MAX_SAFE_INTEGER) || sub > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new BboltFormatError(`revision key ${Buffer.from(key).toString('hex')} is out of range`);
  }
  return { main: Number(main), sub: Number(sub), tombstone: key.length === 18 };
}

function u64(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, n), false);
  return out;
}

function readU64(v: Uint8Array, what: string): bigint {
  if (v.length !== 8) throw new BboltFormatError(`${what} has ${v.length} bytes, want 8`);
  return new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0, false);
}

/** A string as Go's encoding/json writes it (HTML-safe escapes for <, >, &, U+2028/9). */
function goJsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Member JSON as etcd's membership.Member marshals (etcdserver/api/membership/member.go). */
export function memberJson(m: EtcdMember): string {
  let s = `{"id":${BigInt.asUintN(64, m.id)},"peerURLs":${m.peerUrls.length === 0 ? 'null' : `[${m.peerUrls.map(goJsonString).join(',')}]`}`;
  if (m.isLearner) s += ',"isLearner":true';
  if (m.name !== '') s += `,"name":${goJsonString(m.name)}`;
  if (m.clientUrls.length > 0) s += `,"clientURLs":[${m.clientUrls.map(goJsonString).join(',')}]`;
  return `${s}}`;
}

/** raftpb.ConfState as 3.5 stores it (membership/confstate.go: encoding/json, omitempty lists). */
export function confStateJson(c: ConfStateRecord): string {
  const parts: string[] = [];
  const list = (name: string, ids: readonly bigint[]): void => {
    if (ids.length > 0) parts.push(`"${name}":[${ids.map((i) => BigInt.asUintN(64, i).toString()).join(',')}]`);
  };
  list('voters', c.voters);
  list('learners', c.learners);
  list('voters_outgoing', c.votersOutgoing);
  list('learners_next', c.learnersNext);
  parts.push(`"auto_leave":${c.autoLeave}`);
  return `{${parts.join(',')}}`;
}

function sortedEntries(entries: Array<[Uint8Array, Uint8Array]>): Array<[Uint8Array, Uint8Array]> {
  return entries.sort((a, b) => compareKeys(a[0], b[0]));
}

/** The small buckets' entries (everything but key), each sorted by key bytes. */
function smallBuckets(cut: EtcdBackendCut): Map<Uint8Array, Array<[Uint8Array, Uint8Array]>> {
  const auth: Array<[Uint8Array, Uint8Array]> = [];
  if (cut.auth.enabled !== undefined) auth.push([AUTH_ENABLED, Uint8Array.of(cut.auth.enabled ? 1 : 0)]);
  if (cut.auth.revision !== undefined) auth.push([AUTH_REVISION, u64(cut.auth.revision)]);
  const cluster: Array<[Uint8Array, Uint8Array]> = [];
  if (cut.clusterVersion !== undefined) cluster.push([CLUSTER_VERSION, enc(cut.clusterVersion)]);
  if (cut.downgrade !== undefined) {
    cluster.push([DOWNGRADE, enc(`{"target-version":${goJsonString(cut.downgrade.targetVersion)},"enabled":${cut.downgrade.enabled}}`)]);
  }
  const meta: Array<[Uint8Array, Uint8Array]> = [[META.consistentIndex, u64(cut.consistentIndex)]];
  if (cut.term !== undefined && cut.term > 0n) meta.push([META.term, u64(cut.term)]);
  if (cut.scheduledCompactRev !== undefined) meta.push([META.scheduledCompactRev, revisionKey({ main: cut.scheduledCompactRev, sub: 0 })]);
  if (cut.finishedCompactRev !== undefined) meta.push([META.finishedCompactRev, revisionKey({ main: cut.finishedCompactRev, sub: 0 })]);
  if (cut.confState !== undefined) meta.push([META.confState, enc(confStateJson(cut.confState))]);
  return new Map([
    [BUCKETS.alarm, sortedEntries(cut.alarms.map((a) => [encodeAlarm(a), new Uint8Array(0)]))],
    [BUCKETS.auth, sortedEntries(auth)],
    [BUCKETS.authRoles, sortedEntries(cut.auth.roles.map((r) => [r.name, r.value]))],
    [BUCKETS.authUsers, sortedEntries(cut.auth.users.map((u) => [u.name, u.value]))],
    [BUCKETS.cluster, sortedEntries(cluster)],
    [BUCKETS.lease, sortedEntries(cut.leases.map((l) => [u64(l.id), encodeLease(l)]))],
    [BUCKETS.members, sortedEntries(cut.members.map((m) => [enc(BigInt.asUintN(64, m.id).toString(16)), enc(memberJson(m))]))],
    [BUCKETS.membersRemoved, sortedEntries(cut.removedMembers.map((id) => [enc(BigInt.asUintN(64, id).toString(16)), REMOVED]))],
    [BUCKETS.meta, sortedEntries(meta)],
  ]);
}

function isBatch(e: KeyBucketEntry | readonly KeyBucketEntry[]): e is readonly KeyBucketEntry[] {
  return Array.isArray(e);
}

/** The bucket stream for writeBbolt/planBbolt; re-iterable (each call walks cut.keys() again). */
export function etcdBackendRecords(cut: EtcdBackendCut): RecordSource {
  const small = smallBuckets(cut);
  return async function* records(): AsyncGenerator<BboltRecord> {
    for (const name of Object.values(BUCKETS)) {
      yield { bucket: [name] };
      if (name === BUCKETS.key) {
        for await (const e of cut.keys()) yield isBatch(e) ? { bucket: [name], entries: e } : { bucket: [name], key: e.key, value: e.value };
        continue;
      }
      for (const [key, value] of small.get(name) ?? []) yield { bucket: [name], key, value };
    }
  };
}

export interface EtcdBackendContents extends Omit<EtcdBackendCut, 'keys'> {
  /** Key bucket entries in file order, with their parsed revisions; walks the file per call. */
  readonly keys: () => Generator<KeyBucketEntry & { readonly revision: Revision; readonly tombstone: boolean }>;
  /** Main revision of the key bucket's last entry (what snapshot status reports); 0 if empty. */
  readonly lastRevision: number;
}

function entriesOf(db: BboltDb, name: Uint8Array): Array<[Uint8Array, Uint8Array]> {
  const b = db.bucket(name);
  if (b === undefined) return [];
  const out: Array<[Uint8Array, Uint8Array]> = [];
  for (const e of b.entries()) if (!e.isBucket) out.push([e.key, e.value]);
  return out;
}

function hexId(text: string, where: string): bigint {
  if (!/^[0-9a-f]{1,16}$/.test(text)) throw new BboltFormatError(`${where}: key ${JSON.stringify(text)} is not a hex member id`);
  return BigInt(`0x${text}`);
}

function parseJson<T>(bytes: Uint8Array, where: string): T {
  try {
    return JSON.parse(dec(bytes)) as T;
  } catch {
    throw new BboltFormatError(`${where}: not JSON`);
  }
}

function parseIds(text: string, field: string): bigint[] {
  const m = new RegExp(`"${field}":\\[([0-9,]*)\\]`).exec(text);
  if (m === null) return [];
  return (m[1] ?? '').split(',').filter((s) => s.trim() !== '').map((s) => BigInt(s.trim()));
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function parseMember(idHex: string, json: Uint8Array): EtcdMember {
  const doc = parseJson<Record<string, unknown> | null>(json, `members/${idHex}`);
  return {
    id: hexId(idHex, 'members'),
    name: typeof doc?.['name'] === 'string' ? doc['name'] : '',
    peerUrls: strings(doc?.['peerURLs']),
    clientUrls: strings(doc?.['clientURLs']),
    isLearner: doc?.['isLearner'] === true,
  };
}

export function readEtcdBackend(db: BboltDb): EtcdBackendContents {
  const keyBucket = db.bucket(BUCKETS.key);
  const metaBucket = db.bucket(BUCKETS.meta);
  if (keyBucket === undefined && metaBucket === undefined) {
    throw new BboltFormatError('not an etcd backend: no key or meta bucket');
  }
  const keys = function* (): Generator<KeyBucketEntry & { revision: Revision; tombstone: boolean }> {
    if (keyBucket === undefined) return;
    for (const e of keyBucket.entries()) {
      if (e.isBucket) throw new BboltFormatError('not an etcd backend: a bucket inside the key bucket');
      const r = parseRevisionKey(e.key);
      yield { key: e.key, value: e.value, revision: { main: r.main, sub: r.sub }, tombstone: r.tombstone };
    }
  };
  // Found without walking the bucket: a walk of a large key bucket costs a read of the file.
  const lastKey = keyBucket?.last();
  if (lastKey?.isBucket === true) throw new BboltFormatError('not an etcd backend: a bucket inside the key bucket');
  const lastRevision = lastKey === undefined ? 0 : parseRevisionKey(lastKey.key).main;
  const meta = new Map(entriesOf(db, BUCKETS.meta).map(([k, v]) => [dec(k), v]));
  const compactRev = (name: string): number | undefined => {
    const v = meta.get(name);
    return v === undefined ? undefined : parseRevisionKey(v).main;
  };
  const scheduled = compactRev('scheduledCompactRev');
  const finished = compactRev('finishedCompactRev');
  const ci = meta.get('consistent_index');
  const term = meta.get('term');
  const confText = meta.get('confState');
  const auth = new Map(entriesOf(db, BUCKETS.auth).map(([k, v]) => [dec(k), v]));
  const enabled = auth.get('authEnabled');
  const revision = auth.get('authRevision');
  const cluster = new Map(entriesOf(db, BUCKETS.cluster).map(([k, v]) => [dec(k), v]));
  const downgrade = cluster.get('downgrade');
  let downgradeDoc: EtcdBackendCut['downgrade'];
  if (downgrade !== undefined) {
    const d = parseJson<Record<string, unknown> | null>(downgrade, 'cluster/downgrade');
    const target = d?.['target-version'];
    downgradeDoc = { targetVersion: typeof target === 'string' ? target : '', enabled: d?.['enabled'] === true };
  }
  const clusterVersion = cluster.get('clusterVersion');
  const contents: EtcdBackendContents = {
    keys,
    lastRevision,
    consistentIndex: ci === undefined ? 0n : readU64(ci, 'meta/consistent_index'),
    ...(term === undefined ? {} : { term: readU64(term, 'meta/term') }),
    ...(scheduled === undefined ? {} : { scheduledCompactRev: scheduled }),
    ...(finished === undefined ? {} : { finishedCompactRev: finished }),
    ...(confText === undefined
      ? {}
      : {
          confState: {
            voters: parseIds(dec(confText), 'voters'),
            learners: parseIds(dec(confText), 'learners'),
            votersOutgoing: parseIds(dec(confText), 'voters_outgoing'),
            learnersNext: parseIds(dec(confText), 'learners_next'),
            autoLeave: /"auto_leave":true/.test(dec(confText)),
          },
        }),
    leases: entriesOf(db, BUCKETS.lease).map(([, v]) => decodeLease(v)),
    members: entriesOf(db, BUCKETS.members).map(([k, v]) => parseMember(dec(k), v)),
    removedMembers: entriesOf(db, BUCKETS.membersRemoved).map(([k]) => hexId(dec(k), 'members_removed')),
    ...(clusterVersion === undefined ? {} : { clusterVersion: dec(clusterVersion) }),
    ...(downgradeDoc === undefined ? {} : { downgrade: downgradeDoc }),
    alarms: entriesOf(db, BUCKETS.alarm).map(([k]) => decodeAlarm(k)),
    auth: {
      ...(enabled === undefined ? {} : { enabled: enabled.length === 1 && enabled[0] === 1 }),
      ...(revision === undefined ? {} : { revision: readU64(revision, 'auth/authRevision') }),
      users: entriesOf(db, BUCKETS.authUsers).map(([name, value]) => ({ name, value })),
      roles: entriesOf(db, BUCKETS.authRoles).map(([name, value]) => ({ name, value })),
    },
  };
  return contents;
}
