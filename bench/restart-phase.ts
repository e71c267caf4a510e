/**
 * The footprint and big-restart measurements of the full profile, on fresh clusters:
 * peak RSS and disk with `footprintKeys` (100,000) keys of 1 KiB, then the time from
 * spawn to serving (every member answered a linearizable read) with `bigRestartKeys`
 * (1,000,000) keys stored, and the peak RSS of that restarted cluster.
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
  /** Peak RSS of the largest member once every member served after the restart. */
  peakRssBytes: number;
  diskBytes: number;
}

/** One sample per side: measured while loading, before the restarts. */
export interface LoadFootprint {
  keys: number;
  peakRssBytes: number;
  diskBytes: number;
}

export interface RestartPhaseResult {
  keys: number;
  samples: RestartSample[];
  /** Label → why that side has no samples. */
  errors: Record<string, string>;
  loadMs: Record<string, number>;
  /** Label → peak RSS and disk at `footprintKeys` keys on the fresh cluster. */
  footprint: Record<string, LoadFootprint>;
}

export async function runRestartPhase(
  env: SessionEnv,
  sides: ReadonlyArray<readonly [string, ServerKind]>,
): Promise<RestartPhaseResult> {
  const keys = env.profile.bigRestartKeys;
  const fpKeys = Math.min(env.profile.footprintKeys, keys);
  const out: RestartPhaseResult = { keys, samples: [], errors: {}, loadMs: {}, footprint: {} };
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
        const t0 = Date.now();
        await loadKeys(cluster.clientUrls, cluster.tlsFiles, 0, fpKeys, 1024);
        out.footprint[label] = { keys: fpKeys, peakRssBytes: cluster.peakRssBytes(), diskBytes: cluster.diskBytes() };
        await loadKeys(cluster.clientUrls, cluster.tlsFiles, fpKeys, keys, 1024);
        out.loadMs[label] = Date.now() - t0;
        await cluster.stop();
        loaded.push({ label, cluster, dir, diskBytes: cluster.diskBytes() });
      } catch (err) {
        // A server that died while loading explains itself in its log.
        const dead = cluster.deadMembers();
        await cluster.stop();
        const msg = err instanceof Error ? err.message : String(err);
        out.errors[label] = dead === undefined ? msg : `${msg}; ${dead}`;
        env.log(`  ${label}: big-restart setup failed: ${out.errors[label]?.split('\n')[0] ?? ''}`);
      }
    }
    for (let round = 1; round <= env.profile.rounds; round++) {
      for (const side of loaded) {
        if (out.errors[side.label] !== undefined) continue;
        try {
          const ms = await side.cluster.start(env.profile.restartTimeoutMs);
          out.samples.push({
            label: side.label,
            round,
            restartToServingMs: ms,
            peakRssBytes: side.cluster.peakRssBytes(),
            diskBytes: side.diskBytes,
          });
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
