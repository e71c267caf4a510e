/**
 * The replicated alarms (etcd etcdserver/api/v3alarm/alarms.go): which member raised
 * which alarm (NOSPACE, CORRUPT). Changed only by applied AlarmRequests, so every
 * member holds the same set at the same index; persisted in the state db in the same
 * batch as the apply, under the 'x' prefix with etcd's alarm-bucket key (the
 * marshalled AlarmMember, an empty value), and reloaded at start and after a snapshot
 * install (etcd restoreAlarms).
 *
 * Invariant: the in-memory set equals the 'x' records of the db once the apply batch
 * that changed it is written. Listing order is deterministic (alarm type, then member
 * id), where etcd's map order is random.
 */
import Long from 'long';
import * as pb from '../generated/pb.js';
import { codec, toBigInt } from '../shared/pb-codec.js';
import { ALARM_PREFIX } from '../storage/schema.js';
import { forEachInRange, prefixRange, type Backend, type BackendBatch } from '../storage/backend.js';
import type { ErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { RequestKind } from './request.js';

export const AlarmType = pb.AlarmType;
export type AlarmType = pb.AlarmType;
export const AlarmAction = pb.AlarmRequest_AlarmAction;
export type AlarmAction = pb.AlarmRequest_AlarmAction;

export const ALARM_NAMES: Record<AlarmType, string> = { 0: 'NONE', 1: 'NOSPACE', 2: 'CORRUPT' };

export interface Alarm {
  readonly memberId: bigint;
  readonly type: AlarmType;
}

export const alarmRequestCodec = codec<pb.AlarmRequest>('etcdserverpb.AlarmRequest');
const memberCodec = codec<pb.AlarmMember>('etcdserverpb.AlarmMember');

/** The payload of an AlarmRequest log entry. */
export function encodeAlarmRequest(action: AlarmAction, memberId: bigint, type: AlarmType): Uint8Array {
  return alarmRequestCodec.encode({ action, memberID: Long.fromBigInt(memberId, true), alarm: type });
}

export function alarmToPb(a: Alarm): pb.AlarmMember {
  return { memberID: Long.fromBigInt(a.memberId, true), alarm: a.type };
}

/**
 * etcd's AlarmMember.String() (gogoproto compact text, which leaves out zero fields:
 * "alarm:CORRUPT " for member 0), as Status.errors lists it.
 */
export function alarmText(a: Alarm): string {
  return `${a.memberId === 0n ? '' : `memberID:${a.memberId.toString()} `}alarm:${ALARM_NAMES[a.type]} `;
}

function recordKey(a: Alarm): Buffer {
  const m = Buffer.from(memberCodec.encode(alarmToPb(a)));
  return Buffer.concat([Buffer.from([ALARM_PREFIX]), m]);
}

function key(memberId: bigint, type: AlarmType): string {
  return `${type}/${memberId.toString(16)}`;
}

function isAlarmType(n: number): n is AlarmType {
  return n === AlarmType.NONE || n === AlarmType.NOSPACE || n === AlarmType.CORRUPT;
}

export class AlarmStore {
  private readonly byKey = new Map<string, Alarm>();
  private readonly changeListeners: Array<() => void> = [];

  static async load(backend: Backend): Promise<AlarmStore> {
    const s = new AlarmStore();
    await s.reload(backend);
    return s;
  }

  /** Replaces the set with the db's records (start, snapshot install). */
  async reload(backend: Backend): Promise<void> {
    const found: Alarm[] = [];
    await forEachInRange(backend, prefixRange(Buffer.from([ALARM_PREFIX])), (k) => {
      const m = memberCodec.decode(k.subarray(1));
      const type = m.alarm ?? AlarmType.NONE;
      if (isAlarmType(type)) found.push({ memberId: toBigInt(m.memberID, true), type });
    });
    this.byKey.clear();
    for (const a of found) this.byKey.set(key(a.memberId, a.type), a);
    this.changed();
  }

  /** Called after every change of the set (apply or reload). */
  onChange(fn: () => void): void {
    this.changeListeners.push(fn);
  }

  /** etcd Get: every alarm of `type`, or all of them for NONE. */
  get(type: AlarmType = AlarmType.NONE): Alarm[] {
    const all = [...this.byKey.values()].filter((a) => type === AlarmType.NONE || a.type === type);
    return all.sort((a, b) => a.type - b.type || (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
  }

  isEmpty(): boolean {
    return this.byKey.size === 0;
  }

  has(type: AlarmType): boolean {
    for (const a of this.byKey.values()) if (a.type === type) return true;
    return false;
  }

  /** etcd Activate: the alarm (new or already there); a new one is written to `batch`. */
  activate(memberId: bigint, type: AlarmType, batch: BackendBatch): { alarm: Alarm; added: boolean } {
    const k = key(memberId, type);
    const existing = this.byKey.get(k);
    if (existing !== undefined) return { alarm: existing, added: false };
    const alarm: Alarm = { memberId, type };
    this.byKey.set(k, alarm);
    batch.put(recordKey(alarm), Buffer.alloc(0));
    this.changed();
    return { alarm, added: true };
  }

  /** etcd Deactivate: the removed alarm, or undefined when it was not raised. */
  deactivate(memberId: bigint, type: AlarmType, batch: BackendBatch): Alarm | undefined {
    const k = key(memberId, type);
    const existing = this.byKey.get(k);
    if (existing === undefined) return undefined;
    this.byKey.delete(k);
    batch.del(recordKey(existing));
    this.changed();
    return existing;
  }

  private changed(): void {
    for (const fn of this.changeListeners) fn();
  }
}

/**
 * Applies one AlarmRequest (etcd applierV3backend.Alarm): GET lists, ACTIVATE raises
 * (the answer holds the alarm, new or not), DEACTIVATE clears (the answer holds the
 * cleared alarm, or nothing when it was not raised). The response has no header.
 */
export function applyAlarmRequest(
  store: AlarmStore,
  payload: Uint8Array,
  batch: BackendBatch,
  logger: Logger,
): pb.AlarmResponse {
  const r = alarmRequestCodec.decode(payload);
  const type = r.alarm ?? AlarmType.NONE;
  const memberId = toBigInt(r.memberID, true);
  const before = store.get(type).length;
  switch (r.action ?? AlarmAction.GET) {
    case AlarmAction.GET:
      return { alarms: store.get(type).map(alarmToPb) };
    case AlarmAction.ACTIVATE: {
      if (type === AlarmType.NONE) return { alarms: [] };
      const { alarm } = store.activate(memberId, type, batch);
      if (before === 0 && store.get(type).length === 1) {
        logger.warn({ alarm: ALARM_NAMES[alarm.type], from: memberId.toString(16) }, 'alarm raised');
      }
      return { alarms: [alarmToPb(alarm)] };
    }
    case AlarmAction.DEACTIVATE: {
      const alarm = store.deactivate(memberId, type, batch);
      if (alarm === undefined) return { alarms: [] };
      if (before > 0 && store.get(type).length === 0) {
        logger.warn({ alarm: ALARM_NAMES[alarm.type], from: memberId.toString(16) }, 'alarm disarmed');
      }
      return { alarms: [alarmToPb(alarm)] };
    }
    default:
      return { alarms: [] };
  }
}

/**
 * What a raised alarm refuses at apply, on every member alike: NOSPACE refuses Put,
 * a Txn with a Put in either branch (etcd 3.4 costTxn counts only the top-level
 * RequestPut ops) and LeaseGrant (etcd applierV3Capped); CORRUPT refuses every write
 * and lease change (etcd applierV3Corrupt; a Range is served, as etcd's Range goes
 * around the wrapped applier). NOSPACE is checked first, as etcd's restoreAlarms
 * wraps the capped applier outermost.
 */
export function alarmRefusal(
  store: AlarmStore,
  kind: RequestKind,
  txn: () => pb.TxnRequest,
): ErrorCode | undefined {
  if (store.isEmpty()) return undefined;
  if (store.has(AlarmType.NOSPACE)) {
    if (kind === RequestKind.Put || kind === RequestKind.LeaseGrant) return 'no-space';
    if (kind === RequestKind.Txn && txnHasPut(txn())) return 'no-space';
  }
  if (store.has(AlarmType.CORRUPT)) {
    switch (kind) {
      case RequestKind.Put:
      case RequestKind.DeleteRange:
      case RequestKind.Txn:
      case RequestKind.Compaction:
      case RequestKind.LeaseGrant:
      case RequestKind.LeaseRevoke:
      case RequestKind.LeaseExpire:
        return 'corrupt';
      default:
        return undefined;
    }
  }
  return undefined;
}

/** etcd 3.4 costTxn > 0: a RequestPut at the top level of either branch. */
export function txnHasPut(t: pb.TxnRequest): boolean {
  return [...(t.success ?? []), ...(t.failure ?? [])].some((op) => op.requestPut !== undefined && op.requestPut !== null);
}
