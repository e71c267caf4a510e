/**
 * The big-restart measurement of the full profile: time from spawn to serving (every
 * member answered a linearizable read) with 1,000,000 keys of 1 KiB stored.
 *
 * Loading a million keys takes minutes, so it is not repeated per round: each side
 * (etcd A, tsetcd B, etcd A') gets its own fresh cluster, loaded once and stopped; then
 * every round restarts them in A B A' order, so rounds alternate as everywhere else and
 * A' (a separately loaded etcd) gives the noise band. Clusters are always stopped and
 * their data removed (unless --keep).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster, ServerKind } from './cluster.js';
import { makeCluster, type SessionEnv } from './compare-session.js';
import { loadKeys } from './loader.js';

export interface RestartSample {
  label: string;
  round: number;
  restartToServingMs: number;
  diskBytes: number;
}

export interface RestartPhaseResult {
  keys: number;
  samples: RestartSample[];
  /** Label → why that side has no samples. */
  errors: Record<string, string>;
  loadMs: Record<string, number>;
}

export async function runRestartPhase(
  env: SessionEnv,
  sides: ReadonlyArray<readonly [string, ServerKind]>,
): Promise<RestartPhaseResult> {
  const keys = env.profile.bigRestartKeys;
  const out: RestartPhaseResult = { keys, samples: [], errors: {}, loadMs: {} };
  const loaded: Array<{ label: string; cluster: Cluster; dir: string; diskBytes: number }> = [];
  const dirs: string[] = [];
  try {
    for (const [label, kind] of sides) {
      const dir = join(env.workDir, `restart-${label}`);
      dirs.push(dir);
      const cluster = await makeCluster(env, kind, dir, true);
      try {
        await cluster.start();
        env.log(`  ${label}: loading ${keys} keys of 1 KiB`);
        out.loadMs[label] = await loadKeys(cluster.clientUrls, cluster.tlsFiles, 0, keys, 1024);
        await cluster.stop();
        loaded.push({ label, cluster, dir, diskBytes: cluster.diskBytes() });
      } catch (err) {
        await cluster.stop();
        out.errors[label] = err instanceof Error ? err.message : String(err);
        env.log(`  ${label}: big-restart setup failed: ${out.errors[label]?.split('\n')[0] ?? ''}`);
      }
    }
    for (let round = 1; round <= env.profile.rounds; round++) {
      for (const side of loaded) {
        if (out.errors[side.label] !== undefined) continue;
        try {
          const ms = await side.cluster.start(env.profile.restartTimeoutMs);
          out.samples.push({ label: side.label, round, restartToServingMs: ms, diskBytes: side.diskBytes });
          env.log(`  round ${round} ${side.label}: serving ${Math.round(ms)} ms after restart with ${keys} keys`);
        } catch (err) {
          out.errors[side.label] = err instanceof Error ? err.message : String(err);
        } finally {
          await side.cluster.stop();
        }
      }
    }
  } finally {
    for (const side of loaded) await side.cluster.stop();
    if (!env.keep) for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  return out;
}
