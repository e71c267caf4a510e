/**
 * The comparison's port picking (bench/ports.ts) and the cluster start retry on a port
 * already in use (bench/cluster.ts): ports come from outside the kernel's ephemeral
 * range, are probed and never handed out twice; a member that exits on EADDRINUSE before
 * its cluster ever served gets fresh ports and the retry is reported; other start
 * failures are not retried. The real-etcd case takes a peer port away on purpose.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, ClusterStartError, MAX_START_ATTEMPTS } from '../../bench/cluster.js';
import { makePki, type Pki } from '../../bench/pki.js';
import { addressInUse, ephemeralRange, portWindow, PortPicker, ports, probeLoopback } from '../../bench/ports.js';

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(srv));
  });
}

const close = (srv: Server): Promise<void> => new Promise((resolve) => srv.close(() => resolve()));

describe('bench port picking', () => {
  it('reads the ephemeral range and keeps its window outside it', () => {
    expect(ephemeralRange('32768\t60999\n')).toEqual([32768, 60999]);
    expect(ephemeralRange('garbage')).toEqual([32768, 60999]);
    expect(portWindow([32768, 60999])).toEqual([20768, 32767]);
    // No room below: above it, and never below 10,000.
    expect(portWindow([10500, 40000])).toEqual([40001, 52000]);
    expect(portWindow([1024, 60999])).toEqual([61000, 65535]);
    expect(() => portWindow([5000, 65000])).toThrow(/no room/);
    const [lo, hi] = ephemeralRange();
    const [from, to] = portWindow([lo, hi]);
    expect(to < lo || from > hi, `window ${from}-${to} overlaps the ephemeral range ${lo}-${hi}`).toBe(true);
    expect(from).toBeGreaterThanOrEqual(10_000);
  });

  it('walks from its start, skips busy ports, never hands a port out twice, wraps, and says when none is left', async () => {
    const busy = new Set([20002]);
    const picker = new PortPicker([20000, 20004], 20001, (p) => Promise.resolve(!busy.has(p)));
    expect(await picker.next()).toBe(20001);
    expect(await picker.next()).toBe(20003); // 20002 busy
    busy.delete(20002);
    expect(await picker.next()).toBe(20004);
    expect(await picker.next()).toBe(20000); // wrapped
    expect(await picker.next()).toBe(20002); // free now, not handed out before
    await expect(picker.next()).rejects.toThrow(/no free loopback port left in 20000-20004/);
  });

  it('probes a real bind: a port someone listens on is skipped', async () => {
    const first = await ports.next();
    const held = await listen(first + 1).catch(() => undefined);
    try {
      if (held !== undefined) expect(await probeLoopback(first + 1)).toBe(false);
      expect(await probeLoopback(first)).toBe(true);
      const [lo, hi] = ephemeralRange();
      expect(first < lo || first > hi).toBe(true);
    } finally {
      if (held !== undefined) await close(held);
    }
  });

  it("recognises both servers' port-in-use messages", () => {
    expect(addressInUse('{"level":"fatal","msg":"listen tcp 127.0.0.1:2380: bind: address already in use"}')).toBe(true);
    expect(addressInUse('tsetcd: cannot listen on peer URL https://127.0.0.1:37261: listen EADDRINUSE: address already in use')).toBe(true);
    expect(addressInUse('member exited: permission denied')).toBe(false);
  });
});

describe('cluster start retry on a port in use', () => {
  let dir = '';
  let pki: Pki;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsetcd-bench-ports-'));
    mkdirSync(join(dir, 'pki'));
    pki = makePki(join(dir, 'pki'));
  });

  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const options = (name: string, script: string, notes: string[]): Parameters<typeof Cluster.create>[0] => ({
    kind: 'etcd',
    members: 1,
    dir: join(dir, name),
    pki,
    command: { file: 'sh', args: ['-c', script, 'fake-member'] },
    startTimeoutMs: 10_000,
    extraConfig: {},
    onNote: (n) => notes.push(n),
  });

  it('a member that keeps failing on EADDRINUSE is started MAX_START_ATTEMPTS times on fresh ports, then the error stands', async () => {
    const notes: string[] = [];
    const cluster = await Cluster.create(options('always-in-use', 'echo "listen EADDRINUSE: address already in use" >&2; exit 1', notes));
    const configs: string[] = [];
    const err = await cluster.start().catch((e: unknown) => e);
    configs.push(readFileSync(join(dir, 'always-in-use', 'bench-etcd-1', 'member.yml'), 'utf8'));
    expect(err).toBeInstanceOf(ClusterStartError);
    expect((err as ClusterStartError).addressInUse).toBe(true);
    expect(notes).toHaveLength(MAX_START_ATTEMPTS - 1);
    expect(cluster.notes).toEqual(notes);
    expect(notes[0]).toMatch(/start attempt 1 of 3 failed on a port already in use .*EADDRINUSE.*started again on fresh ports/);
    expect(configs[0]).toContain(cluster.clientUrls[0] ?? 'no url');
  });

  it('another start failure is not retried', async () => {
    const notes: string[] = [];
    const cluster = await Cluster.create(options('other-failure', 'echo "bad config" >&2; exit 3', notes));
    const err = await cluster.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterStartError);
    expect((err as ClusterStartError).addressInUse).toBe(false);
    expect((err as Error).message).toMatch(/exited \(code 3\)/);
    expect(notes).toEqual([]);
  });

  it('real etcd whose peer port is taken starts again on fresh ports and serves', async () => {
    try {
      execFileSync('etcd', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error('etcd binary not found on PATH: install Debian etcd-server (apt-get install -y etcd-server)');
    }
    const taken = await ports.next();
    const holder = await listen(taken);
    const notes: string[] = [];
    // The first pick is the client port, the second the peer port: hand out the held one.
    let picks = 0;
    const pickPort = (): Promise<number> => (++picks === 2 ? Promise.resolve(taken) : ports.next());
    const cluster = await Cluster.create({
      kind: 'etcd',
      members: 1,
      dir: join(dir, 'etcd'),
      pki,
      command: { file: 'etcd', args: [] },
      startTimeoutMs: 15_000,
      extraConfig: {},
      onNote: (n) => notes.push(n),
      pickPort,
    });
    try {
      const firstUrl = cluster.clientUrls[0];
      const ms = await cluster.start();
      expect(ms).toBeGreaterThan(0);
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatch(new RegExp(`address already in use.*${taken}|${taken}.*address already in use`));
      expect(cluster.clientUrls[0]).not.toBe(firstUrl);
      expect(readFileSync(join(dir, 'etcd', 'bench-etcd-1', 'member.yml'), 'utf8')).not.toContain(`:${taken}`);
      // A restart on the same (now working) ports needs no retry.
      await cluster.restart();
      expect(notes).toHaveLength(1);
    } finally {
      await cluster.stop();
      await close(holder);
    }
  }, 40_000);
});
