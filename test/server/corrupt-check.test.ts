// The rules of etcd 3.4's corruption checks (embed/corrupt-check.ts, etcd
// etcdserver/corrupt.go) on injected hashes and peers: which differences refuse a start,
// which raise CORRUPT (once per round), which are only logged, and that only the leader
// runs the periodic check.
import { describe, expect, it } from 'vitest';
import {
  checkHashKV,
  initialCorruptCheck,
  startCorruptMonitor,
  type CorruptCheckDeps,
  type KvHash,
} from '../../src/embed/corrupt-check.js';
import { StartRefusal } from '../../src/shared/errors.js';
import { nullLogger } from '../../src/shared/logger.js';
import type { Cancelable, Scheduler } from '../../src/shared/scheduler.js';

class StepScheduler implements Scheduler {
  readonly pending: Array<() => void> = [];
  after(_ms: number, fn: () => void): Cancelable {
    this.pending.push(fn);
    return { cancel: () => {} };
  }
  every(): Cancelable {
    return { cancel: () => {} };
  }
  soon(fn: () => void): void {
    fn();
  }
  run(): void {
    const fns = this.pending.splice(0);
    for (const fn of fns) fn();
  }
}

function deps(
  local: KvHash[],
  peers: Record<string, KvHash | string>,
  extra: Partial<CorruptCheckDeps> = {},
): CorruptCheckDeps & { raised: number } {
  const d = {
    raised: 0,
    selfId: 1n,
    localHash: async () => (local.length > 1 ? (local.shift() as KvHash) : (local[0] as KvHash)),
    peers: () => Object.keys(peers).map((u, i) => ({ id: BigInt(i + 2), clientUrls: [u] })),
    fetch: async (url: string) => {
      const p = peers[url];
      if (typeof p === 'string' || p === undefined) throw new Error(p ?? 'unreachable');
      return p;
    },
    isLeader: () => true,
    readIndex: async () => {},
    raiseCorrupt: async () => {
      d.raised++;
    },
    scheduler: new StepScheduler(),
    logger: nullLogger,
    ...extra,
  };
  return d;
}

const h = (hash: number, revision = 10, compactRevision = -1): KvHash => ({ hash, revision, compactRevision });

describe('initial corruption check', () => {
  it('refuses a start when a peer has another hash at the same compact revision', async () => {
    const err = await initialCorruptCheck(deps([h(1)], { a: h(1), b: h(2) })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartRefusal);
    expect((err as Error).message).toBe('1 found data inconsistency with peers');
  });

  it('passes when hashes differ only with another compact revision, or a peer cannot answer', async () => {
    await initialCorruptCheck(
      deps([h(1)], {
        a: h(2, 10, 5),
        b: 'etcdserver: mvcc: required revision is a future revision',
        c: 'connection refused',
      }),
    );
    await initialCorruptCheck(deps([h(1)], { a: h(1) }));
  });
});

describe('periodic corruption check (leader)', () => {
  it('raises CORRUPT once for a follower with another hash at the same compact revision', async () => {
    const d = deps([h(1)], { a: h(2), b: h(3) });
    expect(await checkHashKV(d)).toBe(true);
    expect(d.raised).toBe(1);
  });

  it('raises CORRUPT for a follower ahead of the leader, or its own hash changing at one revision', async () => {
    const ahead = deps([h(1)], { a: h(1, 11) });
    expect(await checkHashKV(ahead)).toBe(true);
    const compactAhead = deps([h(1, 10, 3)], { a: h(9, 10, 4) });
    expect(await checkHashKV(compactAhead)).toBe(true);
    const changed = deps([h(1), h(2)], {});
    expect(await checkHashKV(changed)).toBe(true);
  });

  it('raises nothing when every hash agrees, or a follower is behind on compaction', async () => {
    const d = deps([h(1, 10, 3)], { a: h(1, 10, 3), b: h(7, 9, 2), c: 'unreachable' });
    expect(await checkHashKV(d)).toBe(false);
    expect(d.raised).toBe(0);
  });

  it('runs only on the leader, every interval', async () => {
    let leader = false;
    const scheduler = new StepScheduler();
    const d = deps([h(1)], { a: h(2) }, { scheduler, isLeader: () => leader });
    const m = startCorruptMonitor(d, 1000);
    scheduler.run();
    await new Promise((r) => setTimeout(r, 10));
    expect(d.raised).toBe(0);
    leader = true;
    scheduler.run();
    await new Promise((r) => setTimeout(r, 10));
    expect(d.raised).toBe(1);
    m.stop();
    scheduler.run();
    await new Promise((r) => setTimeout(r, 10));
    expect(d.raised).toBe(1);
  });
});
