/**
 * The WAL's metadata record as the member writes it: version 1, then the member id and
 * the cluster id, 8 bytes big-endian each (17 bytes; docs/architecture.md §3).
 */
import { assert } from '../shared/assert.js';
import { clusterId, memberId, type ClusterId, type MemberId } from '../shared/ids.js';

export function encodeMetadata(ids: { memberId: MemberId; clusterId: ClusterId }): Uint8Array {
  const b = Buffer.alloc(17);
  b[0] = 1; // metadata version
  b.writeBigUInt64BE(ids.memberId, 1);
  b.writeBigUInt64BE(ids.clusterId, 9);
  return b;
}

export function decodeMetadata(data: Uint8Array): { memberId: MemberId; clusterId: ClusterId } {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  assert(b.length === 17 && b[0] === 1, `unknown WAL metadata (${b.length} bytes)`);
  return { memberId: memberId(b.readBigUInt64BE(1)), clusterId: clusterId(b.readBigUInt64BE(9)) };
}
