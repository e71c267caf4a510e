// Long-running etcdctl processes for black-box tests of commands that block or stream
// (watch, watch -i, lease keep-alive, lock, elect): spawn, read stdout as it grows,
// write stdin lines, signal, and wait for exit. The environment is the test's minus
// ETCDCTL_* plus ETCDCTL_API=3 (as test/helpers/etcdctl.ts). Every process is SIGKILLed
// by stopAll() and, as a last resort, by a watchdog if the test process dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { killWhenTestProcessExits } from '../helpers/cleanup.js';
import { ETCDCTL_BIN } from '../helpers/etcdctl.js';

const live = new Set<EtcdctlProcess>();

export class EtcdctlProcess {
  private out = '';
  private err = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly dog: ChildProcess | undefined;
  private done = false;

  constructor(
    readonly args: readonly string[],
    endpoints: readonly string[],
  ) {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env))
      if (v !== undefined && !k.startsWith('ETCDCTL_')) env[k] = v;
    env['ETCDCTL_API'] = '3';
    this.child = spawn(ETCDCTL_BIN, [`--endpoints=${endpoints.join(',')}`, ...args], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdin?.on('error', () => undefined);
    this.child.stdout?.on('data', (c: Buffer) => (this.out += c.toString('utf8')));
    this.child.stderr?.on('data', (c: Buffer) => (this.err += c.toString('utf8')));
    this.dog = this.child.pid === undefined ? undefined : killWhenTestProcessExits(this.child.pid);
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code) => {
        this.done = true;
        this.dog?.kill('SIGKILL');
        live.delete(this);
        resolve(code);
      });
      this.child.once('error', () => resolve(null));
    });
    live.add(this);
  }

  get stdout(): string {
    return this.out;
  }
  get stderr(): string {
    return this.err;
  }
  get running(): boolean {
    return !this.done;
  }

  writeLine(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }
  endStdin(): void {
    this.child.stdin?.end();
  }
  signal(sig: NodeJS.Signals): void {
    if (!this.done) this.child.kill(sig);
  }

  /** Resolves once stdout satisfies `pred`; rejects after timeoutMs with what was seen. */
  async waitStdout(pred: (out: string) => boolean, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.out)) {
      if (Date.now() > deadline || (this.done && !pred(this.out))) {
        throw new Error(
          `etcdctl ${this.args.join(' ')}: expected output not seen (${this.done ? 'exited' : 'timed out'})\n` +
            `stdout:\n${this.out}\nstderr:\n${this.err}`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    return this.out;
  }

  /** SIGINT (etcdctl's graceful stop), then SIGKILL after graceMs; resolves with the code. */
  async stop(graceMs = 5_000): Promise<number | null> {
    this.signal('SIGINT');
    const t = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

export function startEtcdctl(
  args: readonly string[],
  endpoints: readonly string[],
): EtcdctlProcess {
  return new EtcdctlProcess(args, endpoints);
}

export async function stopAllEtcdctl(): Promise<void> {
  const all = [...live];
  for (const p of all) p.signal('SIGKILL');
  await Promise.all(all.map((p) => p.exited));
}
