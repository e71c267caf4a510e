import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DurationSyntaxError,
  formatGoDuration,
  nsToMs,
  parseGoDurationMs,
  parseGoDurationNs,
} from '../../src/config/duration.js';
import { loadConfig } from '../../src/config/index.js';

describe('Go duration syntax', () => {
  // Cases from Go's time.ParseDuration tests.
  const valid: [string, bigint][] = [
    ['0', 0n],
    ['5s', 5_000_000_000n],
    ['-5s', -5_000_000_000n],
    ['+5s', 5_000_000_000n],
    ['-0', 0n],
    ['5.0s', 5_000_000_000n],
    ['5.6s', 5_600_000_000n],
    ['5.s', 5_000_000_000n],
    ['.5s', 500_000_000n],
    ['1.004s', 1_004_000_000n],
    ['100.00100s', 100_001_000_000n],
    ['10ns', 10n],
    ['11us', 11_000n],
    ['12\u00b5s', 12_000n],
    ['12\u03bcs', 12_000n],
    ['13ms', 13_000_000n],
    ['15m', 900_000_000_000n],
    ['16h', 57_600_000_000_000n],
    ['3h30m', 12_600_000_000_000n],
    ['10.5s4m', 250_500_000_000n],
    ['-2m3.4s', -123_400_000_000n],
    ['1h2m3s4ms5us6ns', 3_723_004_005_006n],
    ['39h9m14.425s', 140_954_425_000_000n],
    ['9223372036854775807ns', 9_223_372_036_854_775_807n],
    ['9223372036s854ms775us807ns', 9_223_372_036_854_775_807n],
  ];
  it.each(valid)('parses %s', (text, ns) => {
    expect(parseGoDurationNs(text)).toBe(ns);
  });

  const invalid: [string, RegExp][] = [
    ['', /invalid duration/],
    ['3', /missing unit/],
    ['-', /invalid duration/],
    ['s', /invalid duration/],
    ['.', /invalid duration/],
    ['-.', /invalid duration/],
    ['.s', /invalid duration/],
    ['1d', /unknown unit "d"/],
    ['1h2', /missing unit/],
    ['9223372036854775808ns', /invalid duration/],
  ];
  it.each(invalid)('refuses %j', (text, message) => {
    expect(() => parseGoDurationNs(text)).toThrow(DurationSyntaxError);
    expect(() => parseGoDurationNs(text)).toThrow(message);
  });

  it('formats like Duration.String', () => {
    expect(formatGoDuration(0)).toBe('0s');
    expect(formatGoDuration(0.000001)).toBe('1ns');
    expect(formatGoDuration(0.0015)).toBe('1.5\u00b5s');
    expect(formatGoDuration(100)).toBe('100ms');
    expect(formatGoDuration(1500)).toBe('1.5s');
    expect(formatGoDuration(5000)).toBe('5s');
    expect(formatGoDuration(600_000)).toBe('10m0s');
    expect(formatGoDuration(7_200_000)).toBe('2h0m0s');
    expect(formatGoDuration(3_723_004)).toBe('1h2m3.004s');
    expect(formatGoDuration(-1500)).toBe('-1.5s');
  });

  it('formatting then parsing gives the same nanoseconds', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), (ns) => {
        expect(parseGoDurationNs(formatGoDuration(nsToMs(ns)))).toBe(ns);
      }),
    );
  });

  it('is what duration flags take', () => {
    const { config } = loadConfig(
      [
        '--grpc-keepalive-min-time',
        '5s',
        '--watch-progress-notify-interval=10m',
        '--warning-unary-request-duration=1.5s',
        '--grpc-keepalive-interval=0',
      ],
      {},
    );
    expect(config.grpcKeepaliveMinTimeMs).toBe(5_000);
    expect(config.watchProgressNotifyIntervalMs).toBe(600_000);
    expect(config.warningUnaryRequestDurationMs).toBe(1_500);
    expect(config.grpcKeepaliveIntervalMs).toBe(0);
    expect(parseGoDurationMs('250us')).toBe(0.25);
  });
});

describe('auto-compaction-retention', () => {
  const retention = (args: string[]) => loadConfig(args, {}).config.autoCompaction;
  it('periodic: a bare number is hours, a duration is a duration, 0 is off', () => {
    expect(retention(['--auto-compaction-retention', '1'])).toEqual({
      mode: 'periodic',
      retentionMs: 3_600_000,
    });
    expect(retention(['--auto-compaction-retention', '1h'])).toEqual({
      mode: 'periodic',
      retentionMs: 3_600_000,
    });
    expect(retention(['--auto-compaction-retention', '30m'])).toEqual({
      mode: 'periodic',
      retentionMs: 1_800_000,
    });
    expect(retention([])).toEqual({ mode: 'periodic', retentionMs: 0 });
  });
  it('revision: a count of revisions', () => {
    expect(
      retention(['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '1000']),
    ).toEqual({ mode: 'revision', retentionRevisions: 1000 });
  });
});
