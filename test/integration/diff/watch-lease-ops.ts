/**
 * Watch and lease operations for the differential test, beside the KV
 * operations of kv-ops.ts: their language, arbitraries, execution on one server, and
 * the normalisation of what legitimately differs between two servers.
 *
 * Leases: LeaseGrant with a server-assigned id or a client-chosen one (derived from the
 * sequence number, so both servers get the same id and a second grant hits "lease
 * already exists"), Put with a lease, LeaseRevoke, LeaseTimeToLive (with keys),
 * LeaseKeepAlive (one request on a fresh stream) and LeaseLeases. A LeaseRef names the
 * k-th lease granted in this sequence on that server, so server-assigned ids line up;
 * ids are shown as L<k> ("unknown" is id 999, never granted), in every answer of the
 * sequence (KV answers carry the leases of keys). Keys are put only under chosen-id
 * leases: HashKV hashes a key's lease id, and server-assigned ids differ. TTLs are long (no lease
 * expires during the run); a positive remaining TTL is shown as "alive" when within
 * 10 s of the granted TTL. Keys of TimeToLive and ids of LeaseLeases are sorted (etcd
 * lists them in Go map order); LeaseLeases shows only this sequence's leases.
 *
 * Watches: a Watch stream per operation, a create with a key range, start revision
 * (0, past, or a little in the future), prev_kv and NOPUT / NODELETE filters; its
 * answer is the created (or refusing) response, every event delivered, and a
 * compaction cancel if any. To know when everything up to the present has arrived,
 * the watch is fenced: a put of 'fence' to its own first key (plus a delete of it
 * under NOPUT), written through the same server, and the watch is read until the fence
 * event or a compaction cancel arrives (per-watcher order makes that complete). The
 * fence writes belong to the history of both servers alike. Events are compared
 * flattened (how a server batches revisions into responses is its own business).
 */
import fc from 'fast-check';
import type * as pb from '../../../src/generated/pb.js';
import type { EtcdGrpcClient, Reply } from '../../helpers/grpc-client.js';
import { KeepAliveClient, WatchClient, type WireWatchResponse } from '../../concurrency/wire.js';
import type { EndRef, KvOp, RevRef, SequenceFrame } from './kv-ops.js';
import { KEY_SUFFIXES, UNKNOWN_LEASE, VALUES } from './kv-ops.js';
import { kvOpArb } from './kv-arbitraries.js';
import { prefixEnd } from '../../../src/shared/bytes.js';

export type LeaseRef = { readonly granted: number } | 'unknown';

export interface LeaseGrantOp {
  readonly op: 'lease-grant';
  readonly ttl: number;
  /** undefined: the server picks the id; else one of 4 ids fixed for the sequence. */
  readonly chosen: number | undefined;
}
export interface LeaseRevokeOp {
  readonly op: 'lease-revoke';
  readonly lease: LeaseRef;
}
export interface LeaseTtlOp {
  readonly op: 'lease-ttl';
  readonly lease: LeaseRef;
  readonly keys: boolean;
}
export interface LeaseKeepAliveOp {
  readonly op: 'lease-keepalive';
  readonly lease: LeaseRef;
}
export interface LeaseLeasesOp {
  readonly op: 'lease-leases';
}
export interface LeasedPutOp {
  readonly op: 'leased-put';
  readonly key: number;
  readonly value: number;
  readonly lease: LeaseRef;
  readonly prevKv: boolean;
}
export interface WatchOp {
  readonly op: 'watch';
  readonly key: number;
  readonly end: EndRef;
  readonly start: RevRef | { readonly ahead: number };
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
}
export type WatchLeaseOp =
  | LeaseGrantOp
  | LeaseRevokeOp
  | LeaseTtlOp
  | LeaseKeepAliveOp
  | LeaseLeasesOp
  | LeasedPutOp
  | WatchOp;
export type DiffOp = KvOp | WatchLeaseOp;

const WATCH_LEASE_OPS = new Set<string>([
  'lease-grant',
  'lease-revoke',
  'lease-ttl',
  'lease-keepalive',
  'lease-leases',
  'leased-put',
  'watch',
]);

export function isWatchLeaseOp(op: DiffOp): op is WatchLeaseOp {
  return WATCH_LEASE_OPS.has(op.op);
}

/** The leases one sequence granted on one server, in order (decimal ids). */
export class LeaseBook {
  readonly ids: string[] = [];
  /** The ids the client chose (the same on both servers). */
  readonly chosen: string[] = [];

  resolve(ref: LeaseRef): string {
    if (ref === 'unknown' || this.ids.length === 0) return String(UNKNOWN_LEASE);
    return this.ids[ref.granted % this.ids.length] as string;
  }

  /**
   * Keys are attached only to leases with chosen ids: a key's lease id is part of what
   * HashKV hashes, and server-assigned ids differ between the servers.
   */
  resolveForKey(ref: LeaseRef): string {
    if (ref === 'unknown' || this.chosen.length === 0) return String(UNKNOWN_LEASE);
    return this.chosen[ref.granted % this.chosen.length] as string;
  }

  name(id: string): string {
    const i = this.ids.indexOf(id);
    return i >= 0 ? `L${i}` : id;
  }
}

const keyBytes = (k: number, f: SequenceFrame): Buffer =>
  Buffer.concat([f.prefix, KEY_SUFFIXES[k] ?? Buffer.alloc(0)]);

function endBytes(end: EndRef, key: Buffer, f: SequenceFrame): Buffer {
  if (end === 'none') return Buffer.alloc(0);
  if (end === 'prefix') return prefixEnd(key);
  if (end === 'open') return Buffer.from([0]);
  if (end === 'all') return prefixEnd(f.prefix);
  return keyBytes(end.key, f);
}

function startRevision(op: WatchOp, f: SequenceFrame): number {
  const s = op.start;
  if (s === 0) return 0;
  if ('ahead' in s) return f.base + f.currentRel + s.ahead;
  return f.base + ('rel' in s ? s.rel : Math.max(0, f.currentRel - s.back));
}

function chosenId(f: SequenceFrame, chosen: number): number {
  const seq = Number(f.prefix.toString('latin1').split('/')[1] ?? 0);
  return 5_000_000 + seq * 4 + chosen;
}

/** The request an operation sends (for mismatch reports). */
export function watchLeaseRequest(op: WatchLeaseOp, f: SequenceFrame, book: LeaseBook): unknown {
  switch (op.op) {
    case 'lease-grant':
      return { TTL: op.ttl, ID: op.chosen === undefined ? 0 : chosenId(f, op.chosen) };
    case 'lease-revoke':
    case 'lease-keepalive':
      return { ID: book.resolve(op.lease) };
    case 'lease-ttl':
      return { ID: book.resolve(op.lease), keys: op.keys };
    case 'lease-leases':
      return {};
    case 'leased-put':
      return leasedPut(op, f, book);
    case 'watch': {
      const key = keyBytes(op.key, f);
      return {
        key,
        rangeEnd: endBytes(op.end, key, f),
        startRevision: startRevision(op, f),
        prevKv: op.prevKv,
        filters: [...(op.noPut ? [0 as const] : []), ...(op.noDelete ? [1 as const] : [])],
      } satisfies pb.WatchCreateRequest;
    }
  }
}

function leasedPut(op: LeasedPutOp, f: SequenceFrame, book: LeaseBook): pb.PutRequest {
  return {
    key: keyBytes(op.key, f),
    value: VALUES[op.value] ?? Buffer.alloc(0),
    lease: book.resolveForKey(op.lease),
    prevKv: op.prevKv,
  };
}

/** Runs one operation on one server; the answer is shaped for normaliseReply. */
export async function executeWatchLease(
  client: EtcdGrpcClient,
  address: string,
  op: WatchLeaseOp,
  f: SequenceFrame,
  book: LeaseBook,
): Promise<Reply<unknown>> {
  switch (op.op) {
    case 'lease-grant': {
      const r = await client.unary<{ ID: string }>(
        'Lease',
        'LeaseGrant',
        watchLeaseRequest(op, f, book) as object,
      );
      if (r.ok) {
        book.ids.push(r.value.ID);
        if (op.chosen !== undefined) book.chosen.push(r.value.ID);
      }
      return r;
    }
    case 'lease-revoke': {
      const r = await client.unary<{ header: { revision: string } }>('Lease', 'LeaseRevoke', {
        ID: book.resolve(op.lease),
      });
      if (!r.ok) return r;
      // Whether the revoke deleted keys (it then took a revision): tracked for HashKV.
      const deleted = Number(r.value.header.revision) > f.base + f.currentRel ? '1' : '0';
      return { ok: true, value: { ...r.value, deleted } };
    }
    case 'lease-ttl':
      return client.unary('Lease', 'LeaseTimeToLive', {
        ID: book.resolve(op.lease),
        keys: op.keys,
      });
    case 'lease-keepalive': {
      const ka = new KeepAliveClient(address);
      try {
        return { ok: true, value: await ka.keepAlive(book.resolve(op.lease), 5_000) };
      } catch (err) {
        return { ok: false, error: { code: -1, codeName: 'STREAM', details: String(err) } };
      } finally {
        ka.close();
      }
    }
    case 'lease-leases':
      return client.unary('Lease', 'LeaseLeases', {});
    case 'leased-put':
      return client.put(leasedPut(op, f, book));
    case 'watch':
      return runWatch(client, address, op, f);
  }
}

async function runWatch(
  client: EtcdGrpcClient,
  address: string,
  op: WatchOp,
  f: SequenceFrame,
): Promise<Reply<unknown>> {
  const req = watchLeaseRequest(op, f, new LeaseBook()) as pb.WatchCreateRequest;
  const w = new WatchClient(address);
  try {
    w.create(req);
    const { res: created } = await w.next((r) => r.created || r.canceled, 5_000);
    let header: unknown = created.header;
    let fence = 'none';
    let deleted = '0';
    const start = Number(req.startRevision);
    const current = f.base + f.currentRel;
    const fenced = !created.canceled && !(op.noPut && op.noDelete) && start <= current + 1;
    if (fenced) {
      const key = req.key as Buffer;
      const put = await client.put({ key, value: Buffer.from('fence') });
      if (!put.ok) return put;
      header = put.value.header;
      fence = 'put';
      if (op.noPut) {
        const del = await client.deleteRange({ key });
        if (!del.ok) return del;
        header = del.value.header;
        fence = 'put+delete';
        deleted = '1';
      }
      const fenceRev = String((header as { revision: string }).revision);
      await w.next(
        (r) =>
          (r.canceled && r.compactRevision !== '0') ||
          r.events.some((e) => e.kv?.modRevision === fenceRev),
        5_000,
      );
    } else {
      await w.quiet(100, 1_000);
    }
    const events = w.responses.flatMap((r: WireWatchResponse) => r.events);
    const compacted = w.responses.find((r) => r.canceled && r.compactRevision !== '0');
    return {
      ok: true,
      value: {
        header,
        created: {
          header: created.header,
          watchId: created.watchId,
          created: created.created,
          canceled: created.canceled,
          cancelReason: created.cancelReason,
        },
        events,
        compacted:
          compacted === undefined
            ? null
            : { header: compacted.header, compactRevision: compacted.compactRevision },
        fence,
        deleted,
      },
    };
  } catch (err) {
    return { ok: false, error: { code: -1, codeName: 'STREAM', details: String(err) } };
  } finally {
    w.close();
  }
}

/**
 * Rewrites a normalised answer (normaliseReply) of a watch or lease operation: lease
 * ids to names, a remaining TTL to "alive", lists sorted where etcd's order is a map's.
 */
export function normaliseWatchLease(op: DiffOp, v: unknown, book: LeaseBook): unknown {
  const out = renameLeases(v, book);
  if (out === null || typeof out !== 'object' || 'error' in out) return out;
  const o = out as Record<string, unknown>;
  if (op.op === 'lease-ttl') {
    const ttl = Number(o['TTL']);
    const granted = Number(o['grantedTTL']);
    if (ttl > 0 && ttl <= granted && granted - ttl <= 10) o['TTL'] = 'alive';
    if (Array.isArray(o['keys'])) o['keys'] = [...(o['keys'] as string[])].sort();
  }
  if (op.op === 'lease-leases') {
    const ids = ((o['leases'] as Array<{ ID: string }> | undefined) ?? []).map((l) => l.ID);
    o['leases'] = ids.filter((id) => /^L\d+$/.test(id)).sort();
  }
  return o;
}

/** Lease ids (fields ID and lease) as the book names them; KV answers carry them too. */
function renameLeases(v: unknown, book: LeaseBook): unknown {
  if (Array.isArray(v)) return v.map((x) => renameLeases(x, book));
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    out[k] =
      (k === 'ID' || k === 'lease') && typeof x === 'string' ? book.name(x) : renameLeases(x, book);
  }
  return out;
}

/**
 * Known difference (etcd #18089, like KV difference 1): a watch from exactly a
 * compaction revision that holds a tombstone gets that DELETE from 3.5 (tsetcd), not
 * from 3.4.23. The events at that revision are left out of both answers.
 */
export function dropTombstoneAtCompaction(v: unknown, relRev: unknown): unknown {
  if (v === null || typeof v !== 'object' || !('events' in v)) return v;
  const o = v as { events: Array<{ kv?: { modRevision?: unknown } | null }> };
  return { ...o, events: o.events.filter((e) => e.kv?.modRevision !== relRev) };
}

export function watchStartRevision(op: WatchOp, f: SequenceFrame): number {
  return startRevision(op, f);
}

const leaseRefArb: fc.Arbitrary<LeaseRef> = fc.oneof(
  { weight: 9, arbitrary: fc.integer({ min: 0, max: 3 }).map((granted) => ({ granted })) },
  { weight: 1, arbitrary: fc.constant('unknown' as const) },
);
const keyIndexArb = fc.integer({ min: 0, max: KEY_SUFFIXES.length - 1 });

export const watchLeaseOpArb: fc.Arbitrary<WatchLeaseOp> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('watch' as const),
      key: keyIndexArb,
      end: fc.oneof(
        { weight: 3, arbitrary: fc.constant('none' as const) },
        { weight: 3, arbitrary: fc.constant('prefix' as const) },
        { weight: 1, arbitrary: fc.constant('open' as const) },
        { weight: 2, arbitrary: fc.constant('all' as const) },
        { weight: 1, arbitrary: keyIndexArb.map((key) => ({ key })) },
      ),
      start: fc.oneof(
        { weight: 2, arbitrary: fc.constant(0 as const) },
        { weight: 5, arbitrary: fc.integer({ min: 0, max: 12 }).map((back) => ({ back })) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }).map((ahead) => ({ ahead })) },
      ),
      prevKv: fc.boolean(),
      noPut: fc.oneof(
        { weight: 1, arbitrary: fc.constant(true) },
        { weight: 6, arbitrary: fc.constant(false) },
      ),
      noDelete: fc.oneof(
        { weight: 1, arbitrary: fc.constant(true) },
        { weight: 6, arbitrary: fc.constant(false) },
      ),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('lease-grant' as const),
      ttl: fc.constantFrom(600, 900, 3600),
      chosen: fc.oneof(
        { weight: 1, arbitrary: fc.constant(undefined) },
        { weight: 2, arbitrary: fc.integer({ min: 0, max: 3 }) },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('leased-put' as const),
      key: keyIndexArb,
      value: fc.integer({ min: 0, max: VALUES.length - 1 }),
      lease: leaseRefArb,
      prevKv: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('lease-revoke' as const), lease: leaseRefArb }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('lease-ttl' as const),
      lease: leaseRefArb,
      keys: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('lease-keepalive' as const), lease: leaseRefArb }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'lease-leases' as const }) },
);

/** Sequences of KV operations with about one watch or lease operation in ten. */
export function diffSequenceArb(length: number): fc.Arbitrary<DiffOp[]> {
  const op: fc.Arbitrary<DiffOp> = fc.oneof(
    { weight: 90, arbitrary: kvOpArb },
    { weight: 10, arbitrary: watchLeaseOpArb },
  );
  return fc.array(op, { minLength: length, maxLength: length });
}
