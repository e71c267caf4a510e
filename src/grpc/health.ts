/**
 * grpc.health.v1.Health, the standard gRPC health service that load balancers and
 * Kubernetes gRPC probes ask (grpc-go's health server, which etcd registers in
 * api/v3rpc/grpc.go). Generic: the caller says what status a service name has.
 *
 * Contract:
 * - `statusOf(service)` gives SERVING or NOT_SERVING for a name the server knows, and
 *   undefined for any other: Check then answers NOT_FOUND "unknown service" and Watch
 *   sends SERVICE_UNKNOWN, as grpc-go's health server does.
 * - Watch sends the current status at once, then every change, until the client
 *   cancels; the status is sampled on the injected scheduler (WATCH_POLL_MS).
 * - The two messages are tiny: their codecs are built here by protobufjs reflection
 *   from grpc's health.proto field numbers.
 */
import protobuf from 'protobufjs';
import type { Scheduler } from '../shared/scheduler.js';
import { Status } from '../shared/grpc-status.js';
import { GrpcError } from './status.js';
import type { CallContext, Codec, GrpcRouter, StreamWriter } from './server.js';

export const HEALTH_SERVICE = 'grpc.health.v1.Health';

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

export interface HealthCheckRequest {
  service?: string;
}
export interface HealthCheckResponse {
  status?: number;
}

/** SERVING or NOT_SERVING for a known service name; undefined for an unknown one. */
export type HealthStatusOf = (service: string) => typeof ServingStatus.SERVING | typeof ServingStatus.NOT_SERVING | undefined;

/** How often a Watch samples the member's status. */
const WATCH_POLL_MS = 100;

function messageCodec<T>(type: protobuf.Type): Codec<T> {
  return {
    decode: (bytes) => type.toObject(type.decode(bytes), { defaults: true }) as T,
    encode: (message) => type.encode(type.fromObject(message as Record<string, unknown>)).finish(),
  };
}

const requestType = new protobuf.Type('HealthCheckRequest').add(new protobuf.Field('service', 1, 'string'));
const responseType = new protobuf.Type('HealthCheckResponse').add(new protobuf.Field('status', 1, 'int32'));
export const healthRequestCodec = messageCodec<HealthCheckRequest>(requestType);
export const healthResponseCodec = messageCodec<HealthCheckResponse>(responseType);

export function registerHealth(router: GrpcRouter, statusOf: HealthStatusOf, scheduler: Scheduler): void {
  router.addService(HEALTH_SERVICE);
  router.unary<HealthCheckRequest, HealthCheckResponse>(
    `/${HEALTH_SERVICE}/Check`,
    healthRequestCodec,
    healthResponseCodec,
    (req) => {
      const status = statusOf(req.service ?? '');
      if (status === undefined) throw new GrpcError(Status.NOT_FOUND, 'unknown service');
      return { status };
    },
  );
  router.serverStream<HealthCheckRequest, HealthCheckResponse>(
    `/${HEALTH_SERVICE}/Watch`,
    healthRequestCodec,
    healthResponseCodec,
    (req, ctx, out) => watch(statusOf, scheduler, req.service ?? '', ctx, out),
  );
}

async function watch(
  statusOf: HealthStatusOf,
  scheduler: Scheduler,
  service: string,
  ctx: CallContext,
  out: StreamWriter<HealthCheckResponse>,
): Promise<void> {
  let last: number | undefined;
  const send = (): void => {
    const status = statusOf(service) ?? ServingStatus.SERVICE_UNKNOWN;
    if (status === last) return;
    last = status;
    out.write({ status });
  };
  send();
  await new Promise<void>((resolve) => {
    const timer = scheduler.every(WATCH_POLL_MS, () => {
      if (!out.closed) send();
    });
    ctx.signal.addEventListener(
      'abort',
      () => {
        timer.cancel();
        resolve();
      },
      { once: true },
    );
  });
}
