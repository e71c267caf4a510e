/**
 * The state db as a stream, for sending a snapshot to a follower that fell behind the
 * leader's compacted log (docs/architecture.md §3). The sender reads a LevelDB iterator (a
 * point-in-time view) and frames every record; the receiver writes the records into a
 * fresh staging db. The transport adds per-chunk and whole-stream CRC-32C checks.
 *
 * Record framing inside the stream: [key length u32 BE][key][value length u32 BE][value].
 * Chunks are about CHUNK_BYTES and may split a record anywhere.
 */
import type { Backend } from './backend.js';
import { assert } from '../shared/assert.js';

const CHUNK_BYTES = 256 * 1024;
const ITERATOR_BATCH = 1000;

export async function* dbSnapshotStream(backend: Backend): AsyncGenerator<Uint8Array> {
  const it = backend.iterator({});
  let parts: Buffer[] = [];
  let size = 0;
  try {
    for (;;) {
      const entries = await it.nextv(ITERATOR_BATCH);
      if (entries.length === 0) break;
      for (const [k, v] of entries) {
        const head = Buffer.allocUnsafe(4);
        head.writeUInt32BE(k.length);
        const mid = Buffer.allocUnsafe(4);
        mid.writeUInt32BE(v.length);
        parts.push(head, k, mid, v);
        size += 8 + k.length + v.length;
        if (size >= CHUNK_BYTES) {
          yield Buffer.concat(parts, size);
          parts = [];
          size = 0;
        }
      }
    }
    if (size > 0) yield Buffer.concat(parts, size);
  } finally {
    await it.close();
  }
}

/** Parses records from chunks, in order; throws on a truncated stream. */
export async function* dbSnapshotRecords(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<[Buffer, Buffer]> {
  let buf = Buffer.alloc(0);
  for await (const chunk of chunks) {
    buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk]);
    let off = 0;
    for (;;) {
      if (buf.length - off < 4) break;
      const kLen = buf.readUInt32BE(off);
      if (buf.length - off < 8 + kLen) break;
      const vLen = buf.readUInt32BE(off + 4 + kLen);
      const end = off + 8 + kLen + vLen;
      if (buf.length < end) break;
      const key = Buffer.from(buf.subarray(off + 4, off + 4 + kLen));
      const value = Buffer.from(buf.subarray(off + 8 + kLen, end));
      yield [key, value];
      off = end;
    }
    buf = buf.subarray(off);
  }
  assert(buf.length === 0, `snapshot stream ends inside a record (${buf.length} bytes left)`);
}
