// `--metrics extensive` next to the real etcd: etcd then enables go-grpc-prometheus'
// handling-time histogram (the one the etcd-mixin's slow-gRPC alert reads). Both servers
// start from seed-style mTLS configs with `metrics: extensive`; after one put through
// etcdctl the histogram must have etcd's help text, type and buckets, its series must be
// pre-initialised for methods nobody called (as etcd's), and the put must be counted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { etcdctlFor } from '../helpers/etcdctl.js';
import { dumpMemberLogsOnFailure, httpGet, startMember, stopAllMembers, targetFromEnv, type Member } from '../helpers/processes.js';

const target = targetFromEnv();
const FAMILY = 'grpc_server_handling_seconds';
let pki: TestPki;
let member: Member;
let oracle: Member;

async function start(t: 'etcd' | 'tsetcd'): Promise<Member> {
  return startMember({ target: t, pki, name: 'kube-etcd-node01', extraConfig: { metrics: 'extensive' } });
}

beforeAll(async () => {
  pki = await makeTestPki();
  [member, oracle] = await Promise.all([start(target), start('etcd')]);
  for (const m of [member, oracle]) {
    const r = await etcdctlFor(m, ['put', 'extensive-k', 'v']);
    expect(r.code, `${r.command}: ${r.stderr}`).toBe(0);
  }
}, 90_000);
afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

interface Histogram {
  readonly help: string;
  readonly type: string;
  /** `le` bounds of the KV/Range series, in exposition order. */
  readonly bounds: string[];
  /** _count per grpc_service/grpc_method. */
  readonly counts: Map<string, number>;
}

async function histogramOf(m: Member): Promise<Histogram> {
  const r = await httpGet(m, '/metrics', m.clientUrl);
  expect(r.status).toBe(200);
  const lines = r.body.split('\n');
  const help = lines.find((l) => l.startsWith(`# HELP ${FAMILY} `)) ?? '';
  const type = lines.find((l) => l.startsWith(`# TYPE ${FAMILY} `)) ?? '';
  const bounds: string[] = [];
  const counts = new Map<string, number>();
  for (const line of lines) {
    const labels = (re: RegExp): string => re.exec(line)?.[1] ?? '';
    const method = `${labels(/grpc_service="([^"]+)"/)}/${labels(/grpc_method="([^"]+)"/)}`;
    if (line.startsWith(`${FAMILY}_bucket{`) && method === 'etcdserverpb.KV/Range') bounds.push(labels(/le="([^"]+)"/));
    if (line.startsWith(`${FAMILY}_count{`)) counts.set(method, Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return { help, type, bounds, counts };
}

describe(`--metrics extensive on ${target} next to etcd 3.4.23`, () => {
  it("serves etcd's gRPC handling-time histogram, pre-initialised, counting the calls", async () => {
    const [ours, theirs] = await Promise.all([histogramOf(member), histogramOf(oracle)]);
    expect(theirs.type, 'etcd serves the family with --metrics extensive').toBe(`# TYPE ${FAMILY} histogram`);
    expect(ours.help).toBe(theirs.help);
    expect(ours.type).toBe(theirs.type);
    expect(ours.bounds).toEqual(theirs.bounds);
    expect(ours.bounds.length).toBeGreaterThan(5);
    for (const h of [ours, theirs]) {
      // Pre-initialised: a method nobody called has its series at 0.
      expect(h.counts.get('etcdserverpb.Maintenance/Defragment')).toBe(0);
      expect(h.counts.get('etcdserverpb.KV/Put') ?? 0).toBeGreaterThanOrEqual(1);
    }
  });
});
