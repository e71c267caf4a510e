/**
 * The snapshot-restore measurement of bench:compare: the wall time of
 * `etcdctl snapshot restore FILE` against `tsetcd snapshot restore FILE` on one snapshot
 * file of `keys` keys with 1 KiB random values, in A B A' order once per round (A' is
 * etcdctl again: the noise band). The file is laid out as etcd's backend by our bbolt
 * writer, streamed to disk (never whole in memory), with etcd's SHA-256 trailer; both
 * tools check the trailer and read every page. Each restore gets a fresh data dir,
 * removed right after (unless --keep). Values come from a 1 MiB random pool at
 * per-key offsets: incompressible, and the same on the writer's two passes.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { etcdBackendRecords, revisionKey, type KeyBucketEntry } from '../src/bbolt/etcd-layout.js';
import { writeBbolt } from '../src/bbolt/stream.js';
import { encodeKeyValue } from '../src/mvcc/kv-codec.js';
import { leaseId } from '../src/shared/ids.js';

export interface RestoreSample {
  label: string;
  round: number;
  restoreMs: number;
}

export interface RestorePhaseResult {
  keys: number;
  fileBytes: number;
  samples: RestoreSample[];
  /** Label -> why a restore failed (that side has no further samples). */
  errors: Record<string, string>;
}

export interface RestoreTool {
  /** The command for `snapshot restore FILE --data-dir DIR`. */
  command(file: string, dataDir: string): { file: string; args: string[]; env?: Record<string, string> };
}

const VALUE_BYTES = 1024;
const POOL_BYTES = 1 << 20;

/** Writes an etcd-layout snapshot file of `keys` puts (revisions 2..keys+1) with a trailer. */
export async function writeSnapshotFile(path: string, keys: number): Promise<number> {
  const pool = randomBytes(POOL_BYTES);
  const entries = function* (): Generator<KeyBucketEntry> {
    for (let i = 0; i < keys; i++) {
      const off = (i * 7919) % (POOL_BYTES - VALUE_BYTES);
      const rev = i + 2;
      const kv = encodeKeyValue({
        key: Buffer.from(`/bench/key/${String(i).padStart(8, '0')}`),
        value: pool.subarray(off, off + VALUE_BYTES),
        createRevision: rev,
        modRevision: rev,
        version: 1,
        lease: leaseId(0n),
      });
      yield { key: revisionKey({ main: rev, sub: 0 }), value: kv.bytes };
    }
  };
  const fd = openSync(path, 'w');
  const hash = createHash('sha256');
  try {
    await writeBbolt(
      etcdBackendRecords({
        keys: entries,
        consistentIndex: BigInt(keys + 10),
        leases: [],
        members: [{ id: 0x8e9e05c52164694dn, name: 'default', peerUrls: ['http://localhost:2380'], clientUrls: [], isLearner: false }],
        removedMembers: [],
        clusterVersion: '3.4.0',
        alarms: [],
        auth: { users: [], roles: [] },
      }),
      {
        write: (chunk) => {
          hash.update(chunk);
          writeSync(fd, chunk);
        },
      },
    );
    writeSync(fd, hash.digest());
  } finally {
    closeSync(fd);
  }
  return statSync(path).size;
}

/** Runs a command to its end; resolves with its wall time in ms, rejects with its last stderr line. */
export function timed(cmd: { file: string; args: string[]; env?: Record<string, string> }, timeoutMs: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...cmd.env } });
    const err: Buffer[] = [];
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`${cmd.file} ${cmd.args.join(' ')}: ${signal ?? `exit ${code}`}: ${Buffer.concat(err).toString().trim().split('\n').at(-1) ?? ''}`));
    });
  });
}

export async function runRestorePhase(args: {
  workDir: string;
  keys: number;
  rounds: number;
  sides: ReadonlyArray<readonly [string, RestoreTool]>;
  log: (line: string) => void;
  keep: boolean;
  timeoutMs: number;
}): Promise<RestorePhaseResult> {
  const file = join(args.workDir, `restore-${args.keys}.db`);
  args.log(`  snapshot restore: writing a snapshot file of ${args.keys} keys of 1 KiB`);
  const fileBytes = await writeSnapshotFile(file, args.keys);
  const out: RestorePhaseResult = { keys: args.keys, fileBytes, samples: [], errors: {} };
  try {
    for (let round = 1; round <= args.rounds; round++) {
      for (const [label, tool] of args.sides) {
        if (out.errors[label] !== undefined) continue;
        const dataDir = join(args.workDir, `restored-${label}-${round}`);
        try {
          const ms = await timed(tool.command(file, dataDir), args.timeoutMs);
          out.samples.push({ label, round, restoreMs: ms });
          args.log(`  round ${round} ${label}: restored ${args.keys} keys in ${Math.round(ms)} ms`);
        } catch (err) {
          out.errors[label] = err instanceof Error ? err.message : String(err);
          args.log(`  round ${round} ${label}: restore failed: ${out.errors[label]}`);
        } finally {
          if (!args.keep) rmSync(dataDir, { recursive: true, force: true });
        }
      }
    }
  } finally {
    if (!args.keep) rmSync(file, { force: true });
  }
  return out;
}
