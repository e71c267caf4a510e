/**
 * What a member does when a peer refuses one of its requests (headers.ts lists the
 * statuses): log the reason on this side with the same words the peer logged on its
 * side, count it, and tell the server when the peer says this member was removed.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import { idToHex } from '../../shared/ids.js';
import {
  clusterIdMismatchLine,
  HEADER_CLUSTER_ID,
  HEADER_FROM,
  headerId,
  STATUS_GONE,
  STATUS_PRECONDITION_FAILED,
} from './headers.js';
import type { PeerContext } from './peer-context.js';

export function reportRefusal(
  ctx: PeerContext,
  what: string,
  url: string,
  status: number,
  headers: IncomingHttpHeaders,
): void {
  const remoteCluster = headerId(headers, HEADER_CLUSTER_ID);
  const remoteMember = headerId(headers, HEADER_FROM);
  const key = `${what}:${status}`;
  if (status === STATUS_PRECONDITION_FAILED && remoteCluster !== ctx.clusterId) {
    ctx.metrics.refusedClusterMismatch++;
    ctx.logError(key, clusterIdMismatchLine(ctx.clusterId, remoteCluster), { url, request: what });
  } else if (status === STATUS_PRECONDITION_FAILED) {
    const who = remoteMember === undefined ? 'another member' : `member ${idToHex(remoteMember)}`;
    ctx.logError(key, `peer URL ${url} is served by ${who}, not ${idToHex(ctx.peerId)}`, { url });
  } else if (status === STATUS_GONE) {
    ctx.metrics.refusedRemoved++;
    ctx.logError(key, 'the member has been permanently removed from the cluster', { url });
    ctx.onRemoved();
  } else {
    ctx.logWarn(key, `peer refused the ${what} request with HTTP ${status}`, { url });
  }
}
