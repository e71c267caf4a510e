/**
 * Runtime protobuf codecs for the etcd v3 API, built once from the .proto files in
 * proto/ with protobufjs reflection (which compiles an encoder/decoder per type).
 *
 * Decoded messages carry 64-bit integers as Long (exact for ids above 2^53), bytes as
 * Buffer (Node's protobufjs reader), enums as numbers, and proto3 defaults on the
 * prototype. Encoding accepts plain objects of the same shape (int64 as number, Long
 * or decimal string). The types are the generated ones in ./pb.ts.
 *
 * Only the shell and apply use this module; raft and the other pure cores do not.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import Long from 'long';

// protobufjs finds `long` through util.Long; set it explicitly for ESM loading.
protobuf.util.Long = Long;
protobuf.configure();

export interface MessageCodec<T> {
  decode(bytes: Uint8Array): T;
  encode(message: T): Uint8Array;
  /** The protobufjs type, for tests and descriptor comparisons. */
  readonly type: protobuf.Type;
}

const PROTO_FILES = [
  'etcdserverpb/rpc.proto',
  'mvccpb/kv.proto',
  'authpb/auth.proto',
  'v3electionpb/v3election.proto',
  'v3lockpb/v3lock.proto',
];

/** proto/ sits at the package root; this file runs from src/shared or dist/src/shared. */
export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'etcdserverpb'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('cannot find the proto/ directory next to the tsetcd package');
}

let root: protobuf.Root | undefined;
let originalNamesRoot: protobuf.Root | undefined;

function loadRoot(keepCase: boolean): protobuf.Root {
  const base = protoDir();
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => (target.startsWith(base) ? target : join(base, target));
  r.loadSync(
    PROTO_FILES.map((f) => join(base, f)),
    { keepCase },
  );
  r.resolveAll();
  return r;
}

export function protoRoot(): protobuf.Root {
  root ??= loadRoot(false);
  return root;
}

/**
 * The same protos with the fields' original names (create_revision, not
 * createRevision): the JSON gateway speaks them (grpc-gateway's OrigName).
 */
export function protoRootOriginalNames(): protobuf.Root {
  originalNamesRoot ??= loadRoot(true);
  return originalNamesRoot;
}

const cache = new Map<string, MessageCodec<unknown>>();

/** Codec for a fully qualified message name, e.g. 'etcdserverpb.RangeRequest'. */
export function codec<T>(fullName: string): MessageCodec<T> {
  const hit = cache.get(fullName);
  if (hit !== undefined) return hit as MessageCodec<T>;
  const type = protoRoot().lookupType(fullName);
  const c: MessageCodec<T> = {
    type,
    decode: (bytes) => type.decode(bytes) as unknown as T,
    encode: (message) => type.encode(message as unknown as protobuf.Message).finish(),
  };
  cache.set(fullName, c as MessageCodec<unknown>);
  return c;
}

export type Int64Like = number | Long | string | null | undefined;

/** A decoded int64 as a number; asserts it is exact (revisions, versions, TTLs). */
export function toNumber(v: Int64Like): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  const n = v.toNumber();
  if (!Number.isSafeInteger(n)) throw new RangeError(`64-bit value ${v.toString()} does not fit a number`);
  return n;
}

/** A decoded int64/uint64 as a bigint (ids). */
export function toBigInt(v: Int64Like, unsigned: boolean): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') return BigInt(v);
  if (typeof v === 'string') return BigInt(v);
  const b = v.toBigInt();
  return unsigned ? BigInt.asUintN(64, b) : BigInt.asIntN(64, b);
}

/** A bigint id for encoding (exact above 2^53). */
export function fromBigInt(v: bigint, unsigned: boolean): Long {
  return Long.fromBigInt(v, unsigned);
}
