/**
 * Registers every etcd v3 RPC on the gRPC router. Each RPC gets the handler the
 * caller supplies, or an UNIMPLEMENTED answer that names it, so a client never hangs
 * on an RPC tsetcd does not serve yet.
 */
import { SERVICES, type ServiceName } from '../generated/pb.js';
import { codec } from '../shared/pb-codec.js';
import { GrpcError } from '../grpc/status.js';
import { Status } from '../shared/grpc-status.js';
import type { BidiHandler, GrpcRouter, ServerStreamHandler, UnaryHandler } from '../grpc/server.js';

export type AnyHandler =
  | { kind: 'unary'; fn: UnaryHandler<never, unknown> }
  | { kind: 'server'; fn: ServerStreamHandler<never, unknown> }
  | { kind: 'bidi'; fn: BidiHandler<never, unknown> };

/** Handlers by gRPC path, e.g. '/etcdserverpb.KV/Range'. */
export type HandlerTable = ReadonlyMap<string, AnyHandler>;

export function unimplemented(path: string): GrpcError {
  return new GrpcError(Status.UNIMPLEMENTED, `tsetcd: ${path.slice(1)} is not implemented yet`);
}

export function registerServices(router: GrpcRouter, handlers: HandlerTable): void {
  for (const name of Object.keys(SERVICES) as ServiceName[]) {
    router.addService(name);
    for (const m of Object.values(SERVICES[name].methods)) {
      const req = codec<unknown>(m.requestType);
      const res = codec<unknown>(m.responseType);
      const h = handlers.get(m.path);
      if (m.requestStream) {
        const fn: BidiHandler<unknown, unknown> =
          h?.kind === 'bidi'
            ? (h.fn as BidiHandler<unknown, unknown>)
            : async () => {
                throw unimplemented(m.path);
              };
        router.bidi(m.path, req, res, fn);
      } else if (m.responseStream) {
        const fn: ServerStreamHandler<unknown, unknown> =
          h?.kind === 'server'
            ? (h.fn as ServerStreamHandler<unknown, unknown>)
            : async () => {
                throw unimplemented(m.path);
              };
        router.serverStream(m.path, req, res, fn);
      } else {
        const fn: UnaryHandler<unknown, unknown> =
          h?.kind === 'unary'
            ? (h.fn as UnaryHandler<unknown, unknown>)
            : () => {
                throw unimplemented(m.path);
              };
        router.unary(m.path, req, res, fn);
      }
    }
  }
  for (const path of handlers.keys()) {
    if (!router.has(path)) throw new Error(`handler for unknown RPC ${path}`);
  }
}
