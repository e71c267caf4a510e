/**
 * A tsetcd cluster under test: `size` real member processes, each in its own network
 * namespace (netns.ts), started with etcd's flags, controllable by the nemesis: SIGKILL and
 * restart, SIGSTOP/SIGCONT, power cut (all at once, with TSETCD_TEST_POWER_CUT=1 so the WAL
 * loses what was not fsynced), wall-clock offsets through libfaketime, member remove/re-add.
 *
 * Contract:
 * - Cluster.start() resolves once every member answers /health with 200 (a leader exists).
 * - A member that exits while the harness did not kill or stop it is recorded in
 *   `unexpectedExits` (with its log tail): a run with one fails (C5).
 * - destroy() SIGKILLs every member, removes the data dirs unless keepDirs, and tears the
 *   network down; watchdogs do it if the test process dies first.
 * - Member logs are appended across restarts to <root>/<name>.log.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killWhenTestProcessExits, removeWhenTestProcessExits } from '../../helpers/cleanup.js';
import { EtcdGrpcClient } from '../../helpers/grpc-client.js';
import { REPO_ROOT, TSETCD_BIN } from '../../helpers/processes.js';
import { FaketimeClock } from './faketime-clock.js';
import type { NetNode } from './netns.js';
import { Network, PEER_PORT } from './netns.js';

let libfaketime: string | undefined;

/**
 * Where Debian's libfaketime package put the preload library (the multiarch directory
 * differs per architecture). Throws, naming the package, when it is not installed.
 */
export function libfaketimePath(): string {
  if (libfaketime !== undefined) return libfaketime;
  let listing = '';
  try {
    listing = execFileSync('dpkg', ['-L', 'libfaketime'], { encoding: 'utf8', timeout: 10_000 });
  } catch {
    // not installed: reported below
  }
  const found = listing.split('\n').find((l) => l.endsWith('/libfaketime.so.1'));
  if (found === undefined || !existsSync(found)) {
    throw new Error('libfaketime.so.1 not found by `dpkg -L libfaketime` (apt-get install libfaketime)');
  }
  libfaketime = found;
  return found;
}
const CLIENT_PORT = 2379;

export interface ClusterOptions {
  readonly size: number;
  readonly heartbeatMs: number;
  readonly electionMs: number;
  readonly snapshotCount: number;
  /** Entries the leader keeps behind a snapshot for slow followers (etcd: 5000). */
  readonly snapshotCatchupEntries?: number;
  /** Extra environment for every member (TSETCD_UNSAFE_TEST_BUGS, TSETCD_TEST_POWER_CUT). */
  readonly env?: Readonly<Record<string, string>>;
  readonly unsafeNoFsync?: boolean;
  /** Preload libfaketime so the wall-clock nemesis can move each member's wall clock. */
  readonly faketime?: boolean;
  /**
   * With faketime: libfaketime fakes CLOCK_MONOTONIC too, for the clock-rate fault
   * (election, heartbeat and lease timers then run at the member's rate). Such a member's
   * clock only ever changes rate, never jumps (setClockRate); setClockOffset refuses.
   */
  readonly fakeMonotonic?: boolean;
  readonly startTimeoutMs?: number;
  /** Route every peer link through a fault proxy (netns.ts startProxies), seeded so. */
  readonly faultProxySeed?: number;
}

export type MemberState = 'running' | 'paused' | 'down';

export const GRPC_CHANNEL_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.min_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
} as const;

export class ClusterMember {
  state: MemberState = 'down';
  private child: ChildProcess | undefined;
  private dog: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** Set while the harness itself ends the process, so its exit is not a crash. */
  private expectingExit = false;
  /** How the last process ended ('exit code 2', 'signal SIGKILL'). */
  lastExit: string | undefined;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logPath: string;
  /** libfaketime's clock for this member (faketime): a start the harness chose, rate and offset. */
  readonly clock: FaketimeClock | undefined;
  private adminClient: EtcdGrpcClient | undefined;

  constructor(
    readonly cluster: Cluster,
    readonly name: string,
    readonly node: NetNode,
    root: string,
  ) {
    this.clientUrl = `http://${node.ip}:${CLIENT_PORT}`;
    this.peerUrl = `http://${node.ip}:${PEER_PORT}`;
    this.dataDir = join(root, name);
    this.logPath = join(root, `${name}.log`);
    const o = cluster.options;
    this.clock = o.faketime === true ? new FaketimeClock(join(root, `${name}.faketime`), o.fakeMonotonic === true) : undefined;
  }

  get clientAddress(): string {
    return `${this.node.ip}:${CLIENT_PORT}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** A client for the harness's own admin calls (status, hash, member changes). */
  admin(): EtcdGrpcClient {
    this.adminClient ??= new EtcdGrpcClient(this.clientAddress, {
      channelOptions: GRPC_CHANNEL_OPTIONS,
      deadlineMs: 2000,
    });
    return this.adminClient;
  }

  start(initialCluster: string, state: 'new' | 'existing'): void {
    if (this.state !== 'down') throw new Error(`${this.name} is already running`);
    const o = this.cluster.options;
    const args = [
      'netns',
      'exec',
      this.node.ns,
      TSETCD_BIN,
      '--name',
      this.name,
      '--data-dir',
      this.dataDir,
      '--listen-client-urls',
      this.clientUrl,
      '--advertise-client-urls',
      this.clientUrl,
      '--listen-peer-urls',
      this.peerUrl,
      '--initial-advertise-peer-urls',
      this.peerUrl,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-token',
      `jepsen-${this.cluster.network.tag}`,
      '--initial-cluster-state',
      state,
      '--heartbeat-interval',
      String(o.heartbeatMs),
      '--election-timeout',
      String(o.electionMs),
      '--snapshot-count',
      String(o.snapshotCount),
      ...(o.snapshotCatchupEntries === undefined
        ? []
        : ['--snapshot-catchup-entries', String(o.snapshotCatchupEntries)]),
      ...(o.unsafeNoFsync === true ? ['--unsafe-no-fsync'] : []),
    ];
    const env: Record<string, string | undefined> = { ...process.env, ...o.env };
    if (this.clock !== undefined) {
      // A restarted member keeps its clock's rate (the machine's clock is still fast or
      // slow) from a fresh start, taken now, and no offset (faketime-clock.ts).
      this.clock.restart();
      Object.assign(env, this.clock.env(), { LD_PRELOAD: libfaketimePath() });
    }
    const fd = openSync(this.logPath, 'a');
    const child = spawn('ip', args, { stdio: ['ignore', fd, fd], env, cwd: this.cluster.root });
    closeSync(fd);
    this.child = child;
    this.state = 'running';
    this.expectingExit = false;
    this.dog = child.pid === undefined ? undefined : killWhenTestProcessExits(child.pid);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.dog?.kill('SIGKILL');
        this.state = 'down';
        this.lastExit = signal !== null ? `signal ${signal}` : `exit code ${String(code)}`;
        if (!this.expectingExit) {
          this.cluster.unexpectedExits.push({
            member: this.name,
            how: signal !== null ? `signal ${signal}` : `exit code ${String(code)}`,
            logTail: this.logTail(40),
          });
        }
        resolve();
      });
    });
    child.once('error', () => undefined);
  }

  async kill(): Promise<void> {
    if (this.child === undefined || this.state === 'down') return;
    this.expectingExit = true;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /**
   * For a fault that makes the member stop by itself (fsync-eio-leader): its next exit is
   * expected, not a crash. Resolves with how it ended, or undefined if it is still running
   * after timeoutMs (then the exit is no longer expected).
   */
  async expectOwnExit(timeoutMs: number): Promise<string | undefined> {
    if (this.child === undefined || this.state === 'down') return this.lastExit;
    this.expectingExit = true;
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!ended) {
      this.expectingExit = false;
      return undefined;
    }
    return this.lastExit;
  }

  /** Its next exit (a removed member stopping by itself) is not a crash. */
  expectExit(): void {
    this.expectingExit = true;
  }

  /** SIGTERM (graceful), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    if (this.child === undefined || this.state === 'down') return;
    this.expectingExit = true;
    if (this.state === 'paused') this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child?.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }

  /**
   * Resolves once the (re)started process accepts TCP connections on its client port, or
   * rejects after timeoutMs; heals of restart faults wait for it, so recovery is measured
   * from a booted member, not from a node process still loading its modules.
   */
  async waitListening(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.state === 'down') throw new Error(`${this.name} exited while starting`);
      const up = await new Promise<boolean>((resolve) => {
        const sock = connect({ host: this.node.ip, port: CLIENT_PORT });
        sock.setTimeout(500);
        sock.once('connect', () => (sock.destroy(), resolve(true)));
        sock.once('timeout', () => (sock.destroy(), resolve(false)));
        sock.once('error', () => resolve(false));
      });
      if (up) return;
      await sleep(100);
    }
    throw new Error(`${this.name} not listening after ${timeoutMs} ms`);
  }

  pause(): void {
    if (this.child === undefined || this.state !== 'running') return;
    this.child.kill('SIGSTOP');
    this.state = 'paused';
  }

  resume(): void {
    if (this.child === undefined || this.state !== 'paused') return;
    this.child.kill('SIGCONT');
    this.state = 'running';
  }

  /** Shifts this member's wall clock (libfaketime offset like '+30' or '-120' seconds). */
  setClockOffset(seconds: number): void {
    if (this.clock === undefined) throw new Error(`${this.name} runs without libfaketime`);
    this.clock.setOffset(seconds);
  }

  /**
   * Makes this member's wall and monotonic clocks run at `rate` x real time from the next
   * second of real time on (resolves then), without a step back (faketime-clock.ts: libfaketime's start is the one the harness
   * wrote at the spawn, so the offset that keeps fake time continuous is exact).
   */
  async setClockRate(rate: number, beforeWrite?: () => Promise<void>): Promise<void> {
    if (this.clock === undefined || this.cluster.options.fakeMonotonic !== true) {
      throw new Error('setClockRate needs ClusterOptions.fakeMonotonic');
    }
    await this.clock.setRate(rate, this.state !== 'down', beforeWrite);
  }

  get clockRate(): number {
    return this.clock?.rate ?? 1;
  }

  /** Throws unless libfaketime is mapped into the member process (/proc/PID/maps). */
  assertFaketimeLoaded(): void {
    const pid = this.pid;
    if (pid === undefined || this.state === 'down') throw new Error(`${this.name} is not running`);
    const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    if (!maps.includes(libfaketimePath())) {
      throw new Error(`${this.name} (pid ${pid}) runs without libfaketime: the wall-clock fault would do nothing`);
    }
  }

  /**
   * The member's wall clock minus ours in seconds, read from the Date header of its
   * HTTP/1.1 /health answer (Node writes it from Date.now()); undefined when it does not
   * answer within `timeoutMs` (paused, partitioned). Resolution: 1 s.
   */
  wallClockOffsetS(timeoutMs = 2000): Promise<number | undefined> {
    return new Promise((resolve) => {
      const req = httpGet(`${this.clientUrl}/health`, { timeout: timeoutMs }, (res) => {
        res.resume();
        const date = res.headers.date;
        resolve(date === undefined ? undefined : Math.round((Date.parse(date) - Date.now()) / 1000));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(undefined));
    });
  }

  wipe(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  logTail(lines: number): string {
    if (!existsSync(this.logPath)) return '(no log)';
    return readFileSync(this.logPath, 'utf8')
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  }

  closeClient(): void {
    this.adminClient?.close();
    this.adminClient = undefined;
  }
}

export interface UnexpectedExit {
  readonly member: string;
  readonly how: string;
  readonly logTail: string;
}

export class Cluster {
  readonly members: ClusterMember[];
  readonly unexpectedExits: UnexpectedExit[] = [];
  /** Undone once every member is killed, before the dirs go (a fault's tmpfs mount). */
  readonly cleanups: Array<() => void> = [];

  private constructor(
    readonly options: ClusterOptions,
    readonly network: Network,
    readonly root: string,
  ) {
    this.members = network.nodes.map((n) => new ClusterMember(this, `n${n.index + 1}`, n, root));
  }

  static async start(options: ClusterOptions): Promise<Cluster> {
    if (!existsSync(join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js'))) {
      throw new Error('tsetcd is not built: run npm run build first');
    }
    const network = await Network.create(options.size);
    if (options.faultProxySeed !== undefined) {
      await network.startProxies(options.faultProxySeed).catch(async (err: unknown) => {
        await network.destroy();
        throw err;
      });
    }
    const root = mkdtempSync(join(tmpdir(), 'tsetcd-jepsen-'));
    removeWhenTestProcessExits(root);
    mkdirSync(root, { recursive: true });
    const cluster = new Cluster(options, network, root);
    live.add(cluster);
    try {
      for (const m of cluster.members) m.start(cluster.initialCluster(), 'new');
      await cluster.waitHealthy(options.startTimeoutMs ?? 120_000);
    } catch (err) {
      const tails = cluster.members.map((m) => `---- ${m.name} ----\n${m.logTail(30)}`).join('\n');
      await cluster.destroy();
      throw new Error(`cluster did not start: ${String(err)}\n${tails}`);
    }
    return cluster;
  }

  initialCluster(members: readonly ClusterMember[] = this.members): string {
    return members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  }

  member(name: string): ClusterMember {
    const m = this.members.find((x) => x.name === name);
    if (m === undefined) throw new Error(`no member ${name}`);
    return m;
  }

  /** Resolves once every running member answers /health with 200. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const healthy = await Promise.all(
        this.members.filter((m) => m.state === 'running').map((m) => httpHealthy(m.clientUrl)),
      );
      if (healthy.every((h) => h)) return;
      if (this.unexpectedExits.length > 0) {
        const e = this.unexpectedExits[0] as UnexpectedExit;
        throw new Error(`member ${e.member} exited (${e.how}):\n${e.logTail}`);
      }
      if (Date.now() > deadline) throw new Error(`cluster not healthy after ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  async destroy(keepDirs = false): Promise<void> {
    live.delete(this);
    for (const m of this.members) m.closeClient();
    await Promise.all(this.members.map((m) => m.kill()));
    for (const undo of this.cleanups.splice(0)) undo();
    await this.network.destroy();
    for (const m of this.members) m.clock?.dispose();
    if (!keepDirs) rmSync(this.root, { recursive: true, force: true });
  }
}

const live = new Set<Cluster>();

/**
 * Destroys every cluster still running in this process: a test that timed out leaves its
 * cluster behind, and the next test must not share the cores with it. Call in afterEach.
 */
export async function destroyLiveClusters(): Promise<void> {
  await Promise.all([...live].map((c) => c.destroy()));
}

export async function httpHealthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
    await res.text();
    return res.status === 200;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
