// mvccpb.KeyValue through protobufjs: the independent encoder the model and the codec
// test compare our hand-written kv-codec against. protobufjs omits a field only when it
// is unset, so zero fields are left out of the object (as gogoproto omits them).
import protobuf from 'protobufjs';
import Long from 'long';
import type { KeyValue } from '../../src/mvcc/types.js';

const root = protobuf.parse(`
syntax = "proto3";
package mvccpb;
message KeyValue {
  bytes key = 1;
  int64 create_revision = 2;
  int64 mod_revision = 3;
  int64 version = 4;
  bytes value = 5;
  int64 lease = 6;
}`).root;

export const KeyValueType = root.lookupType('mvccpb.KeyValue');

export function pbEncodeKeyValue(kv: KeyValue): Buffer {
  const obj: Record<string, unknown> = {};
  if (kv.key.length > 0) obj['key'] = kv.key;
  if (kv.createRevision !== 0) obj['createRevision'] = Long.fromNumber(kv.createRevision);
  if (kv.modRevision !== 0) obj['modRevision'] = Long.fromNumber(kv.modRevision);
  if (kv.version !== 0) obj['version'] = Long.fromNumber(kv.version);
  if (kv.value.length > 0) obj['value'] = kv.value;
  if (kv.lease !== 0n) obj['lease'] = Long.fromBigInt(kv.lease, false);
  return Buffer.from(KeyValueType.encode(KeyValueType.fromObject(obj)).finish());
}
