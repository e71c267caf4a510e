/**
 * The generator's own ceiling on this machine: the `put` case run against the null
 * server (null-server.ts) over the same mTLS, in the same worker pool. Reported next to
 * the servers' numbers so a reader can check that the generator out-runs both servers.
 * The null server process is always killed (SIGTERM, then SIGKILL) before returning.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { watchdog } from './cluster.js';
import { type BenchOptions, resolveOptions } from './options.js';
import type { Pki } from './pki.js';
import type { BenchResult, WorkerPool } from './runner.js';

export interface Ceiling {
  caseId: string;
  throughputOpsPerSec: number;
  generatorCores: number;
  workerEventLoopUtilization: number[];
  error?: string;
}

export async function measureCeiling(
  pool: WorkerPool,
  pki: Pki,
  caseId: string,
  given: Partial<BenchOptions>,
): Promise<Ceiling> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'null-server.js');
  const proc = spawn(process.execPath, [script, '0', pki.certFile, pki.keyFile], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (proc.pid !== undefined) watchdog(proc.pid);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('null server did not start in 10 s')), 10_000);
      proc.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening (\d+)/.exec(out);
        if (m?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      proc.once('exit', (code) => reject(new Error(`null server exited with code ${code}`)));
    });
    const opts = resolveOptions('put', [`https://127.0.0.1:${port}`], {
      ...given,
      cacert: pki.caFile,
      cert: pki.certFile,
      key: pki.keyFile,
    });
    const r: BenchResult = await pool.run(opts, 60_000);
    return {
      caseId,
      throughputOpsPerSec: r.throughputOpsPerSec,
      generatorCores: r.generator.cpuCores,
      workerEventLoopUtilization: r.generator.workerEventLoopUtilization,
    };
  } catch (err) {
    return {
      caseId,
      throughputOpsPerSec: Number.NaN,
      generatorCores: Number.NaN,
      workerEventLoopUtilization: [],
      error: err instanceof Error ? err.message : String(err),
    };
  } finally {
    if (proc.pid !== undefined && proc.exitCode === null) {
      const pid = proc.pid;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        // gone
      }
      const done = await Promise.race([exited.then(() => true), sleep(3_000).then(() => false)]);
      if (!done) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  }
}
