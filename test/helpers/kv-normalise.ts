/**
 * Normalises decoded etcd v3 responses (as returned by grpc-client.ts) so that the
 * answers of two different servers to the same request compare with deep equality.
 *
 * Rules (what may legitimately differ between two members that executed the same
 * history, and nothing else):
 * - header.cluster_id / member_id / raft_term: any non-zero value becomes '<id>' /
 *   '<term>'; zero stays '0' (so inner ResponseOp headers, which carry only a
 *   revision, must still have zero ids on both sides).
 * - Revisions (header.revision, create/mod_revision, compact_revision,
 *   hash_revision, and any field named `revision`) become '@k', the offset from the
 *   caller's base revision, so servers whose global counters differ (other sequences
 *   ran before, or one diverged earlier) still compare the current sequence. Zero
 *   stays 0 ("unset").
 * - Bytes become readable strings: printable ASCII as is, other bytes as \xNN; a key
 *   that starts with the frame's prefix is shown as '~' + the rest.
 * - Errors become { error: <grpc status name>, details: <message> }.
 * Field-specific exclusions (HashKV's hash when histories differ, 3.4-vs-3.5
 * differences) are the caller's business: this module only rewrites values.
 */
import type { Reply } from './grpc-client.js';

export interface RevisionFrame {
  readonly base: number;
  readonly prefix?: Buffer;
}

const REVISION_FIELDS = new Set([
  'revision',
  'createRevision',
  'modRevision',
  'compactRevision',
  'hashRevision',
  // request fields, so that printed requests read like the answers
  'minModRevision',
  'maxModRevision',
  'minCreateRevision',
  'maxCreateRevision',
]);
const ID_FIELDS = new Set(['clusterId', 'memberId']);

export function showBytes(bytes: Uint8Array, prefix?: Buffer): string {
  let buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = '';
  if (prefix !== undefined && prefix.length > 0 && buf.subarray(0, prefix.length).equals(prefix)) {
    out = '~';
    buf = buf.subarray(prefix.length);
  }
  for (const b of buf) {
    out +=
      b >= 0x20 && b < 0x7f && b !== 0x5c
        ? String.fromCharCode(b)
        : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export function relRevision(value: unknown, base: number): unknown {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) return value;
  return n === 0 ? 0 : `@${n - base}`;
}

function normaliseHeader(
  header: Record<string, unknown>,
  frame: RevisionFrame,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(header)) {
    if (ID_FIELDS.has(k)) out[k] = v === '0' || v === 0 ? '0' : '<id>';
    else if (k === 'raftTerm') out[k] = v === '0' || v === 0 ? '0' : '<term>';
    else if (k === 'revision') out[k] = relRevision(v, frame.base);
    else out[k] = normaliseValue(v, frame);
  }
  return out;
}

export function normaliseValue(value: unknown, frame: RevisionFrame): unknown {
  if (value === null || value === undefined) return value;
  if (value instanceof Uint8Array) return showBytes(value, frame.prefix);
  if (Array.isArray(value)) return value.map((v) => normaliseValue(v, frame));
  if (typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k === 'header' && v !== null && typeof v === 'object')
      out[k] = normaliseHeader(v as Record<string, unknown>, frame);
    else if (REVISION_FIELDS.has(k)) out[k] = relRevision(v, frame.base);
    else out[k] = normaliseValue(v, frame);
  }
  return out;
}

/** The path of the first difference between two normalised values ('' if equal). */
export function firstDifference(a: unknown, b: unknown, path = '$'): string {
  if (Object.is(a, b)) return '';
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return path;
  if (Array.isArray(a) !== Array.isArray(b)) return path;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  if (Array.isArray(a) && (a as unknown[]).length !== (b as unknown[]).length)
    return `${path}.length`;
  for (const k of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
    const d = firstDifference(ra[k], rb[k], `${path}.${k}`);
    if (d !== '') return d;
  }
  return '';
}

export function normaliseReply(reply: Reply<unknown>, frame: RevisionFrame): unknown {
  if (!reply.ok) return { error: reply.error.codeName, details: reply.error.details };
  return normaliseValue(reply.value, frame);
}
