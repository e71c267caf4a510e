/**
 * Reading a WAL directory back: every segment, every batch, every record, checked.
 *
 * What counts as crash damage (cut) and what as corruption (refuse), docs/architecture.md §3 and
 * docs/architecture.md §3: the writer keeps one write in flight and that write is one
 * batch, so a power cut can damage only the last batch of the last segment, and
 * everything after that batch is zeros (preallocation; a previous cut zeroed its tail
 * durably before anything new was written). So damage at offset `off` of the last
 * segment is a torn tail if
 *   - the header is intact (its length is trusted) and only zeros follow the batch, or
 *   - the header is damaged, and no intact batch (header and payload CRC) starts at any
 *     8-byte-aligned offset after it.
 * Anything else — damage in an earlier segment, an intact batch after the damage, a
 * broken CRC chain, a CRC-valid batch that does not decode, a record breaking the log
 * rules (log-state.ts), a missing segment — is corruption: WalCorruptError.
 * Limit: a batch whose entry data embeds an intact frame at an aligned offset could make
 * a crash-torn tail look like corruption; that errs on the side of refusing.
 */
import { posix } from 'node:path';
import { fsError, isFsError, readWholeFile } from '../storage/file-layer.js';
import type { FileLayer } from '../storage/file-layer.js';
import { crc32c } from '../shared/crc32c.js';
import { WalCorruptError } from './errors.js';
import {
  FRAME_HEADER_BYTES,
  chainCrc,
  frameBytes,
  isIntactFrameAt,
  readFrameHeader,
} from './frame.js';
import { LogState } from './log-state.js';
import { RecordError, decodeRecords } from './record.js';
import type { WalRecord } from './record.js';
import { SEGMENT_SUFFIX, TMP_SUFFIX, parseSegmentName } from './segment.js';
import type { WalEntry, WalRecovered } from './types.js';

export interface SegmentInfo {
  readonly name: string;
  readonly seq: number;
  /** Highest entry index written in this segment (0 if none): releaseTo's criterion. */
  maxEntryIndex: number;
}

export interface RecoveredWal {
  readonly recovered: WalRecovered;
  readonly state: LogState<WalEntry>;
  readonly segments: SegmentInfo[];
  /** Chained CRC of the last intact batch. */
  readonly lastCrc: number;
  /** Where the next batch goes in the last segment. */
  readonly endOffset: number;
  /** Bytes in [endOffset, dirtyEnd) of the last segment are a cut tail to zero. */
  readonly dirtyEnd: number;
  readonly lastSegmentBytes: number;
  /** Whether the last segment holds a batch besides its header. */
  readonly lastHasData: boolean;
  /** Leftover temp files (names). */
  readonly tmpNames: readonly string[];
}

export async function listSegments(
  fs: FileLayer,
  dir: string,
): Promise<{ segs: Array<{ name: string; seq: number }>; tmp: string[] }> {
  const names = await fs.readdir(dir);
  const segs: Array<{ name: string; seq: number }> = [];
  const tmp: string[] = [];
  for (const name of names) {
    const parsed = parseSegmentName(name);
    if (parsed !== null) segs.push({ name, seq: parsed.seq });
    else if (name.endsWith(TMP_SUFFIX)) tmp.push(name);
  }
  segs.sort((a, b) => a.seq - b.seq);
  return { segs, tmp };
}

export async function recoverWal(fs: FileLayer, dir: string): Promise<RecoveredWal> {
  const { segs, tmp } = await listSegments(fs, dir);
  const firstSeg = segs[0];
  if (firstSeg === undefined) throw fsError('ENOENT', `no ${SEGMENT_SUFFIX} segment in`, dir);
  // Segment 0 retained means nothing was released: the log starts at index 1.
  const state = new LogState<WalEntry>(firstSeg.seq === 0);
  const segments: SegmentInfo[] = [];
  let lastCrc = 0;
  let tail = { endOffset: 0, dirtyEnd: 0, size: 0, hasData: false };
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i] as { name: string; seq: number };
    const path = posix.join(dir, seg.name);
    if (i > 0 && seg.seq !== (segs[i - 1]?.seq ?? -1) + 1) {
      throw new WalCorruptError(
        path,
        0,
        `segment sequence jumps from ${segs[i - 1]?.seq} to ${seg.seq} (a segment is missing)`,
      );
    }
    const info: SegmentInfo = { name: seg.name, seq: seg.seq, maxEntryIndex: 0 };
    const r = await readSegment(
      fs,
      path,
      state,
      info,
      i === 0 ? null : lastCrc,
      i === segs.length - 1,
    );
    lastCrc = r.lastCrc;
    tail = { endOffset: r.endOffset, dirtyEnd: r.dirtyEnd, size: r.size, hasData: r.hasData };
    segments.push(info);
  }
  const firstPath = posix.join(dir, firstSeg.name);
  const err = state.finish();
  if (err !== null) throw new WalCorruptError(firstPath, 0, err);
  if (state.metadata === null) throw new WalCorruptError(firstPath, 0, 'no metadata record');
  return {
    recovered: {
      metadata: state.metadata,
      hardState: state.hardState,
      snapshot: state.snapshot,
      entries: state.entries(),
    },
    state,
    segments,
    lastCrc,
    endOffset: tail.endOffset,
    dirtyEnd: tail.dirtyEnd,
    lastSegmentBytes: tail.size,
    lastHasData: tail.hasData,
    tmpNames: tmp,
  };
}

interface SegmentResult {
  lastCrc: number;
  endOffset: number;
  dirtyEnd: number;
  size: number;
  hasData: boolean;
}

async function readSegment(
  fs: FileLayer,
  path: string,
  state: LogState<WalEntry>,
  info: SegmentInfo,
  prevCrc: number | null,
  isLast: boolean,
): Promise<SegmentResult> {
  let buf: Buffer;
  try {
    // readWholeFile hands us its bytes: view them, do not copy 64 MiB.
    const bytes = await readWholeFile(fs, path);
    buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (err) {
    if (isFsError(err, 'ENOENT'))
      throw new WalCorruptError(path, 0, 'segment vanished while reading');
    throw err;
  }
  const corrupt = (off: number, why: string): WalCorruptError =>
    new WalCorruptError(path, off, why);
  let crc = prevCrc ?? 0;
  let off = 0;
  let frames = 0;
  for (;;) {
    if (off + FRAME_HEADER_BYTES > buf.length) {
      if (isZero(buf, off, buf.length)) return done(off, off);
      return damaged(off, null, 'a batch header is cut short by the end of the file');
    }
    const h = readFrameHeader(buf, off);
    if (h.kind === 'zero') {
      const junkEnd = lastNonZero(buf, off) + 1;
      if (junkEnd <= off) return done(off, off);
      return damaged(off, null, 'a zeroed batch header is followed by data');
    }
    if (h.kind === 'bad') return damaged(off, null, 'batch header checksum mismatch');
    const end = off + frameBytes(h.payloadLength);
    if (off + FRAME_HEADER_BYTES + h.payloadLength > buf.length) {
      return damaged(off, end, `batch of ${h.payloadLength} bytes runs past the end of the file`);
    }
    const payload = buf.subarray(
      off + FRAME_HEADER_BYTES,
      off + FRAME_HEADER_BYTES + h.payloadLength,
    );
    if (crc32c(payload) !== h.payloadCrc) return damaged(off, end, 'batch checksum mismatch');
    let records: WalRecord[];
    try {
      // Full segments: entries view the segment's bytes (they are all in use); the last
      // segment is mostly preallocated zeros, so its entries are copied out of it.
      records = decodeRecords(payload, !isLast);
    } catch (err) {
      if (!(err instanceof RecordError)) throw err;
      throw corrupt(
        off + FRAME_HEADER_BYTES + err.offset,
        `intact batch does not decode: ${err.message}`,
      );
    }
    if (frames === 0) {
      const seed = records[0];
      if (seed?.kind !== 'crcSeed')
        throw corrupt(off, 'segment does not start with a crc seed record');
      if (prevCrc !== null && seed.seed !== prevCrc) {
        throw corrupt(
          off,
          'crc seed does not continue the previous segment (a batch or segment is missing)',
        );
      }
      crc = seed.seed;
    }
    if (chainCrc(crc, h.payloadLength, h.payloadCrc) !== h.chainedCrc) {
      throw corrupt(off, 'chained crc mismatch (a batch is missing, stale or out of order)');
    }
    applyRecords(records, frames, off);
    crc = h.chainedCrc;
    frames++;
    off = end;
  }

  function applyRecords(records: WalRecord[], frameNo: number, at: number): void {
    for (let k = 0; k < records.length; k++) {
      const r = records[k] as WalRecord;
      let err: string | null = null;
      switch (r.kind) {
        case 'crcSeed':
          if (frameNo !== 0 || k !== 0) err = 'crc seed record in the middle of a segment';
          break;
        case 'metadata':
          err = state.applyMetadata(r.data);
          break;
        case 'entry':
          err = state.appendEntry(r.entry);
          if (err === null) info.maxEntryIndex = Math.max(info.maxEntryIndex, r.entry.index);
          break;
        case 'hardState':
          err = state.applyHardState(r.hardState);
          break;
        case 'snapshot':
          err = state.applySnapshot(r.snapshot);
          break;
      }
      if (err !== null) throw corrupt(at, err);
    }
  }

  function done(endOffset: number, dirtyEnd: number): SegmentResult {
    if (frames === 0) throw corrupt(0, 'segment has no intact header batch');
    if (!isLast && dirtyEnd > endOffset)
      throw corrupt(endOffset, 'data after the end of a closed segment');
    return { lastCrc: crc, endOffset, dirtyEnd, size: buf.length, hasData: frames > 1 };
  }

  /** Damage at `at`; `end` is the damaged batch's end when its header is intact. */
  function damaged(at: number, end: number | null, why: string): SegmentResult {
    if (!isLast) throw corrupt(at, `${why} in a segment that is not the last`);
    if (frames === 0) throw corrupt(at, `${why} in the segment's header batch`);
    const junkEnd = lastNonZero(buf, at) + 1;
    if (end !== null) {
      if (junkEnd > end) throw corrupt(at, `${why}, and data follows the damaged batch`);
    } else {
      for (let p = at + 8; p < junkEnd; p += 8) {
        if (isIntactFrameAt(buf, p))
          throw corrupt(at, `${why}, and an intact batch follows at offset ${p}`);
      }
    }
    return {
      lastCrc: crc,
      endOffset: at,
      dirtyEnd: Math.max(at, junkEnd),
      size: buf.length,
      hasData: frames > 1,
    };
  }
}

function isZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

const ZEROS = Buffer.alloc(1 << 16);

/** Offset of the last non-zero byte at or after `from`, or from - 1 if none. */
export function lastNonZero(buf: Buffer, from: number): number {
  let end = buf.length;
  while (end > from) {
    const start = Math.max(from, end - ZEROS.length);
    // Native memcmp against zeros skips clean preallocated space quickly.
    if (buf.compare(ZEROS, 0, end - start, start, end) !== 0) {
      for (let i = end - 1; i >= start; i--) if (buf[i] !== 0) return i;
    }
    end = start;
  }
  return from - 1;
}
