/**
 * Real server processes for the comparison: an etcd or tsetcd cluster of 1 or 3
 * members on 127.0.0.1, each started from a seed-style YAML config (mTLS on client and
 * peer ports, ref/seed-deployment.md) in a fresh directory.
 *
 * Contract:
 * - `start()` spawns every member (each in its own process group) and resolves with the
 *   milliseconds from spawn until *every* member answered a linearizable Range
 *   ("serving"). It rejects with ClusterStartError (with the tail of the member's log)
 *   if a member exits or the timeout passes; the members are stopped before rejecting.
 * - `stop()` sends SIGTERM to each process group, then SIGKILL after STOP_GRACE_MS,
 *   and resolves when every member has exited. `killAllClusters()` does the same for
 *   every cluster still running (used on exit and on signals).
 * - Ports come from ports.ts (outside the kernel's ephemeral range, probed, never handed
 *   out twice in a run), picked once per cluster and kept across restarts.
 * - A member that exits before serving because a port was already in use (its log says
 *   EADDRINUSE) is retried, up to MAX_START_ATTEMPTS starts: a cluster that never served
 *   gets fresh ports and empty data dirs (nothing of the failed start is kept), a
 *   restart keeps its ports (the peer URLs are in its data) and waits a second first.
 *   Each retry is reported through `onNote` (the comparison writes it into the result
 *   file) and kept in `notes`; the time `start()` returns is the successful attempt's.
 * - A watchdog per member kills its group if the bench process itself is killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { EtcdClient } from './etcd-client.js';
import { GrpcConn, type TlsFiles } from './grpc-h2.js';
import type { Pki } from './pki.js';
import { addressInUse, ports as portPicker } from './ports.js';
import { anonBytes, cpuSeconds, diskBytes, peakRssBytes, residentBytes, rssBytes } from './procfs.js';

export type ServerKind = 'etcd' | 'tsetcd';

const STOP_GRACE_MS = 10_000;
const POLL_MS = 20;
export const MAX_START_ATTEMPTS = 3;
const RESTART_RETRY_WAIT_MS = 1_000;

export class ClusterStartError extends Error {
  override readonly name = 'ClusterStartError';
  /** The member's log since its spawn says a port was already in use (retried by start()). */
  readonly addressInUse: boolean;

  constructor(message: string, addressInUse = false) {
    super(message);
    this.addressInUse = addressInUse;
  }
}

export interface ClusterOptions {
  kind: ServerKind;
  members: number;
  /** Fresh directory the cluster owns (data, wal, configs, logs). */
  dir: string;
  pki: Pki;
  /** The program and leading arguments; `--config-file <file>` is appended. */
  command: { file: string; args: string[] };
  startTimeoutMs: number;
  /** Extra YAML keys for every member (e.g. quota-backend-bytes for big loads). */
  extraConfig: Record<string, unknown>;
  /** Told of every start retried after a port was in use (see the contract above). */
  onNote?: (note: string) => void;
  /** Where ports come from (default: the run's ports.ts picker); tests inject their own. */
  pickPort?: () => Promise<number>;
}

interface Member {
  name: string;
  dir: string;
  configFile: string;
  logFile: string;
  clientUrl: string;
  /** Length of the log file at the last spawn: what the current process wrote starts there. */
  logFrom: number;
  proc: ChildProcess | undefined;
  exit: Promise<void> | undefined;
  exitCode: number | null | undefined;
}

const live = new Set<Cluster>();

/**
 * If this process dies without cleaning up (SIGKILL, OOM), a tiny shell loop kills the
 * member's process group within a second, so no server outlives the bench.
 */
export function watchdog(memberPid: number): void {
  const script = 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill -9 -"$2" 2>/dev/null';
  const w = spawn('sh', ['-c', script, 'tsetcd-bench-watchdog', String(process.pid), String(memberPid)], {
    detached: true,
    stdio: 'ignore',
  });
  w.unref();
}

/** What the log file holds from byte `from` on ('' when unreadable). */
function logSince(file: string, from: number): string {
  try {
    return readFileSync(file).subarray(from).toString('utf8');
  } catch {
    return '';
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function tail(file: string, lines = 15): string {
  try {
    // Servers may log whole requests: keep each line short enough to read.
    return readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .slice(-lines)
      .map((l) => (l.length > 300 ? `${l.slice(0, 297)}...` : l))
      .join('\n');
  } catch {
    return '(no log)';
  }
}

export class Cluster {
  private readonly members: Member[] = [];
  private readonly tls: TlsFiles;
  /** Set once a start() succeeded: from then on the data dirs hold the cluster. */
  private served = false;
  /** Every start retried after a port was in use, in order. */
  readonly notes: string[] = [];

  private constructor(readonly opts: ClusterOptions) {
    this.tls = {
      ca: readFileSync(opts.pki.caFile),
      cert: readFileSync(opts.pki.certFile),
      key: readFileSync(opts.pki.keyFile),
    };
  }

  /** Picks the ports and writes the member configs (does not start anything). */
  static async create(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts);
    for (let i = 0; i < opts.members; i++) {
      const name = `bench-${opts.kind}-${i + 1}`;
      const dir = join(opts.dir, name);
      mkdirSync(dir, { recursive: true });
      c.members.push({
        name,
        dir,
        configFile: join(dir, 'member.yml'),
        logFile: join(dir, 'member.log'),
        clientUrl: '',
        logFrom: 0,
        proc: undefined,
        exit: undefined,
        exitCode: undefined,
      });
    }
    await c.configure();
    return c;
  }

  /** Fresh client and peer ports for every member, written into their configs. */
  private async configure(): Promise<void> {
    const opts = this.opts;
    const pick = opts.pickPort ?? (() => portPicker.next());
    const ports: Array<{ client: number; peer: number }> = [];
    for (let i = 0; i < this.members.length; i++) ports.push({ client: await pick(), peer: await pick() });
    const initialCluster = this.members.map((m, i) => `${m.name}=https://127.0.0.1:${ports[i]?.peer ?? 0}`).join(',');
    const security = {
      'cert-file': opts.pki.certFile,
      'key-file': opts.pki.keyFile,
      'client-cert-auth': false,
      'trusted-ca-file': opts.pki.caFile,
      'auto-tls': false,
    };
    this.members.forEach((m, i) => {
      const p = ports[i] ?? { client: 0, peer: 0 };
      const config = {
        name: m.name,
        'wal-dir': join(m.dir, 'wal'),
        'data-dir': join(m.dir, 'data'),
        'listen-peer-urls': `https://127.0.0.1:${p.peer}`,
        'listen-client-urls': `https://127.0.0.1:${p.client}`,
        'advertise-client-urls': `https://127.0.0.1:${p.client}`,
        'initial-advertise-peer-urls': `https://127.0.0.1:${p.peer}`,
        'initial-cluster': initialCluster,
        'initial-cluster-token': `bench-${opts.kind}-cluster`,
        'initial-cluster-state': 'new',
        'client-transport-security': security,
        'peer-transport-security': security,
        debug: false,
        logger: 'zap',
        'log-outputs': ['stderr'],
        ...opts.extraConfig,
      };
      writeFileSync(m.configFile, stringify(config));
      m.clientUrl = `https://127.0.0.1:${p.client}`;
    });
  }

  get clientUrls(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  get tlsFiles(): TlsFiles {
    return this.tls;
  }

  /**
   * Spawns every member; resolves with ms until every member served a linearizable read
   * (of the attempt that succeeded, when a port in use made it start again).
   */
  async start(timeoutMs = this.opts.startTimeoutMs): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        const ms = await this.startOnce(timeoutMs);
        this.served = true;
        return ms;
      } catch (err) {
        if (!(err instanceof ClusterStartError) || !err.addressInUse || attempt >= MAX_START_ATTEMPTS) throw err;
        const cause = err.message.split('\n').find((l) => addressInUse(l) && !l.includes('log tail')) ?? err.message.split('\n')[0] ?? '';
        let how: string;
        if (this.served) {
          how = 'restarted on the same ports (its data names them) after 1 s';
          await sleep(RESTART_RETRY_WAIT_MS);
        } else {
          for (const m of this.members) {
            rmSync(join(m.dir, 'data'), { recursive: true, force: true });
            rmSync(join(m.dir, 'wal'), { recursive: true, force: true });
          }
          await this.configure();
          how = 'started again on fresh ports with empty data dirs';
        }
        const note =
          `${this.opts.kind} cluster ${this.opts.dir}: start attempt ${attempt} of ${MAX_START_ATTEMPTS} failed on a port already in use ` +
          `(${cause.trim().slice(0, 240)}); ${how}`;
        this.notes.push(note);
        this.opts.onNote?.(note);
      }
    }
  }

  private async startOnce(timeoutMs: number): Promise<number> {
    live.add(this);
    const t0 = performance.now();
    for (const m of this.members) {
      m.logFrom = fileSize(m.logFile);
      const fd = openSync(m.logFile, 'a');
      const proc = spawn(this.opts.command.file, [...this.opts.command.args, '--config-file', m.configFile], {
        cwd: m.dir,
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      closeSync(fd);
      if (proc.pid !== undefined) watchdog(proc.pid);
      m.proc = proc;
      m.exitCode = undefined;
      m.exit = new Promise((resolve) => {
        proc.once('exit', (code, signal) => {
          m.exitCode = code ?? (signal === null ? -1 : -2);
          resolve();
        });
        proc.once('error', (err) => {
          writeFileSync(m.logFile, `spawn failed: ${err.message}\n`, { flag: 'a' });
          m.exitCode = -1;
          resolve();
        });
      });
    }
    try {
      await Promise.all(this.members.map((m) => this.waitServing(m, t0, timeoutMs)));
    } catch (err) {
      await this.stop();
      throw err;
    }
    return performance.now() - t0;
  }

  private async waitServing(m: Member, t0: number, timeoutMs: number): Promise<void> {
    let conn: GrpcConn | undefined;
    let lastError = 'no answer yet';
    try {
      for (;;) {
        if (m.exitCode !== undefined) {
          throw new ClusterStartError(
            `${this.opts.kind} member ${m.name} exited (code ${m.exitCode}) before serving; log tail:\n${tail(m.logFile)}`,
            addressInUse(logSince(m.logFile, m.logFrom)),
          );
        }
        if (performance.now() - t0 > timeoutMs) {
          throw new ClusterStartError(
            `${this.opts.kind} member ${m.name} not serving a linearizable read after ` +
              `${Math.round(timeoutMs / 1000)} s (last: ${lastError}); log tail:\n${tail(m.logFile)}`,
          );
        }
        try {
          if (conn === undefined || conn.isClosed) conn = await GrpcConn.connect(m.clientUrl, this.tls, 2_000);
          await new EtcdClient(conn).range({ key: Buffer.from('bench-health') });
          return;
        } catch (err) {
          lastError = err instanceof Error ? err.message : String(err);
          await sleep(POLL_MS);
        }
      }
    } finally {
      conn?.close();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        const proc = m.proc;
        if (proc === undefined || proc.pid === undefined || m.exitCode !== undefined) return;
        const pgid = proc.pid;
        const signal = (sig: NodeJS.Signals): void => {
          try {
            process.kill(-pgid, sig);
          } catch {
            // already gone
          }
        };
        signal('SIGTERM');
        const killed = await Promise.race([m.exit?.then(() => false), sleep(STOP_GRACE_MS).then(() => true)]);
        if (killed === true) {
          signal('SIGKILL');
          await m.exit;
        }
        // The launcher may have left children in the group: make sure none survive.
        signal('SIGKILL');
      }),
    );
    live.delete(this);
  }

  /** Stops and starts again on the same data; resolves with ms to serving. */
  async restart(timeoutMs?: number): Promise<number> {
    await this.stop();
    return this.start(timeoutMs);
  }

  /** Members that exited on their own since start, with their log tails (undefined when all live). */
  deadMembers(): string | undefined {
    const dead = this.members.filter((m) => m.proc !== undefined && m.exitCode !== undefined);
    if (dead.length === 0) return undefined;
    return dead.map((m) => `${this.opts.kind} member ${m.name} exited (code ${m.exitCode}); log tail:\n${tail(m.logFile)}`).join('\n');
  }

  /** SIGKILL every member's process group now (exit handlers cannot wait). */
  killSync(): void {
    for (const m of this.members) {
      if (m.proc?.pid === undefined || m.exitCode !== undefined) continue;
      try {
        process.kill(-m.proc.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }

  /** Largest per-member peak RSS (bytes), each member's process tree summed. */
  peakRssBytes(): number {
    return Math.max(0, ...this.members.map((m) => (m.proc?.pid === undefined ? 0 : peakRssBytes(m.proc.pid))));
  }

  /** Current resident set of member `index` (its process tree summed), bytes; 0 when not running. */
  memberRssBytes(index: number): number {
    const pid = this.members[index]?.proc?.pid;
    return pid === undefined ? 0 : rssBytes(pid);
  }

  /** Member `index`'s resident and anonymous resident memory now, one /proc walk (bytes; 0 when not running). */
  memberMemory(index: number): { rss: number; anon: number } {
    const pid = this.members[index]?.proc?.pid;
    return pid === undefined ? { rss: 0, anon: 0 } : residentBytes(pid);
  }

  /** Per member, in order: its resident and anonymous resident memory now (bytes; 0 when not running). */
  memoryNow(): Array<{ rssBytes: number; anonBytes: number }> {
    return this.members.map((m) =>
      m.proc?.pid === undefined || m.exitCode !== undefined ? { rssBytes: 0, anonBytes: 0 } : { rssBytes: rssBytes(m.proc.pid), anonBytes: anonBytes(m.proc.pid) },
    );
  }

  /** Each member's log file (the server's stderr), in order. */
  get logFiles(): string[] {
    return this.members.map((m) => m.logFile);
  }

  /** CPU seconds used so far by all members together. */
  cpuSeconds(): number {
    return this.members.reduce((s, m) => s + (m.proc?.pid === undefined ? 0 : cpuSeconds(m.proc.pid)), 0);
  }

  /** Largest per-member on-disk size (data dir + wal dir), bytes. */
  diskBytes(): number {
    return Math.max(0, ...this.members.map((m) => diskBytes(join(m.dir, 'data')) + diskBytes(join(m.dir, 'wal'))));
  }
}

/** Stops every cluster still running (SIGTERM, then SIGKILL). */
export async function killAllClusters(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop()));
}

/** Last-resort synchronous cleanup for process exit: SIGKILL every live group. */
export function killAllClustersSync(): void {
  for (const c of live) c.killSync();
}
