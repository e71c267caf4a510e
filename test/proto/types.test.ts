// Keeps src/generated/pb.ts in step with proto/: regenerates it in memory and demands
// byte equality with the committed file (REGEN=1 rewrites it instead), then checks
// the generated SERVICES against what grpc's proto-loader sees in proto/, since that
// is how the server registers handlers.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import loader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { SERVICES } from '../../src/generated/pb.js';
import { generatePbTs, REGEN_COMMAND } from './gen-types.js';
import { PROTO_DIR, PROTO_FILES } from './protos.js';

const PB_TS = fileURLToPath(new URL('../../src/generated/pb.ts', import.meta.url));

describe('src/generated/pb.ts', () => {
  it('equals the output of test/proto/gen-types.ts for the current proto/', () => {
    const generated = generatePbTs();
    if (process.env['REGEN'] === '1') writeFileSync(PB_TS, generated);
    const committed = readFileSync(PB_TS, 'utf8');
    expect(committed, `pb.ts is stale; run: ${REGEN_COMMAND}`).toBe(generated);
  });

  it('types 64-bit fields as Int64, bytes as Uint8Array and messages as nullable', () => {
    const text = readFileSync(PB_TS, 'utf8');
    expect(text).toContain('export type Int64 = number | Long | string;');
    expect(text).toMatch(/export interface KeyValue \{[^}]*\n {2}createRevision\?: Int64;/);
    expect(text).toMatch(/export interface KeyValue \{[^}]*\n {2}key\?: Uint8Array;/);
    expect(text).toMatch(/export interface RangeResponse \{[^}]*\n {2}header\?: ResponseHeader \| null;/);
    expect(text).toMatch(/export interface RangeResponse \{[^}]*\n {2}kvs\?: KeyValue\[\];/);
    expect(text).toMatch(/export interface LeaseCheckpoint \{[^}]*\n {2}remaining_TTL\?: Int64;/);
    expect(text).toMatch(/export interface WatchCreateRequest \{[^}]*\n {2}filters\?: WatchCreateRequest_FilterType\[\];/);
  });

  it('SERVICES lists exactly the methods grpc proto-loader finds, with the same paths and streaming flags', () => {
    const def = loader.loadSync([...PROTO_FILES], { includeDirs: [PROTO_DIR] });
    const fromLoader: string[] = [];
    for (const [name, entry] of Object.entries(def)) {
      if ('format' in entry) continue; // a message or enum, not a service
      for (const [method, m] of Object.entries(entry)) {
        fromLoader.push(`${name}.${method} ${m.path} ${m.requestStream} ${m.responseStream}`);
      }
    }
    const fromPb: string[] = [];
    for (const svc of Object.values(SERVICES)) {
      for (const m of Object.values(svc.methods)) {
        fromPb.push(`${svc.name}.${m.name} ${m.path} ${m.requestStream} ${m.responseStream}`);
      }
    }
    expect(fromPb.sort()).toEqual(fromLoader.sort());
    expect(Object.keys(SERVICES)).toEqual([
      'etcdserverpb.KV',
      'etcdserverpb.Watch',
      'etcdserverpb.Lease',
      'etcdserverpb.Cluster',
      'etcdserverpb.Maintenance',
      'etcdserverpb.Auth',
      'v3electionpb.Election',
      'v3lockpb.Lock',
    ]);
    expect(SERVICES['etcdserverpb.Watch'].methods.Watch).toMatchObject({ requestStream: true, responseStream: true });
    expect(SERVICES['etcdserverpb.Maintenance'].methods.Snapshot).toMatchObject({ requestStream: false, responseStream: true });
  });
});
