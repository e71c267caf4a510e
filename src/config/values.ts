/**
 * Typed reads of raw settings. Flags and env give strings (Go flag syntax: integers
 * as strconv.ParseUint base 0, booleans as strconv.ParseBool, durations as
 * time.ParseDuration); a YAML file gives typed values (etcd unmarshals durations there
 * as integer nanoseconds; tsetcd also takes Go duration strings; YAML 1.1 yes/no/on/off
 * are booleans as in etcd's go-yaml).
 *
 * Contract: every read either returns a value of the requested type or throws a
 * ConfigError whose key is the label the user wrote (or, for an unset key, the name
 * they would write in this mode: YAML block paths in file mode).
 */
import { DurationSyntaxError, nsToMs, parseGoDurationNs } from './duration.js';
import { ConfigError } from './errors.js';
import { parseGoBool } from './flags.js';
import type { RawSource } from './source.js';
import type { ConfigUrl } from './types.js';
import { UrlSyntaxError, parseUrlList, splitCommaList } from './urls.js';
import { yamlLabelFor } from './yaml-file.js';

const YAML11_BOOLS: ReadonlyMap<string, boolean> = new Map([
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON'].map((s): [string, boolean] => [s, true]),
  ...['n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF'].map((s): [string, boolean] => [s, false]),
]);

/** strconv.ParseInt/ParseUint with base 0: 0x.., 0o.., 0b.., leading-0 octal, underscores. */
export function parseGoInteger(text: string): bigint | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(
    text,
  );
  if (m === null) return undefined;
  const sign = m[1] === '-' ? -1n : 1n;
  let digits = m[2] ?? '';
  if (digits.includes('_')) {
    // Go integer literal syntax: single underscores between digits (or after a prefix).
    if (/__|_$/.test(digits)) return undefined;
    digits = digits.replace(/_/g, '');
  }
  if (/^0[0-7]+$/.test(digits)) digits = `0o${digits.slice(1)}`;
  return sign * BigInt(digits);
}

export class Values {
  constructor(readonly source: RawSource) {}

  has(key: string): boolean {
    return this.source.settings.has(key);
  }

  label(key: string): string {
    const setting = this.source.settings.get(key);
    if (setting !== undefined) return setting.label;
    return this.source.mode === 'file' ? yamlLabelFor(key) : key;
  }

  fail(key: string, problem: string): never {
    throw new ConfigError(this.label(key), problem);
  }

  private raw(key: string): unknown {
    return this.source.settings.get(key)?.value;
  }

  private fromYaml(key: string): boolean {
    return this.source.settings.get(key)?.origin === 'yaml';
  }

  string(key: string, fallback: string): string {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    return this.fail(key, 'expected a string');
  }

  /** A path or name where '' means "not set". */
  optionalString(key: string): string | undefined {
    const value = this.string(key, '');
    return value === '' ? undefined : value;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string') {
      const parsed =
        parseGoBool(value) ?? (this.fromYaml(key) ? YAML11_BOOLS.get(value) : undefined);
      if (parsed !== undefined) return parsed;
    }
    return this.fail(key, `invalid boolean value ${JSON.stringify(value)}`);
  }

  int(
    key: string,
    fallback: number,
    min = Number.MIN_SAFE_INTEGER,
    max = Number.MAX_SAFE_INTEGER,
  ): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    let n: bigint | undefined;
    if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value);
    else if (typeof value === 'string') n = parseGoInteger(value.trim());
    if (n === undefined) return this.fail(key, `invalid integer ${JSON.stringify(value)}`);
    if (n < BigInt(min) || n > BigInt(max)) {
      return this.fail(key, `${n} is out of range [${min}, ${max}]`);
    }
    return Number(n);
  }

  uint(key: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
    return this.int(key, fallback, 0, max);
  }

  /** Milliseconds. YAML integers are nanoseconds (Go time.Duration in JSON). */
  durationMs(key: string, fallbackMs: number): number {
    const value = this.raw(key);
    if (value === undefined) return fallbackMs;
    if (typeof value === 'number' && Number.isInteger(value)) return nsToMs(BigInt(value));
    if (typeof value === 'string') {
      try {
        return nsToMs(parseGoDurationNs(value.trim()));
      } catch (err) {
        if (err instanceof DurationSyntaxError) return this.fail(key, err.message);
        throw err;
      }
    }
    return this.fail(key, `invalid duration ${JSON.stringify(value)}`);
  }

  /** A string list: YAML list items, or a comma-separated string. Empty items dropped. */
  list(key: string, fallback: readonly string[]): string[] {
    const value = this.raw(key);
    if (value === undefined) return [...fallback];
    const items = this.items(key, value);
    return items.filter((s) => s !== '');
  }

  /**
   * URLs with etcd's rules. In a file an empty string keeps the default (etcd only
   * applies non-empty URL keys); from flags/env "" means an empty list.
   */
  urls(key: string, fallback: readonly string[]): ConfigUrl[] {
    const value = this.raw(key);
    if (value === undefined || (value === '' && this.fromYaml(key)))
      return this.parseUrls(key, fallback);
    const items = this.items(key, value);
    if (items.length === 1 && items[0] === '') return [];
    return this.parseUrls(key, items);
  }

  private parseUrls(key: string, items: readonly string[]): ConfigUrl[] {
    try {
      return parseUrlList(items);
    } catch (err) {
      if (err instanceof UrlSyntaxError) return this.fail(key, err.message);
      throw err;
    }
  }

  private items(key: string, value: unknown): string[] {
    if (typeof value === 'string') return splitCommaList(value);
    if (Array.isArray(value)) {
      return value.map((item: unknown) => {
        if (typeof item === 'string') return item.trim();
        if (typeof item === 'number' || typeof item === 'boolean') return String(item);
        return this.fail(key, 'list items must be strings');
      });
    }
    return this.fail(key, 'expected a comma-separated string or a list');
  }
}
