/**
 * The JSON <-> protobuf mapping of etcd's gateway: golang/protobuf's jsonpb as
 * grpc-gateway v1 configures it for etcd 3.4 (runtime.JSONPb{OrigName: true}, the
 * default marshaler of gw.NewServeMux in embed/serve.go; its decoder allows unknown
 * fields). docs/architecture.md §1.
 *
 * Out (`toJson`): fields in declaration order under their original proto names;
 * proto3 defaults omitted (0, "", false, empty repeated, an absent message; a message
 * present but empty is `{}`); 64-bit integers as decimal strings, 32-bit as numbers;
 * bytes as standard base64; enums by name; strings escaped as Go's encoding/json.
 * In (`fromJson`): original or lowerCamel names (the camel one wins when both are
 * present); integers as numbers or quoted; enums by name or number; null means unset;
 * unknown names ignored; the first error in field declaration order (oneof members
 * after the other fields, as jsonpb), with Go's messages.
 *
 * Both sides work on protobuf bytes, so the gateway reaches the very handlers the
 * gRPC server runs (GrpcRouter.invoke) and the mapping cannot change what they see.
 */
import Long from 'long';
import type protobuf from 'protobufjs';
import { protoRootOriginalNames } from '../shared/pb-codec.js';
import { goKind, goQuote, readValue, type JsonValue } from './go-json.js';

/** A request body that jsonpb refuses: the gateway answers 400 InvalidArgument with it. */
export class JsonMappingError extends Error {
  override readonly name = 'JsonMappingError';
}

export function messageType(fullName: string): protobuf.Type {
  return protoRootOriginalNames().lookupType(fullName);
}

// ---------------------------------------------------------------- out: proto -> JSON

const SIXTY_FOUR = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/** Encoded protobuf of `type` as the gateway's JSON text. */
export function toJson(type: protobuf.Type, bytes: Uint8Array): string {
  return messageJson(type, type.decode(bytes) as unknown as Record<string, unknown>);
}

function messageJson(type: protobuf.Type, m: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const f of type.fieldsArray) {
    const v = m[f.name];
    if (v === null || v === undefined) continue;
    if (f.repeated) {
      const arr = v as unknown[];
      if (arr.length === 0) continue;
      parts.push(`${goQuote(f.name)}:[${arr.map((x) => scalarOrMessageJson(f, x)).join(',')}]`);
      continue;
    }
    const inOneof = f.partOf !== null && Object.prototype.hasOwnProperty.call(m, f.name);
    if (!inOneof && f.resolvedType === null && isDefault(f.type, v)) continue;
    if (!inOneof && f.resolvedType !== null && 'values' in f.resolvedType && v === 0) continue;
    parts.push(`${goQuote(f.name)}:${scalarOrMessageJson(f, v)}`);
  }
  return `{${parts.join(',')}}`;
}

function isDefault(type: string, v: unknown): boolean {
  if (typeof v === 'number') return v === 0;
  if (typeof v === 'boolean') return !v;
  if (typeof v === 'string') return v === '';
  if (Long.isLong(v)) return v.isZero();
  // protobufjs's prototype default for bytes is an empty array, not a Buffer.
  if (v instanceof Uint8Array || Array.isArray(v)) return v.length === 0;
  return type === '';
}

function scalarOrMessageJson(f: protobuf.Field, v: unknown): string {
  const rt = f.resolvedType;
  if (rt !== null && 'fieldsArray' in rt) return messageJson(rt, v as Record<string, unknown>);
  if (rt !== null && 'valuesById' in rt) {
    const name = rt.valuesById[v as number];
    return name === undefined ? String(v) : goQuote(name);
  }
  if (SIXTY_FOUR.has(f.type)) return `"${Long.isLong(v) ? v.toString() : String(v)}"`;
  if (f.type === 'bytes') return `"${Buffer.from(v as Uint8Array).toString('base64')}"`;
  if (f.type === 'string') return goQuote(v as string);
  return String(v);
}

// ---------------------------------------------------------------- in: JSON -> proto

/**
 * The body's first JSON value as `type`'s protobuf encoding. `undefined` input (an
 * empty body: Go's io.EOF) is the empty message.
 */
export function fromJson(type: protobuf.Type, value: JsonValue | undefined): Uint8Array {
  if (value === undefined) return type.encode({}).finish();
  const obj = messageFromJson(type, value);
  return type.encode(obj ?? {}).finish();
}

function typeError(v: JsonValue, goType: string): JsonMappingError {
  return new JsonMappingError(`json: cannot unmarshal ${goKind(v)} into Go value of type ${goType}`);
}

function messageFromJson(type: protobuf.Type, v: JsonValue): Record<string, unknown> | undefined {
  if (v.t === 'null') return undefined;
  if (v.t !== 'object') throw typeError(v, 'map[string]json.RawMessage');
  const fields = new Map<string, JsonValue>();
  for (const [k, x] of v.entries) fields.set(k, x);
  const out: Record<string, unknown> = {};
  const take = (f: protobuf.Field): JsonValue | undefined => {
    const camel = f.options?.['json_name'] as string | undefined ?? jsonName(f.name);
    const orig = fields.get(f.name);
    const cam = fields.get(camel);
    return cam ?? orig;
  };
  const plain = type.fieldsArray.filter((f) => f.partOf === null);
  const oneofMembers = type.fieldsArray.filter((f) => f.partOf !== null);
  for (const f of [...plain, ...oneofMembers]) {
    const raw = take(f);
    if (raw === undefined) continue;
    const val = f.repeated ? repeatedFromJson(f, raw) : valueFromJson(f, raw);
    if (val !== undefined) {
      if (f.partOf !== null) for (const other of f.partOf.fieldsArray) delete out[other.name];
      out[f.name] = val;
    }
  }
  return out;
}

/** protoc's json_name: underscores dropped, the next letter upper-cased. */
function jsonName(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()).replace(/_/g, '');
}

function repeatedFromJson(f: protobuf.Field, v: JsonValue): unknown[] | undefined {
  if (v.t === 'null') return undefined;
  if (v.t !== 'array') throw typeError(v, '[]json.RawMessage');
  return v.items.map((item) => valueFromJson(f, item) ?? defaultFor(f));
}

function defaultFor(f: protobuf.Field): unknown {
  const rt = f.resolvedType;
  if (rt !== null && 'fieldsArray' in rt) return {};
  if (f.type === 'bytes') return Buffer.alloc(0);
  if (f.type === 'string') return '';
  if (f.type === 'bool') return false;
  return 0;
}

/** Go's name for an enum type: etcdserverpb.RangeRequest_SortOrder. */
function goEnumName(e: protobuf.Enum): string {
  const parts = e.fullName.replace(/^\./, '').split('.');
  return `${parts[0] ?? ''}.${parts.slice(1).join('_')}`;
}

function valueFromJson(f: protobuf.Field, v: JsonValue): unknown {
  const rt = f.resolvedType;
  if (rt !== null && 'fieldsArray' in rt) return messageFromJson(rt, v);
  if (v.t === 'null') return undefined;
  if (rt !== null && 'valuesById' in rt) {
    if (v.t === 'string') {
      const n = rt.values[v.v];
      if (n === undefined) throw new JsonMappingError(`unknown value ${goStringQuote(v.v)} for enum ${goEnumName(rt)}`);
      return n;
    }
    return integerFromJson(v, 'int32', goEnumName(rt));
  }
  switch (f.type) {
    case 'string':
      if (v.t !== 'string') throw typeError(v, 'string');
      return v.v;
    case 'bool':
      if (v.t !== 'bool') throw typeError(v, 'bool');
      return v.v;
    case 'bytes':
      if (v.t !== 'string') throw typeError(v, '[]uint8');
      return decodeBase64Go(v.v);
    default:
      return integerFromJson(v, f.type, f.type);
  }
}

/** strconv.Quote for the ASCII enum names clients send. */
function goStringQuote(s: string): string {
  return goQuote(s).replace(/\\u003c/g, '<').replace(/\\u003e/g, '>').replace(/\\u0026/g, '&');
}

const RANGES: Record<string, readonly [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

/** jsonpb: a quoted integer loses its quotes, then encoding/json reads the text. */
function integerFromJson(v: JsonValue, protoType: string, goType: string): number | Long {
  let num: JsonValue = v;
  if (v.t === 'string') {
    const r = readValue(v.v, 0, true);
    if (r.kind === 'end' || r.kind === 'incomplete') throw new JsonMappingError('unexpected end of JSON input');
    if (r.kind === 'error') throw new JsonMappingError(r.message === 'unexpected EOF' ? 'unexpected end of JSON input' : r.message);
    const rest = v.v.slice(r.end).trimStart();
    if (rest !== '') throw new JsonMappingError(`invalid character ${quote1(rest)} after top-level value`);
    num = r.value;
  }
  if (num.t === 'null') return 0;
  if (num.t !== 'number') throw typeError(num, goType);
  const range = RANGES[protoType] ?? RANGES['int64'];
  const lo = range?.[0] ?? 0n;
  const hi = range?.[1] ?? 0n;
  if (!/^-?\d+$/.test(num.raw) || BigInt(num.raw) < lo || BigInt(num.raw) > hi) {
    throw new JsonMappingError(`json: cannot unmarshal number ${num.raw} into Go value of type ${goType}`);
  }
  if (SIXTY_FOUR.has(protoType)) return Long.fromString(num.raw, protoType === 'uint64' || protoType === 'fixed64');
  return Number(num.raw);
}

function quote1(rest: string): string {
  const c = rest[0] ?? '';
  return c === "'" ? "'\\''" : `'${c}'`;
}

const B64 = /^[A-Za-z0-9+/]$/;

/**
 * Go's base64.StdEncoding.Decode as encoding/json calls it (encoding/base64
 * decodeQuantum): padding required, \r and \n skipped, "illegal base64 data at
 * input byte N" with N where Go puts it.
 */
export function decodeBase64Go(s: string): Buffer {
  const bad = (n: number): JsonMappingError => new JsonMappingError(`illegal base64 data at input byte ${n}`);
  const skipNl = (i: number): number => {
    while (i < s.length && (s[i] === '\r' || s[i] === '\n')) i++;
    return i;
  };
  const clean: string[] = [];
  let si = 0;
  for (;;) {
    si = skipNl(si);
    if (si >= s.length) break;
    const quantumStart = si;
    let j = 0;
    let done = false;
    for (; j < 4; j++) {
      si = skipNl(si);
      if (si >= s.length) {
        if (j === 0) break;
        throw bad(si - j === quantumStart ? quantumStart : si - j);
      }
      const c = s[si] ?? '';
      si++;
      if (c === '=') {
        if (j < 2) throw bad(si - 1);
        if (j === 2) {
          si = skipNl(si);
          if (si >= s.length) throw bad(s.length);
          if (s[si] !== '=') throw bad(si - 1);
          si++;
        }
        si = skipNl(si);
        if (si < s.length) throw bad(si);
        done = true;
        break;
      }
      if (!B64.test(c)) throw bad(si - 1);
      clean.push(c);
    }
    if (done || si >= s.length) break;
  }
  return Buffer.from(clean.join(''), 'base64');
}
