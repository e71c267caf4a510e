/**
 * Request and result types of the MVCC store, mirroring etcd's etcdserverpb messages
 * field for field so the server maps the protobuf messages to them 1:1.
 *
 * Conventions:
 * - Keys and values are Buffers (never strings). An empty `rangeEnd` means "the single
 *   key"; `rangeEnd` = [0x00] means "every key >= key" (etcd's mkGteRange).
 * - Revisions and versions are numbers (asserted safe integers); lease ids are LeaseId
 *   bigints, 0n meaning "no lease".
 * - Enums are the proto enum NUMBERS (SortOrder.ASCEND === 1 as in rpc.proto), so the
 *   server passes the decoded numbers through. Numbers outside the declared unions are
 *   handled as etcd handles them (unknown compare result: true; unknown compare target:
 *   compares as equal); invalid sort options are rejected by the server before proposing.
 * - Responses carry `revision`, the value etcd puts in the ResponseHeader of that
 *   response (etcd api/v3rpc/header.go); nested TxnResponses carry 0 because etcd leaves their header empty.
 * - KeyValue objects handed out are shared with the store's memory: never mutate them.
 */
import type { LeaseId } from '../shared/ids.js';

export interface KeyValue {
  readonly key: Buffer;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly value: Buffer;
  readonly lease: LeaseId;
}

export const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
export type SortOrder = (typeof SortOrder)[keyof typeof SortOrder];

export const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;
export type SortTarget = (typeof SortTarget)[keyof typeof SortTarget];

export const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
export type CompareResult = (typeof CompareResult)[keyof typeof CompareResult];

export const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;
export type CompareTarget = (typeof CompareTarget)[keyof typeof CompareTarget];

export interface RangeRequest {
  key: Buffer;
  rangeEnd?: Buffer;
  /** 0 or absent = unlimited. */
  limit?: number;
  /** <= 0 or absent = the current revision. */
  revision?: number;
  sortOrder?: SortOrder;
  sortTarget?: SortTarget;
  keysOnly?: boolean;
  countOnly?: boolean;
  /** 0 or absent = no filter (etcd's convention). */
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface RangeResponse {
  /** The store's current revision when the range was served (not the requested one). */
  revision: number;
  kvs: KeyValue[];
  more: boolean;
  /** Keys in [key, rangeEnd) at the read revision, ignoring limit and min/max filters. */
  count: number;
}

export interface PutRequest {
  key: Buffer;
  value?: Buffer;
  lease?: LeaseId;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface PutResponse {
  revision: number;
  prevKv?: KeyValue;
}

export interface DeleteRangeRequest {
  key: Buffer;
  rangeEnd?: Buffer;
  prevKv?: boolean;
}

export interface DeleteRangeResponse {
  revision: number;
  deleted: number;
  /** The deleted keys' values when prevKv was requested; empty otherwise. */
  prevKvs: KeyValue[];
}

/** A Compare; set only the target field named by `target` (etcd's target_union oneof). */
export interface Compare {
  result: CompareResult;
  target: CompareTarget;
  key: Buffer;
  rangeEnd?: Buffer;
  version?: number;
  createRevision?: number;
  modRevision?: number;
  value?: Buffer;
  lease?: LeaseId;
}

/** etcd's RequestOp oneof, with the proto field names. */
export type RequestOp =
  | { requestRange: RangeRequest }
  | { requestPut: PutRequest }
  | { requestDeleteRange: DeleteRangeRequest }
  | { requestTxn: TxnRequest };

export type ResponseOp =
  | { responseRange: RangeResponse }
  | { responsePut: PutResponse }
  | { responseDeleteRange: DeleteRangeResponse }
  | { responseTxn: TxnResponse };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export interface TxnResponse {
  /** Top level: revision after the txn. Nested txns: 0 (etcd leaves their header empty). */
  revision: number;
  succeeded: boolean;
  responses: ResponseOp[];
}

/** One change of a write, in order, for the watch hub. */
export interface MvccEvent {
  type: 'put' | 'delete';
  /** For 'delete': only key and modRevision (the delete revision) are set, as in etcd. */
  kv: KeyValue;
  /** The key's value just before this change (undefined if the key did not exist). */
  prevKv: KeyValue | undefined;
}

/** A key whose lease attachment changed; 0n means "no lease". */
export interface LeaseChange {
  key: Buffer;
  oldLease: LeaseId;
  newLease: LeaseId;
}

export interface WriteResult<R> {
  response: R;
  /** The store's current revision after this write. */
  revision: number;
  events: MvccEvent[];
  leaseChanges: LeaseChange[];
}

export interface WriteContext {
  /** Whether a lease exists now (the lessor belongs to another module). */
  leaseExists(id: LeaseId): boolean;
}

export interface CompactResult {
  /** The store's current revision (the Compaction response header revision). */
  revision: number;
  /** Resolves once the superseded revisions are deleted from the backend. */
  physicalDone: Promise<void>;
}

export interface HashKVResult {
  hash: number;
  compactRevision: number;
  hashRevision: number;
  /** The store's current revision (HashKV response header revision). */
  revision: number;
}
