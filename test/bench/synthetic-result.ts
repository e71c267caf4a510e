/**
 * A synthetic bench result file (bench/result-file.ts) for the table tests: a quick
 * 1-member run with one figure row and one CPU row; `over` replaces whole fields.
 */
import type { ResultFile } from '../../bench/result-file.js';

export function synthetic(over: Partial<ResultFile> = {}): ResultFile {
  return {
    format: 1,
    name: '2026-01-02T03-04-05Z-quick-1member',
    command: 'npm run bench:compare -- --quick --members 1 --rounds 3',
    startedAt: '2026-01-02T03:04:05.123Z',
    finishedAt: '2026-01-02T03:13:05.123Z',
    tsetcd: { commit: 'ab'.repeat(20), dirty: false, dirtyPaths: [], distOlderThanSrc: false, launcher: 'bin/tsetcd' },
    etcd: { version: '3.4.23', bin: 'etcd' },
    machine: { cores: 2, memoryBytes: 8 * 2 ** 30, cpuModel: 'cpu', kernel: 'Linux 6.1', node: 'v20.1.0' },
    load: { before: [9.5, 8, 4], after: [11, 9, 5], max1MinDuring: 14.25, samplesDuring: 36 },
    profile: { name: 'quick', members: 1, rounds: 3, only: null, footprint: true },
    tsetcdUnavailable: null,
    generatorCeiling: { opsPerSec: 3012.4, generatorCores: 0.8, runs: 2, error: null },
    figures: [
      { case: 'put 64c/8conn 256B', metric: 'throughput', unit: 'ops/s', etcd: 1165.2, tsetcd: 1007.9, ratio: 0.865, aaRatio: 0.96, noiseBand: 0.3, target: '>= 1', verdict: 'inconclusive', note: '' },
      { case: 'startup', metric: 'fresh start to serving (empty)', unit: 'ms', etcd: 656.2, tsetcd: null, ratio: null, aaRatio: 1.1, noiseBand: 0.2, target: null, verdict: 'n/a', note: 'tsetcd errors 3' },
    ],
    costs: [{ case: 'put 64c/8conn 256B', etcdServerCores: 0.14, tsetcdServerCores: 0.18, generatorCores: 0.12, maxWorkerElu: 0.95, generatorSaturatedRuns: 2 }],
    rawFile: 'bench/results/raw/x.json',
    ...over,
  };
}
