/**
 * The request/response workloads, as etcd's benchmark defines them:
 * - put:             Put{key, value}, keys uniform (or sequential) over --key-space-size.
 * - range:           Range{key} of a stored key, linearizable (--consistency l) or
 *                    serializable (s). The key space is stored before measuring.
 * - txn-put:         Txn{success: --txn-ops Puts on distinct keys}, no compares.
 * - txn-mixed:       Txn{success:[Range{key}]} reads and Txn{success:[Put]} writes,
 *                    --rw-ratio reads per write (reads honour --consistency).
 * - lease-keepalive: each client grants one lease, then sends LeaseKeepAlive on its own
 *                    bidi stream and waits for the answer (one round trip per op).
 * - authenticate:    Authenticate{name, password} of --user (a bcrypt check and a raft
 *                    round per login on both servers).
 * watch/watch-latency are in watch-workload.ts, mixed in mixed-workload.ts.
 */
import type { RequestOp } from '../src/generated/pb.js';
import { toBigInt } from '../src/shared/pb-codec.js';
import { type EtcdClient, pb, toNumber } from './etcd-client.js';
import { type BidiStream, GrpcError } from './grpc-h2.js';
import { clientFor, KeyPicker, makeKey, populate, runClients, type Workload, type WorkerContext } from './context.js';

export const putWorkload = (): Workload => {
  let keys: KeyPicker;
  return {
    setup: async (ctx) => {
      keys = new KeyPicker(ctx);
    },
    run: (ctx) =>
      runClients(ctx, async (client) => {
        await client.put({ key: makeKey(ctx.opts, keys.next()), value: ctx.value });
        return 'put';
      }),
    teardown: () => undefined,
  };
};

export const rangeWorkload = (): Workload => {
  let keys: KeyPicker;
  return {
    setup: async (ctx) => {
      keys = new KeyPicker(ctx);
      await populate(ctx, ctx.opts.keySpaceSize);
    },
    run: (ctx) => {
      const serializable = ctx.opts.consistency === 's';
      return runClients(ctx, async (client) => {
        const resp = await client.range({ key: makeKey(ctx.opts, keys.next()), serializable });
        if ((resp.kvs?.length ?? 0) !== 1) throw new Error('range: stored key not found');
        return 'range';
      });
    },
    teardown: () => undefined,
  };
};

export const txnPutWorkload = (): Workload => {
  let keys: KeyPicker;
  return {
    setup: async (ctx) => {
      keys = new KeyPicker(ctx);
    },
    run: (ctx) =>
      runClients(ctx, async (client) => {
        // Consecutive indexes from one pick: distinct as long as key space >= txn-ops.
        const base = keys.next();
        const success: RequestOp[] = [];
        for (let i = 0; i < ctx.opts.txnOps; i++) {
          success.push({ requestPut: { key: makeKey(ctx.opts, (base + i) % ctx.opts.keySpaceSize), value: ctx.value } });
        }
        await client.txn({ success });
        return 'txn-put';
      }),
    teardown: () => undefined,
  };
};

export const txnMixedWorkload = (): Workload => {
  let keys: KeyPicker;
  return {
    setup: async (ctx) => {
      keys = new KeyPicker(ctx);
      await populate(ctx, ctx.opts.keySpaceSize);
    },
    run: (ctx) => {
      const serializable = ctx.opts.consistency === 's';
      const readShare = ctx.opts.rwRatio / (ctx.opts.rwRatio + 1);
      return runClients(ctx, async (client) => {
        const key = makeKey(ctx.opts, keys.next());
        if (ctx.rng.float() < readShare) {
          await client.txn({ success: [{ requestRange: { key, serializable } }] });
          return 'txn-read';
        }
        await client.txn({ success: [{ requestPut: { key, value: ctx.value } }] });
        return 'txn-write';
      });
    },
    teardown: () => undefined,
  };
};

/** One lease and one keep-alive stream per client; one outstanding keep-alive at a time. */
class KeepAliver {
  private stream: BidiStream | undefined;
  private waiting: { resolve: () => void; reject: (e: Error) => void } | undefined;

  /** Lease ids are 63-bit: kept as a decimal string, which protobufjs encodes exactly. */
  constructor(private readonly client: EtcdClient, readonly leaseId: string) {}

  private open(): BidiStream {
    const s = this.client.keepAliveStream(
      (resp) => {
        const w = this.waiting;
        this.waiting = undefined;
        if (w === undefined) return;
        if (toNumber(resp.TTL) <= 0) w.reject(new Error('lease-keepalive: lease expired (TTL <= 0)'));
        else w.resolve();
      },
      (code, message) => {
        this.stream = undefined;
        const w = this.waiting;
        this.waiting = undefined;
        if (w !== undefined) w.reject(new GrpcError(code, message));
      },
    );
    this.stream = s;
    return s;
  }

  keepAlive(): Promise<void> {
    const s = this.stream ?? this.open();
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      s.send(pb.keepAliveReq.encode({ ID: this.leaseId }));
    });
  }

  close(): void {
    this.stream?.cancel();
  }
}

export const leaseKeepAliveWorkload = (): Workload => {
  const byClient = new Map<number, KeepAliver>();
  return {
    setup: async (ctx: WorkerContext) => {
      for (const clientId of ctx.spec.clientIds) {
        const client = clientFor(ctx, clientId);
        const grant = await client.leaseGrant(ctx.opts.leaseTtlSec);
        byClient.set(clientId, new KeepAliver(client, String(toBigInt(grant.ID, false))));
      }
    },
    run: (ctx) =>
      runClients(ctx, async (_client, clientId) => {
        const k = byClient.get(clientId);
        if (k === undefined) throw new Error(`no lease for client ${clientId}`);
        await k.keepAlive();
        return 'keepalive';
      }),
    teardown: () => {
      for (const k of byClient.values()) k.close();
    },
  };
};

/** `name:password` as two strings (the password may contain ':'). */
export function splitUser(user: string): [string, string] {
  const i = user.indexOf(':');
  return [user.slice(0, i), user.slice(i + 1)];
}

export const authenticateWorkload = (): Workload => ({
  setup: async () => undefined,
  run: (ctx) => {
    const [name, password] = splitUser(ctx.opts.user);
    return runClients(ctx, async (client) => {
      if ((await client.authenticate(name, password)) === '') throw new Error('authenticate: no token');
      return 'authenticate';
    });
  },
  teardown: () => undefined,
});
