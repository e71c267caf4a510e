/**
 * The disk-full fault: one follower's data dir moves onto a small tmpfs mounted for the
 * run, which is then filled, so its next WAL or state-db write meets ENOSPC. The member
 * must stay up with the NOSPACE alarm (docs/architecture.md §3 "full disk") while the
 * other members keep a leader and keep taking writes. The heal grows the tmpfs, removes
 * the filler and restarts the member, which must catch up with nothing acknowledged lost
 * (the run's checker and the end-of-run HashKV comparison decide that).
 *
 * Invariant: the tmpfs is unmounted when the cluster is destroyed (Cluster.cleanups) or,
 * if this test process dies first, by the watchdog (runWhenTestProcessExits).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, openSync, closeSync, readFileSync, writeSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { runWhenTestProcessExits } from '../../helpers/cleanup.js';
import type { Cluster, ClusterMember } from '../cluster/cluster.js';
import { sleep } from '../cluster/cluster.js';
import { findLeader } from '../cluster/status.js';

function run(file: string, args: readonly string[]): void {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr || `exit ${String(r.status)}`}`);
}

function duBytes(dir: string): number {
  const r = spawnSync('du', ['-sb', dir], { encoding: 'utf8' });
  return Number(r.stdout.split('\t')[0] ?? '0');
}

/** Writes 1 MiB blocks, then 4 KiB blocks, into `path` until ENOSPC; returns the bytes written. */
function fill(path: string): number {
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    for (const size of [1 << 20, 4096]) {
      const block = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          written += writeSync(fd, block);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

async function health(m: ClusterMember): Promise<string> {
  try {
    const res = await fetch(`${m.clientUrl}/health?serializable=true`, { signal: AbortSignal.timeout(2000) });
    return await res.text();
  } catch (err) {
    return String(err);
  }
}

export interface DiskFull {
  readonly detail: string;
  heal(): Promise<void>;
}

function isMountPoint(dir: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === dir);
}

/** The data dir onto a tmpfs of `sizeMiB`: moved there the first time, shrunk back on a repeat. */
function toSmallTmpfs(c: Cluster, dir: string, sizeMiB: number): void {
  // A member hit before in this run already lives on its tmpfs (grown by that heal): a
  // mount point cannot be renamed (EBUSY, seen in the long profile), so shrink it instead.
  if (isMountPoint(dir)) {
    run('mount', ['-o', `remount,size=${sizeMiB}m`, dir]);
    return;
  }
  renameSync(dir, `${dir}.moving`);
  mkdirSync(dir, { mode: 0o700 });
  run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'tmpfs', dir]);
  const dog = runWhenTestProcessExits('umount', ['-l', dir]);
  c.cleanups.push(() => {
    spawnSync('umount', ['-l', dir]);
    dog.kill('SIGKILL');
  });
  cpSync(`${dir}.moving`, dir, { recursive: true });
  rmSync(`${dir}.moving`, { recursive: true, force: true });
}

/** Moves `m` (stopped and restarted) onto a tmpfs of its data size + 16 MiB, fills it, waits for NOSPACE. */
export async function startDiskFull(c: Cluster, m: ClusterMember): Promise<DiskFull> {
  const dir = m.dataDir;
  await m.kill();
  const used = duBytes(dir);
  const sizeMiB = Math.ceil(used / (1 << 20)) + 16;
  try {
    toSmallTmpfs(c, dir, sizeMiB);
  } finally {
    // Whatever failed, the member runs again (a fault that could not start leaves none down).
    m.start(c.initialCluster(), 'new');
  }
  await m.waitListening();
  const filler = join(dir, 'test-filler');
  const filled = fill(filler);
  const deadline = Date.now() + 20_000;
  let seen = await health(m);
  while (!seen.includes('NOSPACE')) {
    if (Date.now() > deadline) throw new Error(`${m.name}: no NOSPACE alarm 20 s after its disk filled: ${seen}`);
    if (m.state === 'down') throw new Error(`${m.name} exited on a full disk (${m.lastExit ?? '?'})`);
    await sleep(250);
    seen = await health(m);
  }
  // The others keep a leader while this member holds NOSPACE (the runner's checker and
  // ok-op counts show they keep taking writes).
  const leader = await findLeader(c);
  if (leader === undefined || leader.member === m) {
    throw new Error(`${m.name} full: leader is ${leader?.member.name ?? 'none'}, expected one of the others`);
  }
  return {
    detail: `${m.name} data dir on a ${sizeMiB} MiB tmpfs, ${(filled / (1 << 20)).toFixed(1)} MiB filler, health: ${seen.trim()}, leader ${leader.member.name}`,
    async heal() {
      run('mount', ['-o', 'remount,size=512m', dir]);
      unlinkSync(filler);
      await m.kill();
      m.start(c.initialCluster(), 'new');
      await m.waitListening();
    },
  };
}
