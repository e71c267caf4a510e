/**
 * The harness side of the fault proxy (src/testing/fault-proxy.ts): starts one proxy
 * process (optionally inside a network namespace) and talks to it over stdin/stdout,
 * one JSON command and one JSON answer at a time.
 *
 * Contract: start() resolves once the proxy listens; every command waits for its answer
 * (or rejects after 5 s); stop() closes stdin and SIGKILLs after 2 s; a watchdog kills
 * the proxy if the test process dies first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { LinkStats, LinkTable } from '../../../src/testing/fault-proxy.js';
import { killWhenTestProcessExits } from '../../helpers/cleanup.js';
import { REPO_ROOT } from '../../helpers/processes.js';

export const FAULT_PROXY_MAIN = join(REPO_ROOT, 'dist', 'src', 'testing', 'fault-proxy-main.js');

export interface ProxyStart {
  /** Network namespace to run in; undefined = this namespace. */
  readonly ns?: string;
  readonly selfIp: string;
  readonly targetHost: string;
  readonly targetPort: number;
  /** 0 = any free port (read back as `port`). */
  readonly listenPort: number;
  readonly seed: number;
}

export class ProxyProcess {
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly dog: ChildProcess | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    lines: ReturnType<typeof createInterface>,
  ) {
    this.dog = child.pid === undefined ? undefined : killWhenTestProcessExits(child.pid);
    lines.on('line', (l) => this.waiting.shift()?.(l));
  }

  static async start(o: ProxyStart): Promise<ProxyProcess> {
    if (!existsSync(FAULT_PROXY_MAIN)) throw new Error(`${FAULT_PROXY_MAIN} missing: run npm run build`);
    const args = [FAULT_PROXY_MAIN, o.selfIp, o.targetHost, String(o.targetPort), String(o.listenPort), String(o.seed)];
    const child =
      o.ns === undefined
        ? spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] })
        : spawn('ip', ['netns', 'exec', o.ns, process.execPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`fault proxy did not start in 15 s: ${err}`)), 15_000);
      child.once('exit', (code) => reject(new Error(`fault proxy exited (${String(code)}): ${err}`)));
      lines.once('line', (l) => {
        clearTimeout(t);
        const m = /^listening (\d+)$/.exec(l);
        if (m === null) reject(new Error(`fault proxy said ${l}`));
        else resolve(Number(m[1]));
      });
    });
    return new ProxyProcess(child, port, lines);
  }

  async setLinks(table: LinkTable): Promise<void> {
    const r = await this.command({ links: table });
    if (r['ok'] !== true) throw new Error(`fault proxy refused links: ${JSON.stringify(r)}`);
  }

  async stats(): Promise<Record<string, LinkStats>> {
    const r = await this.command({ stats: true });
    return (r['stats'] ?? {}) as Record<string, LinkStats>;
  }

  /** One command at a time: answers come back in order on stdout. */
  private command(cmd: object): Promise<Record<string, unknown>> {
    const next = this.chain.then(
      () =>
        new Promise<Record<string, unknown>>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('fault proxy: no answer in 5 s')), 5000);
          this.waiting.push((line) => {
            clearTimeout(t);
            resolve(JSON.parse(line) as Record<string, unknown>);
          });
          this.child.stdin?.write(`${JSON.stringify(cmd)}\n`);
        }),
    );
    this.chain = next.catch(() => undefined);
    return next;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin?.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(t);
    this.dog?.kill('SIGKILL');
  }
}
