/**
 * Where tsetcd's typed errors leave as gRPC statuses: each TsetcdError becomes etcd's
 * exact code and message from the one table (shared/errors.ts, etcd
 * api/v3rpc/rpctypes/error.go); a GrpcError passes as is; anything else is UNKNOWN and
 * logged, because it is a bug or a broken invariant.
 */
import { AssertionError } from '../shared/assert.js';
import { TsetcdError, etcdStatus } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { Status } from '../shared/grpc-status.js';
import { GrpcError } from '../grpc/status.js';

export function toGrpcError(err: unknown, path: string, logger: Logger): GrpcError {
  if (err instanceof GrpcError) return err;
  if (err instanceof TsetcdError) {
    if (err.code === 'unimplemented') return new GrpcError(Status.UNIMPLEMENTED, err.message);
    const [code, message] = etcdStatus(err.code);
    return new GrpcError(code, message);
  }
  if (err instanceof AssertionError) {
    // A broken invariant: the server's top level decides to exit; the client sees UNKNOWN.
    logger.error({ err, path }, 'assertion failed while serving a request');
    return new GrpcError(Status.UNKNOWN, err.message);
  }
  logger.error({ err, path }, 'unexpected error while serving a request');
  return new GrpcError(Status.UNKNOWN, err instanceof Error ? err.message : String(err));
}
