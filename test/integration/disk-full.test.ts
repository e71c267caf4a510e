/**
 * A real full disk (docs/architecture.md §3): three `tsetcd` processes, the third on
 * its own 64 MiB tmpfs. Under a stream of 256 KiB puts the third member's disk fills:
 * it stays up, answers /health with ALARM NOSPACE, serves serializable reads and
 * refuses writes with etcd's NOSPACE error, while the other two keep taking writes.
 * Restarted on the still-full disk it comes up the same way. After the tmpfs is grown
 * (`mount -o remount,size=...`) and it is restarted, it catches up and every
 * acknowledged write is there. Needs root (mount); CI runs as root.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killWhenTestProcessExits, removeWhenTestProcessExits, runWhenTestProcessExits } from '../helpers/cleanup.js';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { freePorts } from '../helpers/ports.js';
import { TSETCD_BIN } from '../helpers/processes.js';
import { requireTools } from '../helpers/require-tool.js';

const VALUE = 'v'.repeat(256 * 1024);
const children: ChildProcess[] = [];
let mountPoint: string | undefined;

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  if (mountPoint !== undefined) spawnSync('umount', ['-l', mountPoint]);
});

interface Node {
  readonly name: string;
  readonly client: string;
  readonly peer: string;
  readonly dataDir: string;
  child?: ChildProcess;
  log: string;
}

function start(n: Node, cluster: string): void {
  const child = spawn(
    TSETCD_BIN,
    [
      `--name=${n.name}`,
      `--data-dir=${n.dataDir}`,
      `--listen-client-urls=${n.client}`,
      `--advertise-client-urls=${n.client}`,
      `--listen-peer-urls=${n.peer}`,
      `--initial-advertise-peer-urls=${n.peer}`,
      `--initial-cluster=${cluster}`,
      '--initial-cluster-token=disk-full',
      '--heartbeat-interval=100',
      '--election-timeout=1000',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  if (child.pid !== undefined) killWhenTestProcessExits(child.pid);
  n.log = '';
  child.stderr?.on('data', (d: Buffer) => {
    n.log = (n.log + d.toString()).slice(-20_000);
  });
  n.child = child;
  children.push(child);
}

async function stop(n: Node): Promise<void> {
  const c = n.child;
  if (c === undefined || c.exitCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

async function health(n: Node, serializable = true): Promise<string> {
  try {
    const res = await fetch(`${n.client}/health${serializable ? '?serializable=true' : ''}`, { signal: AbortSignal.timeout(3000) });
    return await res.text();
  } catch (err) {
    return String(err);
  }
}

async function until(what: string, ms: number, cond: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function putOnce(n: Node, key: string): Promise<{ ok: boolean; stderr: string }> {
  const r = await runEtcdctl(['put', key], { endpoints: [n.client], stdin: VALUE, timeoutMs: 15_000 });
  return { ok: r.code === 0, stderr: r.stderr };
}

/** A put that retries (the same value) through a leader change; ok once one succeeds. */
async function put(n: Node, key: string): Promise<{ ok: boolean; stderr: string }> {
  let last = { ok: false, stderr: '' };
  for (let attempt = 0; attempt < 5 && !last.ok; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 500));
    last = await putOnce(n, key);
  }
  return last;
}

async function serializableKeys(n: Node): Promise<string[]> {
  const r = await runEtcdctl(['get', 'k', '--prefix', '--keys-only', '--consistency=s'], { endpoints: [n.client], timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`get on ${n.name} failed: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.startsWith('k'));
}

describe('a member whose disk fills up', () => {
  it('stays up serving reads with NOSPACE, the other two keep writing, nothing acknowledged is lost after the disk grows', async (ctx) => {
    requireTools(ctx, 'root', 'etcdctl');
    const base = mkdtempSync(join(tmpdir(), 'tsetcd-disk-full-'));
    removeWhenTestProcessExits(base);
    mountPoint = join(base, 'small');
    mkdirSync(mountPoint);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mountPoint], { encoding: 'utf8' });
    expect(mounted.status, `mount -t tmpfs failed: ${mounted.stderr}`).toBe(0);
    runWhenTestProcessExits('umount', ['-l', mountPoint]);

    const ports = await freePorts(6);
    const nodes: Node[] = [0, 1, 2].map((i) => ({
      name: `d${i + 1}`,
      client: `http://127.0.0.1:${ports[i * 2]}`,
      peer: `http://127.0.0.1:${ports[i * 2 + 1]}`,
      dataDir: i === 2 ? join(mountPoint ?? '', 'data') : join(base, `d${i + 1}`),
      log: '',
    }));
    const [n1, n2, n3] = nodes as [Node, Node, Node];
    const cluster = nodes.map((n) => `${n.name}=${n.peer}`).join(',');
    for (const n of nodes) start(n, cluster);
    for (const n of nodes) await until(`${n.name} healthy`, 30_000, async () => (await health(n, false)).includes('"health":"true"'));

    // Fill: puts through the first two members until the third reports NOSPACE.
    const acked: string[] = [];
    for (let i = 0; i < 600 && !(await health(n3)).includes('NOSPACE'); i++) {
      const key = `k${String(i).padStart(4, '0')}`;
      const r = await put(i % 2 === 0 ? n1 : n2, key);
      expect(r.ok, r.stderr).toBe(true);
      acked.push(key);
    }
    expect(await health(n3)).toContain('ALARM NOSPACE');
    expect(n3.child?.exitCode).toBeNull();
    // The full member: reads yes, writes refused with etcd's NOSPACE.
    expect(await serializableKeys(n3)).toContain(acked[0]);
    const refused = await putOnce(n3, 'krefused');
    expect(refused.ok).toBe(false);
    expect(refused.stderr).toContain('etcdserver: mvcc: database space exceeded');
    // The other two keep taking writes.
    for (let i = 0; i < 5; i++) {
      const key = `kafter${i}`;
      const r = await put(n1, key);
      expect(r.ok, r.stderr).toBe(true);
      acked.push(key);
    }

    // Restart on the still-full disk: it comes up read-only the same way.
    await stop(n3);
    start(n3, cluster);
    await until('d3 up with NOSPACE', 30_000, async () => (await health(n3)).includes('ALARM NOSPACE'));
    expect(await serializableKeys(n3)).toContain(acked[0]);
    expect(n3.child?.exitCode).toBeNull();

    // Grow the disk, restart: it catches up and holds every acknowledged write.
    const grown = spawnSync('mount', ['-o', 'remount,size=512m', mountPoint], { encoding: 'utf8' });
    expect(grown.status, grown.stderr).toBe(0);
    await stop(n3);
    start(n3, cluster);
    await until('d3 healthy after the disk grew', 60_000, async () => (await health(n3)).includes('"health":"true"'));
    await until('d3 caught up', 60_000, async () => {
      const keys: string[] = await serializableKeys(n3).catch(() => []);
      return acked.every((k) => keys.includes(k));
    });
    for (const n of nodes) await stop(n);
    rmSync(join(base, 'd1'), { recursive: true, force: true });
  }, 240_000);
});
