/**
 * The real etcdctl against a 3-member cluster: watch (--prefix,
 * --rev, --prev-kv, -w json, interactive -i with progress), lease grant / keep-alive /
 * timetolive --keys / revoke / list, put --lease, lock and elect (etcdctl runs the
 * client/v3/concurrency recipes itself: sort, limit, max_create_revision, watches and
 * keep-alives on the server).
 *
 * The cluster is tsetcd (TSETCD_TARGET=etcd: real etcd), plain http on loopback (mTLS
 * is covered by the KV etcdctl test). Beside it runs an oracle, one real etcd 3.4.23.
 * Every write goes to both in lockstep, so both stores hold the same history and
 * revisions agree; outputs are compared after normalising what legitimately differs:
 * lease ids (random; mapped to L1, L2, ... in order of appearance on each side),
 * cluster/member ids and raft terms in -w json, the remaining TTL (checked against
 * etcd's answer from the same moment), and the order of `lease list` lines and of
 * attached keys (etcd prints both in Go map order). Commands run against all three endpoints, or one
 * given member (watches on each member, followers included).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EtcdctlResult } from '../helpers/etcdctl.js';
import { runEtcdctl } from '../helpers/etcdctl.js';
import type { Member } from '../helpers/processes.js';
import {
  dumpMemberLogsOnFailure,
  sleep,
  startMember,
  stopAllMembers,
  targetFromEnv,
} from '../helpers/processes.js';
import { startCluster } from './cluster/cluster.js';
import { startEtcdctl, stopAllEtcdctl, type EtcdctlProcess } from '../concurrency/etcdctl-proc.js';

const target = targetFromEnv();
let cluster: Member[];
let oracle: Member;

beforeAll(async () => {
  [cluster, oracle] = await Promise.all([
    startCluster({ target, size: 3 }),
    startMember({ target: 'etcd', name: 'oracle' }),
  ]);
}, 90_000);
afterAll(async () => {
  await stopAllEtcdctl();
  await stopAllMembers();
}, 30_000);
dumpMemberLogsOnFailure();

type Side = 'subject' | 'oracle';
const endpointsOf = (side: Side, member?: number): string[] =>
  side === 'oracle'
    ? [oracle.clientUrl]
    : member === undefined
      ? cluster.map((m) => m.clientUrl)
      : [cluster[member]?.clientUrl ?? ''];

/** Lease ids of one side, by order of first appearance. */
const leaseNames: Record<Side, Map<string, string>> = { subject: new Map(), oracle: new Map() };

function leaseName(side: Side, hex: string): string {
  const id = BigInt(`0x${hex}`).toString(16);
  const names = leaseNames[side];
  let n = names.get(id);
  if (n === undefined) {
    n = `L${names.size + 1}`;
    names.set(id, n);
  }
  return n;
}

/** The id etcdctl printed in "lease <id> granted ..." (hex). */
function grantedId(out: string): string {
  const m = /^lease ([0-9a-f]+) granted/.exec(out);
  if (m?.[1] === undefined) throw new Error(`no lease id in ${JSON.stringify(out)}`);
  return m[1];
}

/** Rewrites what may differ between the two sides (see the file comment). */
function normalise(side: Side, text: string, leases: readonly string[] = []): string {
  let t = text;
  for (const hex of leases) {
    const short = BigInt(`0x${hex}`).toString(16);
    const name = leaseName(side, hex);
    t = t.replaceAll(hex.padStart(16, '0'), name).replace(new RegExp(`\\b${short}\\b`, 'g'), name);
  }
  // Any other lease etcdctl prints (e.g. one granted here): named by first appearance.
  t = t.replace(/\blease ([0-9a-f]{16})\b/g, (_m, hex: string) => `lease ${leaseName(side, hex)}`);
  t = t
    .replace(/"(cluster_id|member_id|raft_term)":\d+/g, '"$1":"<$1>"')
    .replace(/remaining\((\d+)s\)/g, 'remaining(<r>)')
    .replace(
      /attached keys\(\[([^\]]*)\]\)/g,
      (_m, keys: string) => `attached keys([${keys.split(' ').sort().join(' ')}])`,
    );
  return t;
}

function describeRun(r: EtcdctlResult): string {
  return `${r.command}\nexit ${String(r.code)}${r.timedOut ? ' (killed at timeout)' : ''}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

function lastErrorLine(r: EtcdctlResult): string {
  const lines = r.stderr.trimEnd().split('\n');
  return lines[lines.length - 1] ?? '';
}

interface Pair {
  readonly s: EtcdctlResult;
  readonly o: EtcdctlResult;
}

/** Runs one etcdctl command on both sides; their normalised answers must be equal. */
async function lockstep(
  args: readonly string[],
  options: { member?: number; timeoutMs?: number; leases?: { s: string[]; o: string[] } } = {},
): Promise<Pair> {
  const run = (side: Side): Promise<EtcdctlResult> =>
    runEtcdctl(args, {
      endpoints: endpointsOf(side, options.member),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
  const [s, o] = await Promise.all([run('subject'), run('oracle')]);
  const view = (side: Side, r: EtcdctlResult, leases: readonly string[]): unknown => ({
    code: r.code,
    stdout: normalise(side, r.stdout, leases),
    error: r.code === 0 || r.code === null ? '' : normalise(side, lastErrorLine(r), leases),
  });
  expect(
    view('subject', s, options.leases?.s ?? []),
    `${target} vs etcd for: etcdctl ${args.join(' ')}\n${describeRun(s)}\n--- etcd:\n${describeRun(o)}`,
  ).toEqual(view('oracle', o, options.leases?.o ?? []));
  return { s, o };
}

async function ok(args: readonly string[]): Promise<Pair> {
  const p = await lockstep(args);
  expect(p.s.code, describeRun(p.s)).toBe(0);
  return p;
}

async function revisionNow(): Promise<number> {
  const { s } = await ok(['get', 'no-such-key', '-w', 'json']);
  return Number(/"revision":(\d+)/.exec(s.stdout)?.[1]);
}

describe(`etcdctl watch / lease / lock / elect against a 3-member ${target} cluster`, () => {
  it('watch --rev replays history with --prefix, --prev-kv and -w json on every member', async () => {
    const start = (await revisionNow()) + 1;
    await ok(['put', 'w/a', '1']);
    await ok(['put', 'w/b', '2']);
    await ok(['put', 'w/a', '3']);
    await ok(['del', 'w/b']);
    await ok(['put', 'w/c', '4']);
    await ok(['del', 'w/', '--prefix']);
    await ok(['put', 'wx', 'outside the prefix']);
    for (const member of [0, 1, 2]) {
      // A watch never ends by itself: it is killed after the replay had time to arrive.
      const replay = await lockstep(['watch', '--prefix', 'w/', `--rev=${start}`, '--prev-kv'], {
        member,
        timeoutMs: 2_000,
      });
      expect(replay.s.stdout.split('\n').filter((l) => l === 'PUT' || l === 'DELETE')).toEqual([
        'PUT',
        'PUT',
        'PUT',
        'DELETE',
        'PUT',
        'DELETE',
        'DELETE',
      ]);
    }
    const json = await lockstep(['watch', 'w/a', `--rev=${start}`, '-w', 'json'], {
      timeoutMs: 2_000,
    });
    expect(json.s.stdout).toContain('"Events"');
  });

  it('watch delivers live events in order on a follower and on the leader', async () => {
    // From the next revision, so a watch registered late (a slow etcdctl start) still
    // sees every write; the writes themselves happen while the watches are open.
    const from = `--rev=${(await revisionNow()) + 1}`;
    const procs: Record<Side, EtcdctlProcess[]> = { subject: [], oracle: [] };
    for (const side of ['subject', 'oracle'] as const) {
      for (const member of side === 'subject' ? [0, 1, 2] : [undefined]) {
        procs[side].push(
          startEtcdctl(
            ['watch', '--prefix', 'live/', '--prev-kv', from],
            endpointsOf(side, member),
          ),
        );
      }
    }
    await sleep(1_000); // most watches are registered by now (etcdctl prints nothing before events)
    await ok(['put', 'live/x', '1']);
    await ok(['put', 'live/x', '2']);
    await ok(['del', 'live/x']);
    const expected = 'PUT\nlive/x\n1\nPUT\nlive/x\n1\nlive/x\n2\nDELETE\nlive/x\n2\nlive/x\n\n';
    for (const p of [...procs.subject, ...procs.oracle]) {
      await p.waitStdout((out) => out.split('\n').filter((l) => l === 'DELETE').length === 1);
      await p.stop();
      expect(p.stdout, `${p.args.join(' ')}`).toBe(expected);
    }
  });

  it('watch -i: interactive watches and progress requests', async () => {
    const start = (await revisionNow()) + 1;
    await ok(['put', 'iw/a', '1']);
    await ok(['put', 'iw/b', '2']);
    const now = await revisionNow();
    const script = async (
      side: Side,
    ): Promise<{ out: string; code: number | null; err: string }> => {
      const p = startEtcdctl(
        ['watch', '-i'],
        endpointsOf(side, side === 'subject' ? 1 : undefined),
      );
      p.writeLine(`watch --prefix iw/ --rev ${start}`);
      await p.waitStdout((out) => out.includes('iw/b'));
      await sleep(300); // the watcher caught up: it is synced
      p.writeLine('progress');
      await p.waitStdout((out) => out.includes('progress notify'));
      p.writeLine('watch iw/zz');
      await sleep(500);
      p.writeLine('progress');
      await p.waitStdout((out) => out.split('progress notify').length === 4);
      p.endStdin();
      const code = await p.exited;
      return { out: p.stdout, code, err: p.stderr.trimEnd().split('\n').pop() ?? '' };
    };
    const [s, o] = await Promise.all([script('subject'), script('oracle')]);
    expect(s).toEqual(o);
    // One progress line per watcher (the client hands watch_id -1 to every watcher).
    expect(s.out.match(/progress notify: (\d+)/g)).toEqual(
      Array(3).fill(`progress notify: ${now}`),
    );
    expect(s.code).toBe(3);
    expect(s.err).toBe('Error: Error reading watch request line: EOF');
  });

  it('lease grant, put --lease, timetolive --keys, keep-alive, list, revoke', async () => {
    const g1 = await ok(['lease', 'grant', '60']);
    const g2 = await ok(['lease', 'grant', '30']);
    const leases = {
      s: [grantedId(g1.s.stdout), grantedId(g2.s.stdout)],
      o: [grantedId(g1.o.stdout), grantedId(g2.o.stdout)],
    };
    const [s1, s2] = leases.s as [string, string];
    const [o1, o2] = leases.o as [string, string];
    // Commands naming a lease carry each side's own id.
    const both = async (
      make: (one: string, two: string) => string[],
      timeoutMs?: number,
    ): Promise<Pair> => {
      const [s, o] = await Promise.all([
        runEtcdctl(make(s1, s2), {
          endpoints: endpointsOf('subject'),
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
        }),
        runEtcdctl(make(o1, o2), {
          endpoints: endpointsOf('oracle'),
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
        }),
      ]);
      const view = (side: Side, r: EtcdctlResult, ls: string[]): unknown => ({
        code: r.code,
        stdout: normalise(side, r.stdout, ls),
        error: r.code === 0 || r.code === null ? '' : normalise(side, lastErrorLine(r), ls),
      });
      expect(
        view('subject', s, leases.s),
        `${describeRun(s)}\n--- etcd:\n${describeRun(o)}`,
      ).toEqual(view('oracle', o, leases.o));
      return { s, o };
    };
    await both((_a, two) => ['put', `--lease=${two}`, 'lk/1', 'v1']);
    await both((_a, two) => ['put', `--lease=${two}`, 'lk/2', 'v2']);
    await both((one) => ['put', `--lease=${one}`, 'lk/3', 'v3']);
    const ttl = await both((_a, two) => ['lease', 'timetolive', two, '--keys']);
    const remaining = Number(/remaining\((\d+)s\)/.exec(ttl.s.stdout)?.[1]);
    const oracleRemaining = Number(/remaining\((\d+)s\)/.exec(ttl.o.stdout)?.[1]);
    // Both sides ran the same commands at the same time; on a loaded machine each
    // etcdctl run can take seconds, so compare with etcd's answer, not a fixed bound.
    expect(remaining).toBeGreaterThanOrEqual(Math.min(28, oracleRemaining - 2));
    expect(remaining).toBeLessThanOrEqual(30);
    expect(ttl.s.stdout).toContain('attached keys([lk/1 lk/2])');
    await both((_a, two) => ['lease', 'timetolive', two]);
    await both((_a, two) => ['lease', 'keep-alive', '--once', two]);
    // The streaming keep-alive, killed after 1.5 s: the first answer comes at once, the
    // next after TTL/3. (The Go client sends again every 500 ms until the first answer
    // arrives, so a slow first answer prints the same line twice: compared as a set.)
    const ka = await Promise.all([
      runEtcdctl(['lease', 'keep-alive', s2], {
        endpoints: endpointsOf('subject'),
        timeoutMs: 1_500,
      }),
      runEtcdctl(['lease', 'keep-alive', o2], {
        endpoints: endpointsOf('oracle'),
        timeoutMs: 1_500,
      }),
    ]);
    const kaLines = (side: Side, r: EtcdctlResult, ls: string[]): string[] => [
      ...new Set(normalise(side, r.stdout, ls).trimEnd().split('\n')),
    ];
    expect(kaLines('subject', ka[0], leases.s), describeRun(ka[0])).toEqual(
      kaLines('oracle', ka[1], leases.o),
    );
    expect(kaLines('subject', ka[0], leases.s)).toEqual(['lease L2 keepalived with TTL(30)']);
    const list = await Promise.all([
      runEtcdctl(['lease', 'list'], { endpoints: endpointsOf('subject') }),
      runEtcdctl(['lease', 'list'], { endpoints: endpointsOf('oracle') }),
    ]);
    const sortedLines = (side: Side, r: EtcdctlResult, ls: string[]): string[] =>
      normalise(side, r.stdout, ls).trimEnd().split('\n').sort();
    expect(sortedLines('subject', list[0], leases.s)).toEqual(
      sortedLines('oracle', list[1], leases.o),
    );
    const watchFrom = (await revisionNow()) + 1;
    await both((_a, two) => ['lease', 'revoke', two]);
    await both((_a, two) => ['lease', 'timetolive', two, '--keys']);
    await ok(['get', 'lk/', '--prefix']);
    // Both keys of the lease go in one revision, in one watch response, as DELETEs.
    const revoked = await lockstep(
      ['watch', '--prefix', 'lk/', `--rev=${watchFrom}`, '-w', 'json'],
      { timeoutMs: 2_000 },
    );
    expect(revoked.s.stdout.match(/"type":1/g)?.length).toBe(2);
    await both((_a, two) => ['lease', 'keep-alive', '--once', two]);
    await both((_a, two) => ['lease', 'revoke', two]);
    await lockstep(['put', '--lease=1234', 'lk/9', 'v']);
    await lockstep(['lease', 'timetolive', '1234']);
    const zero = await ok(['lease', 'grant', '0']);
    expect(zero.s.stdout).toMatch(/granted with TTL\(2s\)/);
    await both((one) => ['lease', 'revoke', one]);
  });

  it('lock: exclusive across members, runs a command with ETCD_LOCK_KEY and ETCD_LOCK_REV', async () => {
    const run = async (side: Side): Promise<string[]> => {
      const log: string[] = [];
      const sub = side === 'subject';
      const holder = startEtcdctl(['lock', `lk-${side}`], endpointsOf(side, sub ? 0 : undefined));
      const key = (await holder.waitStdout((out) => out.includes('\n'))).trim();
      log.push(`holder: ${key}`);
      const waiter = startEtcdctl(
        ['lock', `lk-${side}`, '--', 'sh', '-c', 'echo "got $ETCD_LOCK_KEY at $ETCD_LOCK_REV"'],
        endpointsOf(side, sub ? 2 : undefined),
      );
      await sleep(1_500);
      log.push(`waiter while held: ${JSON.stringify(waiter.stdout)}`);
      log.push(`holder exit: ${String(await holder.stop())}`);
      log.push(`waiter exit: ${String(await waiter.exited)}`);
      log.push(`waiter: ${waiter.stdout.trim()}`);
      return log;
    };
    const [s, o] = await Promise.all([run('subject'), run('oracle')]);
    const shape = (lines: string[], side: Side): string[] =>
      lines.map((l) =>
        l
          .replace(new RegExp(`lk-${side}/[0-9a-f]+`, 'g'), 'lk/<lease>')
          .replace(/ at \d+$/, ' at <rev>'),
      );
    expect(shape(s, 'subject')).toEqual(shape(o, 'oracle'));
    expect(shape(s, 'subject')).toEqual([
      'holder: lk/<lease>',
      'waiter while held: ""',
      'holder exit: 0',
      'waiter exit: 0',
      'waiter: got lk/<lease> at <rev>',
    ]);
  });

  it('elect: a candidate waits, an observer sees each leader, resign hands over', async () => {
    const run = async (side: Side): Promise<string[]> => {
      const sub = side === 'subject';
      const name = `el-${side}`;
      const observer = startEtcdctl(['elect', '-l', name], endpointsOf(side, sub ? 1 : undefined));
      await sleep(500);
      const first = startEtcdctl(['elect', name, 'p1'], endpointsOf(side, sub ? 0 : undefined));
      await first.waitStdout((out) => out.includes('p1'));
      const second = startEtcdctl(['elect', name, 'p2'], endpointsOf(side, sub ? 2 : undefined));
      await observer.waitStdout((out) => out.includes('p1'));
      await sleep(1_000);
      const log = [`second while first leads: ${JSON.stringify(second.stdout)}`];
      log.push(`first exit: ${String(await first.stop())}`);
      await second.waitStdout((out) => out.includes('p2'));
      await observer.waitStdout((out) => out.includes('p2'));
      log.push(`second exit: ${String(await second.stop())}`);
      await observer.stop();
      log.push(
        `first: ${first.stdout}`,
        `second: ${second.stdout}`,
        `observer: ${observer.stdout}`,
      );
      return log.map((l) => l.replace(new RegExp(`${name}/[0-9a-f]+`, 'g'), 'el/<lease>'));
    };
    const [s, o] = await Promise.all([run('subject'), run('oracle')]);
    expect(s).toEqual(o);
    expect(s).toEqual([
      'second while first leads: ""',
      'first exit: 0',
      'second exit: 0',
      'first: el/<lease>\np1\n',
      'second: el/<lease>\np2\n',
      'observer: el/<lease>\np1\nel/<lease>\np2\n',
    ]);
  });
});
