/**
 * A follower's hop to the leader for the lease calls only the leader can answer
 * (LeaseKeepAlive, LeaseTimeToLive: the leader's clock decides TTLs, as etcd's v3rpc/lease.go forwards them).
 * etcd forwards them over the peer port (/leases); tsetcd calls the leader's
 * advertised client URL with the member's client-transport-security certificate,
 * which the seed's certificates allow (one certificate for server and client use).
 * Any failure rejects; the lease service retries until its request timeout.
 *
 * @grpc/grpc-js and its proto loader are imported on the first forward, not at start:
 * they are about a third of a member's module-loading time (~150 ms of ~450 ms), and a
 * leader or a single member never needs them.
 */
import { readFileSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { protoDir } from '../shared/pb-codec.js';
import { TsetcdError } from '../shared/errors.js';
import { GrpcError } from '../grpc/status.js';
import type { StatusCode } from '../shared/grpc-status.js';
import type { LeaseForwardKind, LeaseForwardRequests, LeaseForwardResponses } from '../v3rpc/lease.js';

export interface ClientTlsFiles {
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly trustedCaFile: string | undefined;
}

type LeaseClient = grpc.Client & {
  LeaseTimeToLive(
    req: unknown,
    meta: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res: unknown) => void,
  ): grpc.ClientUnaryCall;
  LeaseKeepAlive(meta: grpc.Metadata, opts: grpc.CallOptions): grpc.ClientDuplexStream<unknown, unknown>;
};

type ClusterClient = grpc.Client & {
  MemberPromote(
    req: unknown,
    meta: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res: unknown) => void,
  ): grpc.ClientUnaryCall;
};

type MaintenanceClient = grpc.Client & {
  HashKV(
    req: unknown,
    meta: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res: unknown) => void,
  ): grpc.ClientUnaryCall;
};

interface GrpcKit {
  readonly grpc: typeof grpc;
  readonly Lease: grpc.ServiceClientConstructor;
  readonly Cluster: grpc.ServiceClientConstructor;
  readonly Maintenance: grpc.ServiceClientConstructor;
}

let kit: Promise<GrpcKit> | undefined;

function loadKit(): Promise<GrpcKit> {
  kit ??= (async () => {
    const [g, protoLoader] = await Promise.all([import('@grpc/grpc-js'), import('@grpc/proto-loader')]);
    const def = protoLoader.loadSync(['etcdserverpb/rpc.proto'], {
      includeDirs: [protoDir()],
      keepCase: false,
      longs: String,
      defaults: false,
    });
    const pkg = g.loadPackageDefinition(def) as unknown as {
      etcdserverpb: {
        Lease: grpc.ServiceClientConstructor;
        Cluster: grpc.ServiceClientConstructor;
        Maintenance: grpc.ServiceClientConstructor;
      };
    };
    const e = pkg.etcdserverpb;
    return { grpc: g, Lease: e.Lease, Cluster: e.Cluster, Maintenance: e.Maintenance };
  })();
  return kit;
}

const FORWARD_TIMEOUT_MS = 3000;

export class LeaderForwarder {
  private readonly clients = new Map<string, LeaseClient>();
  private readonly clusterClients = new Map<string, ClusterClient>();
  private readonly maintenanceClients = new Map<string, MaintenanceClient>();

  constructor(
    private readonly leaderClientUrls: () => readonly string[],
    private readonly tls: ClientTlsFiles,
  ) {}

  async forward<K extends LeaseForwardKind>(
    kind: K,
    req: LeaseForwardRequests[K],
    signal?: AbortSignal,
  ): Promise<LeaseForwardResponses[K]> {
    const url = this.leaderClientUrls()[0];
    if (url === undefined) throw new TsetcdError('no-leader');
    const k = await loadKit();
    const grpc = k.grpc;
    const client = this.client(k, url);
    const deadline = Date.now() + FORWARD_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const fail = (err: unknown): void => reject(err instanceof Error ? err : new TsetcdError('no-leader'));
      if (kind === 'ttl') {
        const call = client.LeaseTimeToLive(req, new grpc.Metadata(), { deadline }, (err, res) =>
          err ? fail(err) : resolve(res as LeaseForwardResponses[K]),
        );
        signal?.addEventListener('abort', () => call.cancel(), { once: true });
        return;
      }
      const stream = client.LeaseKeepAlive(new grpc.Metadata(), { deadline });
      stream.on('data', (res: unknown) => {
        resolve(res as LeaseForwardResponses[K]);
        stream.end();
        stream.cancel();
      });
      stream.on('error', (err: grpc.ServiceError) => {
        if (err.code !== grpc.status.CANCELLED) fail(err);
      });
      signal?.addEventListener('abort', () => stream.cancel(), { once: true });
      stream.write(req);
    });
  }

  /** MemberPromote must run on the leader (only it knows the learner's progress). */
  async promote(id: bigint, signal?: AbortSignal, token?: string): Promise<void> {
    const url = this.leaderClientUrls()[0];
    if (url === undefined) throw new TsetcdError('no-leader');
    const k = await loadKit();
    const grpc = k.grpc;
    let client = this.clusterClients.get(url);
    if (client === undefined) {
      client = new k.Cluster(...this.target(k, url)) as unknown as ClusterClient;
      this.clusterClients.set(url, client);
    }
    const deadline = Date.now() + 2 * FORWARD_TIMEOUT_MS;
    const c = client;
    return new Promise((resolve, reject) => {
      // The leader's answer (including etcd's error code and message) goes back as is.
      // The caller's token goes along: the leader makes the same admin check.
      const md = new grpc.Metadata();
      if (token !== undefined) md.set('token', token);
      const call = c.MemberPromote({ ID: id.toString() }, md, { deadline }, (err) =>
        err ? reject(new GrpcError(err.code as StatusCode, err.details)) : resolve(),
      );
      signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  /**
   * Another member's HashKV at `revision` over its client URL, for the corruption
   * checks (corrupt-check.ts). Rejects with the member's error text.
   */
  async hashKV(url: string, revision: number): Promise<{ hash: number; revision: number; compactRevision: number }> {
    const k = await loadKit();
    let c = this.maintenanceClients.get(url);
    if (c === undefined) {
      c = new k.Maintenance(...this.target(k, url)) as unknown as MaintenanceClient;
      this.maintenanceClients.set(url, c);
    }
    const client = c;
    const deadline = Date.now() + FORWARD_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      client.HashKV({ revision: String(revision) }, new k.grpc.Metadata(), { deadline }, (err, res) => {
        if (err) return reject(new Error(err.details));
        const r = res as { hash?: number; compactRevision?: string; header?: { revision?: string } };
        resolve({ hash: r.hash ?? 0, revision: Number(r.header?.revision ?? 0), compactRevision: Number(r.compactRevision ?? 0) });
      });
    });
  }

  close(): void {
    for (const c of this.maintenanceClients.values()) c.close();
    this.maintenanceClients.clear();
    for (const c of this.clients.values()) c.close();
    for (const c of this.clusterClients.values()) c.close();
    this.clients.clear();
    this.clusterClients.clear();
  }

  private client(k: GrpcKit, url: string): LeaseClient {
    const hit = this.clients.get(url);
    if (hit !== undefined) return hit;
    const client = new k.Lease(...this.target(k, url)) as unknown as LeaseClient;
    this.clients.set(url, client);
    return client;
  }

  private target(k: GrpcKit, url: string): [string, grpc.ChannelCredentials] {
    const grpc = k.grpc;
    const u = new URL(url);
    const target = `${u.hostname}:${u.port}`;
    const secure = u.protocol === 'https:';
    const creds = secure
      ? grpc.credentials.createSsl(
          this.tls.trustedCaFile !== undefined ? readFileSync(this.tls.trustedCaFile) : null,
          this.tls.keyFile !== undefined ? readFileSync(this.tls.keyFile) : null,
          this.tls.certFile !== undefined ? readFileSync(this.tls.certFile) : null,
        )
      : grpc.credentials.createInsecure();
    return [target, creds];
  }
}
