/**
 * The peer transport: how members carry Raft messages and snapshots to each other
 * over HTTP/2, with peer-transport-security (mTLS), and the small peer HTTP API a
 * starting member asks (GET /members, GET /version).
 *
 * Usage (the server's Ready loop owns the calls):
 *
 *   const t = new PeerTransport({ memberId, clusterId, listenUrls, tls, logger, clock,
 *     scheduler, rng,
 *     onMessage: (m) => node.step(m),
 *     onSnapshot: (m, chunks) => stageSnapshot(m, chunks),   // must read chunks to the end
 *     onUnreachable: (id) => node.reportUnreachable(id),
 *     onSnapshotStatus: (id, ok) => node.reportSnapshot(id, ok),
 *     onRemoved: () => stopBecauseRemoved(),                 // optional: a peer answered 410
 *     members: () => memberListJson(), version: () => versionJson(),
 *     isRemoved: (id) => membership.isRemoved(id) });
 *   await t.start();                          // listens; throws StartRefusal('listen')
 *   t.addPeer(id, peerUrls);                  // for every other member (also before start)
 *   t.send(rd.messages);                      // MsgSnap in here is sent with its inline data
 *   t.sendSnapshot(msgSnap, () => db.snapshotStream());  // large snapshots
 *   t.updatePeer(id, urls); t.removePeer(id); t.activeSince(id); t.metrics();
 *   await t.stop();
 *
 *   // before a transport exists (join as `existing`, "already bootstrapped" check):
 *   const { clusterId, members } = await fetchMembers(peerUrls, tls);
 *
 * Contract and invariants
 * - send() never blocks and never throws for a dead or slow peer: every message is
 *   queued on a bounded queue or dropped and counted; Raft retransmits. A peer is
 *   reported through onUnreachable when a message to it is dropped and when a link
 *   to it fails, so Raft probes it instead of streaming appends into the void.
 * - Two streams per peer on two TCP connections: MsgApp on 'msgapp', everything else
 *   on 'message', so heartbeats and votes never wait behind large appends. Order is
 *   kept within a stream, not across the two (Raft does not need it).
 * - Every request names its sender and cluster (etcd's x-server-from,
 *   x-etcd-cluster-id). A different cluster id is refused with 412 and logged on both
 *   sides as "cluster ID mismatch: local X, remote Y"; a removed member gets 410.
 * - A received snapshot reaches Raft (onMessage) only after onSnapshot resolved having
 *   read every chunk, each chunk and the whole stream CRC-32C checked; otherwise the
 *   sender gets an error status and reports onSnapshotStatus(id, false).
 * - Listeners follow etcd's certificate rule: trusted-ca-file or client-cert-auth means
 *   peers must present a certificate that CA signed (tls.ts), plus allowed-cn /
 *   allowed-hostname and the client-certificate SAN check.
 * - Reconnects back off exponentially with jitter on the injected Scheduler and Rng;
 *   dead links are found by HTTP/2 PINGs. After stop() no callback runs.
 * - The wire is plain HTTP/2 over TCP (or TLS), one connection per stream kind and one
 *   per snapshot, so a byte-forwarding fault proxy can sit on any link.
 */
export { PeerTransport } from './transport.js';
export {
  fetchMembers,
  fetchVersion,
  parseMember,
  type FetchOptions,
  type RemoteMember,
  type RemoteMembers,
} from './peer-client.js';
export type { PeerTlsOptions } from './tls.js';
export { PeerStreamCorruptError } from './frame.js';
export {
  DEFAULT_LIMITS,
  DEFAULT_TIMINGS,
  type MemberJson,
  type PeerCounters,
  type PeerTransportOptions,
  type TransportLimits,
  type TransportMetrics,
  type TransportTimings,
  type VersionJson,
} from './types.js';
