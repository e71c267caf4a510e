/**
 * grpc.health.v1.Health, the standard gRPC health service that load balancers and
 * Kubernetes gRPC probes ask (etcd api/v3rpc/grpc.go registers grpc-go's health
 * server; the serving status follows the member as etcd 3.5's health notifier does).
 *
 * Contract:
 * - The service name "" (all of etcd's services) is SERVING while the member knows a
 *   leader and no alarm is raised, NOT_SERVING otherwise; any other name is unknown:
 *   Check answers NOT_FOUND "unknown service", Watch sends SERVICE_UNKNOWN, as grpc-go's
 *   health server does.
 * - Watch sends the current status at once, then every change, until the client
 *   cancels; the status is sampled on the injected scheduler (WATCH_POLL_MS).
 * - The two messages are tiny and not part of etcd's protos: their codecs are built
 *   here by protobufjs reflection from grpc's health.proto field numbers.
 */
import protobuf from 'protobufjs';
import type { Scheduler } from '../shared/scheduler.js';
import { Status } from '../shared/grpc-status.js';
import { GrpcError } from '../grpc/status.js';
import type { CallContext, Codec, GrpcRouter, StreamWriter } from '../grpc/server.js';

export const HEALTH_SERVICE = 'grpc.health.v1.Health';

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;
type ServingStatusValue = (typeof ServingStatus)[keyof typeof ServingStatus];

export interface HealthCheckRequest {
  service?: string;
}
export interface HealthCheckResponse {
  status?: number;
}

export interface HealthBackend {
  hasLeader(): boolean;
  /** Raised alarm names ('NOSPACE', 'CORRUPT'). */
  activeAlarms(): readonly string[];
  readonly scheduler: Scheduler;
}

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

/** The status of a service name, or undefined for a name this server does not know. */
export function servingStatus(s: HealthBackend, service: string): ServingStatusValue | undefined {
  if (service !== '') return undefined;
  return s.hasLeader() && s.activeAlarms().length === 0 ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
}

export function registerHealth(router: GrpcRouter, s: HealthBackend): void {
  router.addService(HEALTH_SERVICE);
  router.unary<HealthCheckRequest, HealthCheckResponse>(
    `/${HEALTH_SERVICE}/Check`,
    healthRequestCodec,
    healthResponseCodec,
    (req) => {
      const status = servingStatus(s, req.service ?? '');
      if (status === undefined) throw new GrpcError(Status.NOT_FOUND, 'unknown service');
      return { status };
    },
  );
  router.serverStream<HealthCheckRequest, HealthCheckResponse>(
    `/${HEALTH_SERVICE}/Watch`,
    healthRequestCodec,
    healthResponseCodec,
    (req, ctx, out) => watch(s, req.service ?? '', ctx, out),
  );
}

async function watch(
  s: HealthBackend,
  service: string,
  ctx: CallContext,
  out: StreamWriter<HealthCheckResponse>,
): Promise<void> {
  let last: number | undefined;
  const send = (): void => {
    const status = servingStatus(s, service) ?? ServingStatus.SERVICE_UNKNOWN;
    if (status === last) return;
    last = status;
    out.write({ status });
  };
  send();
  await new Promise<void>((resolve) => {
    const timer = s.scheduler.every(WATCH_POLL_MS, () => {
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
