/**
 * Member and cluster ids, derived exactly as etcd derives them
 * (server/etcdserver/api/membership/member.go computeMemberID, cluster.go genID), so
 * the ids etcdctl prints for a tsetcd cluster are the ones etcd would print for the
 * same configuration.
 *
 *  - member id: the first 8 bytes (big-endian) of SHA-1 over the member's peer URL
 *    strings, sorted, concatenated, then the cluster token, then (for MemberAdd only)
 *    the unix time in seconds as decimal. The URL strings are etcd's own string form of
 *    the configured URLs (scheme://host:port as written), not a normalised URL.href.
 *  - cluster id: the first 8 bytes of SHA-1 over the sorted member ids, 8 bytes
 *    big-endian each.
 */
import { createHash } from 'node:crypto';
import { clusterId, memberId, type ClusterId, type MemberId } from '../shared/ids.js';

export function computeMemberId(peerUrls: readonly string[], token: string, unixSeconds?: number): MemberId {
  const sorted = [...peerUrls].sort();
  const h = createHash('sha1');
  for (const u of sorted) h.update(u, 'utf8');
  h.update(token, 'utf8');
  if (unixSeconds !== undefined) h.update(String(Math.trunc(unixSeconds)), 'utf8');
  return memberId(h.digest().readBigUInt64BE(0));
}

export function computeClusterId(memberIds: readonly MemberId[]): ClusterId {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => buf.writeBigUInt64BE(id, 8 * i));
  return clusterId(createHash('sha1').update(buf).digest().readBigUInt64BE(0));
}

/**
 * etcd's string form of a configured URL (types.URLs.String): scheme "://" host
 * (with port as written). Go's url.Parse keeps the host exactly as given, so we take
 * it from the original text rather than from WHATWG URL, which would drop default
 * ports and lowercase hosts.
 */
export function etcdUrlString(raw: string): string {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)/.exec(raw.trim());
  if (!m) return raw.trim();
  return `${m[1]}://${m[2]}`;
}
