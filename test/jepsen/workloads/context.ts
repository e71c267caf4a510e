/**
 * What a workload gets from the runner, and the one way it talks to the cluster:
 * execute() records an op around a single unary gRPC call with an explicit deadline and
 * no retry, and classifies the outcome (history/classify.ts).
 *
 * Contract of execute():
 * - If the member's channel is not connected when the op is due, nothing is sent and the
 *   op is recorded as `fail` ('not-sent'): the request never existed.
 * - A gRPC error is `fail` when it is definite or the op is idempotent, else `info`.
 * - An answer is turned into the op's output by `decode`, which may also declare the op
 *   a definite `fail` (e.g. a txn whose guard did not hold).
 */
import * as grpc from '@grpc/grpc-js';
import type { SeededRng } from '../../../src/shared/rng.js';
import type { EtcdGrpcClient, Reply } from '../../helpers/grpc-client.js';
import { EtcdGrpcClient as Client } from '../../helpers/grpc-client.js';
import type { Cluster, ClusterMember } from '../cluster/cluster.js';
import { GRPC_CHANNEL_OPTIONS } from '../cluster/cluster.js';
import { NOT_SENT, classifyError, describeError } from '../history/classify.js';
import type { Op, OpType } from '../history/op.js';
import type { Recorder } from '../history/recorder.js';

export interface WorkloadContext {
  readonly recorder: Recorder;
  readonly cluster: Cluster;
  readonly rng: SeededRng;
  /** Deadline of every client call. */
  readonly deadlineMs: number;
  /** True once the runner asked the workload to stop issuing ops. */
  stopped(): boolean;
  /** One client per member, shared by the workload's processes. */
  client(member: ClusterMember): EtcdGrpcClient;
}

export interface Decoded {
  readonly output: unknown;
  readonly revision?: number;
  /** Override: the answer proves the op had no effect (a failed guard). */
  readonly type?: OpType;
  readonly error?: string;
}

export class ClientPool {
  private readonly clients = new Map<string, EtcdGrpcClient>();

  get(member: ClusterMember, deadlineMs: number): EtcdGrpcClient {
    let c = this.clients.get(member.name);
    if (c === undefined) {
      c = new Client(member.clientAddress, { channelOptions: GRPC_CHANNEL_OPTIONS, deadlineMs });
      this.clients.set(member.name, c);
    }
    return c;
  }

  /** Waits (bounded) until every client's channel is connected. */
  async connectAll(
    members: readonly ClusterMember[],
    deadlineMs: number,
    timeoutMs: number,
  ): Promise<void> {
    await Promise.all(
      members.map(
        (m) =>
          new Promise<void>((resolve) => {
            this.get(m, deadlineMs).client.waitForReady(Date.now() + timeoutMs, () => resolve());
          }),
      ),
    );
  }

  closeAll(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

export function isConnected(client: EtcdGrpcClient): boolean {
  return client.client.getChannel().getConnectivityState(true) === grpc.connectivityState.READY;
}

export async function execute<R>(
  ctx: WorkloadContext,
  process: number,
  member: ClusterMember,
  op: { f: string; key?: string; input: unknown; idempotent: boolean },
  call: (client: EtcdGrpcClient) => Promise<Reply<R>>,
  decode: (value: R) => Decoded,
): Promise<Op> {
  const client = ctx.client(member);
  const pending = ctx.recorder.invoke(process, op.f, op.key, op.input, member.name);
  if (!isConnected(client))
    return ctx.recorder.complete(pending, 'fail', null, { error: NOT_SENT });
  const reply = await call(client);
  if (!reply.ok) {
    const type = classifyError(reply.error, op.idempotent);
    return ctx.recorder.complete(pending, type, null, { error: describeError(reply.error) });
  }
  let d: Decoded;
  try {
    d = decode(reply.value);
  } catch (err) {
    // An answer we cannot read is a harness or server bug: keep it visible, unknown effect.
    return ctx.recorder.complete(pending, op.idempotent ? 'fail' : 'info', null, {
      error: `undecodable answer: ${String(err)}`,
    });
  }
  return ctx.recorder.complete(pending, d.type ?? 'ok', d.output, {
    ...(d.revision === undefined ? {} : { revision: d.revision }),
    ...(d.error === undefined ? {} : { error: d.error }),
  });
}

export function num(v: unknown): number {
  if (v === undefined || v === null || v === '') return 0;
  const n = Number(typeof v === 'object' ? String(v) : v);
  if (!Number.isSafeInteger(n)) throw new Error(`not a safe integer: ${String(v)}`);
  return n;
}

export function text(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return String(v);
}

export function bytes(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Members a process may talk to: process p is bound to member p mod size. */
export function memberFor(ctx: WorkloadContext, slot: number): ClusterMember {
  const ms = ctx.cluster.members;
  return ms[slot % ms.length] as ClusterMember;
}
