/**
 * What a workload gets inside one worker: its connections (by global id), the
 * recorder, the load control, a seeded rng, and key/value makers; plus the loop that
 * turns "one request" into a client that runs until the load control says stop.
 *
 * Keys are `prefix + decimal index`, the index left-padded with '0' so the whole key is
 * --key-size bytes (longer if prefix and digits do not fit). Values are random bytes
 * of --val-size, made once per worker: their content is irrelevant to both servers.
 */
import { SeededRng } from '../src/shared/rng.js';
import type { EtcdClient } from './etcd-client.js';
import type { BenchOptions } from './options.js';
import { backoffAfterError, type LoadControl, nowMs, type Recorder } from './recorder.js';
import type { WorkerSpec } from './share.js';

export interface WorkerContext {
  readonly spec: WorkerSpec;
  readonly opts: BenchOptions;
  /** Clients by global connection id (only this worker's connections). */
  readonly clients: ReadonlyMap<number, EtcdClient>;
  readonly rec: Recorder;
  readonly load: LoadControl;
  readonly rng: SeededRng;
  readonly value: Buffer;
}

export interface Workload {
  /** Runs before the synchronized start; not measured (populate keys, open watches). */
  setup(ctx: WorkerContext): Promise<void>;
  /** The measured load; resolves when this worker's share is done (and drained). */
  run(ctx: WorkerContext): Promise<void>;
  /** Closes streams; counters for the result may be filled here. */
  teardown(ctx: WorkerContext): void;
}

export function makeKey(opts: BenchOptions, index: number): Buffer {
  const digits = String(index);
  const pad = Math.max(0, opts.keySize - opts.prefix.length - digits.length);
  return Buffer.from(opts.prefix + '0'.repeat(pad) + digits);
}

export function makeValue(size: number, rng: SeededRng): Buffer {
  const v = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) v[i] = rng.int(256);
  return v;
}

/** The connection a global client id uses. */
export function clientFor(ctx: WorkerContext, clientId: number): EtcdClient {
  const c = ctx.clients.get(clientId % ctx.opts.conns);
  if (c === undefined) throw new Error(`client ${clientId} does not belong to worker ${ctx.spec.workerIndex}`);
  return c;
}

/** Key index for the next request: sequential (interleaved across workers) or uniform. */
export class KeyPicker {
  private seq = 0;
  constructor(private readonly ctx: WorkerContext) {}

  next(): number {
    const { opts, spec } = this.ctx;
    if (opts.sequentialKeys) {
      const i = this.seq++ * spec.workerCount + spec.workerIndex;
      return i % opts.keySpaceSize;
    }
    return this.ctx.rng.int(opts.keySpaceSize);
  }
}

/**
 * Runs one loop per client of this worker: acquire a slot, send, record latency under
 * the kind the operation returns, or record the error.
 */
export async function runClients(
  ctx: WorkerContext,
  op: (client: EtcdClient, clientId: number) => Promise<string>,
): Promise<void> {
  await Promise.all(
    ctx.spec.clientIds.map(async (clientId) => {
      const client = clientFor(ctx, clientId);
      while (await ctx.load.acquire()) {
        const t0 = nowMs();
        try {
          const kind = await op(client, clientId);
          ctx.rec.ok(kind, t0);
        } catch (err) {
          ctx.rec.fail(err);
          await backoffAfterError();
        }
      }
    }),
  );
}

/** Stores keys [0, count) owned by this worker (j % workers == w), 32 puts in flight. */
export async function populate(ctx: WorkerContext, count: number): Promise<void> {
  const first = ctx.clients.values().next().value;
  if (first === undefined) return;
  const mine: number[] = [];
  for (let j = ctx.spec.workerIndex; j < count; j += ctx.spec.workerCount) mine.push(j);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(32, mine.length) }, async () => {
      while (next < mine.length) {
        const j = mine[next++] ?? 0;
        await first.put({ key: makeKey(ctx.opts, j), value: ctx.value });
      }
    }),
  );
}
