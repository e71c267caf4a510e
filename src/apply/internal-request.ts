/**
 * The payload of a RequestKind.Internal entry: etcd's InternalRaftRequest
 * (etcdserver/etcdserverpb/raft_internal.proto), byte for byte, with its RequestHeader
 * (field 100: username, auth_revision) and exactly one request field. tsetcd proposes it
 * for every Auth service request. Writes whose permission apply checks (Put,
 * DeleteRange, Txn, LeaseRevoke; etcdserver/apply_auth.go) carry their caller in the
 * entry's own header now (request.ts); WALs written before that hold them in this
 * form, proposed while auth was enabled, so they still decode (`unwrapWrite`). The
 * request id stays in the entry's own header (request.ts), so header.ID is left out.
 *
 * Contract: decode(encode(x)) equals x; a payload with no known request field, or with
 * two, is a broken entry (assertion), never a client error.
 */
import protobuf from 'protobufjs';
import { assert, unreachable } from '../shared/assert.js';
import type * as pb from '../generated/pb.js';
import { codec } from '../shared/pb-codec.js';
import type { AuthRequest } from '../auth/index.js';
import { RequestKind, type DecodedRequest } from './request.js';
import { decodeRequestHeader, encodeRequestHeader } from './request-header.js';

export interface InternalHeader {
  readonly username: string;
  readonly authRevision: number;
}

/** A write checked at apply: its own kind and its request's protobuf bytes. */
export type CheckedWriteKind = typeof RequestKind.Put | typeof RequestKind.DeleteRange | typeof RequestKind.Txn | typeof RequestKind.LeaseRevoke;

export type InternalBody =
  | { readonly type: 'write'; readonly kind: CheckedWriteKind; readonly payload: Uint8Array }
  | { readonly type: 'auth'; readonly req: AuthRequest };

export interface InternalRequest {
  readonly header: InternalHeader;
  readonly body: InternalBody;
}

const HEADER_FIELD = 100;

const WRITE_FIELDS: ReadonlyArray<readonly [CheckedWriteKind, number]> = [
  [RequestKind.Put, 4],
  [RequestKind.DeleteRange, 5],
  [RequestKind.Txn, 6],
  [RequestKind.LeaseRevoke, 9],
];

type AuthOpName = AuthRequest['op'];

/** etcd's field number and request message of each auth op (InternalRaftRequest). */
const AUTH_FIELDS: { readonly [O in AuthOpName]: readonly [number, string] } = {
  authEnable: [1000, 'etcdserverpb.AuthEnableRequest'],
  authDisable: [1011, 'etcdserverpb.AuthDisableRequest'],
  authenticate: [1012, ''],
  authStatus: [1013, 'etcdserverpb.AuthStatusRequest'],
  userAdd: [1100, 'etcdserverpb.AuthUserAddRequest'],
  userDelete: [1101, 'etcdserverpb.AuthUserDeleteRequest'],
  userGet: [1102, 'etcdserverpb.AuthUserGetRequest'],
  userChangePassword: [1103, 'etcdserverpb.AuthUserChangePasswordRequest'],
  userGrantRole: [1104, 'etcdserverpb.AuthUserGrantRoleRequest'],
  userRevokeRole: [1105, 'etcdserverpb.AuthUserRevokeRoleRequest'],
  userList: [1106, 'etcdserverpb.AuthUserListRequest'],
  roleList: [1107, 'etcdserverpb.AuthRoleListRequest'],
  roleAdd: [1200, 'etcdserverpb.AuthRoleAddRequest'],
  roleDelete: [1201, 'etcdserverpb.AuthRoleDeleteRequest'],
  roleGet: [1202, 'etcdserverpb.AuthRoleGetRequest'],
  roleGrantPermission: [1203, 'etcdserverpb.AuthRoleGrantPermissionRequest'],
  roleRevokePermission: [1204, 'etcdserverpb.AuthRoleRevokePermissionRequest'],
};

const AUTH_BY_FIELD = new Map<number, AuthOpName>(
  (Object.keys(AUTH_FIELDS) as AuthOpName[]).map((op) => [AUTH_FIELDS[op][0], op]),
);
const WRITE_BY_FIELD = new Map<number, CheckedWriteKind>(WRITE_FIELDS.map(([k, f]) => [f, k]));

function tag(field: number): number {
  return ((field << 3) | 2) >>> 0;
}

function encodeHeader(h: InternalHeader): Uint8Array {
  return encodeRequestHeader({ username: h.username, revision: h.authRevision });
}

/** InternalAuthenticateRequest {name = 1, password = 2 (never sent), simple_token = 3}. */
function encodeAuthenticate(name: string, simpleToken: string): Uint8Array {
  const w = protobuf.Writer.create();
  if (name !== '') w.uint32((1 << 3) | 2).string(name);
  if (simpleToken !== '') w.uint32((3 << 3) | 2).string(simpleToken);
  return w.finish();
}

function decodeAuthenticate(bytes: Uint8Array): { name: string; simpleToken: string } {
  const r = protobuf.Reader.create(bytes);
  let name = '';
  let simpleToken = '';
  while (r.pos < r.len) {
    const t = r.uint32();
    if (t >>> 3 === 1 && (t & 7) === 2) name = r.string();
    else if (t >>> 3 === 3 && (t & 7) === 2) simpleToken = r.string();
    else r.skipType(t & 7);
  }
  return { name, simpleToken };
}

function authPayload(req: AuthRequest): Uint8Array {
  if (req.op === 'authenticate') return encodeAuthenticate(req.name, req.simpleToken);
  const message = AUTH_FIELDS[req.op][1];
  return codec<object>(message).encode('req' in req ? req.req : {});
}

function dec<T>(op: AuthOpName, bytes: Uint8Array): T {
  return codec<T>(AUTH_FIELDS[op][1]).decode(bytes);
}

function authFromPayload(op: AuthOpName, b: Uint8Array): AuthRequest {
  switch (op) {
    case 'authenticate':
      return { op, ...decodeAuthenticate(b) };
    case 'authEnable':
    case 'authDisable':
    case 'authStatus':
    case 'userList':
    case 'roleList':
      return { op };
    case 'userAdd':
      return { op, req: dec<pb.AuthUserAddRequest>(op, b) };
    case 'userDelete':
      return { op, req: dec<pb.AuthUserDeleteRequest>(op, b) };
    case 'userGet':
      return { op, req: dec<pb.AuthUserGetRequest>(op, b) };
    case 'userChangePassword':
      return { op, req: dec<pb.AuthUserChangePasswordRequest>(op, b) };
    case 'userGrantRole':
      return { op, req: dec<pb.AuthUserGrantRoleRequest>(op, b) };
    case 'userRevokeRole':
      return { op, req: dec<pb.AuthUserRevokeRoleRequest>(op, b) };
    case 'roleAdd':
      return { op, req: dec<pb.AuthRoleAddRequest>(op, b) };
    case 'roleDelete':
      return { op, req: dec<pb.AuthRoleDeleteRequest>(op, b) };
    case 'roleGet':
      return { op, req: dec<pb.AuthRoleGetRequest>(op, b) };
    case 'roleGrantPermission':
      return { op, req: dec<pb.AuthRoleGrantPermissionRequest>(op, b) };
    case 'roleRevokePermission':
      return { op, req: dec<pb.AuthRoleRevokePermissionRequest>(op, b) };
    default:
      return unreachable(op, 'auth op');
  }
}

export function encodeInternal(r: InternalRequest): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32(tag(HEADER_FIELD)).bytes(encodeHeader(r.header));
  if (r.body.type === 'write') {
    const kind = r.body.kind;
    const field = WRITE_FIELDS.find(([k]) => k === kind)?.[1];
    assert(field !== undefined, `kind ${kind} is not checked at apply`);
    w.uint32(tag(field)).bytes(r.body.payload);
  } else {
    w.uint32(tag(AUTH_FIELDS[r.body.req.op][0])).bytes(authPayload(r.body.req));
  }
  return w.finish();
}

export function decodeInternal(bytes: Uint8Array): InternalRequest {
  const r = protobuf.Reader.create(bytes);
  let header: InternalHeader = { username: '', authRevision: 0 };
  let body: InternalBody | undefined;
  while (r.pos < r.len) {
    const t = r.uint32();
    const field = t >>> 3;
    if ((t & 7) !== 2) {
      r.skipType(t & 7);
      continue;
    }
    const sub = r.bytes();
    if (field === HEADER_FIELD) {
      header = decodeHeader(sub);
      continue;
    }
    const write = WRITE_BY_FIELD.get(field);
    const op = AUTH_BY_FIELD.get(field);
    if (write === undefined && op === undefined) continue;
    assert(body === undefined, 'internal request with two request fields');
    body = write !== undefined ? { type: 'write', kind: write, payload: sub } : { type: 'auth', req: authFromPayload(op as AuthOpName, sub) };
  }
  assert(body !== undefined, 'internal request without a request field');
  return { header, body };
}

function decodeHeader(bytes: Uint8Array): InternalHeader {
  const { username, revision } = decodeRequestHeader(bytes);
  return { username, authRevision: revision };
}

/**
 * A write in the Internal form (older WALs) as the request it carries, its caller
 * from the header; any other entry as it is. For the readers of entries: apply, the
 * log lines, the Jepsen log reader.
 */
export function unwrapWrite(req: DecodedRequest): DecodedRequest {
  if (req.kind !== RequestKind.Internal) return req;
  const { header, body } = decodeInternal(req.payload);
  if (body.type !== 'write') return req;
  return { kind: body.kind, id: req.id, payload: body.payload, caller: { username: header.username, revision: header.authRevision } };
}
