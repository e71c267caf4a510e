/**
 * A grpc-js client for grpc.health.v1.Health (Check and Watch), the way load balancers
 * and Kubernetes gRPC probes ask. The two messages are defined here from grpc's
 * health.proto field numbers (service = 1; status = 1), independently of src/.
 *
 * Contract: healthCheck resolves, never rejects: { ok, status name } or { ok: false,
 * code, details }. healthWatch collects status names until closed.
 */
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
export type ServingStatusName = (typeof STATUS)[number];

const req = new protobuf.Type('HealthCheckRequest').add(new protobuf.Field('service', 1, 'string'));
const res = new protobuf.Type('HealthCheckResponse').add(new protobuf.Field('status', 1, 'int32'));
const serialize = (v: { service: string }): Buffer => Buffer.from(req.encode(req.fromObject(v)).finish());
const deserialize = (b: Buffer): ServingStatusName => {
  const n = Number((res.toObject(res.decode(b), { defaults: true }) as { status: number }).status);
  return STATUS[n] ?? 'UNKNOWN';
};

export type HealthReply =
  | { readonly ok: true; readonly status: ServingStatusName }
  | { readonly ok: false; readonly code: number; readonly details: string };

export function healthCheck(address: string, service: string, deadlineMs = 5_000): Promise<HealthReply> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise<HealthReply>((resolve) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      serialize,
      deserialize,
      { service },
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, value) => {
        if (err !== null && err !== undefined) resolve({ ok: false, code: err.code, details: err.details });
        else resolve({ ok: true, status: value ?? 'UNKNOWN' });
      },
    );
  }).finally(() => client.close());
}

export interface HealthWatch {
  /** Every status received so far, in order. */
  readonly seen: ServingStatusName[];
  /** Resolves once `status` has been received (or rejects after timeoutMs). */
  until(status: ServingStatusName, timeoutMs: number): Promise<void>;
  close(): void;
}

export function healthWatch(address: string, service: string): HealthWatch {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const call = client.makeServerStreamRequest(
    '/grpc.health.v1.Health/Watch',
    serialize,
    deserialize,
    { service },
  );
  const seen: ServingStatusName[] = [];
  const waiters: Array<() => void> = [];
  call.on('data', (s: ServingStatusName) => {
    seen.push(s);
    for (const w of waiters.splice(0)) w();
  });
  call.on('error', () => undefined); // canceled by close()
  return {
    seen,
    until(status, timeoutMs) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${status} within ${timeoutMs} ms (saw ${seen.join(',')})`)),
          timeoutMs,
        );
        const check = (): void => {
          if (seen.includes(status)) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        check();
      });
    },
    close() {
      call.cancel();
      client.close();
    },
  };
}
