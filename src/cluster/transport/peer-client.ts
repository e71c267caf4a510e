/**
 * One-shot questions a starting member asks the existing members over their peer
 * URLs, before it has a transport of its own:
 *
 *  - fetchMembers: the member list and the cluster id (from the x-etcd-cluster-id
 *    header), for `initial-cluster-state: existing` joins (the joiner takes its id and
 *    the cluster id from here, as etcd's GetClusterFromRemotePeers does) and for the
 *    "member ... has already been bootstrapped" refusal of a wiped member rerun as new.
 *  - fetchVersion: GET /version.
 *
 * URLs are tried in order; the first that answers wins. Each attempt is bounded by
 * timeoutMs. The requests present the peer client certificate (tls.ts) like any peer.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import { TsetcdError } from '../../shared/errors.js';
import { idFromHex } from '../../shared/ids.js';
import { systemScheduler, type Scheduler } from '../../shared/scheduler.js';
import { dialPeer } from './dial.js';
import {
  HEADER_CLUSTER_ID,
  HEADER_FROM,
  headerId,
  PATH_MEMBERS,
  PATH_VERSION,
  STATUS_OK,
} from './headers.js';
import { PeerTlsSource, type PeerTlsOptions } from './tls.js';
import type { MemberJson, VersionJson } from './types.js';

const DEFAULT_TIMEOUT_MS = 2000;
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface FetchOptions {
  /** Per URL: dial, request and answer (default 2000). */
  readonly timeoutMs?: number;
  readonly scheduler?: Scheduler;
}

export interface RemoteMember {
  readonly id: bigint;
  readonly name: string;
  readonly peerURLs: readonly string[];
  readonly clientURLs: readonly string[];
  readonly isLearner: boolean;
}

export interface RemoteMembers {
  /** The URL that answered. */
  readonly url: string;
  /** The cluster id the answering member belongs to. */
  readonly clusterId: bigint;
  /** The answering member's id. */
  readonly memberId: bigint | undefined;
  readonly members: readonly RemoteMember[];
}

export async function fetchMembers(
  peerUrls: readonly string[],
  tls: PeerTlsOptions | undefined,
  opts: FetchOptions = {},
): Promise<RemoteMembers> {
  return firstAnswer(peerUrls, tls, opts, PATH_MEMBERS, (url, headers, body) => {
    const clusterId = headerId(headers, HEADER_CLUSTER_ID);
    if (clusterId === undefined) throw new Error(`no ${HEADER_CLUSTER_ID} header`);
    const list: unknown = JSON.parse(body);
    if (!Array.isArray(list)) throw new Error('the member list is not a JSON array');
    return {
      url,
      clusterId,
      memberId: headerId(headers, HEADER_FROM),
      members: list.map(parseMember),
    };
  });
}

export async function fetchVersion(
  peerUrls: readonly string[],
  tls: PeerTlsOptions | undefined,
  opts: FetchOptions = {},
): Promise<{ readonly url: string; readonly version: VersionJson }> {
  return firstAnswer(peerUrls, tls, opts, PATH_VERSION, (url, _headers, body) => {
    const v = JSON.parse(body) as Record<string, unknown>;
    if (typeof v['etcdserver'] !== 'string' || typeof v['etcdcluster'] !== 'string') {
      throw new Error('not a version answer');
    }
    return { url, version: { etcdserver: v['etcdserver'], etcdcluster: v['etcdcluster'] } };
  });
}

export function parseMember(x: unknown): RemoteMember {
  const m = x as Partial<Record<keyof MemberJson, unknown>>;
  const strings = (v: unknown): v is string[] =>
    Array.isArray(v) && v.every((s) => typeof s === 'string');
  if (
    typeof m !== 'object' ||
    m === null ||
    typeof m.id !== 'string' ||
    typeof m.name !== 'string'
  ) {
    throw new Error('a member without id or name');
  }
  if (!strings(m.peerURLs) || !strings(m.clientURLs) || typeof m.isLearner !== 'boolean') {
    throw new Error(`member ${m.id}: malformed peerURLs, clientURLs or isLearner`);
  }
  return {
    id: idFromHex(m.id),
    name: m.name,
    peerURLs: m.peerURLs,
    clientURLs: m.clientURLs,
    isLearner: m.isLearner,
  };
}

async function firstAnswer<T>(
  urls: readonly string[],
  tls: PeerTlsOptions | undefined,
  opts: FetchOptions,
  path: string,
  parse: (url: string, headers: IncomingHttpHeaders, body: string) => T,
): Promise<T> {
  const source = tls === undefined ? undefined : new PeerTlsSource(tls);
  const scheduler = opts.scheduler ?? systemScheduler;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const errors: string[] = [];
  for (const url of urls) {
    try {
      const a = await get(url, path, source, scheduler, timeoutMs);
      if (a.status !== STATUS_OK) throw new Error(`HTTP ${a.status}: ${a.body.slice(0, 200)}`);
      return parse(url, a.headers, a.body);
    } catch (err) {
      errors.push(`${url}: ${(err as Error).message}`);
    }
  }
  // No peer URL answered; the message lists what each one said.
  throw new TsetcdError(
    'unhealthy-cluster',
    `could not get ${path} from any peer (${errors.join('; ') || 'no peer URLs'})`,
  );
}

async function get(
  url: string,
  path: string,
  tls: PeerTlsSource | undefined,
  scheduler: Scheduler,
  timeoutMs: number,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const session = await dialPeer(url, { tls, scheduler, timeoutMs });
  session.on('error', () => {});
  const timer = scheduler.after(timeoutMs, () => session.destroy());
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ':method': 'GET', ':path': path });
      let headers: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      let size = 0;
      req.once('response', (h) => (headers = h));
      req.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_BODY_BYTES) req.destroy(new Error(`answer above ${MAX_BODY_BYTES} bytes`));
        else chunks.push(d);
      });
      req.on('error', reject);
      req.once('end', () =>
        resolve({
          status: Number(headers[':status']),
          headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      req.once('close', () => reject(new Error('the peer closed the stream without an answer')));
      req.end();
    });
  } finally {
    timer.cancel();
    session.destroy();
  }
}
