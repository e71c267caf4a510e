// /metrics next to the real etcd: one tsetcd member and one etcd 3.4.23 member from
// seed-style mTLS configs with a plain-http listen-metrics-urls, the same writes through
// etcdctl, then both scraped. Every etcd_* and grpc_* family tsetcd exposes must exist
// in etcd's output with the same type (dashboards and alerts keep working), and tsetcd's values
// must describe what happened: a leader, the proposals applied, one WAL fsync per write
// at least, state-db commits, its member id.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { etcdctlFor } from '../helpers/etcdctl.js';
import { freePort } from '../helpers/ports.js';
import {
  dumpMemberLogsOnFailure,
  httpGet,
  startMember,
  stopAllMembers,
  targetFromEnv,
  type Member,
} from '../helpers/processes.js';

const target = targetFromEnv();
let pki: TestPki;
let member: Member;
let oracle: Member;
const metricsPort = new Map<Member, number>();

async function start(t: 'etcd' | 'tsetcd'): Promise<Member> {
  const port = await freePort();
  const m = await startMember({
    target: t,
    pki,
    name: 'kube-etcd-node01',
    extraConfig: { 'listen-metrics-urls': `http://127.0.0.1:${port}` },
  });
  metricsPort.set(m, port);
  return m;
}

beforeAll(async () => {
  pki = await makeTestPki();
  [member, oracle] = await Promise.all([start(target), start('etcd')]);
  for (const m of [member, oracle]) {
    for (let i = 0; i < 5; i++) {
      const r = await etcdctlFor(m, ['put', `metrics-k${i}`, `v${i}`]);
      expect(r.code, r.stderr).toBe(0);
    }
  }
}, 60_000);
afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

interface Scrape {
  /** family name -> TYPE */
  readonly types: Map<string, string>;
  /** sample line "name{labels}" -> value */
  readonly samples: Map<string, number>;
}

function parse(text: string): Scrape {
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t !== null) types.set(t[1] ?? '', t[2] ?? '');
    else if (line !== '' && !line.startsWith('#')) {
      const at = line.lastIndexOf(' ');
      samples.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
  }
  return { types, samples };
}

async function scrape(m: Member, where: 'client' | 'metrics'): Promise<Scrape> {
  const url = where === 'client' ? m.clientUrl : `http://127.0.0.1:${metricsPort.get(m) ?? 0}`;
  const r = await httpGet(m, '/metrics', url);
  expect(r.status).toBe(200);
  return parse(r.body);
}

function value(s: Scrape, name: string): number {
  const v = s.samples.get(name);
  expect(v, `${name} missing`).toBeDefined();
  return v ?? NaN;
}

describe(`/metrics of ${target} next to etcd 3.4.23`, () => {
  it('every etcd_* and grpc_* family is one etcd also exposes, with the same type', async () => {
    const [ours, theirs] = await Promise.all([scrape(member, 'client'), scrape(oracle, 'client')]);
    const families = [...ours.types].filter(([name]) => name.startsWith('etcd_') || name.startsWith('grpc_'));
    expect(families.length).toBeGreaterThanOrEqual(17);
    const mismatches = families.filter(([name, type]) => theirs.types.get(name) !== type);
    expect(mismatches, 'families etcd does not have (or types differ)').toEqual([]);
    // The process metrics Prometheus' node/process dashboards read are there too.
    expect(value(ours, 'process_resident_memory_bytes')).toBeGreaterThan(1e6);
    expect(value(ours, 'process_start_time_seconds')).toBeGreaterThan(1.7e9);
  });

  it('values describe the member: leader, proposals, WAL fsyncs, commits, id', async () => {
    const s = await scrape(member, 'client');
    expect(value(s, 'etcd_server_has_leader')).toBe(1);
    expect(value(s, 'etcd_server_is_leader')).toBe(1);
    expect(value(s, 'etcd_server_is_learner')).toBe(0);
    expect(value(s, 'etcd_server_leader_changes_seen_total')).toBe(1);
    const applied = value(s, 'etcd_server_proposals_applied_total');
    expect(applied).toBeGreaterThanOrEqual(5);
    expect(value(s, 'etcd_server_proposals_committed_total')).toBeGreaterThanOrEqual(applied);
    expect(value(s, 'etcd_server_proposals_pending')).toBe(0);
    expect(value(s, 'etcd_debugging_mvcc_current_revision')).toBe(6);
    expect(value(s, 'etcd_disk_wal_fsync_duration_seconds_count')).toBeGreaterThanOrEqual(5);
    expect(value(s, 'etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"}')).toBe(
      value(s, 'etcd_disk_wal_fsync_duration_seconds_count'),
    );
    expect(value(s, 'etcd_disk_backend_commit_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(value(s, 'etcd_mvcc_db_total_size_in_bytes')).toBeGreaterThan(0);
    // go-grpc-prometheus' counters: the five puts, each OK.
    const put = 'grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Put"';
    expect(value(s, `grpc_server_started_total{${put}}`)).toBeGreaterThanOrEqual(5);
    expect(value(s, `grpc_server_handled_total{${put},grpc_code="OK"}`)).toBeGreaterThanOrEqual(5);
    const status = await etcdctlFor(member, ['endpoint', 'status', '-w', 'json']);
    expect(status.code, status.stderr).toBe(0);
    const id = BigInt(/"member_id":(\d+)/.exec(status.stdout)?.[1] ?? '0').toString(16);
    expect(value(s, `etcd_server_id{server_id="${id}"}`)).toBe(1);
  });

  it('is also served on listen-metrics-urls (plain http), like etcd', async () => {
    const [ours, theirs] = await Promise.all([scrape(member, 'metrics'), scrape(oracle, 'metrics')]);
    expect(value(ours, 'etcd_server_has_leader')).toBe(1);
    expect(value(theirs, 'etcd_server_has_leader')).toBe(1);
  });
});
