/**
 * Loopback ports for the comparison's clusters (cluster.ts), picked so that a member's
 * bind cannot lose its port to the kernel between the pick and the bind.
 *
 * Why not `listen(0)`: that hands out a port from the kernel's ephemeral range
 * (/proc/sys/net/ipv4/ip_local_port_range), the same range the kernel draws the local
 * port of every outgoing connection from. Between the probe's close and the member's
 * bind, any connect() on the machine (another member dialling its peers, the load
 * generator, another engineer's tests) may take that port as its local end, and the
 * member then fails with EADDRINUSE (a 3-member run lost a cluster that way).
 *
 * Contract:
 * - `portWindow(range)` is a window of ports outside the ephemeral range (below it when
 *   there is room, else above it), never below 10,000 (well-known and fixed test ports).
 * - `PortPicker.next()` walks the window from a random start, skips every port it has
 *   handed out before (so a run never reuses a port of a stopped cluster), and returns
 *   the first one a probe bind on 127.0.0.1 succeeds on. It throws when the whole window
 *   is used up or busy. The probe is injectable for tests.
 * - `addressInUse(text)` says whether a member's log reports a port already in use (etcd:
 *   "bind: address already in use"; tsetcd: "EADDRINUSE"), which cluster.ts retries.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export type PortRange = readonly [low: number, high: number];

/** Linux's default when /proc cannot be read. */
const DEFAULT_EPHEMERAL: PortRange = [32768, 60999];
const LOWEST = 10_000;
const WINDOW = 12_000;

/** The kernel's ephemeral port range (inclusive), from its /proc text. */
export function ephemeralRange(text?: string): PortRange {
  let t = text;
  if (t === undefined) {
    try {
      t = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
    } catch {
      return DEFAULT_EPHEMERAL;
    }
  }
  const [lo, hi] = t.trim().split(/\s+/).map(Number);
  if (lo === undefined || hi === undefined || !Number.isInteger(lo) || !Number.isInteger(hi) || lo > hi) return DEFAULT_EPHEMERAL;
  return [lo, hi];
}

/** Ports [from, to] (inclusive) outside `ephemeral`: below it when 1,000 fit, else above. */
export function portWindow(ephemeral: PortRange): PortRange {
  const [lo, hi] = ephemeral;
  if (lo - 1 - LOWEST >= 1000) return [Math.max(LOWEST, lo - WINDOW), lo - 1];
  const from = Math.max(LOWEST, hi + 1);
  if (65535 - from < 1000) throw new Error(`no room for bench ports outside the ephemeral range ${lo}-${hi}`);
  return [from, Math.min(65535, from + WINDOW - 1)];
}

/** Whether 127.0.0.1:port can be bound now (listened on and closed again). */
export function probeLoopback(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export class PortPicker {
  private readonly handedOut = new Set<number>();
  private cursor: number;

  constructor(
    private readonly window: PortRange = portWindow(ephemeralRange()),
    start = window[0] + Math.floor(Math.random() * (window[1] - window[0] + 1)),
    private readonly probe: (port: number) => Promise<boolean> = probeLoopback,
  ) {
    this.cursor = start;
  }

  async next(): Promise<number> {
    const [from, to] = this.window;
    const size = to - from + 1;
    for (let tried = 0; tried < size; tried++) {
      const port = from + ((((this.cursor - from) % size) + size) % size);
      this.cursor = port + 1;
      if (this.handedOut.has(port)) continue;
      if (!(await this.probe(port))) continue;
      this.handedOut.add(port);
      return port;
    }
    throw new Error(`no free loopback port left in ${from}-${to}`);
  }
}

/** The process-wide picker every cluster of a run draws from. */
export const ports = new PortPicker();

export function addressInUse(text: string): boolean {
  return /EADDRINUSE|address already in use/i.test(text);
}
