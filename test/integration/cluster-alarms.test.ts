// Alarms across a 3-member tsetcd cluster (apply/alarms.ts, apply/quota.ts,
// embed/corrupt-check.ts):
// - a small quota-backend-bytes: the NOSPACE alarm raised through one member refuses
//   writes through every member; after delete + compact + defrag of every member and
//   `etcdctl alarm disarm`, writes resume everywhere;
// - corruption: a byte flipped in a value inside one member's state-db table file (LevelDB
//   does not verify block checksums on reads) is found by the leader's periodic HashKV
//   check (experimental-corrupt-check-time), which raises CORRUPT cluster-wide: writes
//   fail with etcd's "corrupt cluster", reads still work; a member started with
//   experimental-initial-corrupt-check refuses to start next to the damaged one.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EtcdGrpcClient } from '../helpers/grpc-client.js';
import { etcdctlFor } from '../helpers/etcdctl.js';
import { dumpMemberLogsOnFailure, httpGet, startMember, stopAllMembers, type Member } from '../helpers/processes.js';
import { initialClusterOf, planCluster, specFor, startCluster, waitFor, waitForLeader } from './cluster/cluster.js';

afterAll(stopAllMembers, 60_000);
dumpMemberLogsOnFailure();

type Said = { ok: true } | { ok: false; error: { codeName: string; details: string } };
const said = (r: Said): string => (r.ok ? 'ok' : `${r.error.codeName} ${r.error.details}`);

async function put(m: Member, key: string, value: Buffer | string): Promise<string> {
  const c = new EtcdGrpcClient(m.clientAddress);
  try {
    return said(await c.put({ key: Buffer.from(key), value: Buffer.from(value) }));
  } finally {
    c.close();
  }
}

/**
 * etcdctl against host:port: etcdctl 3.4's per-endpoint commands (defrag, endpoint
 * status) put an http:// endpoint's scheme into :authority, which Node's HTTP/2 server
 * resets (PROTOCOL_ERROR).
 */
function ctl(m: Member, args: readonly string[]): ReturnType<typeof etcdctlFor> {
  return etcdctlFor(m, args, { endpoints: [m.clientAddress] });
}

async function alarms(m: Member): Promise<string> {
  const r = await ctl(m, ['alarm', 'list']);
  return `${r.code} ${r.stdout.replace(/memberID:[1-9]\d*/g, 'memberID:<id>')}`;
}

const NOSPACE = 'RESOURCE_EXHAUSTED etcdserver: mvcc: database space exceeded';

describe('NOSPACE on a 3-member tsetcd cluster with a 1 MiB quota', () => {
  it('an alarm raised through one member stops writes on all; disarm after compact + defrag resumes them', async () => {
    const members = await startCluster({ target: 'tsetcd', extraConfig: { 'quota-backend-bytes': 1024 * 1024 } });
    await waitForLeader(members, 15_000);
    const [m1, m2, m3] = members as [Member, Member, Member];
    const value = Buffer.alloc(1024, 'q');
    let puts = 0;
    let last = 'ok';
    const c = new EtcdGrpcClient(m1.clientAddress);
    try {
      while (puts < 3000) {
        last = said(await c.put({ key: Buffer.from(`fill/${puts}`), value }));
        if (last !== 'ok') break;
        puts++;
      }
    } finally {
      c.close();
    }
    expect(last).toBe(NOSPACE);
    console.log(`cluster: ${puts} puts of 1 KiB before NOSPACE`);
    // The alarm m1 raised is applied everywhere: the others list it and refuse writes.
    for (const m of [m2, m3]) {
      expect(await alarms(m)).toContain('memberID:<id> alarm:NOSPACE');
      expect(await put(m, 'other', 'v')).toBe(NOSPACE);
    }
    expect((await ctl(m2, ['del', 'fill/', '--prefix'])).code).toBe(0);
    const rev = /"revision":(\d+)/.exec((await ctl(m2, ['get', 'x', '-w', 'json'])).stdout)?.[1];
    expect((await ctl(m3, ['compaction', String(rev), '--physical'])).code).toBe(0);
    for (const m of members) expect((await ctl(m, ['defrag'])).code).toBe(0);
    expect(await put(m2, 'still-refused', 'v')).toBe(NOSPACE);
    const disarmed = await ctl(m3, ['alarm', 'disarm']);
    expect(disarmed.code, disarmed.stderr).toBe(0);
    expect(disarmed.stdout).toMatch(/^(memberID:\d+ alarm:NOSPACE \n)+$/);
    expect(await alarms(m1)).toBe('0 ');
    for (const m of members) expect(await put(m, `after/${m.name}`, 'v')).toBe('ok');
  }, 180_000);
});

/** Flips one 'z' of a stored value in a table file of the member's state db. */
function flipValueByte(m: Member): string {
  const dir = join(m.dataDir, 'member', 'db');
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.ldb'))) {
    const path = join(dir, name);
    const bytes = readFileSync(path);
    const at = bytes.indexOf('zzzzzzzzzzzzzzzz');
    if (at < 0) continue;
    bytes[at + 8] = 'y'.charCodeAt(0);
    writeFileSync(path, bytes);
    return `${name}@${at + 8}`;
  }
  throw new Error(`no table file in ${dir} holds a value to flip`);
}

describe('corruption checks on a 3-member tsetcd cluster', () => {
  it('a flipped byte in one member raises CORRUPT on the next periodic check; the initial check refuses a start', async () => {
    const plan = await planCluster(3, undefined);
    const initial = initialClusterOf(plan);
    const spec = { target: 'tsetcd' as const, extraConfig: { 'experimental-corrupt-check-time': '1s' } };
    // m1 and m2 also check at start; m3 (the one damaged below) does not.
    // Ready once it answers /health, healthy or not: the damaged member's restart may find the
    // CORRUPT alarm already raised (1 s checks), and then /health rightly says so.
    const answersHealth = async (m: Member): Promise<boolean> => {
      const r = await httpGet(m, '/health', m.clientUrl);
      return r.status === 200 || r.body.includes('CORRUPT');
    };
    const members = await Promise.all(
      plan.map((p, i) =>
        startMember({
          ...specFor(spec, p, initial, i < 2 ? { 'experimental-initial-corrupt-check': true } : {}),
          ready: answersHealth,
        }),
      ),
    );
    await waitForLeader(members, 15_000);
    const [m1, , m3] = members as [Member, Member, Member];
    for (let i = 0; i < 50; i++) expect(await put(m1, `c/${i}`, `value-${i}-${'z'.repeat(100)}`)).toBe('ok');
    await waitFor('m3 caught up', 10_000, async () => {
      const r = await ctl(m3, ['get', 'c/49', '--consistency=s', '--print-value-only']);
      return r.stdout.startsWith('value-49-') ? true : undefined;
    });
    // The records reach a table file, then the member stops and a byte changes.
    expect((await ctl(m3, ['defrag'])).code).toBe(0);
    await m3.stop();
    console.log('flipped', flipValueByte(m3));
    await m3.start();
    const listed = await waitFor('the CORRUPT alarm', 20_000, async () => {
      const a = await alarms(m1);
      return a.includes('alarm:CORRUPT') ? a : undefined;
    });
    // Member id 0 (etcd 3.4 does not know which side is damaged), left out as etcd prints it.
    expect(listed).toBe('0 alarm:CORRUPT \n');
    expect(await put(m1, 'after', 'v')).toBe('DATA_LOSS etcdserver: corrupt cluster');
    const get = await ctl(m1, ['get', 'c/1', '--print-value-only']);
    expect(get.stdout).toMatch(/^value-1-/);
    // The initial check of a restarted healthy member finds m3's hash and refuses.
    await m1.stop();
    const refused = await m1.start().then(
      () => 'started',
      (err: unknown) => String(err),
    );
    expect(refused).toContain('found data inconsistency with peers');
  }, 180_000);
});
