/**
 * The comparison's per-case warm-up (bench/compare-session.ts warmupOptions, the
 * profiles' warmupSec, the result file's warmupMs): a timed case first runs the same
 * load for warmupSec unmeasured, on both sides alike; fixed-count cases (watch) and a
 * profile without warm-up run none; the mixed workload warms up under its own prefix
 * (its setup creates objects that must not exist yet).
 */
import { describe, expect, it } from 'vitest';
import { profile } from '../../bench/compare-plan.js';
import { warmupOptions } from '../../bench/compare-session.js';
import { resolveOptions } from '../../bench/options.js';
import { parseResultFile } from '../../bench/result-file.js';

const endpoints = ['http://127.0.0.1:1'];

describe('per-case warm-up', () => {
  it('both profiles warm every timed case up; the quick one for less', () => {
    expect(profile('full', 1).warmupSec).toBe(2);
    expect(profile('quick', 1).warmupSec).toBe(1);
  });

  it('a timed case warms up with the same shape for warmupSec, unmeasured and with other values', () => {
    for (const c of profile('full', 1).cases.filter((x) => x.workload !== 'watch' && x.workload !== 'watch-latency')) {
      const opts = resolveOptions(c.workload, endpoints, { ...c.options, seed: 3 });
      const warm = warmupOptions(opts, 2);
      expect(warm, c.id).toBeDefined();
      if (warm === undefined) continue;
      expect(warm.durationSec).toBe(2);
      expect(warm.warmupSec).toBe(0);
      expect(warm.total).toBe(0);
      expect(warm.seed).not.toBe(opts.seed);
      const same = ['workload', 'endpoints', 'clients', 'conns', 'keySize', 'valSize', 'keySpaceSize', 'consistency', 'sequentialKeys', 'user'] as const;
      for (const k of same) expect(warm[k], `${c.id}: ${k}`).toEqual(opts[k]);
      if (c.workload === 'mixed') expect(warm.prefix).toBe(`/warmup${opts.prefix}`);
      else expect(warm.prefix).toBe(opts.prefix);
    }
  });

  it('fixed-count cases and a zero warm-up get none', () => {
    const watch = profile('quick', 1).cases.find((c) => c.workload === 'watch');
    expect(watch).toBeDefined();
    expect(warmupOptions(resolveOptions('watch', endpoints, watch?.options ?? {}), 2)).toBeUndefined();
    expect(warmupOptions(resolveOptions('put', endpoints, { durationSec: 2 }), 0)).toBeUndefined();
  });

  it('the result file keeps warmupMs (absent in older files)', () => {
    const file = (profileFields: string): string =>
      `{"format":1,"name":"n","command":"c","startedAt":"s","finishedAt":"f",` +
      `"tsetcd":{"commit":null,"dirty":false,"dirtyPaths":[],"distOlderThanSrc":false,"launcher":"l"},` +
      `"etcd":{"version":"3.4.23","bin":"etcd"},"machine":{"cores":2,"memoryBytes":1,"cpuModel":"m","kernel":"k","node":"v20"},` +
      `"load":{"before":[1,1,1],"after":[1,1,1],"max1MinDuring":1,"samplesDuring":0},` +
      `"profile":{"name":"full","members":3,"rounds":1,"only":null,"footprint":false${profileFields}},` +
      `"tsetcdUnavailable":null,"generatorCeiling":null,"figures":[],"costs":[],"rawFile":"r"}`;
    expect(parseResultFile(file(',"warmupMs":2000'), 'x').profile.warmupMs).toBe(2000);
    expect(parseResultFile(file(''), 'x').profile).not.toHaveProperty('warmupMs');
    expect(parseResultFile(file(''), 'x')).not.toHaveProperty('notes');
  });
});
