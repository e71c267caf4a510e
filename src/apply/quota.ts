/**
 * The space quota (etcd etcdserver/quota.go, api/v3rpc/quota.go): before a Put, a Txn
 * or a LeaseGrant is proposed, its cost (etcd's estimate) is added to the state db's
 * size on disk; at or above quota-backend-bytes the member raises NOSPACE through the
 * log (every member then refuses growing writes at apply, apply/alarms.ts) and the
 * request fails with "etcdserver: mvcc: database space exceeded".
 *
 * quota-backend-bytes: 0 means etcd's default 2 GiB, a negative value turns the quota
 * off; above 8 GiB etcd warns. The size compared is MemberStorage.dbSizeEstimate (the
 * files' size, docs/architecture.md §3), as etcd compares its bbolt file's size.
 */
import type * as pb from '../generated/pb.js';
import type { Logger } from '../shared/logger.js';
import { codec } from '../shared/pb-codec.js';
import { RequestKind } from './request.js';

/** etcd quota.go: DefaultQuotaBytes and MaxQuotaBytes. */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
export const MAX_QUOTA_BYTES = 8 * 1024 * 1024 * 1024;
/** etcd quota.go: estimated cost of a lease, and of a key's metadata. */
const LEASE_OVERHEAD = 64;
const KV_OVERHEAD = 256;

const putCodec = codec<pb.PutRequest>('etcdserverpb.PutRequest');
const txnCodec = codec<pb.TxnRequest>('etcdserverpb.TxnRequest');

function costPut(r: pb.PutRequest): number {
  return KV_OVERHEAD + (r.key?.length ?? 0) + (r.value?.length ?? 0);
}

function costOps(ops: readonly pb.RequestOp[] | undefined): number {
  let sum = 0;
  for (const op of ops ?? []) if (op.requestPut !== undefined && op.requestPut !== null) sum += costPut(op.requestPut);
  return sum;
}

/** etcd backendQuota.Cost for the kinds the quota checks; 0 for every other kind. */
export function requestCost(kind: RequestKind, payload: Uint8Array): number {
  switch (kind) {
    case RequestKind.Put:
      return costPut(putCodec.decode(payload));
    case RequestKind.Txn: {
      const t = txnCodec.decode(payload);
      return Math.max(costOps(t.success), costOps(t.failure));
    }
    case RequestKind.LeaseGrant:
      return LEASE_OVERHEAD;
    default:
      return 0;
  }
}

export class BackendQuota {
  /** The effective quota in bytes; undefined when turned off. */
  readonly limitBytes: number | undefined;

  /** `configured` is quota-backend-bytes as given; logs what etcd logs at start. */
  constructor(
    readonly configured: number,
    private readonly dbSize: () => number,
    logger: Logger,
  ) {
    const fields = (n: number): Record<string, unknown> => ({
      'quota-name': 'v3-applier',
      'quota-size-bytes': n,
      'quota-size': humanBytes(n),
    });
    if (configured < 0) {
      this.limitBytes = undefined;
      logger.info({ 'quota-name': 'v3-applier', 'quota-size-bytes': configured }, 'disabled backend quota');
    } else if (configured === 0) {
      this.limitBytes = DEFAULT_QUOTA_BYTES;
      logger.info(fields(DEFAULT_QUOTA_BYTES), 'enabled backend quota with default value');
    } else {
      this.limitBytes = configured;
      if (configured > MAX_QUOTA_BYTES) {
        logger.warn(
          { ...fields(configured), 'quota-maximum-size-bytes': MAX_QUOTA_BYTES, 'quota-maximum-size': humanBytes(MAX_QUOTA_BYTES) },
          'quota exceeds the maximum value',
        );
      }
      logger.info(fields(configured), 'enabled backend quota');
    }
  }

  /** etcd's etcd_server_quota_backend_bytes: the configured value, or the default for 0. */
  get reportedBytes(): number {
    return this.configured === 0 ? DEFAULT_QUOTA_BYTES : this.configured;
  }

  /** etcd backendQuota.Available: a request that costs nothing always fits. */
  available(kind: RequestKind, payload: Uint8Array): boolean {
    if (this.limitBytes === undefined) return true;
    const cost = requestCost(kind, payload);
    if (cost === 0) return true;
    return this.dbSize() + cost < this.limitBytes;
  }
}

/** go-humanize's Bytes (SI units, as etcd logs quota sizes): "2.1 GB", "1.0 MB". */
export function humanBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(n) / Math.log(1000));
  const v = n / 1000 ** e;
  const unit = units[e] ?? 'EB';
  return v < 10 ? `${v.toFixed(1)} ${unit}` : `${Math.floor(v + 0.5)} ${unit}`;
}
