/**
 * The etcd v3 calls the bench makes, over one GrpcConn. Encoding and decoding use the
 * protobufjs codecs built from proto/ (src/shared/pb-codec), so the bench speaks the
 * exact wire contract both servers implement. Nothing here retries or hides an error:
 * every failure reaches the workload, which counts it by gRPC code and message.
 */
import { codec, toNumber } from '../src/shared/pb-codec.js';
import type {
  AuthenticateRequest,
  AuthenticateResponse,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  StatusRequest,
  StatusResponse,
  TxnRequest,
  TxnResponse,
  WatchRequest,
  WatchResponse,
} from '../src/generated/pb.js';
import type { BidiStream, GrpcConn } from './grpc-h2.js';

export const pb = {
  rangeReq: codec<RangeRequest>('etcdserverpb.RangeRequest'),
  rangeResp: codec<RangeResponse>('etcdserverpb.RangeResponse'),
  putReq: codec<PutRequest>('etcdserverpb.PutRequest'),
  putResp: codec<PutResponse>('etcdserverpb.PutResponse'),
  txnReq: codec<TxnRequest>('etcdserverpb.TxnRequest'),
  txnResp: codec<TxnResponse>('etcdserverpb.TxnResponse'),
  leaseGrantReq: codec<LeaseGrantRequest>('etcdserverpb.LeaseGrantRequest'),
  leaseGrantResp: codec<LeaseGrantResponse>('etcdserverpb.LeaseGrantResponse'),
  keepAliveReq: codec<LeaseKeepAliveRequest>('etcdserverpb.LeaseKeepAliveRequest'),
  keepAliveResp: codec<LeaseKeepAliveResponse>('etcdserverpb.LeaseKeepAliveResponse'),
  watchReq: codec<WatchRequest>('etcdserverpb.WatchRequest'),
  watchResp: codec<WatchResponse>('etcdserverpb.WatchResponse'),
  statusReq: codec<StatusRequest>('etcdserverpb.StatusRequest'),
  statusResp: codec<StatusResponse>('etcdserverpb.StatusResponse'),
  authenticateReq: codec<AuthenticateRequest>('etcdserverpb.AuthenticateRequest'),
  authenticateResp: codec<AuthenticateResponse>('etcdserverpb.AuthenticateResponse'),
};

const PATH = {
  range: '/etcdserverpb.KV/Range',
  put: '/etcdserverpb.KV/Put',
  txn: '/etcdserverpb.KV/Txn',
  leaseGrant: '/etcdserverpb.Lease/LeaseGrant',
  leaseKeepAlive: '/etcdserverpb.Lease/LeaseKeepAlive',
  watch: '/etcdserverpb.Watch/Watch',
  status: '/etcdserverpb.Maintenance/Status',
  authenticate: '/etcdserverpb.Auth/Authenticate',
} as const;

export class EtcdClient {
  constructor(readonly conn: GrpcConn) {}

  async put(req: PutRequest): Promise<PutResponse> {
    return pb.putResp.decode(await this.conn.unary(PATH.put, pb.putReq.encode(req)));
  }

  async range(req: RangeRequest): Promise<RangeResponse> {
    return pb.rangeResp.decode(await this.conn.unary(PATH.range, pb.rangeReq.encode(req)));
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    return pb.txnResp.decode(await this.conn.unary(PATH.txn, pb.txnReq.encode(req)));
  }

  async leaseGrant(ttlSec: number): Promise<LeaseGrantResponse> {
    return pb.leaseGrantResp.decode(await this.conn.unary(PATH.leaseGrant, pb.leaseGrantReq.encode({ TTL: ttlSec })));
  }

  /** Logs in; returns the token. */
  async authenticate(name: string, password: string): Promise<string> {
    const resp = pb.authenticateResp.decode(await this.conn.unary(PATH.authenticate, pb.authenticateReq.encode({ name, password })));
    return resp.token ?? '';
  }

  /** Any unary call by path, with the request and response message names (set-up calls). */
  async call(path: string, reqType: string, req: object): Promise<void> {
    await this.conn.unary(path, codec<object>(reqType).encode(req));
  }

  async status(): Promise<StatusResponse> {
    return pb.statusResp.decode(await this.conn.unary(PATH.status, pb.statusReq.encode({})));
  }

  watchStream(onResponse: (resp: WatchResponse) => void, onClose: (code: number, message: string) => void): WatchStream {
    const stream = this.conn.openStream(PATH.watch, (m) => onResponse(pb.watchResp.decode(m)), onClose);
    return new WatchStream(stream);
  }

  keepAliveStream(
    onResponse: (resp: LeaseKeepAliveResponse) => void,
    onClose: (code: number, message: string) => void,
  ): BidiStream {
    return this.conn.openStream(PATH.leaseKeepAlive, (m) => onResponse(pb.keepAliveResp.decode(m)), onClose);
  }
}

export class WatchStream {
  constructor(readonly raw: BidiStream) {}

  send(req: WatchRequest): void {
    this.raw.send(pb.watchReq.encode(req));
  }
}

/** Header revision of a response, as a number (revisions stay far below 2^53). */
export function headerRevision(resp: { header?: { revision?: unknown } | null }): number {
  const rev = resp.header?.revision;
  return toNumber(rev as Parameters<typeof toNumber>[0]);
}

export { toNumber };
