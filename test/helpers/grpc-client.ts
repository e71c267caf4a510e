/**
 * A small grpc-js client for black-box tests of the etcd v3 API (KV, Maintenance, and
 * any other unary RPC by name), over plain h2c or TLS with a client certificate.
 *
 * Decoding choices (@grpc/proto-loader over tsetcd's proto/, which is wire-identical
 * to etcd's), picked so that two servers' answers compare with toEqual:
 * - keepCase: false: camelCase field names, the same as src/shared/pb.ts, whose types
 *   this module uses for requests and (loosely) for responses;
 * - longs: String: every int64/uint64 arrives as a decimal string (ids stay exact);
 * - enums: Number; bytes: Buffer; defaults: true (absent proto3 scalars appear with
 *   their zero value, absent messages as null, so "not sent" and "sent as zero"
 *   compare equal, as they are on the wire); oneofs: true (ResponseOp.response names
 *   the member that is set).
 *
 * Requests go on the wire the way Go clients (etcdctl, client/v3, kube-apiserver)
 * send them: empty bytes fields are left out. protobufjs would encode an empty Buffer
 * as a present, zero-length field, and etcd does not treat that like an absent one: on
 * its read path (Range, read-only Txn; served without a raft round trip, so the
 * request is not re-marshalled) a present empty range_end means "from key" (the same
 * as "\0"), while writes, re-marshalled into the raft log, lose it and act on a
 * single key. unary(..., { rawEmptyBytes: true }) sends requests exactly as given.
 *
 * Contract: every call resolves, never rejects: { ok: true, value } with the decoded
 * response as a plain object, or { ok: false, error: { code, codeName, details } }
 * with the gRPC status. Each call has a deadline (default 10 s).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as pb from '../../src/generated/pb.js';
import type { TestPki } from './certs.js';
import type { Member } from './processes.js';
import { REPO_ROOT } from './processes.js';

export const PROTO_ROOT = join(REPO_ROOT, 'proto');
const PROTO_FILES = ['etcdserverpb/rpc.proto', 'mvccpb/kv.proto', 'authpb/auth.proto'];
const DEFAULT_DEADLINE_MS = 10_000;

export type EtcdService = 'KV' | 'Watch' | 'Lease' | 'Cluster' | 'Maintenance' | 'Auth';

export interface GrpcError {
  readonly code: number;
  /** grpc.status name, e.g. 'INVALID_ARGUMENT'. */
  readonly codeName: string;
  readonly details: string;
}

export type Reply<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: GrpcError };

export interface ClientTls {
  readonly caCert: string;
  /** Omit cert and key for a client that presents no certificate. */
  readonly cert?: string;
  readonly key?: string;
}

export interface ConnectOptions {
  readonly tls?: ClientTls;
  readonly channelOptions?: grpc.ChannelOptions;
  readonly deadlineMs?: number;
}

let packageDefinition: protoLoader.PackageDefinition | undefined;

export function etcdPackageDefinition(): protoLoader.PackageDefinition {
  packageDefinition ??= protoLoader.loadSync(PROTO_FILES, {
    includeDirs: [PROTO_ROOT],
    keepCase: false,
    longs: String,
    enums: Number,
    defaults: true,
    arrays: true,
    oneofs: true,
  });
  return packageDefinition;
}

export function methodDefinition(
  service: EtcdService,
  method: string,
): grpc.MethodDefinition<object, unknown> {
  const svc = etcdPackageDefinition()[`etcdserverpb.${service}`];
  if (svc === undefined || 'format' in svc) throw new Error(`no service etcdserverpb.${service}`);
  const def = (svc as protoLoader.ServiceDefinition)[method];
  if (def === undefined) throw new Error(`no method etcdserverpb.${service}/${method}`);
  return def as grpc.MethodDefinition<object, unknown>;
}

const STATUS_NAMES = new Map<number, string>(
  Object.entries(grpc.status)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([name, code]) => [code, name]),
);

export function statusName(code: number): string {
  return STATUS_NAMES.get(code) ?? `CODE_${code}`;
}

export function toGrpcError(err: unknown): GrpcError {
  const e = err as Partial<grpc.ServiceError>;
  const code = typeof e.code === 'number' ? e.code : grpc.status.UNKNOWN;
  return {
    code,
    codeName: statusName(code),
    details: typeof e.details === 'string' ? e.details : String(err),
  };
}

/** Channel credentials: plain h2c without `tls`, else TLS with the client certificate if given. */
export function channelCredentials(tls: ClientTls | undefined): grpc.ChannelCredentials {
  return tls === undefined
    ? grpc.credentials.createInsecure()
    : grpc.credentials.createSsl(
        readFileSync(tls.caCert),
        tls.key === undefined ? null : readFileSync(tls.key),
        tls.cert === undefined ? null : readFileSync(tls.cert),
      );
}

export class EtcdGrpcClient {
  readonly client: grpc.Client;
  private readonly deadlineMs: number;

  constructor(
    readonly address: string,
    options: ConnectOptions = {},
  ) {
    this.client = new grpc.Client(address, channelCredentials(options.tls), options.channelOptions ?? {});
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  }

  /** Any unary RPC of the etcd API by service and method name ('KV', 'Range'). */
  unary<Res = unknown>(
    service: EtcdService,
    method: string,
    request: object,
    options: { deadlineMs?: number; rawEmptyBytes?: boolean; metadata?: Readonly<Record<string, string>> } = {},
  ): Promise<Reply<Res>> {
    const def = methodDefinition(service, method);
    const deadlineMs = options.deadlineMs ?? this.deadlineMs;
    const wire = options.rawEmptyBytes === true ? request : withoutEmptyBytes(request);
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(options.metadata ?? {})) md.set(k, v);
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        wire,
        md,
        { deadline: Date.now() + deadlineMs },
        (err, value) => {
          if (err !== null && err !== undefined) resolve({ ok: false, error: toGrpcError(err) });
          else resolve({ ok: true, value: value as Res });
        },
      );
    });
  }

  range(req: pb.RangeRequest): Promise<Reply<pb.RangeResponse>> {
    return this.unary('KV', 'Range', req);
  }
  put(req: pb.PutRequest): Promise<Reply<pb.PutResponse>> {
    return this.unary('KV', 'Put', req);
  }
  deleteRange(req: pb.DeleteRangeRequest): Promise<Reply<pb.DeleteRangeResponse>> {
    return this.unary('KV', 'DeleteRange', req);
  }
  txn(req: pb.TxnRequest): Promise<Reply<pb.TxnResponse>> {
    return this.unary('KV', 'Txn', req);
  }
  compact(req: pb.CompactionRequest): Promise<Reply<pb.CompactionResponse>> {
    return this.unary('KV', 'Compact', req);
  }
  hashKV(req: pb.HashKVRequest): Promise<Reply<pb.HashKVResponse>> {
    return this.unary('Maintenance', 'HashKV', req);
  }
  hash(): Promise<Reply<pb.HashResponse>> {
    return this.unary('Maintenance', 'Hash', {});
  }
  status(): Promise<Reply<pb.StatusResponse>> {
    return this.unary('Maintenance', 'Status', {});
  }

  close(): void {
    this.client.close();
  }
}

/** A copy of a request without empty bytes fields (at any depth), as Go would send it. */
export function withoutEmptyBytes<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => withoutEmptyBytes(v)) as T;
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v instanceof Uint8Array && v.length === 0) continue;
    out[k] = withoutEmptyBytes(v);
  }
  return out as T;
}

export function seedGrpcTls(pki: TestPki): ClientTls {
  return { caCert: pki.caCert, cert: pki.cert, key: pki.key };
}

/** A client for a member's first client URL, with the seed's client cert under TLS. */
export function connectMember(
  member: Member,
  options: Omit<ConnectOptions, 'tls'> = {},
): EtcdGrpcClient {
  const pki = member.spec.pki;
  return new EtcdGrpcClient(
    member.clientAddress,
    pki === undefined ? options : { ...options, tls: seedGrpcTls(pki) },
  );
}

/** Readiness probe for startMember: a linearizable Range of key "health" answers. */
export async function grpcRangeReady(member: Member): Promise<boolean> {
  const client = connectMember(member, { deadlineMs: 2_000 });
  try {
    const reply = await client.range({ key: Buffer.from('health') });
    return reply.ok;
  } finally {
    client.close();
  }
}

/** Unwraps a reply the test expects to succeed, with the status in the message if not. */
export function expectOk<T>(reply: Reply<T>, what = 'call'): T {
  if (!reply.ok)
    throw new Error(
      `${what} failed: ${reply.error.codeName} ${JSON.stringify(reply.error.details)}`,
    );
  return reply.value;
}
