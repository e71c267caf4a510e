// Generates src/generated/pb.ts, the TypeScript shapes of tsetcd's wire messages, from
// the proto/ files by protobufjs reflection (keepCase false, the names grpc's
// proto-loader and protobufjs give decoded objects).
//
// Contract: generatePbTs() is a pure function of proto/ (no clock, no environment), so
// test/proto/types.test.ts can regenerate in memory and demand byte equality with the
// committed file. Output rules:
// - one interface per message, named after the message; nested types are named
//   Parent_Child; a name claimed by two packages must be listed in RENAMES or
//   generation fails (there is no collision today);
// - every field optional (proto3): 64-bit integers are Int64 (number | Long | string),
//   bytes are Uint8Array, enums are numeric unions, repeated fields are arrays and
//   singular message fields are `X | null`; each oneof also gets an optional
//   discriminator property naming the member that is set (protobufjs' virtual oneof
//   getter, proto-loader's `oneofs: true`);
// - each enum is an exported `as const` object of its names plus a type of the same
//   name (the union of its numbers);
// - MessageTypes maps full proto names to interfaces; SERVICES describes every service
//   and method (gRPC path, request/response full names, streaming flags).
import type { Enum, Field, Namespace, ReflectionObject, Root, Service, Type } from 'protobufjs';
import protobuf from 'protobufjs';
import { loadOurProtos, PROTO_FILES } from './protos.js';

/** Packages in output order; any other package in proto/ fails generation. */
const PACKAGES: readonly string[] = ['mvccpb', 'authpb', 'etcdserverpb', 'v3electionpb', 'v3lockpb'];

/** Explicit TS names for types whose default names would collide (full name → TS name). */
const RENAMES: Readonly<Record<string, string>> = {};

const INT64_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const NUMBER_TYPES = new Set(['double', 'float', 'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);

export const REGEN_COMMAND = 'REGEN=1 npx vitest run --config test/vitest.config.ts test/proto/types.test.ts';

interface Named {
  readonly fullName: string; // without the leading dot
  readonly tsName: string;
  readonly obj: Type | Enum;
}

function fullNameOf(obj: ReflectionObject): string {
  return obj.fullName.replace(/^\./, '');
}

function isType(obj: ReflectionObject): obj is Type {
  return obj instanceof protobuf.Type;
}
function isEnum(obj: ReflectionObject): obj is Enum {
  return obj instanceof protobuf.Enum;
}
function isService(obj: ReflectionObject): obj is Service {
  return obj instanceof protobuf.Service;
}

/** Messages and enums of one package in declaration order, nested ones after their parent. */
function collectTypes(ns: Namespace, pkg: string, out: Named[]): void {
  for (const obj of ns.nestedArray) {
    if (!isType(obj) && !isEnum(obj)) continue;
    const fullName = fullNameOf(obj);
    const defaultName = fullName.slice(pkg.length + 1).replace(/\./g, '_');
    out.push({ fullName, tsName: RENAMES[fullName] ?? defaultName, obj });
    if (isType(obj)) collectTypes(obj, pkg, out);
  }
}

function collectServices(ns: Namespace, out: Service[]): void {
  for (const obj of ns.nestedArray) {
    if (isService(obj)) out.push(obj);
    else if (obj instanceof protobuf.Namespace && !isType(obj)) collectServices(obj, out);
  }
}

function packageNamespace(root: Root, pkg: string): Namespace {
  const ns = root.lookup(pkg);
  if (!(ns instanceof protobuf.Namespace)) throw new Error(`package ${pkg} not found in proto/`);
  return ns;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;
function prop(name: string): string {
  return IDENT.test(name) ? name : `'${name}'`;
}

function fieldTsType(field: Field, tsNames: ReadonlyMap<string, string>): string {
  if (field.map) throw new Error(`map field ${field.fullName} is not supported by the generator`);
  let base: string;
  let isMessage = false;
  const resolved = field.resolvedType;
  if (resolved !== null) {
    const name = tsNames.get(fullNameOf(resolved));
    if (name === undefined) throw new Error(`${field.fullName}: type ${resolved.fullName} is outside the generated set`);
    base = name;
    isMessage = isType(resolved);
  } else if (INT64_TYPES.has(field.type)) base = 'Int64';
  else if (NUMBER_TYPES.has(field.type)) base = 'number';
  else if (field.type === 'bool') base = 'boolean';
  else if (field.type === 'string') base = 'string';
  else if (field.type === 'bytes') base = 'Uint8Array';
  else throw new Error(`${field.fullName}: unknown scalar type ${field.type}`);
  if (field.repeated) return `${base}[]`;
  return isMessage ? `${base} | null` : base;
}

function emitEnum(e: Enum, named: Named, lines: string[]): void {
  lines.push(`/** ${named.fullName} */`);
  lines.push(`export const ${named.tsName} = {`);
  for (const [name, value] of Object.entries(e.values)) lines.push(`  ${prop(name)}: ${value},`);
  lines.push('} as const;');
  lines.push(`export type ${named.tsName} = (typeof ${named.tsName})[keyof typeof ${named.tsName}];`);
  lines.push('');
}

function emitMessage(
  t: Type,
  protoSpelling: Type,
  named: Named,
  tsNames: ReadonlyMap<string, string>,
  lines: string[],
): void {
  lines.push(`/** ${named.fullName} */`);
  const fields = t.fieldsArray;
  const oneofs = t.oneofsArray;
  if (fields.length === 0 && oneofs.length === 0) {
    lines.push(`export interface ${named.tsName} {}`);
    lines.push('');
    return;
  }
  lines.push(`export interface ${named.tsName} {`);
  for (const field of fields) {
    const label = field.repeated ? 'repeated ' : '';
    const type = field.resolvedType !== null ? fullNameOf(field.resolvedType) : field.type;
    const protoName = protoSpelling.fieldsById[field.id]?.name;
    if (protoName === undefined) throw new Error(`${field.fullName}: no field ${field.id} in the keepCase root`);
    const oneof = field.partOf !== null ? ` (oneof ${protoSpelling.fieldsById[field.id]?.partOf?.name ?? ''})` : '';
    lines.push(`  /** ${field.id}: ${label}${type} ${protoName}${oneof} */`);
    lines.push(`  ${prop(field.name)}?: ${fieldTsType(field, tsNames)};`);
  }
  for (const oneof of oneofs) {
    const members = oneof.oneof.map((n) => `'${n}'`).join(' | ');
    lines.push(`  /** oneof ${oneof.name}: which member is set (protobufjs virtual oneof; absent on plain inputs) */`);
    lines.push(`  ${prop(oneof.name)}?: ${members};`);
  }
  lines.push('}');
  lines.push('');
}

/** The full text of src/generated/pb.ts for the current proto/ files. */
export function generatePbTs(): string {
  const root = loadOurProtos(false);
  // The same files with the .proto spelling, only to show original field names in comments.
  const keepCaseRoot = loadOurProtos(true);
  for (const obj of root.nestedArray) {
    if (!PACKAGES.includes(obj.name)) throw new Error(`unexpected top-level proto package ${obj.name}`);
  }

  const named: Named[] = [];
  for (const pkg of PACKAGES) collectTypes(packageNamespace(root, pkg), pkg, named);
  const tsNames = new Map<string, string>();
  const owners = new Map<string, string>();
  for (const n of named) {
    const prior = owners.get(n.tsName);
    if (prior !== undefined) {
      throw new Error(`TS name ${n.tsName} is claimed by ${prior} and ${n.fullName}: add one of them to RENAMES`);
    }
    owners.set(n.tsName, n.fullName);
    tsNames.set(n.fullName, n.tsName);
  }

  const lines: string[] = [];
  lines.push('// GENERATED FILE: DO NOT EDIT.');
  lines.push('// TypeScript shapes of the etcd v3 wire messages (proto/, protobufjs names with keepCase false).');
  lines.push('// Types and plain constants only: encoding is done by protobufjs / grpc-js from proto/.');
  lines.push(`// Generated by test/proto/gen-types.ts from ${PROTO_FILES.map((f) => `proto/${f}`).join(', ')}.`);
  lines.push(`// Regenerate after editing proto/: ${REGEN_COMMAND}`);
  lines.push('// test/proto/types.test.ts fails when this file and proto/ disagree.');
  lines.push('');
  lines.push("import type Long from 'long';");
  lines.push('');
  lines.push('/** 64-bit integer field: number when safe, Long from protobufjs, or a decimal string. */');
  lines.push('export type Int64 = number | Long | string;');
  lines.push('');

  let currentPkg = '';
  for (const n of named) {
    const pkg = n.fullName.slice(0, n.fullName.indexOf('.'));
    if (pkg !== currentPkg) {
      lines.push(`// ---- package ${pkg} ----`);
      lines.push('');
      currentPkg = pkg;
    }
    if (isEnum(n.obj)) emitEnum(n.obj, n, lines);
    else emitMessage(n.obj, keepCaseRoot.lookupType(n.fullName), n, tsNames, lines);
  }

  lines.push('// ---- lookup by full proto name ----');
  lines.push('');
  lines.push('/** Full proto message name → its interface. */');
  lines.push('export interface MessageTypes {');
  for (const n of named) if (isType(n.obj)) lines.push(`  '${n.fullName}': ${n.tsName};`);
  lines.push('}');
  lines.push('');

  const services: Service[] = [];
  for (const pkg of PACKAGES) collectServices(packageNamespace(root, pkg), services);
  lines.push('/** Every gRPC service in proto/, by full name, with its methods in declaration order. */');
  lines.push('export const SERVICES = {');
  for (const svc of services) {
    const svcName = fullNameOf(svc);
    lines.push(`  '${svcName}': {`);
    lines.push(`    name: '${svcName}',`);
    lines.push('    methods: {');
    for (const m of svc.methodsArray) {
      m.resolve();
      const req = m.resolvedRequestType;
      const res = m.resolvedResponseType;
      if (req === null || res === null) throw new Error(`${svcName}.${m.name}: unresolved request/response type`);
      lines.push(`      ${prop(m.name)}: {`);
      lines.push(`        name: '${m.name}',`);
      lines.push(`        path: '/${svcName}/${m.name}',`);
      lines.push(`        requestType: '${fullNameOf(req)}',`);
      lines.push(`        responseType: '${fullNameOf(res)}',`);
      lines.push(`        requestStream: ${m.requestStream === true},`);
      lines.push(`        responseStream: ${m.responseStream === true},`);
      lines.push('      },');
    }
    lines.push('    },');
    lines.push('  },');
  }
  lines.push('} as const;');
  lines.push('');
  lines.push('export type ServiceName = keyof typeof SERVICES;');
  lines.push('');
  return lines.join('\n');
}
