// Cross-check against a real etcd (Debian's 3.4.23, built with Go 1.19): the same history
// gives the same HashKV (before and after a compaction), and the same order of equal
// elements in sorted ranges of more than 12 keys (Go's pdqsort, reproduced in go-sort.ts).
// Opt-in (it starts a process): TSETCD_ETCD_CROSSCHECK=1 and `etcd`/`etcdctl` on PATH.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MvccStore } from '../../src/mvcc/index.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import { leaseId } from '../../src/shared/ids.js';
import { SortOrder, SortTarget, type SortOrder as SO, type SortTarget as ST } from '../../src/mvcc/types.js';

const run = promisify(execFile);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

// Runs in CI (Debian's etcd-server is installed by .ci/run); it fails, not skips, without etcd.
describe('cross-check with a real etcd', () => {
  let etcd: ChildProcess | undefined;
  let dir = '';
  let endpoint = '';
  const ctl = async (...args: string[]): Promise<string> =>
    (await run('etcdctl', [`--endpoints=${endpoint}`, ...args], { env: { ...process.env, ETCDCTL_API: '3' } })).stdout;
  const ctlJson = async (...args: string[]): Promise<Record<string, unknown>> => JSON.parse(await ctl('-w', 'json', ...args)) as Record<string, unknown>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsetcd-etcd-'));
    const [client, peer] = [await freePort(), await freePort()];
    endpoint = `http://127.0.0.1:${client}`;
    etcd = spawn('etcd', [
      '--data-dir', join(dir, 'data'),
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `default=http://127.0.0.1:${peer}`,
    ], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      try {
        await ctl('endpoint', 'health');
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error('etcd did not start');
  }, 30_000);

  afterAll(async () => {
    etcd?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('has the same HashKV and sort order as etcd for the same history', async () => {
    const store = await MvccStore.open(new MemoryBackend());
    const grant = await ctl('lease', 'grant', '600');
    const id = BigInt(`0x${/lease ([0-9a-f]+) granted/.exec(grant)?.[1] ?? '0'}`);
    const ctx = { leaseExists: (l: bigint) => l === id };
    const mine = {
      put: (k: string, v: string, lease = 0n): void => {
        const b = new MemoryBackend().batch();
        store.applyPut({ key: Buffer.from(k), value: Buffer.from(v), lease: leaseId(lease) }, b, ctx);
      },
      del: (k: string, end = ''): void => {
        store.applyDelete({ key: Buffer.from(k), rangeEnd: Buffer.from(end) }, new MemoryBackend().batch());
      },
    };
    for (let i = 0; i < 70; i++) {
      const k = `k${String(i).padStart(2, '0')}`;
      await ctl('put', k, `v${(i * 7) % 5}`);
      mine.put(k, `v${(i * 7) % 5}`);
      if (i % 3 === 0 || i % 7 === 2) {
        await ctl('put', k, `w${i % 4}`);
        mine.put(k, `w${i % 4}`);
      }
    }
    await ctl('put', 'leased', 'x', `--lease=${id.toString(16)}`);
    mine.put('leased', 'x', id);
    await ctl('put', 'empty', '');
    mine.put('empty', '');
    await ctl('del', 'k05');
    mine.del('k05');
    await ctl('del', 'k10', 'k12');
    mine.del('k10', 'k12');
    await ctl('put', 'k05', 'again');
    mine.put('k05', 'again');

    const got = await ctlJson('get', 'nothing');
    const rev = Number((got['header'] as Record<string, unknown>)['revision']);
    expect(store.currentRevision).toBe(rev);
    const hashAt = async (r: number): Promise<number> => {
      const out = JSON.parse(await ctl('-w', 'json', 'endpoint', 'hashkv', `--rev=${r}`)) as Array<{ HashKV: { hash: number } }>;
      return (out[0] as { HashKV: { hash: number } }).HashKV.hash;
    };
    for (const r of [2, 10, rev - 3, rev]) {
      expect((await store.hashKV(r)).hash, `hashkv at ${r}`).toBe(await hashAt(r));
    }

    const targets: Array<[string, ST]> = [['VERSION', SortTarget.VERSION], ['CREATE', SortTarget.CREATE], ['MODIFY', SortTarget.MOD], ['VALUE', SortTarget.VALUE]];
    for (const [name, target] of targets) {
      for (const [orderName, order] of [['ASCEND', SortOrder.ASCEND], ['DESCEND', SortOrder.DESCEND]] as Array<[string, SO]>) {
        const etcdKeys = (await ctl('get', 'k', '--prefix', '--keys-only', `--sort-by=${name}`, `--order=${orderName}`)).split('\n').filter((l) => l !== '');
        const ours = await store.range({ key: Buffer.from('k'), rangeEnd: Buffer.from('l'), sortTarget: target, sortOrder: order });
        expect(ours.kvs.map((kv) => kv.key.toString()), `${name} ${orderName}`).toEqual(etcdKeys);
      }
    }

    // Compaction at a revision that is not a tombstone (3.4 lacks the #18089 fix).
    const compactAt = rev - 4;
    await ctl('compact', String(compactAt), '--physical');
    const b = new MemoryBackend().batch();
    await Promise.resolve(store.applyCompact(compactAt, b));
    store.batchDurable(b);
    for (const r of [rev - 2, rev]) {
      expect((await store.hashKV(r)).hash, `hashkv at ${r} after compaction`).toBe(await hashAt(r));
    }
    await store.close();
  }, 60_000);
});
