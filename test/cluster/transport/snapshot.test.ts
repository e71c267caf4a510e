/**
 * Snapshot transfer: several MiB arrive intact over mTLS and reach Raft only after the
 * stager finished; a byte corrupted on the wire (a proxy on an h2c link flips it) is
 * detected by the chunk checksum, the receiver refuses, the sender reports failure; a
 * stager that fails or a data source that breaks also end in a reported failure.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { makeMessage, MessageType, type Message } from '../../../src/raft/types.js';
import {
  connectAll,
  hasLog,
  heartbeat,
  makeMember,
  mtls,
  stopAll,
  waitFor,
  type Member,
} from './helpers.js';

let members: (Member | undefined)[] = [];
let proxies: Server[] = [];
afterEach(async () => {
  await stopAll(members);
  for (const p of proxies) p.close();
  members = [];
  proxies = [];
});

function snapMsg(from: bigint, to: bigint, index: number): Message {
  return makeMessage({
    type: MessageType.Snap,
    from,
    to,
    term: 3,
    snapshot: {
      metadata: { index, term: 2, confState: { voters: [1n, 2n], learners: [] } },
      data: new Uint8Array(0),
    },
  });
}

/** The data in uneven pieces, as a db iterator would hand it out. */
async function* pieces(data: Buffer): AsyncGenerator<Uint8Array> {
  let off = 0;
  for (let i = 0; off < data.length; i++) {
    const n = [1, 300_000, 2_500_000, 65_536, 7][i % 5] ?? 1;
    yield data.subarray(off, off + n);
    off += n;
    await Promise.resolve();
  }
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

interface Staged {
  bytes: number;
  hash: string;
  error?: string;
  steppedBefore: boolean;
}

function stager(into: Staged[], receiver: () => Member | undefined) {
  return async (_m: Message, chunks: AsyncIterable<Uint8Array>): Promise<void> => {
    const h = createHash('sha256');
    let bytes = 0;
    const steppedBefore = (receiver()?.received ?? []).some((x) => x.type === MessageType.Snap);
    try {
      for await (const c of chunks) {
        h.update(c);
        bytes += c.length;
      }
      into.push({ bytes, hash: h.digest('hex'), steppedBefore });
    } catch (err) {
      into.push({ bytes, hash: '', error: (err as Error).message, steppedBefore });
      throw err;
    }
  };
}

describe('snapshot transfer', () => {
  it('streams several MiB intact over mTLS, then steps the message', async () => {
    const tls = await mtls();
    const staged: Staged[] = [];
    let b: Member | undefined;
    const a = await makeMember({ id: 1n, tls });
    b = await makeMember({ id: 2n, tls, onSnapshot: stager(staged, () => b) });
    members.push(a, b);
    connectAll([a, b]);
    const data = randomBytes(6 * 1024 * 1024 + 12_345);
    const ok = await a.transport.sendSnapshot(snapMsg(1n, 2n, 42), () => pieces(data));
    expect(ok).toBe(true);
    expect(a.snapshotStatus).toEqual([{ id: 2n, ok: true }]);
    expect(staged).toEqual([{ bytes: data.length, hash: sha(data), steppedBefore: false }]);
    const snap = b.received.find((m) => m.type === MessageType.Snap);
    expect(snap?.snapshot?.metadata).toEqual({
      index: 42,
      term: 2,
      confState: { voters: [1n, 2n], learners: [] },
    });
    expect(b.transport.metrics().peers.get(1n)?.snapshotsReceived).toBe(1);
    expect(a.transport.metrics().peers.get(2n)?.snapshotsSent).toBe(1);
    // The raft streams kept working beside it.
    a.transport.send([heartbeat(1n, 2n, 9)]);
    await waitFor(
      () => b?.received.some((m) => m.type === MessageType.Heartbeat) === true,
      5000,
      'heartbeat',
    );
  });

  it('detects a byte corrupted on the wire: receiver refuses, sender reports failure', async () => {
    const staged: Staged[] = [];
    let b: Member | undefined;
    const a = await makeMember({ id: 1n });
    b = await makeMember({ id: 2n, onSnapshot: stager(staged, () => b) });
    members.push(a, b);
    const marker = Buffer.from('CORRUPT-ME-PLEASE');
    const proxy = await flipProxy(new URL(b.url), marker);
    proxies.push(proxy.server);
    a.transport.addPeer(2n, [proxy.url]);
    // Markers all through the data; one lies whole inside one HTTP/2 DATA frame.
    const data = randomBytes(3 * 1024 * 1024);
    for (let off = 100_000; off + marker.length < data.length; off += 100_000)
      marker.copy(data, off);
    const ok = await a.transport.sendSnapshot(snapMsg(1n, 2n, 7), () => pieces(data));
    expect(proxy.flipped()).toBe(true);
    expect(ok).toBe(false);
    expect(a.snapshotStatus).toEqual([{ id: 2n, ok: false }]);
    expect(staged.length).toBe(1);
    expect(staged[0]?.error).toMatch(/checksum mismatch/);
    expect(b.received.some((m) => m.type === MessageType.Snap)).toBe(false);
    expect(hasLog(b, 'warn', 'refused a damaged database snapshot')).toBe(true);
    expect(hasLog(a, 'warn', 'failed to send database snapshot')).toBe(true);
    expect(b.transport.metrics().peers.get(1n)?.snapshotsReceiveFailed).toBe(1);
  });

  it('reports failure when the stager fails or the data source breaks', async () => {
    const tls = await mtls();
    const a = await makeMember({ id: 1n, tls });
    const b = await makeMember({
      id: 2n,
      tls,
      onSnapshot: async (_m, chunks) => {
        for await (const c of chunks) void c;
        throw new Error('disk full');
      },
    });
    members.push(a, b);
    connectAll([a, b]);
    const data = randomBytes(512 * 1024);
    expect(await a.transport.sendSnapshot(snapMsg(1n, 2n, 5), () => pieces(data))).toBe(false);
    expect(hasLog(b, 'warn', 'failed to install database snapshot')).toBe(true);
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield data.subarray(0, 1000);
      throw new Error('db iterator closed');
    }
    expect(await a.transport.sendSnapshot(snapMsg(1n, 2n, 6), broken)).toBe(false);
    expect(a.snapshotStatus).toEqual([
      { id: 2n, ok: false },
      { id: 2n, ok: false },
    ]);
    expect(b.received.some((m) => m.type === MessageType.Snap)).toBe(false);
    await waitFor(
      () => (b.transport.metrics().peers.get(1n)?.snapshotsReceiveFailed ?? 0) === 2,
      5000,
      'refusals',
    );
  });
});

/**
 * A TCP proxy that forwards bytes and flips one byte of the first `marker` it sees
 * whole in one read from the client (h2c: DATA payloads are the raw request bytes).
 */
async function flipProxy(
  target: URL,
  marker: Buffer,
): Promise<{ server: Server; url: string; flipped: () => boolean }> {
  let flipped = false;
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = tcpConnect({ host: target.hostname, port: Number(target.port) });
    sockets.push(client, upstream);
    client.on('data', (d: Buffer) => {
      if (!flipped) {
        const at = d.indexOf(marker);
        if (at >= 0) {
          d[at + 3] = (d[at + 3] ?? 0) ^ 0x01;
          flipped = true;
        }
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => client.write(d));
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return { server, url: `http://127.0.0.1:${port}`, flipped: () => flipped };
}
