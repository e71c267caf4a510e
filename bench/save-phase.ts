/**
 * The snapshot-save measurement of bench:compare: the wall time of
 * `etcdctl snapshot save FILE` (mTLS, against the first member) on a cluster holding
 * `keys` keys of 1 KiB random values, and how much the serving member's memory grew
 * during the save (its process tree, sampled every 10 ms, peak minus the value just
 * before): RSS, and RssAnon, the RSS without file-backed pages. RSS also counts file
 * pages mapped into the process as the save reads them (etcd's mmap'd bbolt file,
 * tsetcd's mmapped LevelDB tables), which are page cache shared with the kernel; RssAnon
 * counts only the heap and buffers the server allocates. Each side (etcd A, tsetcd B, etcd A') gets its own fresh cluster, loaded once
 * (loader.ts, incompressible values); then every round saves from each in A B A' order,
 * so A' (a separately loaded etcd) gives the noise band. Clusters are always stopped and
 * their data and files removed (unless --keep).
 */
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster, ServerKind } from './cluster.js';
import { makeCluster, type SessionEnv } from './compare-session.js';
import { loadKeys } from './loader.js';
import { timed } from './restore-phase.js';

export interface SaveSample {
  label: string;
  round: number;
  saveMs: number;
  /** Peak RSS of the serving member during the save minus its RSS just before. */
  rssGrowthBytes: number;
  /** The same for RssAnon (anonymous resident memory: heap, buffers; no mapped files). */
  anonGrowthBytes: number;
  fileBytes: number;
}

export interface SavePhaseResult {
  keys: number;
  samples: SaveSample[];
  /** Label -> why that side has no (further) samples. */
  errors: Record<string, string>;
  /** Label -> ms to load the keys. */
  loadMs: Record<string, number>;
}

const RSS_SAMPLE_MS = 10;

function etcdctlSave(etcdctl: string, env: SessionEnv, endpoint: string, file: string, timeoutMs: number): Promise<number> {
  const args = [`--endpoints=${endpoint}`, `--cacert=${env.pki.caFile}`, `--cert=${env.pki.certFile}`, `--key=${env.pki.keyFile}`, 'snapshot', 'save', file];
  return timed({ file: etcdctl, args, env: { ETCDCTL_API: '3' } }, timeoutMs);
}

/** One save with the serving member's RSS and RssAnon sampled meanwhile (each peak on its own). */
async function measuredSave(env: SessionEnv, etcdctl: string, cluster: Cluster, file: string, timeoutMs: number): Promise<Omit<SaveSample, 'label' | 'round'>> {
  const before = cluster.memberMemory(0);
  const peak = { ...before };
  const sample = (): void => {
    const now = cluster.memberMemory(0);
    peak.rss = Math.max(peak.rss, now.rss);
    peak.anon = Math.max(peak.anon, now.anon);
  };
  const timer = setInterval(sample, RSS_SAMPLE_MS);
  try {
    const saveMs = await etcdctlSave(etcdctl, env, cluster.clientUrls[0] ?? '', file, timeoutMs);
    sample();
    return {
      saveMs,
      rssGrowthBytes: Math.max(0, peak.rss - before.rss),
      anonGrowthBytes: Math.max(0, peak.anon - before.anon),
      fileBytes: statSync(file).size,
    };
  } finally {
    clearInterval(timer);
    rmSync(file, { force: true });
  }
}

export async function runSavePhase(
  env: SessionEnv,
  keys: number,
  etcdctl: string,
  sides: ReadonlyArray<readonly [string, ServerKind]>,
): Promise<SavePhaseResult> {
  const out: SavePhaseResult = { keys, samples: [], errors: {}, loadMs: {} };
  const loaded: Array<{ label: string; cluster: Cluster }> = [];
  const dirs: string[] = [];
  const timeoutMs = env.profile.restartTimeoutMs * 5;
  try {
    for (const [label, kind] of sides) {
      const dir = join(env.workDir, `save-${label}`);
      dirs.push(dir);
      try {
        const cluster = await makeCluster(env, kind, dir, keys >= 500_000);
        loaded.push({ label, cluster });
        await cluster.start();
        const t0 = Date.now();
        await loadKeys(cluster.clientUrls, cluster.tlsFiles, 0, keys, 1024);
        out.loadMs[label] = Date.now() - t0;
        env.log(`  snapshot save: ${label} (${kind}) loaded ${keys} keys in ${out.loadMs[label]} ms`);
      } catch (err) {
        out.errors[label] = err instanceof Error ? err.message : String(err);
        env.log(`  snapshot save: ${label} (${kind}) could not be loaded: ${out.errors[label]}`);
      }
    }
    for (let round = 1; round <= env.profile.rounds; round++) {
      for (const { label, cluster } of loaded) {
        if (out.errors[label] !== undefined) continue;
        try {
          const s = await measuredSave(env, etcdctl, cluster, join(env.workDir, `save-${label}-${round}.db`), timeoutMs);
          out.samples.push({ label, round, ...s });
          env.log(
            `  round ${round} ${label}: saved ${(s.fileBytes / 2 ** 20).toFixed(0)} MiB in ${Math.round(s.saveMs)} ms, ` +
              `server RSS +${(s.rssGrowthBytes / 2 ** 20).toFixed(1)} MiB, RssAnon +${(s.anonGrowthBytes / 2 ** 20).toFixed(1)} MiB`,
          );
        } catch (err) {
          out.errors[label] = err instanceof Error ? err.message : String(err);
          env.log(`  round ${round} ${label}: save failed: ${out.errors[label]}`);
        }
      }
    }
  } finally {
    await Promise.all(loaded.map(({ cluster }) => cluster.stop()));
    if (!env.keep) for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  return out;
}
