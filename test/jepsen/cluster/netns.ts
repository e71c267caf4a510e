/**
 * The network the Jepsen cluster lives on: one Linux network namespace per member, each
 * with one veth into a bridge in the root namespace, where the test driver (the clients,
 * the nemesis, the monitor) runs (testing-reference §6).
 *
 * Why namespaces and not a TCP proxy on loopback: a member dials its peers at the URLs in
 * the replicated membership, so every peer connects to member i at the same address and a
 * proxy cannot tell who is calling; with a namespace per member every packet carries its
 * sender's address and iptables can cut any directed link, which is what asymmetric,
 * ring and bridge partitions need. Clients in the root namespace are never cut.
 *
 * Contract:
 * - createNetwork(n) builds bridge + n namespaces on a free 10.213.X.0/24 (X chosen so that
 *   no address of the machine is in it); member k gets 10.213.X.(10+k). Names carry a
 *   per-run tag, so concurrent runs never collide.
 * - setGrudge(g): g maps a node to the nodes whose packets it drops (INPUT, by source
 *   address). Replaces the previous grudge atomically per namespace (iptables-restore).
 * - startProxies(): every member's inbound peer connections (port 2380, from another
 *   member's address) are redirected (iptables nat REDIRECT, in the member's namespace) to a
 *   fault proxy there (src/testing/fault-proxy.ts). The source address survives, so the
 *   proxy knows the directed link and grudges (INPUT, after the redirect) still cut it.
 * - setLinks(faults): directed link (from, to) → fault, replacing the previous table in
 *   every proxy; healLinks() empties it.
 * - destroy() removes everything; a watchdog does the same if the test process dies.
 */
import { execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { LinkFault, LinkStats } from '../../../src/testing/fault-proxy.js';
import { ProxyProcess } from './proxy.js';

const run = promisify(execFile);

export interface NetNode {
  readonly index: number;
  readonly ns: string;
  readonly ip: string;
}

/** node index → indexes of the nodes whose packets it drops. */
export type Grudge = ReadonlyMap<number, ReadonlySet<number>>;

export async function sh(cmd: string, args: readonly string[], input?: string): Promise<string> {
  if (input === undefined) return (await run(cmd, [...args], { timeout: 20_000 })).stdout;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err}`)),
    );
    child.stdin.end(input);
  });
}

/** "from>to" node indexes → the fault on that directed link. */
export type LinkFaults = ReadonlyMap<readonly [number, number], LinkFault>;

export const PEER_PORT = 2380;
const PROXY_PORT = 2390;

export class Network {
  private destroyed = false;
  private proxies: ProxyProcess[] = [];
  private readonly dog: ChildProcess;

  private constructor(
    readonly tag: string,
    readonly subnet: string,
    readonly bridge: string,
    readonly nodes: readonly NetNode[],
  ) {
    this.dog = cleanupWatchdog(this.cleanupScript());
  }

  static async create(count: number): Promise<Network> {
    const tag = `${(process.pid % 10_000).toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
    const used = await sh('ip', ['-4', '-o', 'addr']);
    let third = 0;
    for (let x = 1 + Math.floor(Math.random() * 200); x < 255; x++) {
      if (!used.includes(`10.213.${x}.`)) {
        third = x;
        break;
      }
    }
    if (third === 0) throw new Error('no free 10.213.X.0/24 subnet for the Jepsen network');
    const subnet = `10.213.${third}`;
    const bridge = `tj${tag}br`;
    const nodes = Array.from({ length: count }, (_, i) => ({
      index: i,
      ns: `tj${tag}n${i + 1}`,
      ip: `${subnet}.${11 + i}`,
    }));
    const net = new Network(tag, subnet, bridge, nodes);
    try {
      await sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
      await sh('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', bridge]);
      await sh('ip', ['link', 'set', bridge, 'up']);
      for (const n of nodes) {
        const veth = `tj${tag}v${n.index + 1}`;
        await sh('ip', ['netns', 'add', n.ns]);
        await sh('ip', [
          'link',
          'add',
          veth,
          'type',
          'veth',
          'peer',
          'name',
          'eth0',
          'netns',
          n.ns,
        ]);
        await sh('ip', ['link', 'set', veth, 'master', bridge, 'up']);
        await sh('ip', ['-n', n.ns, 'addr', 'add', `${n.ip}/24`, 'dev', 'eth0']);
        await sh('ip', ['-n', n.ns, 'link', 'set', 'eth0', 'up']);
        await sh('ip', ['-n', n.ns, 'link', 'set', 'lo', 'up']);
      }
    } catch (err) {
      await net.destroy();
      throw err;
    }
    return net;
  }

  /** Drops, in each namespace, the packets from the nodes its grudge names. */
  async setGrudge(grudge: Grudge): Promise<void> {
    await Promise.all(
      this.nodes.map((n) => {
        const drops = [...(grudge.get(n.index) ?? [])].map(
          (p) => `-A INPUT -s ${(this.nodes[p] as NetNode).ip} -j DROP`,
        );
        const rules = ['*filter', ':INPUT ACCEPT [0:0]', ...drops, 'COMMIT', ''].join('\n');
        return sh('ip', ['netns', 'exec', n.ns, 'iptables-restore', '-w', '5'], rules);
      }),
    );
  }

  async heal(): Promise<void> {
    await this.setGrudge(new Map());
  }

  get proxied(): boolean {
    return this.proxies.length > 0;
  }

  async startProxies(seed: number): Promise<void> {
    for (const n of this.nodes) {
      this.proxies.push(
        await ProxyProcess.start({
          ns: n.ns,
          selfIp: n.ip,
          targetHost: n.ip,
          targetPort: PEER_PORT,
          listenPort: PROXY_PORT,
          seed: seed + n.index,
        }),
      );
      // Members only: the root namespace's address (clients, monitor) is never proxied.
      const nat = ['-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '-d', n.ip, '--dport', String(PEER_PORT)];
      const rules = [
        [...nat, '-s', `${this.subnet}.1`, '-j', 'RETURN'],
        [...nat, '-s', `${this.subnet}.0/24`, '-j', 'REDIRECT', '--to-ports', String(PROXY_PORT)],
      ];
      for (const r of rules) await sh('ip', ['netns', 'exec', n.ns, 'iptables', '-w', '5', ...r]);
    }
  }

  async setLinks(faults: LinkFaults): Promise<void> {
    if (!this.proxied) throw new Error('link faults need the fault proxies (startProxies)');
    const table: Record<string, LinkFault> = {};
    for (const [[from, to], f] of faults) {
      table[`${(this.nodes[from] as NetNode).ip}>${(this.nodes[to] as NetNode).ip}`] = f;
    }
    await Promise.all(this.proxies.map((p) => p.setLinks(table)));
  }

  async healLinks(): Promise<void> {
    if (this.proxied) await this.setLinks(new Map());
  }

  /** Every proxy's per-link counters, keyed "fromIp>toIp". */
  async linkStats(): Promise<Record<string, LinkStats>> {
    const all = await Promise.all(this.proxies.map((p) => p.stats().catch(() => ({}))));
    return Object.assign({}, ...all) as Record<string, LinkStats>;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all(this.proxies.map((p) => p.stop()));
    await sh('sh', ['-c', this.cleanupScript()]).catch(() => undefined);
    this.dog.kill('SIGKILL');
  }

  private cleanupScript(): string {
    const parts = this.nodes.map((n) => `ip netns del ${n.ns} 2>/dev/null`);
    parts.push(`ip link del ${this.bridge} 2>/dev/null`);
    return parts.join('; ') + '; true';
  }
}

/** Runs `script` once the test process is gone (it may die without running hooks). */
function cleanupWatchdog(script: string): ChildProcess {
  const loop = `while kill -0 "$1" 2>/dev/null; do sleep 1; done; ${script}`;
  const dog = spawn('sh', ['-c', loop, 'tsetcd-jepsen-watchdog', String(process.pid)], {
    stdio: 'ignore',
    detached: true,
  });
  dog.unref();
  return dog;
}
