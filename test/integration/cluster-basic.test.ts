/**
 * Three members from seed-style YAML configs with client and peer
 * mTLS (the seed's `client-cert-auth: false` + trusted CA) on 127.0.0.1 ports, driven
 * by Debian's etcdctl with the seed operator's flags: `endpoint health`,
 * `endpoint status -w table` and `member list -w table` over all three endpoints
 * succeed and look like a real etcd cluster's (a 3-member etcd 3.4.23 cluster from the
 * same kind of configs runs beside it as the oracle: same header, row count, column
 * order and every value that does not legitimately differ); a write through one
 * member is read through another, linearizably and serializably.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPki } from '../helpers/certs.js';
import { makeTestPki } from '../helpers/certs.js';
import type { EtcdctlResult } from '../helpers/etcdctl.js';
import type { Member } from '../helpers/processes.js';
import { dumpMemberLogsOnFailure, stopAllMembers, targetFromEnv } from '../helpers/processes.js';
import {
  describeRun,
  etcdctlOn,
  parseEtcdctlJson,
  startCluster,
  statusOf,
  waitFor,
  waitForLeader,
} from './cluster/cluster.js';
import type { Table } from './cluster/tables.js';
import { maskPorts, parseTable } from './cluster/tables.js';

const target = targetFromEnv();
let pki: TestPki;
let members: Member[]; // under test
let oracle: Member[]; // real etcd 3.4.23

beforeAll(async () => {
  pki = await makeTestPki();
  [members, oracle] = await Promise.all([
    startCluster({ target, pki }),
    startCluster({ target: 'etcd', pki }),
  ]);
  await Promise.all([waitForLeader(members, 15_000), waitForLeader(oracle, 15_000)]);
}, 120_000);
afterAll(stopAllMembers, 60_000);
dumpMemberLogsOnFailure();

async function ok(cluster: readonly Member[], args: readonly string[]): Promise<EtcdctlResult> {
  const r = await etcdctlOn(cluster, args);
  expect(r.code, describeRun(r)).toBe(0);
  return r;
}

/** Port -> member index (1-based, "m1".."m3") for masking URLs. */
function portMap(cluster: readonly Member[]): Map<number, string> {
  const map = new Map<number, string>();
  cluster.forEach((m, i) => {
    for (const p of m.clientPorts) map.set(p, `m${i + 1}`);
    map.set(m.peerPort, `m${i + 1}-peer`);
  });
  return map;
}

/** Member id (hex, as etcdctl prints it) -> "m1".."m3", from each member's Status. */
async function idMap(cluster: readonly Member[]): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const [i, m] of cluster.entries()) {
    const st = await statusOf(m, 5_000);
    expect(st, `status of ${m.describe()}`).toBeDefined();
    map.set(BigInt(st?.memberId ?? '0').toString(16), `m${i + 1}`);
  }
  return map;
}

const NUMBER_COLUMNS = new Set(['RAFT TERM', 'RAFT INDEX', 'RAFT APPLIED INDEX']);

/** A table with ids, ports, sizes and raft numbers replaced by what they stand for. */
async function maskedTable(cluster: readonly Member[], text: string): Promise<Table> {
  const table = parseTable(maskPorts(text, portMap(cluster)));
  const ids = await idMap(cluster);
  const rows = table.rows
    .map((row) =>
      row.map((cell, i) => {
        const column = table.header[i] ?? '';
        if (column === 'ID') return ids.get(cell) ?? `unknown id ${cell}`;
        if (column === 'DB SIZE') return /^\d+(\.\d+)? [kMGT]?B$/.test(cell) ? '<size>' : cell;
        if (NUMBER_COLUMNS.has(column)) return /^[1-9]\d*$/.test(cell) ? '<n>' : cell;
        return cell;
      }),
    )
    .sort((a, b) => (a.join('|') < b.join('|') ? -1 : 1));
  return { ...table, rows };
}

describe(`a 3-member ${target} cluster with mTLS, seed-style configs`, () => {
  it('endpoint health over all three endpoints', async () => {
    const r = await ok(members, ['endpoint', 'health']);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n').sort();
    const urls = members.map((m) => m.clientUrl).sort();
    expect(lines).toHaveLength(3);
    lines.forEach((line, i) => {
      expect(line).toMatch(
        new RegExp(
          `^${urls[i] ?? ''} is healthy: ` +
            'successfully committed proposal: took = [0-9.]+(ns|µs|ms|s)$',
        ),
      );
    });
  });

  it('endpoint status -w table looks like etcd 3.4.23 (one leader, same term, no learner)', async () => {
    const args = ['endpoint', 'status', '-w', 'table'];
    const [mine, theirs] = await Promise.all([ok(members, args), ok(oracle, args)]);
    const t = await maskedTable(members, mine.stdout);
    const o = await maskedTable(oracle, theirs.stdout);
    expect(t.header).toEqual([
      'ENDPOINT',
      'ID',
      'VERSION',
      'DB SIZE',
      'IS LEADER',
      'IS LEARNER',
      'RAFT TERM',
      'RAFT INDEX',
      'RAFT APPLIED INDEX',
      'ERRORS',
    ]);
    // VERSION: etcd 3.4.23 vs tsetcd's 3.5.x (docs/architecture.md: semantics follow 3.5).
    const col = (tbl: Table, name: string): string[] =>
      tbl.rows.map((r) => r[tbl.header.indexOf(name)] ?? '');
    for (const v of col(t, 'VERSION')) expect(v).toMatch(target === 'etcd' ? /^3\.4\./ : /^3\.5\./);
    // Which member leads differs per run: the leader column is compared as a multiset.
    const shape = (tbl: Table): unknown => ({
      header: tbl.header,
      borderShape: tbl.borderShape,
      rows: tbl.rows.map((r) =>
        r.filter((_c, i) => !['VERSION', 'IS LEADER'].includes(tbl.header[i] ?? '')),
      ),
      leaders: col(tbl, 'IS LEADER').sort(),
    });
    expect(shape(t), `${mine.stdout}\n--- etcd:\n${theirs.stdout}`).toEqual(shape(o));
    expect(t.rows.map((r) => [r[0], r[1]])).toEqual([
      ['https://127.0.0.1:<m1>', 'm1'],
      ['https://127.0.0.1:<m2>', 'm2'],
      ['https://127.0.0.1:<m3>', 'm3'],
    ]);
    expect(col(t, 'IS LEADER').filter((v) => v === 'true')).toHaveLength(1);
    expect(new Set(col(t, 'IS LEARNER'))).toEqual(new Set(['false']));
    expect(col(t, 'ERRORS')).toEqual(['', '', '']);
    // One term across the members (unmasked), as in a settled etcd cluster.
    const raw = parseTable(mine.stdout);
    expect(new Set(raw.rows.map((r) => r[raw.header.indexOf('RAFT TERM')])).size).toBe(1);
  });

  it('endpoint status -w json agrees with Status on each member', async () => {
    const r = await ok(members, ['endpoint', 'status', '-w', 'json']);
    const parsed = parseEtcdctlJson(r.stdout) as Array<{
      Endpoint: string;
      Status: { header: { member_id: string; cluster_id: string }; leader: string };
    }>;
    expect(parsed.map((p) => p.Endpoint)).toEqual(members.map((m) => m.clientUrl));
    const clusterIds = new Set(parsed.map((p) => String(p.Status.header.cluster_id)));
    expect(clusterIds.size).toBe(1);
    const leaders = new Set(parsed.map((p) => String(p.Status.leader)));
    expect(leaders.size).toBe(1);
    const ids = parsed.map((p) => String(p.Status.header.member_id));
    expect(ids).toContain([...leaders][0]);
    expect(new Set(ids).size).toBe(3);
  });

  it('member list -w table looks like etcd 3.4.23 (names, peer and client URLs, started)', async () => {
    const args = ['member', 'list', '-w', 'table'];
    const [mine, theirs] = await Promise.all([ok(members, args), ok(oracle, args)]);
    const t = await maskedTable(members, mine.stdout);
    const o = await maskedTable(oracle, theirs.stdout);
    expect(t, mine.stdout).toEqual(o);
    expect(t.header).toEqual(['ID', 'STATUS', 'NAME', 'PEER ADDRS', 'CLIENT ADDRS', 'IS LEARNER']);
    const row = (i: number): string[] => [
      `m${i}`,
      'started',
      `kube-etcd-node0${i}`,
      `https://127.0.0.1:<m${i}-peer>`,
      `https://127.0.0.1:<m${i}>`,
      'false',
    ];
    expect(t.rows).toEqual([row(1), row(2), row(3)]);
    // The simple form: "id, started, name, peer, client, false" per member.
    const simple = await ok(members, ['member', 'list']);
    expect(simple.stdout.trimEnd().split('\n')).toHaveLength(3);
    for (const line of simple.stdout.trimEnd().split('\n')) {
      expect(line).toMatch(
        new RegExp(
          '^[0-9a-f]+, started, kube-etcd-node0[123], ' +
            'https://127\\.0\\.0\\.1:\\d+, https://127\\.0\\.0\\.1:\\d+, false$',
        ),
      );
    }
  });

  it('a write through one member is read through another (linearizable and serializable)', async () => {
    for (const [i, writer] of members.entries()) {
      const reader = members[(i + 1) % members.length] as Member;
      const other = members[(i + 2) % members.length] as Member;
      const key = `basic/through-${i}`;
      const value = `v${i}-${Date.now()}`;
      const put = await ok([writer], ['put', key, value]);
      expect(put.stdout).toBe('OK\n');
      // Linearizable (the default): visible at once on any member.
      const lin = await ok([reader], ['get', key]);
      expect(lin.stdout, `read through ${reader.name} after a write through ${writer.name}`).toBe(
        `${key}\n${value}\n`,
      );
      // Serializable: local, so it may lag, but shows nothing but the absent or the written value.
      const seen = await waitFor(`${key} through ${other.name} (serializable)`, 5_000, async () => {
        const s = await ok([other], ['get', key, '--consistency=s']);
        expect(['', `${key}\n${value}\n`]).toContain(s.stdout);
        return s.stdout === '' ? undefined : s.stdout;
      });
      expect(seen).toBe(`${key}\n${value}\n`);
    }
    // Every member reports the same revision for a linearizable read.
    const revs = await Promise.all(
      members.map(async (m) => {
        const r = await ok([m], ['get', 'basic/none', '-w', 'json']);
        return (parseEtcdctlJson(r.stdout) as { header: { revision: number } }).header.revision;
      }),
    );
    expect(new Set(revs).size, JSON.stringify(revs)).toBe(1);
  });
});
