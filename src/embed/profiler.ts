/**
 * The V8 profilers behind --enable-pprof (src/http/pprof.ts turns their output into
 * pprof files), through node:inspector in this process: CPU profiles on demand, and
 * the sampling heap profiler running from start-up so /debug/pprof/heap shows what
 * is live, as Go's heap profile does. One CPU profile at a time, as Go allows.
 */
import { Session } from 'node:inspector/promises';
import type { Profiler, V8CpuProfile, V8HeapProfile } from '../http/pprof.js';

/** Go's runtime.MemProfileRate: one sample per 512 KiB allocated on average. */
const HEAP_SAMPLING_BYTES = 512 * 1024;

export class CpuProfileBusy extends Error {
  override readonly name = 'CpuProfileBusy';
}

export class InspectorProfiler implements Profiler {
  readonly heapSamplingBytes = HEAP_SAMPLING_BYTES;
  private readonly session = new Session();
  private cpuBusy = false;
  private readonly started: Promise<void>;

  constructor() {
    this.session.connect();
    this.started = (async () => {
      await this.session.post('HeapProfiler.enable');
      await this.session.post('HeapProfiler.startSampling', { samplingInterval: HEAP_SAMPLING_BYTES });
      await this.session.post('Profiler.enable');
    })();
  }

  async cpu(seconds: number, intervalMicros: number, signal: AbortSignal): Promise<V8CpuProfile> {
    await this.started;
    if (this.cpuBusy) throw new CpuProfileBusy('cpu profiling already in use');
    this.cpuBusy = true;
    try {
      await this.session.post('Profiler.setSamplingInterval', { interval: intervalMicros });
      await this.session.post('Profiler.start');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, seconds * 1000);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
      const { profile } = await this.session.post('Profiler.stop');
      return profile;
    } finally {
      this.cpuBusy = false;
    }
  }

  async heap(): Promise<V8HeapProfile> {
    await this.started;
    const { profile } = await this.session.post('HeapProfiler.getSamplingProfile');
    return profile;
  }

  close(): void {
    this.session.disconnect();
  }
}
