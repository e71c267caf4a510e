/**
 * The fault proxy on loopback (no namespaces, no root): each knob bites and bytes stay
 * in order. An echo server stands behind the proxy; on loopback both directions of a
 * connection share the key "127.0.0.1>127.0.0.1", so a delay counts twice per round trip.
 * Needs `npm run build` (the proxy runs from dist/).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LinkFault } from '../../../src/testing/fault-proxy.js';
import { ProxyProcess } from './proxy.js';

const KEY = '127.0.0.1>127.0.0.1';
let echo: Server;
let proxy: ProxyProcess;

beforeAll(async () => {
  echo = createServer((s) => {
    s.on('error', () => undefined); // the reset test resets it
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const addr = echo.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  proxy = await ProxyProcess.start({ selfIp: '127.0.0.1', targetHost: '127.0.0.1', targetPort: port, listenPort: 0, seed: 7 });
}, 30_000);

afterAll(async () => {
  await proxy.stop();
  await new Promise<void>((r) => echo.close(() => r()));
});

async function dial(): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port: proxy.port });
  await new Promise<void>((r, j) => (s.once('connect', () => r()), s.once('error', j)));
  return s;
}

/** Sends `bytes`, resolves with what came back and how long it took, or the error. */
async function roundTrip(fault: LinkFault | undefined, bytes: Buffer, chunks = 1): Promise<{ ms: number; back: Buffer; closed: boolean }> {
  await proxy.setLinks(fault === undefined ? {} : { [KEY]: fault });
  const s = await dial();
  const started = performance.now();
  const got: Buffer[] = [];
  let n = 0;
  return new Promise((resolve) => {
    const done = (closed: boolean): void => {
      s.destroy();
      resolve({ ms: performance.now() - started, back: Buffer.concat(got), closed });
    };
    const t = setTimeout(() => done(false), 10_000);
    s.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (n >= bytes.length) (clearTimeout(t), done(false));
    });
    s.on('error', () => undefined);
    s.on('close', () => (clearTimeout(t), done(true)));
    const step = Math.ceil(bytes.length / chunks);
    let i = 0;
    const sendNext = (): void => {
      if (i >= bytes.length) return;
      s.write(bytes.subarray(i, i + step));
      i += step;
      setTimeout(sendNext, 2);
    };
    sendNext();
  });
}

describe('fault proxy', () => {
  it('relays at once without a fault, and holds each direction by delayMs', async () => {
    const plain = await roundTrip(undefined, Buffer.from('ping'));
    expect(plain.back.toString()).toBe('ping');
    expect(plain.ms).toBeLessThan(300);
    const slow = await roundTrip({ delayMs: 400 }, Buffer.from('ping'));
    expect(slow.back.toString()).toBe('ping');
    // 400 ms there and 400 ms back (same key on loopback).
    expect(slow.ms).toBeGreaterThanOrEqual(790);
  }, 20_000);

  it('keeps bytes in order under jitter, loss and mid-message stalls', async () => {
    const data = Buffer.from(Array.from({ length: 4000 }, (_, i) => `${i},`).join(''));
    const r = await roundTrip({ jitterMs: 40, lossRate: 0.1, stallRate: 0.2, stallMs: 30 }, data, 100);
    expect(r.closed).toBe(false);
    expect(r.back.equals(data)).toBe(true);
    const stats = (await proxy.stats())[KEY];
    expect(stats?.lost ?? 0).toBeGreaterThan(0);
    expect(stats?.stalls ?? 0).toBeGreaterThan(0);
  }, 20_000);

  it('throttles a link to bytesPerSec', async () => {
    const data = Buffer.alloc(24_000, 1);
    const r = await roundTrip({ bytesPerSec: 20_000 }, data, 24);
    expect(r.back.length).toBe(data.length);
    // 24 KB at 20 KB/s each way; the echo overlaps both directions: >= 1.2 s.
    expect(r.ms).toBeGreaterThanOrEqual(1150);
  }, 20_000);

  it('resets a connection at resetRate', async () => {
    const r = await roundTrip({ resetRate: 1 }, Buffer.from('lost'));
    expect(r.closed).toBe(true);
    expect(r.back.length).toBe(0);
    expect((await proxy.stats())[KEY]?.resets ?? 0).toBeGreaterThan(0);
  }, 20_000);
});
