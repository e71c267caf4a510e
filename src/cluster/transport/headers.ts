/**
 * The peer wire's HTTP/2 paths, headers and status codes.
 *
 * Every peer request carries who sends it and for which cluster, with etcd's header
 * names (rafthttp/http.go): x-etcd-cluster-id and x-server-from (ids in etcd's hex
 * form), x-raft-to on raft streams (the member the sender believes it is talking to),
 * and x-server-version. The receiver answers:
 *   412 Precondition Failed  cluster id mismatch, or x-raft-to is not this member
 *   410 Gone                 the sender was removed from the cluster
 *   400 Bad Request          malformed headers or body
 * and always echoes its own x-etcd-cluster-id, so the sender can log both ids.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { idFromHex, idToHex } from '../../shared/ids.js';

export const PATH_STREAM_MESSAGE = '/raft/stream/message';
export const PATH_STREAM_MSGAPP = '/raft/stream/msgapp';
export const PATH_SNAPSHOT = '/raft/snapshot';
export const PATH_MEMBERS = '/members';
export const PATH_VERSION = '/version';

export const HEADER_CLUSTER_ID = 'x-etcd-cluster-id';
export const HEADER_FROM = 'x-server-from';
export const HEADER_TO = 'x-raft-to';
export const HEADER_VERSION = 'x-server-version';

export const STATUS_OK = 200;
export const STATUS_NO_CONTENT = 204;
export const STATUS_BAD_REQUEST = 400;
export const STATUS_FORBIDDEN = 403;
export const STATUS_NOT_FOUND = 404;
export const STATUS_GONE = 410;
export const STATUS_PRECONDITION_FAILED = 412;
export const STATUS_INTERNAL = 500;
export const STATUS_UNAVAILABLE = 503;

export const CONTENT_TYPE_STREAM = 'application/octet-stream';

export interface PeerRequestIdentity {
  readonly clusterId: bigint;
  readonly from: bigint;
  /** Absent on /members and /version. */
  readonly to?: bigint;
  readonly serverVersion: string;
}

export function requestHeaders(
  method: 'GET' | 'POST',
  path: string,
  id: PeerRequestIdentity,
): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = {
    ':method': method,
    ':path': path,
    [HEADER_CLUSTER_ID]: idToHex(id.clusterId),
    [HEADER_FROM]: idToHex(id.from),
    [HEADER_VERSION]: id.serverVersion,
  };
  if (method === 'POST') h['content-type'] = CONTENT_TYPE_STREAM;
  if (id.to !== undefined) h[HEADER_TO] = idToHex(id.to);
  return h;
}

/** A single header value, or undefined when absent or repeated. */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** An id header in etcd's hex form, or undefined when absent or malformed. */
export function headerId(headers: IncomingHttpHeaders, name: string): bigint | undefined {
  const v = headerValue(headers, name);
  if (v === undefined) return undefined;
  try {
    return idFromHex(v);
  } catch {
    return undefined;
  }
}

/** The line both sides log when cluster ids differ (local = the side that logs). */
export function clusterIdMismatchLine(local: bigint, remote: bigint | undefined): string {
  const r = remote === undefined ? 'unknown' : idToHex(remote);
  return `cluster ID mismatch: local ${idToHex(local)}, remote ${r}`;
}
