/**
 * Bulk load for the footprint measurements: `count` keys of `valSize` random bytes,
 * written as Txns of up to PUTS_PER_TXN Puts (etcd's default max-txn-ops is 128), with
 * INFLIGHT txns outstanding, spread over the cluster's client URLs. Loading is not a
 * measured workload; it only has to be the same for both servers. Any error aborts.
 */
import { randomBytes } from 'node:crypto';
import type { RequestOp } from '../src/generated/pb.js';
import { EtcdClient } from './etcd-client.js';
import { GrpcConn, type TlsFiles } from './grpc-h2.js';

const PUTS_PER_TXN = 100;
const INFLIGHT = 8;

export function loadKey(i: number): Buffer {
  return Buffer.from(`/bench/load/${String(i).padStart(10, '0')}`);
}

/** Writes keys [from, to); resolves with elapsed ms. */
export async function loadKeys(
  urls: string[],
  tls: TlsFiles,
  from: number,
  to: number,
  valSize: number,
): Promise<number> {
  const t0 = Date.now();
  const conns = await Promise.all(urls.map((u) => GrpcConn.connect(u, tls)));
  try {
    const clients = conns.map((c) => new EtcdClient(c));
    let next = from;
    await Promise.all(
      Array.from({ length: INFLIGHT }, async (_, lane) => {
        const client = clients[lane % clients.length];
        if (client === undefined) return;
        while (next < to) {
          const start = next;
          const end = Math.min(to, start + PUTS_PER_TXN);
          next = end;
          // Fresh random bytes per key, so neither side's storage can compress them
          // (docs/architecture.md §4).
          const values = randomBytes((end - start) * valSize);
          const success: RequestOp[] = [];
          for (let i = start; i < end; i++) {
            const at = (i - start) * valSize;
            success.push({ requestPut: { key: loadKey(i), value: values.subarray(at, at + valSize) } });
          }
          await client.txn({ success });
        }
      }),
    );
  } finally {
    for (const c of conns) c.close();
  }
  return Date.now() - t0;
}
