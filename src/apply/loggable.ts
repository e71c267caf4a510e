/**
 * Requests as etcd writes them into its log lines: golang/protobuf's compact text
 * (`key:"foo" range_end:"fop" limit:1 `, `name:<...> ` for a nested message, fields in
 * number order, proto3 defaults left out, enums by name, bytes and strings quoted with
 * octal escapes for anything outside printable ASCII) and etcd's redactions
 * (etcdserverpb/raft_internal_stringer.go): a put shows `value_size` instead of its
 * value, inside a txn too, and a value comparison likewise; a lease grant or revoke
 * shows its id in hex. Used by the slow-apply warning's `request` field and the
 * request-stats line's `request content` (docs/operations.md, Logs).
 *
 * Contract: pure functions of decoded protobufjs messages (pb-codec); never throw on a
 * message of the named type.
 */
import type * as pb from '../generated/pb.js';
import { codec, protoRootOriginalNames, toBigInt, type Int64Like, type MessageCodec } from '../shared/pb-codec.js';
import { RequestKind, type DecodedRequest } from './request.js';
import { unwrapWrite } from './internal-request.js';

type Value = string | number | boolean | bigint | Uint8Array | Int64Like;
type Field = MessageCodec<unknown>['type']['fieldsArray'][number];

/** One field as the text format writes it: scalar text, or a nested message's text. */
type Entry = readonly [name: string, text: string, nested: boolean];

/** golang/protobuf's writeString: printable ASCII as is, common escapes, octal for the rest. */
function goQuote(bytes: Uint8Array): string {
  let out = '"';
  for (const b of bytes) {
    if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x09) out += '\\t';
    else if (b === 0x22) out += '\\"';
    else if (b === 0x5c) out += '\\\\';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\${b.toString(8).padStart(3, '0')}`;
  }
  return `${out}"`;
}

function entriesText(entries: readonly Entry[]): string {
  return entries.map(([name, text, nested]) => (nested ? `${name}:<${text}> ` : `${name}:${text} `)).join('');
}

function isDefault(v: unknown): boolean {
  if (v === undefined || v === null || v === 0 || v === false || v === '') return true;
  // protobufjs's default for bytes is an empty array on the prototype.
  if (v instanceof Uint8Array || Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object' && 'isZero' in v && typeof v.isZero === 'function') return v.isZero() === true;
  return false;
}

function scalarText(field: Field, v: Value): string {
  const enumType = field.resolvedType;
  if (enumType !== null && 'valuesById' in enumType) {
    const n = Number(v);
    return enumType.valuesById[n] ?? String(n);
  }
  if (v instanceof Uint8Array) return goQuote(v);
  if (typeof v === 'string') return field.type === 'string' ? goQuote(new TextEncoder().encode(v)) : v;
  if (v !== null && v !== undefined && typeof v === 'object') return v.toString();
  return String(v);
}

/** The compact text of a decoded message of `fullName` (etcd's `m.String()`). */
export function compactText(fullName: string, msg: object): string {
  return entriesText(entriesOf(fullName, msg));
}

function entriesOf(fullName: string, msg: object): Entry[] {
  const type = codec<unknown>(fullName).type;
  const original = protoRootOriginalNames().lookupType(fullName);
  const rec = msg as Record<string, unknown>;
  const out: Entry[] = [];
  for (const field of [...type.fieldsArray].sort((a, b) => a.id - b.id)) {
    const name = original.fieldsById[field.id]?.name ?? field.name;
    const v = rec[field.name];
    const values: unknown[] = field.repeated ? (Array.isArray(v) ? v : []) : [v];
    for (const one of values) {
      // A oneof member is written when set, even to its zero value.
      const set = field.partOf !== null ? Object.hasOwn(rec, field.name) && one !== null && one !== undefined : !isDefault(one);
      if (!set && !field.repeated) continue;
      const sub = field.resolvedType;
      if (sub !== null && 'fieldsArray' in sub) out.push([name, compactText(sub.fullName.replace(/^\./, ''), one as object), true]);
      else out.push([name, scalarText(field, one as Value), false]);
    }
  }
  return out;
}

/** etcd's NewLoggablePutRequest(r).String(). */
export function loggablePut(r: pb.PutRequest): string {
  const e: Entry[] = [];
  if (!isDefault(r.key)) e.push(['key', goQuote(r.key ?? new Uint8Array()), false]);
  const size = r.value?.length ?? 0;
  if (size !== 0) e.push(['value_size', String(size), false]);
  if (!isDefault(r.lease)) e.push(['lease', String(r.lease), false]);
  if (r.prevKv === true) e.push(['prev_kv', 'true', false]);
  if (r.ignoreValue === true) e.push(['ignore_value', 'true', false]);
  if (r.ignoreLease === true) e.push(['ignore_lease', 'true', false]);
  return entriesText(e);
}

function loggableCompare(c: pb.Compare): string {
  if (!(Object.hasOwn(c, 'value') && c.value != null)) return compactText('etcdserverpb.Compare', c);
  const all = entriesOf('etcdserverpb.Compare', c);
  const keep = all.filter(([name]) => ['result', 'target', 'key'].includes(name));
  const size = c.value.length;
  const entries: Entry[] = [...keep, ...(size === 0 ? [] : ([['value_size', String(size), false]] as Entry[]))];
  return entriesText([...entries, ...all.filter(([name]) => name === 'range_end')]);
}

function loggableOp(op: pb.RequestOp): string {
  if (op.requestPut != null) return `request_put:<${loggablePut(op.requestPut)}>`;
  if (op.requestTxn != null) return `request_txn:<${loggableTxn(op.requestTxn)}>`;
  return compactText('etcdserverpb.RequestOp', op);
}

/** etcd's NewLoggableTxnRequest(r).String(). */
export function loggableTxn(r: pb.TxnRequest): string {
  const compare = (r.compare ?? []).map(loggableCompare).join(' ');
  const success = (r.success ?? []).map(loggableOp).join(' ');
  const failure = (r.failure ?? []).map(loggableOp).join(' ');
  return `compare:<${compare}> success:<${success}> failure:<${failure}>`;
}

const hex16 = (v: Int64Like): string => toBigInt(v, true).toString(16).padStart(16, '0');

/** etcd's RequestHeader text: the id, then the caller's user and auth revision when set. */
function headerText(id: bigint, caller: DecodedRequest['caller']): string {
  const user = caller === undefined || caller.username === '' ? '' : `username:${goQuote(Buffer.from(caller.username))} `;
  const rev = caller === undefined || caller.revision === 0 ? '' : `auth_revision:${caller.revision} `;
  return `header:<ID:${id} ${user}${rev}>`;
}

/**
 * A committed entry's request as etcd's InternalRaftStringer writes it
 * (`header:<ID:7 username:"alice" auth_revision:3 > put:<key:"foo" value_size:3 >`);
 * `undefined` for the kinds etcd has no such request for (tsetcd's own expiry and
 * member-attribute entries, Auth service requests).
 */
export function loggableEntry(entry: DecodedRequest): string | undefined {
  const req = unwrapWrite(entry);
  const header = headerText(req.id, req.caller);
  const dec = <T>(name: string): T => codec<T>(`etcdserverpb.${name}`).decode(req.payload);
  switch (req.kind) {
    case RequestKind.Put:
      return `${header} put:<${loggablePut(dec<pb.PutRequest>('PutRequest'))}>`;
    case RequestKind.Txn:
      return `${header} txn:<${loggableTxn(dec<pb.TxnRequest>('TxnRequest'))}>`;
    case RequestKind.DeleteRange:
      return `${header} delete_range:<${compactText('etcdserverpb.DeleteRangeRequest', dec<object>('DeleteRangeRequest'))}> `;
    case RequestKind.Compaction:
      return `${header} compaction:<${compactText('etcdserverpb.CompactionRequest', dec<object>('CompactionRequest'))}> `;
    case RequestKind.LeaseGrant: {
      const g = dec<pb.LeaseGrantRequest>('LeaseGrantRequest');
      return `${header} lease_grant:<ttl:${String(g.TTL ?? 0)}-second id:${hex16(g.ID)}>`;
    }
    case RequestKind.LeaseRevoke:
      return `${header} lease_revoke:<id:${hex16(dec<pb.LeaseRevokeRequest>('LeaseRevokeRequest').ID)}>`;
    case RequestKind.Alarm:
      return `${header} alarm:<${compactText('etcdserverpb.AlarmRequest', dec<object>('AlarmRequest'))}> `;
    default:
      return undefined;
  }
}

const RESPONSE_TYPES: Partial<Record<RequestKind, string>> = {
  [RequestKind.Put]: 'PutResponse',
  [RequestKind.DeleteRange]: 'DeleteRangeResponse',
  [RequestKind.Txn]: 'TxnResponse',
  [RequestKind.Compaction]: 'CompactionResponse',
  [RequestKind.LeaseGrant]: 'LeaseGrantResponse',
  [RequestKind.LeaseRevoke]: 'LeaseRevokeResponse',
  [RequestKind.Alarm]: 'AlarmResponse',
};

/**
 * etcd's `size:N` of an applied response: its encoding with the header apply gives it
 * (the revision; cluster and member ids are added later by the API layer), or '' for
 * the kinds loggableEntry does not name.
 */
export function loggableResponse(kind: RequestKind, response: object, revision: number): string {
  const name = RESPONSE_TYPES[kind];
  if (name === undefined) return '';
  const bytes = codec<object>(`etcdserverpb.${name}`).encode({ ...response, header: { revision } });
  return `size:${bytes.length}`;
}
