// /metrics next to the real etcd: one tsetcd member and one etcd 3.4.23 member from
// seed-style mTLS configs with a plain-http listen-metrics-urls, the same activity through
// etcdctl (puts, a get, a delete, a txn, a lease granted, kept alive and revoked, a
// compaction, a defrag, a hashkv, a watch), then both scraped. The set of families must
// be etcd's exactly, with etcd's types (Go's go_* aside; Node's runtime metrics are the
// only extra ones), every family etcd 3.4 has must move when the activity happens, and
// tsetcd's values must describe what happened: a leader, the proposals applied, one WAL
// fsync per write at least, state-db commits, its member id.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../helpers/require-tool.js';
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

/** The same activity on either server; every step must succeed. */
async function activity(m: Member): Promise<void> {
  const run = async (args: string[], stdin?: string): Promise<string> => {
    const r = await etcdctlFor(m, args, stdin === undefined ? {} : { stdin });
    expect(r.code, `${r.command}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  for (let i = 0; i < 5; i++) await run(['put', `metrics-k${i}`, `v${i}`]);
  await run(['get', 'metrics-k0']);
  await run(['del', 'metrics-k0']);
  await run(['txn'], 'value("metrics-k1") = "v1"\n\nput metrics-k1 w1\nput metrics-k2 w2\n\n\n');
  const lease = /lease ([0-9a-f]+) granted/.exec(await run(['lease', 'grant', '60']))?.[1] ?? '';
  await run(['lease', 'keep-alive', '--once', lease]);
  await run(['lease', 'revoke', lease]);
  await run(['compact', '3']);
  await run(['defrag']);
  await run(['endpoint', 'hashkv']);
  // A watch that sees one event: etcdctl exits after it (--prefix on a fresh key).
  const watch = etcdctlFor(m, ['watch', 'metrics-w', '--', 'sh', '-c', 'exit 0'], { timeoutMs: 3_000 });
  await new Promise((r) => setTimeout(r, 500));
  await run(['put', 'metrics-w', 'x']);
  await watch;
  const health = await httpGet(m, '/health', m.clientUrl);
  expect(health.status).toBe(200);
}

let before: Scrape;

beforeAll(async () => {
  pki = await makeTestPki();
  [member, oracle] = await Promise.all([start(target), start('etcd')]);
  before = await scrape(member, 'metrics');
  await Promise.all([activity(member), activity(oracle)]);
}, 90_000);
afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

interface Scrape {
  /** family name -> TYPE */
  readonly types: Map<string, string>;
  /** sample line "name{labels}" -> value */
  readonly samples: Map<string, number>;
  readonly text: string;
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
  return { types, samples, text };
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

/** Node's runtime metrics (prom-client), the only families etcd does not have. */
function nodeRuntime(name: string): boolean {
  return (
    name.startsWith('nodejs_') ||
    name === 'process_cpu_user_seconds_total' ||
    name === 'process_cpu_system_seconds_total' ||
    name === 'process_heap_bytes'
  );
}

function familySet(s: Scrape, drop: (name: string) => boolean): string[] {
  return [...s.types].filter(([name]) => !drop(name)).map(([name, type]) => `${name} ${type}`).sort();
}

/** A family's samples summed (every series, every bucket line included). */
function total(s: Scrape, family: string): number {
  let sum = 0;
  for (const [line, v] of s.samples) {
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? '';
    if (name === family || name === `${family}_count` || name === `${family}_sum`) sum += v;
  }
  return sum;
}

describe(`/metrics of ${target} next to etcd 3.4.23`, () => {
  it("the family set is etcd's after the same activity, with the same types (go_* aside)", async () => {
    const [ours, theirs] = await Promise.all([scrape(member, 'client'), scrape(oracle, 'client')]);
    expect(familySet(ours, (n) => nodeRuntime(n))).toEqual(familySet(theirs, (n) => n.startsWith('go_')));
    // The process metrics Prometheus' node/process dashboards read are there too.
    expect(value(ours, 'process_resident_memory_bytes')).toBeGreaterThan(1e6);
    expect(value(ours, 'process_start_time_seconds')).toBeGreaterThan(1.7e9);
  });

  it('every family the activity touches moves, as it does on etcd', async () => {
    const after = await scrape(member, 'metrics');
    // Counted or timed by the activity above, on both servers.
    const moved = [
      'etcd_server_proposals_applied_total',
      'etcd_server_proposals_committed_total',
      'etcd_server_client_requests_total',
      'etcd_server_health_success',
      'etcd_network_client_grpc_received_bytes_total',
      'etcd_network_client_grpc_sent_bytes_total',
      'etcd_mvcc_put_total',
      'etcd_mvcc_range_total',
      'etcd_mvcc_delete_total',
      'etcd_mvcc_txn_total',
      'etcd_debugging_mvcc_put_total',
      'etcd_debugging_mvcc_range_total',
      'etcd_debugging_mvcc_delete_total',
      'etcd_debugging_mvcc_txn_total',
      'etcd_debugging_mvcc_keys_total',
      'etcd_debugging_mvcc_total_put_size_in_bytes',
      'etcd_debugging_mvcc_current_revision',
      'etcd_debugging_mvcc_compact_revision',
      'etcd_debugging_mvcc_events_total',
      'etcd_debugging_mvcc_db_compaction_total_duration_milliseconds',
      'etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds',
      'etcd_mvcc_hash_rev_duration_seconds',
      'etcd_debugging_lease_granted_total',
      'etcd_debugging_lease_renewed_total',
      'etcd_debugging_lease_revoked_total',
      'etcd_debugging_lease_ttl_total',
      'etcd_disk_wal_fsync_duration_seconds',
      'etcd_disk_wal_write_bytes_total',
      'etcd_disk_backend_commit_duration_seconds',
      'etcd_debugging_disk_backend_commit_write_duration_seconds',
      'etcd_disk_backend_defrag_duration_seconds',
      'grpc_server_started_total',
      'grpc_server_handled_total',
      'grpc_server_msg_received_total',
      'grpc_server_msg_sent_total',
      'promhttp_metric_handler_requests_total',
    ];
    const still = moved.filter((f) => !(total(after, f) > total(before, f)));
    expect(still, 'families that did not move').toEqual([]);
  });

  it("grpc_server_handled_total is pre-initialised for every method and code, as etcd's", async () => {
    const [ours, theirs] = await Promise.all([scrape(member, 'client'), scrape(oracle, 'client')]);
    const series = (s: Scrape): Set<string> => {
      const out = new Set<string>();
      for (const line of s.samples.keys()) {
        if (!line.startsWith('grpc_server_handled_total{')) continue;
        const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
        out.add(`${labels['grpc_service']}/${labels['grpc_method']} ${labels['grpc_type']} ${labels['grpc_code']}`);
      }
      return out;
    };
    const mine = series(ours);
    // etcd 3.4's services; tsetcd serves etcd 3.5's API, which adds Auth/AuthStatus and
    // Maintenance/Downgrade (their series are extra, never missing).
    const missing = [...series(theirs)].filter((x) => !mine.has(x));
    expect(missing).toEqual([]);
    expect(mine.size).toBeGreaterThanOrEqual(41 * 17);
  });

  it("promtool check metrics: the exposition parses, and its lint findings are etcd's own", async (ctx) => {
    requireTools(ctx, 'promtool');
    const [ours, theirs] = await Promise.all([scrape(member, 'client'), scrape(oracle, 'client')]);
    const lint = (s: Scrape): string[] => {
      // Exit 3 is "lint problems found" (etcd's own names, e.g. gauges ending in _total);
      // anything else, a parse error above all, fails here.
      const r = spawnSync('promtool', ['check', 'metrics'], { input: s.text, encoding: 'utf8', timeout: 30_000 });
      expect([0, 3]).toContain(r.status);
      return `${r.stdout}${r.stderr}`.split('\n').filter((l) => l !== '' && !l.startsWith('nodejs_')).sort();
    };
    const mine = lint(ours);
    expect(mine.length).toBeGreaterThan(10);
    expect(mine).toEqual(lint(theirs));
  });

  it('values describe the member: leader, proposals, WAL fsyncs, commits, id', async () => {
    const s = await scrape(member, 'client');
    expect(value(s, 'etcd_server_has_leader')).toBe(1);
    expect(value(s, 'etcd_server_is_leader')).toBe(1);
    expect(value(s, 'etcd_server_is_learner')).toBe(0);
    expect(value(s, 'etcd_server_leader_changes_seen_total')).toBe(1);
    const applied = value(s, 'etcd_server_proposals_applied_total');
    expect(applied).toBeGreaterThanOrEqual(11);
    expect(value(s, 'etcd_server_proposals_committed_total')).toBeGreaterThanOrEqual(applied);
    expect(value(s, 'etcd_server_proposals_pending')).toBe(0);
    // 5 puts, a delete, a txn of two puts, a lease revoke (no keys: no revision), a put.
    expect(value(s, 'etcd_debugging_mvcc_current_revision')).toBe(9);
    expect(value(s, 'etcd_disk_wal_fsync_duration_seconds_count')).toBeGreaterThanOrEqual(11);
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
