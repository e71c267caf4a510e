/**
 * etcd's RequestHeader (etcdserverpb/raft_internal.proto: ID = 1, username = 2,
 * auth_revision = 3) without its ID: the caller a log entry carries. Both entry forms
 * use it, the entry's own header (request.ts) and the InternalRaftRequest's field 100
 * (internal-request.ts), so a caller has one encoding in the log.
 *
 * Contract: decodeRequestHeader(encodeRequestHeader(c)) equals c; the anonymous caller
 * encodes to no bytes; ID and unknown fields are skipped when decoding.
 */
import protobuf from 'protobufjs';
import type { AuthInfo } from '../auth/index.js';

const USERNAME_TAG = (2 << 3) | 2;
const AUTH_REVISION_TAG = 3 << 3;

export function encodeRequestHeader(caller: AuthInfo): Uint8Array {
  const w = protobuf.Writer.create();
  if (caller.username !== '') w.uint32(USERNAME_TAG).string(caller.username);
  if (caller.revision !== 0) w.uint32(AUTH_REVISION_TAG).uint64(caller.revision);
  return w.finish();
}

export function decodeRequestHeader(bytes: Uint8Array): AuthInfo {
  const r = protobuf.Reader.create(bytes);
  let username = '';
  let revision = 0;
  while (r.pos < r.len) {
    const t = r.uint32();
    if (t === USERNAME_TAG) username = r.string();
    else if (t === AUTH_REVISION_TAG) revision = Number(r.uint64().toString());
    else r.skipType(t & 7);
  }
  return { username, revision };
}
