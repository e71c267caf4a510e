// Loads tsetcd's own .proto files (proto/) into a protobufjs Root for the proto tests
// and the pb.ts generator. Contract: PROTO_FILES lists every API file, paths relative
// to PROTO_DIR, which is also the include root the files' imports are relative to
// (rpc.proto imports "mvccpb/kv.proto"). The returned Root is fully resolved, so every
// field's resolvedType is set or loading throws.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { Root } from 'protobufjs';

export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

export const PROTO_FILES: readonly string[] = [
  'mvccpb/kv.proto',
  'authpb/auth.proto',
  'etcdserverpb/rpc.proto',
  'v3electionpb/v3election.proto',
  'v3lockpb/v3lock.proto',
];

/**
 * keepCase true keeps the .proto spelling (what the fidelity test compares);
 * false gives protobufjs' camelCase names (what grpc's proto-loader and pb.ts use).
 */
export function loadOurProtos(keepCase: boolean): Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string =>
    path.isAbsolute(target) ? target : path.join(PROTO_DIR, target);
  root.loadSync([...PROTO_FILES], { keepCase });
  root.resolveAll();
  return root;
}
