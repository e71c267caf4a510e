/**
 * Real member processes for black-box tests: Debian's etcd (the oracle) or tsetcd,
 * each started from a YAML config file written the seed deployment's way
 * (ref/seed-deployment.md), with every address rewritten to a 127.0.0.1 port and the
 * certificate paths pointed at the test PKI (test/helpers/certs.ts).
 *
 * Contract:
 * - startMember(spec) resolves once the member serves (the readiness probe, by default
 *   GET /health answering 200 on the first client URL, succeeded) or rejects with the
 *   tail of the member's stderr (process exited, or not ready within readyTimeoutMs).
 * - Every member lives in its own temp dir (config, data-dir, wal-dir, log). stderr and
 *   stdout go to <dir>/member.log; stderrTail() prints its end, also after disposal.
 * - stop() sends SIGTERM and SIGKILL after stopTimeoutMs; kill() sends SIGKILL now;
 *   start() starts it again on the same dirs and ports (restart tests).
 * - Cleanup never depends on a test passing: stopAllMembers() (call it in afterAll)
 *   stops and removes everything, a process 'exit' hook SIGKILLs what is left and
 *   removes the dirs, and watchdogs (cleanup.ts) SIGKILL the member and remove its
 *   dir if the test process itself dies without running its hooks.
 * - dumpMemberLogsOnFailure() prints the stderr tails of the live members when a test
 *   of the calling file fails.
 *
 * Target selection: TSETCD_TARGET=etcd runs the "tsetcd" side on the real etcd too
 * (for developing tests against the oracle); default is tsetcd. Binaries: ETCD_BIN
 * (default /usr/bin/etcd) and TSETCD_BIN (default <repo>/bin/tsetcd, which needs
 * `npm run build` first).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, onTestFailed } from 'vitest';
import YAML from 'yaml';
import type { TestPki } from './certs.js';
import { killWhenTestProcessExits, removeWhenTestProcessExits } from './cleanup.js';
import { httpHealthReady } from './member-http.js';
import { seedStyleConfig } from './seed-config.js';
import { freePort } from './ports.js';

export type Target = 'etcd' | 'tsetcd';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ETCD_BIN = process.env['ETCD_BIN'] ?? '/usr/bin/etcd';
export const TSETCD_BIN = process.env['TSETCD_BIN'] ?? join(REPO_ROOT, 'bin', 'tsetcd');

/** TSETCD_TARGET=etcd swaps tsetcd for the real etcd; anything else (or unset) is tsetcd. */
export function targetFromEnv(): Target {
  return process.env['TSETCD_TARGET'] === 'etcd' ? 'etcd' : 'tsetcd';
}

export interface MemberSpec {
  readonly target: Target;
  /** Member name; the seed's is kube-etcd-node01. */
  readonly name?: string;
  /** Seed-style mTLS on client and peer URLs when set; plain http:// otherwise. */
  readonly pki?: TestPki;
  /** How many client listeners (the seed has two: its LAN address and 127.0.0.1). */
  readonly clientListenerCount?: number;
  /** YAML keys added or overriding the seed's (e.g. 'max-request-bytes': 4096). */
  readonly extraConfig?: Readonly<Record<string, unknown>>;
  /** Ports chosen by the caller (clusters); fresh ones otherwise. */
  readonly clientPorts?: readonly number[];
  readonly peerPort?: number;
  /** initial-cluster override (clusters); default: this member alone. */
  readonly initialCluster?: string;
  readonly readyTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
  /** Readiness probe; default GET /health == 200 on the first client URL. */
  readonly ready?: (member: Member) => Promise<boolean>;
  /** Extra environment for the process (e.g. TSETCD_UNSAFE_TEST_BUGS). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Runs once, after the config is written and before the first start (e.g. a
   * `snapshot restore` into the member's data-dir and wal-dir).
   */
  readonly beforeStart?: (member: Member) => Promise<void>;
}

const DEFAULT_READY_TIMEOUT_MS = 30_000;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const PROBE_INTERVAL_MS = 100;
const TAIL_LINES = 60;

const live = new Set<Member>();

export class Member {
  readonly name: string;
  readonly dir: string;
  readonly dataDir: string;
  readonly walDir: string;
  readonly configPath: string;
  readonly logPath: string;
  readonly clientUrls: readonly string[];
  readonly peerUrl: string;
  private child: ChildProcess | undefined;
  private watchdog: ChildProcess | undefined;
  private exitPromise: Promise<void> = Promise.resolve();
  private disposedTail: string | undefined;

  constructor(
    readonly spec: MemberSpec,
    readonly clientPorts: readonly number[],
    readonly peerPort: number,
    readonly config: Readonly<Record<string, unknown>>,
    dir: string,
  ) {
    this.name = String(config['name']);
    this.dir = dir;
    this.dataDir = String(config['data-dir']);
    this.walDir = String(config['wal-dir']);
    this.configPath = join(dir, 'etcd.yml');
    this.logPath = join(dir, 'member.log');
    const scheme = spec.pki === undefined ? 'http' : 'https';
    this.clientUrls = clientPorts.map((p) => `${scheme}://127.0.0.1:${p}`);
    this.peerUrl = `${scheme}://127.0.0.1:${peerPort}`;
  }

  get target(): Target {
    return this.spec.target;
  }
  /** First client URL, e.g. https://127.0.0.1:41234. */
  get clientUrl(): string {
    return this.clientUrls[0] ?? '';
  }
  /** host:port of the first client URL (what grpc-js dials). */
  get clientAddress(): string {
    return `127.0.0.1:${this.clientPorts[0] ?? 0}`;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /** Starts the process (again) and waits until it serves. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`member ${this.name} is already running`);
    const [cmd, args] = commandFor(this.spec.target, this.configPath);
    const logFd = openSync(this.logPath, 'a');
    const child = spawn(cmd, args, {
      cwd: this.dir,
      stdio: ['ignore', logFd, logFd],
      env: { ...process.env, ...this.spec.env },
    });
    closeSync(logFd);
    this.child = child;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.exitPromise = exited;
    child.once('error', () => undefined); // spawn failures surface as an exit below
    this.watchdog = child.pid === undefined ? undefined : killWhenTestProcessExits(child.pid);
    void exited.then(() => this.watchdog?.kill('SIGKILL'));
    live.add(this);
    await this.waitReady(exited);
  }

  private async waitReady(exited: Promise<void>): Promise<void> {
    const timeoutMs = this.spec.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const probe = this.spec.ready ?? httpHealthReady;
    let dead = false;
    void exited.then(() => (dead = true));
    while (Date.now() < deadline) {
      if (dead) {
        throw new Error(
          `${this.describe()} exited during startup (${this.exitDescription()});\n` +
            this.stderrTail(),
        );
      }
      if (await probe(this).catch(() => false)) return;
      await sleep(PROBE_INTERVAL_MS);
    }
    throw new Error(
      `${this.describe()} did not become ready in ${timeoutMs} ms;\n${this.stderrTail()}`,
    );
  }

  /** SIGTERM, then SIGKILL after stopTimeoutMs. Resolves when the process is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    child.kill('SIGTERM');
    const timeoutMs = this.spec.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    const timedOut = await Promise.race([
      this.exitPromise.then(() => false),
      sleep(timeoutMs).then(() => true),
    ]);
    if (timedOut) {
      child.kill('SIGKILL');
      await this.exitPromise;
    }
  }

  /** SIGKILL now (crash tests). */
  async kill(): Promise<void> {
    if (this.child === undefined || !this.running) return;
    this.child.kill('SIGKILL');
    await this.exitPromise;
  }

  /** Stops the process and removes its dirs; the log tail stays readable. */
  async dispose(): Promise<void> {
    await this.stop();
    this.disposedTail = this.readTail();
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  exitDescription(): string {
    const c = this.child;
    if (c === undefined) return 'never started';
    return c.signalCode !== null ? `signal ${c.signalCode}` : `exit code ${String(c.exitCode)}`;
  }

  describe(): string {
    return `${this.spec.target} member ${this.name} (${this.clientUrl}, dir ${this.dir})`;
  }

  /** The last lines of the member's stderr/stdout, framed for test output. */
  stderrTail(lines = TAIL_LINES): string {
    const tail = this.disposedTail ?? this.readTail(lines);
    return `---- ${this.describe()}: last ${lines} log lines ----\n${tail}\n---- end ----`;
  }

  private readTail(lines = TAIL_LINES): string {
    if (!existsSync(this.logPath)) return '(no log)';
    const text = readFileSync(this.logPath, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  }

  /** Synchronous last-resort cleanup for the process 'exit' hook. */
  killSyncAndRemove(): void {
    if (this.running) this.child?.kill('SIGKILL');
    this.watchdog?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function commandFor(target: Target, configPath: string): [string, string[]] {
  if (target === 'etcd') return [ETCD_BIN, ['--config-file', configPath]];
  if (
    !existsSync(join(REPO_ROOT, 'dist', 'tsetcd.mjs')) &&
    process.env['TSETCD_BIN'] === undefined
  ) {
    throw new Error(
      `tsetcd is not built (no dist/tsetcd.mjs under ${REPO_ROOT}): run npm run build`,
    );
  }
  return [TSETCD_BIN, ['--config-file', configPath]];
}

export async function startMember(spec: MemberSpec): Promise<Member> {
  const name = spec.name ?? 'kube-etcd-node01';
  const listenerCount = spec.clientListenerCount ?? (spec.pki === undefined ? 1 : 2);
  const clientPorts =
    spec.clientPorts ??
    (await Promise.all(Array.from({ length: listenerCount }, () => freePort())));
  const peerPort = spec.peerPort ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), `tsetcd-test-${spec.target}-`));
  removeWhenTestProcessExits(dir);
  mkdirSync(join(dir, 'dat'));
  const config = {
    ...seedStyleConfig({
      name,
      dir,
      clientPorts,
      peerPort,
      pki: spec.pki,
      initialCluster: spec.initialCluster,
    }),
    ...spec.extraConfig,
  };
  const member = new Member(spec, clientPorts, peerPort, config, dir);
  writeFileSync(member.configPath, YAML.stringify(config));
  try {
    await spec.beforeStart?.(member);
    await member.start();
  } catch (err) {
    await member.dispose();
    throw err;
  }
  return member;
}

/** Stops and removes every member this process started. Call from afterAll. */
export async function stopAllMembers(): Promise<void> {
  await Promise.all([...live].map((m) => m.dispose()));
}

export function liveMembers(): readonly Member[] {
  return [...live];
}

/** Prints the log tails of the live members when a test in the calling file fails. */
export function dumpMemberLogsOnFailure(): void {
  beforeEach(() => {
    onTestFailed(() => {
      for (const m of live) console.error(m.stderrTail());
    });
  });
}

export { httpGet, httpHealthReady } from './member-http.js';
export { seedStyleConfig } from './seed-config.js';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

process.once('exit', () => {
  for (const m of live) m.killSyncAndRemove();
});
