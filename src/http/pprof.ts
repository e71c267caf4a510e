/**
 * `--enable-pprof`: /debug/pprof/ on the client URLs (etcd pkg/debugutil/pprof.go
 * registers Go's net/http/pprof there), answering in pprof's format so `go tool pprof`
 * opens the files:
 *   /debug/pprof/profile?seconds=N   CPU profile of the next N seconds (default 30)
 *   /debug/pprof/heap                sampled live heap (the sampling runs from start-up)
 *   /debug/pprof/                    an index of the two
 *
 * The V8 profiles come from a Profiler (src/embed/profiler.ts, node:inspector); this
 * file turns them into profile.proto (github.com/google/pprof proto/profile.proto),
 * gzip-compressed as Go serves it. docs/architecture.md §1.
 */
import { gzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import type { HttpRequest, HttpResponse } from './types.js';

/** A V8 call frame (inspector Runtime.CallFrame). */
export interface V8Frame {
  readonly functionName: string;
  readonly url: string;
  /** 0-based. */
  readonly lineNumber: number;
}

/** inspector Profiler.Profile, the parts used. */
export interface V8CpuProfile {
  readonly nodes: ReadonlyArray<{ readonly id: number; readonly callFrame: V8Frame; readonly children?: readonly number[] | undefined }>;
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[] | undefined;
}

/** inspector HeapProfiler.SamplingHeapProfile, the parts used. */
export interface V8HeapProfile {
  readonly head: V8HeapNode;
  /** Absent on old V8s: then each node's selfSize stands for its samples. */
  readonly samples?: ReadonlyArray<{ readonly size: number; readonly nodeId: number }> | undefined;
}
export interface V8HeapNode {
  /** V8 sends it (samples refer to it); @types/node does not declare it. */
  readonly id?: number | undefined;
  readonly callFrame: V8Frame;
  readonly children: readonly V8HeapNode[];
  readonly selfSize: number;
}

export interface Profiler {
  /** CPU samples over `seconds`, every `intervalMicros`. */
  cpu(seconds: number, intervalMicros: number, signal: AbortSignal): Promise<V8CpuProfile>;
  heap(): Promise<V8HeapProfile>;
  readonly heapSamplingBytes: number;
}

const PROFILE_PROTO = `
syntax = "proto3";
package perftools.profiles;
message Profile {
  repeated ValueType sample_type = 1;
  repeated Sample sample = 2;
  repeated Mapping mapping = 3;
  repeated Location location = 4;
  repeated Function function = 5;
  repeated string string_table = 6;
  int64 drop_frames = 7;
  int64 keep_frames = 8;
  int64 time_nanos = 9;
  int64 duration_nanos = 10;
  ValueType period_type = 11;
  int64 period = 12;
  repeated int64 comment = 13;
  int64 default_sample_type = 14;
}
message ValueType { int64 type = 1; int64 unit = 2; }
message Sample { repeated uint64 location_id = 1; repeated int64 value = 2; }
message Mapping { uint64 id = 1; uint64 memory_start = 2; uint64 memory_limit = 3; uint64 file_offset = 4; int64 filename = 5; int64 build_id = 6; bool has_functions = 7; }
message Location { uint64 id = 1; uint64 mapping_id = 2; uint64 address = 3; repeated Line line = 4; }
message Line { uint64 function_id = 1; int64 line = 2; }
message Function { uint64 id = 1; int64 name = 2; int64 system_name = 3; int64 filename = 4; int64 start_line = 5; }
`;

let profileType: protobuf.Type | undefined;
function profileMessage(): protobuf.Type {
  profileType ??= protobuf.parse(PROFILE_PROTO, { keepCase: true }).root.lookupType('perftools.profiles.Profile');
  return profileType;
}

/** Builds one profile.proto message: strings, functions and locations interned. */
class ProfileBuilder {
  private readonly strings = new Map<string, number>([['', 0]]);
  private readonly functions = new Map<string, number>();
  private readonly locations = new Map<string, number>();
  private readonly functionList: object[] = [];
  private readonly locationList: object[] = [];
  readonly samples: Array<{ location_id: number[]; value: number[] }> = [];

  str(s: string): number {
    let id = this.strings.get(s);
    if (id === undefined) {
      id = this.strings.size;
      this.strings.set(s, id);
    }
    return id;
  }

  /** The location of one frame (one line of one function). */
  location(f: V8Frame): number {
    const name = f.functionName === '' ? '(anonymous)' : f.functionName;
    const key = `${name}\u0000${f.url}\u0000${f.lineNumber}`;
    const hit = this.locations.get(key);
    if (hit !== undefined) return hit;
    const fkey = `${name}\u0000${f.url}`;
    let fid = this.functions.get(fkey);
    if (fid === undefined) {
      fid = this.functions.size + 1;
      this.functions.set(fkey, fid);
      this.functionList.push({ id: fid, name: this.str(name), system_name: this.str(name), filename: this.str(f.url), start_line: f.lineNumber + 1 });
    }
    const id = this.locations.size + 1;
    this.locations.set(key, id);
    this.locationList.push({ id, mapping_id: 1, line: [{ function_id: fid, line: f.lineNumber + 1 }] });
    return id;
  }

  encode(fields: {
    sampleTypes: ReadonlyArray<readonly [string, string]>;
    periodType: readonly [string, string];
    period: number;
    timeNanos: number;
    durationNanos: number;
  }): Buffer {
    const sample_type = fields.sampleTypes.map(([t, u]) => ({ type: this.str(t), unit: this.str(u) }));
    const period_type = { type: this.str(fields.periodType[0]), unit: this.str(fields.periodType[1]) };
    const mapping = [{ id: 1, filename: this.str('node'), has_functions: true }];
    const message = {
      sample_type,
      sample: this.samples,
      mapping,
      location: this.locationList,
      function: this.functionList,
      string_table: [...this.strings.keys()],
      time_nanos: fields.timeNanos,
      duration_nanos: fields.durationNanos,
      period_type,
      period: fields.period,
    };
    return gzipSync(profileMessage().encode(message).finish());
  }
}

/** A V8 CPU profile as pprof's samples/count and cpu/nanoseconds. */
export function cpuToPprof(p: V8CpuProfile, intervalMicros: number, wallStartMs: number): Buffer {
  const b = new ProfileBuilder();
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const hits = new Map<number, number>();
  for (const id of p.samples ?? []) hits.set(id, (hits.get(id) ?? 0) + 1);
  const periodNs = intervalMicros * 1000;
  for (const [id, count] of hits) {
    const stack: number[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (node === undefined || node.callFrame.functionName === '(root)') break;
      stack.push(b.location(node.callFrame));
    }
    if (stack.length > 0) b.samples.push({ location_id: stack, value: [count, count * periodNs] });
  }
  return b.encode({
    sampleTypes: [
      ['samples', 'count'],
      ['cpu', 'nanoseconds'],
    ],
    periodType: ['cpu', 'nanoseconds'],
    period: periodNs,
    timeNanos: wallStartMs * 1e6,
    durationNanos: Math.max(0, p.endTime - p.startTime) * 1000,
  });
}

/** A V8 sampling heap profile as pprof's inuse_objects/count and inuse_space/bytes. */
export function heapToPprof(p: V8HeapProfile, samplingBytes: number, nowMs: number): Buffer {
  const b = new ProfileBuilder();
  // Bytes: each node's selfSize (V8 scales the samples up to an estimate of the live
  // heap, as Go scales its samples); objects: the samples taken at that node.
  const counts = new Map<number, number>();
  for (const s of p.samples ?? []) counts.set(s.nodeId, (counts.get(s.nodeId) ?? 0) + 1);
  const walk = (node: V8HeapNode, path: number[]): void => {
    const here = node.callFrame.functionName === '(root)' ? path : [b.location(node.callFrame), ...path];
    if (node.selfSize > 0 && here.length > 0) {
      const n = node.id === undefined ? undefined : counts.get(node.id);
      b.samples.push({ location_id: here, value: [n ?? Math.max(1, Math.round(node.selfSize / samplingBytes)), node.selfSize] });
    }
    for (const c of node.children) walk(c, here);
  };
  walk(p.head, []);
  return b.encode({
    sampleTypes: [
      ['inuse_objects', 'count'],
      ['inuse_space', 'bytes'],
    ],
    periodType: ['space', 'bytes'],
    period: samplingBytes,
    timeNanos: nowMs * 1e6,
    durationNanos: 0,
  });
}

const CPU_INTERVAL_MICROS = 10_000; // Go's CPU profiler samples at 100 Hz
const MAX_SECONDS = 600;

const INDEX = `/debug/pprof/

profile?seconds=N  CPU profile of the next N seconds (default 30), pprof format
heap               sampled live heap, pprof format

go tool pprof -top http://HOST:2379/debug/pprof/heap
`;

function bad(text: string): HttpResponse {
  return { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' }, body: `${text}\n` };
}

function profileResponse(body: Buffer, name: string): HttpResponse {
  return {
    status: 200,
    headers: { 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename="${name}"`, 'x-content-type-options': 'nosniff' },
    body,
  };
}

/** The /debug/pprof/ routes, or undefined for any other path. */
export async function servePprof(req: HttpRequest, profiler: Profiler, nowMs: () => number, signal: AbortSignal): Promise<HttpResponse | undefined> {
  const url = new URL(req.url, 'http://x');
  if (!url.pathname.startsWith('/debug/pprof')) return undefined;
  switch (url.pathname) {
    case '/debug/pprof':
    case '/debug/pprof/':
      return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: INDEX };
    case '/debug/pprof/profile': {
      const text = url.searchParams.get('seconds') ?? '30';
      const seconds = Number(text);
      if (!/^\d+$/.test(text) || seconds <= 0 || seconds > MAX_SECONDS) return bad(`bad seconds: ${text}`);
      const started = nowMs();
      const p = await profiler.cpu(seconds, CPU_INTERVAL_MICROS, signal);
      return profileResponse(cpuToPprof(p, CPU_INTERVAL_MICROS, started), 'profile');
    }
    case '/debug/pprof/heap':
      return profileResponse(heapToPprof(await profiler.heap(), profiler.heapSamplingBytes, nowMs()), 'heap');
    default:
      return { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Unknown profile\n' };
  }
}
