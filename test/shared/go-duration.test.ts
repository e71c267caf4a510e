// Durations in log fields as Go's time.Duration.String prints them (etcd's zap encoder):
// the unit by size, the fraction without trailing zeros, minutes and hours spelled out.
import { describe, expect, it } from 'vitest';
import { goDuration } from '../../src/shared/logger.js';

describe('goDuration', () => {
  it('prints as Go does', () => {
    const cases: Array<[number, string]> = [
      [0, '0s'],
      [1e-6, '1ns'],
      [0.00085, '850ns'],
      [0.0015, '1.5µs'],
      [0.001, '1µs'],
      [12.345678, '12.345678ms'],
      [100, '100ms'],
      [300, '300ms'],
      [1000, '1s'],
      [1200, '1.2s'],
      [123_500, '2m3.5s'],
      [3_600_000, '1h0m0s'],
      [-1.5, '-1.5ms'],
    ];
    for (const [ms, text] of cases) expect({ ms, text: goDuration(ms) }).toEqual({ ms, text });
  });
});
