/**
 * Free loopback TCP ports for members started by tests.
 *
 * Contract: freePort() binds 127.0.0.1:0, reads the port the kernel chose, closes the
 * socket and returns the port; no port is handed out twice by one test process, so
 * the client, peer and second-listener ports of several members never collide inside
 * a run. Integration files run one at a time (test/vitest.config.ts), so collisions
 * across processes are limited to the short window between close and the member's
 * bind, which the kernel's ephemeral allocator makes unlikely (it does not reuse a
 * just-closed port right away).
 */
import { createServer } from 'node:net';

const handedOut = new Set<number>();
const MAX_ATTEMPTS = 50;

function bindZero(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        if (port > 0) resolve(port);
        else reject(new Error(`could not read the bound port from ${String(address)}`));
      });
    });
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const port = await bindZero();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no fresh loopback port after ${MAX_ATTEMPTS} attempts`);
}

export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  return ports;
}
