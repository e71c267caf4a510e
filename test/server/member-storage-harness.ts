// Shared pieces of the MemberStorage crash exploration (member-storage-crash.test.ts):
// a FileLayer wrapper over the SimFileLayer, opening MemberStorage on it with a
// FileLogBackend, a seeded generator of etcd requests (Put, DeleteRange, Txn) encoded
// as real log entries, and a reference: the db records and a plain key->value map after
// every prefix of the entries, computed crash-free through the real Applier + MvccStore
// on a MemoryBackend.
//
// MemberStorage runs with 1 KiB WAL segments (walSegmentBytes): the default 64 MiB
// preallocation would cost ~0.7 s per SimFileLayer clone, and small segments make
// releaseWalTo really delete segments during a run.
import { AlarmStore } from '../../src/apply/alarms.js';
import type { Applier as ApplierType } from '../../src/apply/applier.js';
import { Applier } from '../../src/apply/applier.js';
import { decodeRequest, encodeRequest, RequestKind } from '../../src/apply/request.js';
import { Membership } from '../../src/cluster/membership.js';
import { Lessor } from '../../src/lease/index.js';
import { MvccStore } from '../../src/mvcc/index.js';
import { EntryType, type Entry } from '../../src/raft/types.js';
import { MemberStorage, type RecoveredState } from '../../src/server/member-storage.js';
import { ManualClock } from '../../src/shared/clock.js';
import { clusterId, memberId } from '../../src/shared/ids.js';
import { nullLogger } from '../../src/shared/logger.js';
import type * as pb from '../../src/generated/pb.js';
import { Compare_CompareResult, Compare_CompareTarget } from '../../src/generated/pb.js';
import { codec } from '../../src/shared/pb-codec.js';
import type { Rng } from '../../src/shared/rng.js';
import {
  forEachInRange,
  type Backend,
  type BackendBatch,
  type WriteOptions,
} from '../../src/storage/backend.js';
import { FileLogBackend } from '../../src/testing/file-log-backend.js';
import type { FileHandle, FileLayer, OpenMode } from '../../src/storage/file-layer.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import { META_CONSISTENT_INDEX, META_TERM, encodeUint64 } from '../../src/storage/schema.js';
import { SimFileLayer } from '../../src/testing/sim-file-layer.js';

export const DATA_DIR = '/data';
/** Small WAL segments, so releaseWalTo really deletes segments during a run. */
const WAL_SEGMENT_BYTES = 1024;

export function newSimFs(): SimFileLayer {
  return new SimFileLayer({ pageBytes: 32, sectorBytes: 8 });
}

export interface LayerFaults {
  /** Return true to make this syncDir call a no-op (a negative control). */
  readonly skipSyncDir?: (dir: string) => boolean;
  /**
   * Live runs only: yield 0-2 microtasks before each operation, so concurrent steps
   * (a db write in flight during the next WAL save) interleave differently per seed.
   */
  readonly jitter?: Rng;
}

/** Delegates to the sim, with optional jitter and skipped syncDirs (LayerFaults). */
export class TestLayer implements FileLayer {
  constructor(
    readonly sim: SimFileLayer,
    private readonly faults: LayerFaults = {},
  ) {}
  /** Awaited before every operation: a few microtask turns when jitter is on. */
  readonly gate = async (): Promise<void> => {
    const rng = this.faults.jitter;
    if (rng === undefined) return;
    for (let i = rng.int(3); i > 0; i--) await Promise.resolve();
  };
  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    await this.gate();
    return new JitterHandle(await this.sim.open(path, mode), this.gate);
  }
  async readdir(dir: string): Promise<string[]> {
    await this.gate();
    return this.sim.readdir(dir);
  }
  async mkdirp(dir: string): Promise<void> {
    await this.gate();
    return this.sim.mkdirp(dir);
  }
  async rename(from: string, to: string): Promise<void> {
    await this.gate();
    return this.sim.rename(from, to);
  }
  async unlink(path: string): Promise<void> {
    await this.gate();
    return this.sim.unlink(path);
  }
  async rmdir(path: string): Promise<void> {
    await this.gate();
    return this.sim.rmdir(path);
  }
  async syncDir(dir: string): Promise<void> {
    await this.gate();
    if (this.faults.skipSyncDir?.(dir) === true) return;
    return this.sim.syncDir(dir);
  }
  async exists(path: string): Promise<boolean> {
    await this.gate();
    return this.sim.exists(path);
  }
  async statSize(path: string): Promise<number> {
    await this.gate();
    return this.sim.statSize(path);
  }
}

class JitterHandle implements FileHandle {
  constructor(
    private readonly inner: FileHandle,
    private readonly gate: () => Promise<void>,
  ) {}
  get path(): string {
    return this.inner.path;
  }
  async read(position: number, length: number): Promise<Uint8Array> {
    await this.gate();
    return this.inner.read(position, length);
  }
  async write(data: Uint8Array, position: number): Promise<void> {
    await this.gate();
    return this.inner.write(data, position);
  }
  async datasync(): Promise<void> {
    await this.gate();
    return this.inner.datasync();
  }
  async sync(): Promise<void> {
    await this.gate();
    return this.inner.sync();
  }
  async truncate(sizeBytes: number): Promise<void> {
    await this.gate();
    return this.inner.truncate(sizeBytes);
  }
  async size(): Promise<number> {
    await this.gate();
    return this.inner.size();
  }
  async close(): Promise<void> {
    await this.gate();
    return this.inner.close();
  }
}

export interface OpenFaults extends LayerFaults {
  /** Negative control: every state db write is issued with sync: false. */
  readonly unsyncedDbWrites?: boolean;
}

export function openStorage(
  sim: SimFileLayer,
  faults: OpenFaults = {},
): Promise<{ storage: MemberStorage; recovered: RecoveredState }> {
  const fs = new TestLayer(sim, faults);
  return MemberStorage.open({
    dataDir: DATA_DIR,
    walDir: undefined,
    fs,
    logger: nullLogger,
    newIdentity: { memberId: memberId(1n), clusterId: clusterId(2n) },
    unsafeNoFsync: false,
    walSegmentBytes: WAL_SEGMENT_BYTES,
    openBackend: async (dir) => {
      const b = await FileLogBackend.open(fs, dir);
      return faults.unsyncedDbWrites === true ? new UnsyncedBackend(b) : b;
    },
  });
}

/** A backend that ignores `sync: true` (LevelDB with sync off): the negative control. */
class UnsyncedBackend implements Backend {
  constructor(private readonly inner: Backend) {}
  get = (key: Buffer): Promise<Buffer | undefined> => this.inner.get(key);
  getSync = (key: Buffer): Buffer | undefined => this.inner.getSync(key);
  getMany = (keys: readonly Buffer[]): Promise<Array<Buffer | undefined>> =>
    this.inner.getMany(keys);
  iterator: Backend['iterator'] = (range) => this.inner.iterator(range);
  readView: Backend['readView'] = () => this.inner.readView();
  batch = (): BackendBatch => this.inner.batch();
  write = (batch: BackendBatch, _options: WriteOptions): Promise<void> =>
    this.inner.write(batch, { sync: false });
  sizeBytes = (): Promise<number> => this.inner.sizeBytes();
  compactAll = (): Promise<void> => this.inner.compactAll();
  close = (): Promise<void> => this.inner.close();
}

/** Every record of a db, one `key=value` hex line each: what "the db's contents" means. */
export async function dumpBackend(backend: Backend): Promise<string> {
  const lines: string[] = [];
  await forEachInRange(
    backend,
    {},
    (k, v) => void lines.push(`${k.toString('hex')}=${v.toString('hex')}`),
  );
  return lines.join('\n');
}

export async function newApplier(
  storeRef: () => MvccStore,
  backend: Backend,
): Promise<ApplierType> {
  const lessor = await Lessor.open(backend, { minTtlSeconds: 5, clock: new ManualClock() });
  return new Applier({ store: storeRef, membership: await Membership.load(backend), lessor, alarms: new AlarmStore(), logger: nullLogger });
}

/** Applies entries into `batch` as the server's apply step does (empty entries skipped). */
export function applyEntries(
  applier: ApplierType,
  entries: readonly Entry[],
  batch: BackendBatch,
): void {
  for (const e of entries) {
    if (e.type !== EntryType.Normal || e.data.length === 0) continue;
    const out = applier.apply(decodeRequest(e.data), { index: e.index, term: e.term }, batch);
    if (!out.ok) throw out.error;
  }
}

/** The live key -> value map of a store at its current revision. */
export async function liveMap(store: MvccStore): Promise<Map<string, string>> {
  const r = await store.range({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) });
  return new Map(r.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
}

// ---- requests and the plain model ----

const KEYS = ['a', 'b', 'c', 'd', 'e'];
const putCodec = codec<pb.PutRequest>('etcdserverpb.PutRequest');
const deleteCodec = codec<pb.DeleteRangeRequest>('etcdserverpb.DeleteRangeRequest');
const txnCodec = codec<pb.TxnRequest>('etcdserverpb.TxnRequest');

/** A plain map model of the requests the generator makes (independent of mvcc). */
export type KvModel = Map<string, string>;

/**
 * The payload of a random request, applied to `model` too. Keys are single letters;
 * values carry the entry index, so a value from an entry never written is recognisable.
 */
export function nextRequest(rng: Rng, model: KvModel, index: number): Uint8Array {
  const id = BigInt(index);
  const key = KEYS[rng.int(KEYS.length)] ?? 'a';
  const value = `v${index}.${'x'.repeat(rng.int(24))}`;
  const roll = rng.int(10);
  if (roll < 6) {
    model.set(key, value);
    return encodeRequest(
      RequestKind.Put,
      id,
      putCodec.encode({ key: Buffer.from(key), value: Buffer.from(value) }),
    );
  }
  if (roll < 8) {
    // [key, key+2): one or two keys at once.
    const end = String.fromCharCode(key.charCodeAt(0) + 2);
    for (const k of [...model.keys()]) if (k >= key && k < end) model.delete(k);
    return encodeRequest(
      RequestKind.DeleteRange,
      id,
      deleteCodec.encode({ key: Buffer.from(key), rangeEnd: Buffer.from(end) }),
    );
  }
  // if value(key) == model's value (true when it exists) then put other else delete key.
  const other = KEYS[rng.int(KEYS.length)] ?? 'b';
  const expect = model.get(key) ?? 'missing';
  const stale = rng.int(4) === 0;
  const cmp: pb.Compare = {
    result: Compare_CompareResult.EQUAL,
    target: Compare_CompareTarget.VALUE,
    key: Buffer.from(key),
    value: Buffer.from(stale ? 'stale' : expect),
  };
  // etcd: a value compare on a missing key is false.
  const succeeded = model.has(key) && !stale;
  if (succeeded) model.set(other, value);
  else model.delete(key);
  return encodeRequest(
    RequestKind.Txn,
    id,
    txnCodec.encode({
      compare: [cmp],
      success: [{ requestPut: { key: Buffer.from(other), value: Buffer.from(value) } }],
      failure: [{ requestDeleteRange: { key: Buffer.from(key) } }],
    }),
  );
}

export interface Reference {
  /** dumps[i]: every db record after entries 1..i (meta consistent_index/term included). */
  readonly dumps: readonly string[];
}

/** Applies the entries one by one, crash-free, on a MemoryBackend; records each state. */
export async function buildReference(entries: readonly Entry[]): Promise<Reference> {
  const backend = new MemoryBackend();
  const store = await MvccStore.open(backend, { logger: nullLogger });
  const applier = await newApplier(() => store, backend);
  const dumps = [await dumpBackend(backend)];
  for (const e of entries) {
    const batch = backend.batch();
    applyEntries(applier, [e], batch);
    batch.put(META_CONSISTENT_INDEX, encodeUint64(e.index)).put(META_TERM, encodeUint64(e.term));
    await backend.write(batch, { sync: true });
    store.batchDurable(batch);
    dumps.push(await dumpBackend(backend));
  }
  await store.close();
  await backend.close();
  return { dumps };
}
