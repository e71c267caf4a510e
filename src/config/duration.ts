/**
 * Go duration syntax (time.ParseDuration / Duration.String), because etcd's
 * duration flags (--grpc-keepalive-min-time 5s, --watch-progress-notify-interval 10m,
 * --auto-compaction-retention 1h) take it and operators copy those values verbatim.
 *
 * Contract: parseGoDurationNs accepts exactly what Go accepts: an optional sign, then
 * one or more `<number><unit>` pairs (number with optional fraction, unit one of
 * ns us µs μs ms s m h), or the bare "0". Result is exact nanoseconds (bigint) within
 * int64 range. Errors carry Go's wording ("time: missing unit in duration \"1\"").
 * Settings store milliseconds (a number, possibly fractional below 1 ms).
 */

const NS_PER_UNIT: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n], // micro sign
  ['\u03bcs', 1_000n], // Greek mu
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

const INT64_MAX = (1n << 63n) - 1n;

export class DurationSyntaxError extends Error {
  override readonly name = 'DurationSyntaxError';
}

function quote(s: string): string {
  return JSON.stringify(s);
}

/** Parses a Go duration string into nanoseconds. Throws DurationSyntaxError. */
export function parseGoDurationNs(text: string): bigint {
  const invalid = (): DurationSyntaxError =>
    new DurationSyntaxError(`time: invalid duration ${quote(text)}`);
  let s = text;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s.startsWith('-');
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw invalid();
  let total = 0n;
  while (s !== '') {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(s);
    const intPart = m?.[1] ?? '';
    const fracPart = m?.[2];
    if (m === null || (intPart === '' && (fracPart === undefined || fracPart === ''))) {
      throw invalid();
    }
    s = s.slice(m[0].length);
    const unitMatch = /^[^0-9.]+/.exec(s);
    if (unitMatch === null) {
      throw new DurationSyntaxError(`time: missing unit in duration ${quote(text)}`);
    }
    const unitName = unitMatch[0];
    const unit = NS_PER_UNIT.get(unitName);
    if (unit === undefined) {
      throw new DurationSyntaxError(
        `time: unknown unit ${quote(unitName)} in duration ${quote(text)}`,
      );
    }
    s = s.slice(unitName.length);
    let value = BigInt(intPart === '' ? '0' : intPart) * unit;
    if (fracPart !== undefined && fracPart !== '') {
      const scale = 10n ** BigInt(fracPart.length);
      // Go truncates the fractional part toward zero at nanosecond precision.
      value += (BigInt(fracPart) * unit) / scale;
    }
    total += value;
    if (total > INT64_MAX) throw invalid();
  }
  return negative ? -total : total;
}

/** Parses a Go duration string into milliseconds. */
export function parseGoDurationMs(text: string): number {
  return nsToMs(parseGoDurationNs(text));
}

export function nsToMs(ns: bigint): number {
  const whole = ns / 1_000_000n;
  const rest = ns % 1_000_000n;
  return Number(whole) + Number(rest) / 1e6;
}

/** Formats milliseconds the way Go's Duration.String does: "10m0s", "5s", "100ms", "0s". */
export function formatGoDuration(ms: number): string {
  let ns = BigInt(Math.round(ms * 1e6));
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  if (ns < 0n) ns = -ns;
  if (ns < 1_000n) return `${sign}${ns}ns`;
  if (ns < 1_000_000n) return `${sign}${fraction(ns, 1_000n)}\u00b5s`;
  if (ns < 1_000_000_000n) return `${sign}${fraction(ns, 1_000_000n)}ms`;
  const hours = ns / 3_600_000_000_000n;
  const minutes = (ns / 60_000_000_000n) % 60n;
  const secondsNs = ns % 60_000_000_000n;
  const seconds = `${fraction(secondsNs, 1_000_000_000n)}s`;
  if (hours > 0n) return `${sign}${hours}h${minutes}m${seconds}`;
  if (minutes > 0n) return `${sign}${minutes}m${seconds}`;
  return `${sign}${seconds}`;
}

/** `value / unit` as a decimal with trailing zeros trimmed (Go's fmtFrac). */
function fraction(value: bigint, unit: bigint): string {
  const whole = value / unit;
  const rest = value % unit;
  if (rest === 0n) return whole.toString();
  const digits = unit.toString().length - 1;
  const frac = rest.toString().padStart(digits, '0').replace(/0+$/, '');
  return `${whole}.${frac}`;
}
