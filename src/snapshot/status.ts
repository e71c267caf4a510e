/**
 * `snapshot status` output, byte for byte as etcdctl 3.4.23 prints it
 * (etcdctl/ctlv3/command/printer*.go, makeDBStatusTable in printer.go):
 *   simple  "%x, %d, %d, %s\n"  hash, revision, total keys, humanize.Bytes(total size)
 *   table   tablewriter, headers HASH REVISION "TOTAL KEYS" "TOTAL SIZE", cells right-aligned
 *   json    {"hash":N,"revision":N,"totalKey":N,"totalSize":N}
 *   fields  "Hash" : N, "Revision" : N, "Keys" : N, "Size" : N
 * Any other -w value is etcdctl's "Error: <x> not supported as output format" (exit 4,
 * ExitBadFeature). Pure: the caller prints.
 */
import type { SnapshotStatus } from '../bbolt/etcd-status.js';

export const STATUS_FORMATS = ['simple', 'table', 'json', 'fields'] as const;
export type StatusFormat = (typeof STATUS_FORMATS)[number];

export function isStatusFormat(s: string): s is StatusFormat {
  return (STATUS_FORMATS as readonly string[]).includes(s);
}

const SI_SIZES = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

/** Go's %.Nf: round half to even on the exact binary value (JS toFixed rounds half up). */
function goFixed(v: number, digits: number): string {
  const scaled = v * 10 ** digits;
  const floor = Math.floor(scaled);
  const diff = scaled - floor;
  // An exact half (representable, as humanize's values x.5 are) goes to the even neighbour.
  const n = diff === 0.5 ? (floor % 2 === 0 ? floor : floor + 1) : Math.round(scaled);
  return (n / 10 ** digits).toFixed(digits);
}

/** go-humanize's Bytes (SI, base 1000), as etcdctl prints sizes. */
export function humanizeBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const e = Math.floor(Math.log(n) / Math.log(1000));
  const suffix = SI_SIZES[e] ?? '?';
  const val = Math.floor((n / 1000 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? goFixed(val, 1) : goFixed(val, 0)} ${suffix}`;
}

/** tablewriter's centre padding: the extra space of an odd gap goes right. */
function centre(s: string, width: number): string {
  const gap = width - s.length;
  if (gap <= 0) return s;
  const left = Math.floor(gap / 2);
  return `${' '.repeat(left)}${s}${' '.repeat(gap - left)}`;
}

function table(header: readonly string[], row: readonly string[]): string {
  const widths = header.map((h, i) => Math.max(h.length, (row[i] ?? '').length));
  const line = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+\n`;
  const head = `|${header.map((h, i) => ` ${centre(h, widths[i] ?? 0)} `).join('|')}|\n`;
  const body = `|${row.map((c, i) => ` ${c.padStart(widths[i] ?? 0)} `).join('|')}|\n`;
  return line + head + line + body + line;
}

export function formatStatus(s: SnapshotStatus, format: StatusFormat): string {
  const hash = (s.hash >>> 0).toString(16);
  const size = humanizeBytes(s.totalSize);
  switch (format) {
    case 'simple':
      return `${hash}, ${s.revision}, ${s.totalKey}, ${size}\n`;
    case 'table':
      return table(['HASH', 'REVISION', 'TOTAL KEYS', 'TOTAL SIZE'], [hash, String(s.revision), String(s.totalKey), size]);
    case 'json':
      return `${JSON.stringify({ hash: s.hash >>> 0, revision: s.revision, totalKey: s.totalKey, totalSize: s.totalSize })}\n`;
    case 'fields':
      return `"Hash" : ${s.hash >>> 0}\n"Revision" : ${s.revision}\n"Keys" : ${s.totalKey}\n"Size" : ${s.totalSize}\n`;
  }
}
