/**
 * systemd readiness. A unit with `Type=notify` and the default
 * NotifyAccess=main accepts READY=1 only from the main pid: the pid systemd spawned
 * for ExecStart (bin/tsetcd, which execs node, so it is the pid the test spawns).
 * The test plays systemd: it binds a unix datagram socket with SO_PASSCRED (python3),
 * hands its path to member 1 of a new 3-member mTLS cluster in NOTIFY_SOCKET, and
 * reads the kernel's sender credentials of every datagram.
 * - Member 1 alone cannot join (no quorum): nothing arrives while it is alone.
 * - Once member 2 is up, READY=1 arrives, sent with the main pid (SCM_CREDENTIALS).
 * - It is sent once.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestPki } from '../helpers/certs.js';
import { makeTestPki } from '../helpers/certs.js';
import type { Member } from '../helpers/processes.js';
import {
  dumpMemberLogsOnFailure,
  sleep,
  startMember,
  stopAllMembers,
  targetFromEnv,
} from '../helpers/processes.js';
import type { ClusterSpec, MemberPorts } from './cluster/cluster.js';
import {
  initialClusterOf,
  planCluster,
  specFor,
  waitFor,
  waitForLeader,
} from './cluster/cluster.js';
import type { NotifySocket } from './cluster/notify-socket.js';
import { openNotifySocket, startMemberWithEnv } from './cluster/notify-socket.js';

const target = targetFromEnv();
/** How long member 1 stays alone; it must not claim readiness meanwhile. */
const ALONE_MS = 3_000;
let pki: TestPki;
let notify: NotifySocket | undefined;

beforeAll(async () => {
  pki = await makeTestPki();
  notify = await openNotifySocket();
}, 60_000);
afterAll(async () => {
  await stopAllMembers();
  notify?.close();
}, 60_000);
dumpMemberLogsOnFailure();

/** NUL-separated KEY=VALUE pairs of a live process. */
function environmentOf(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = kv.indexOf('=');
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return env;
}

describe(`systemd readiness of ${target} (Type=notify, NotifyAccess=main)`, () => {
  it('READY=1 from the main pid, only after the member joined its cluster', async () => {
    const socket = notify as NotifySocket;
    const spec: ClusterSpec = { target, pki };
    const plan = await planCluster(3, pki);
    const initialCluster = initialClusterOf(plan);
    const specOf = (p: MemberPorts | undefined): ReturnType<typeof specFor> => {
      if (p === undefined) throw new Error('no plan');
      // Up as soon as it runs: readiness is what this test observes.
      return { ...specFor(spec, p, initialCluster), ready: () => Promise.resolve(true) };
    };

    const first = await startMemberWithEnv(specOf(plan[0]), { NOTIFY_SOCKET: socket.path });
    const mainPid = first.pid ?? -1;
    const env = environmentOf(mainPid);
    expect(env.get('NOTIFY_SOCKET'), 'member 1 got NOTIFY_SOCKET').toBe(socket.path);
    if (target === 'tsetcd') {
      // bin/tsetcd execs node: the spawned pid becomes node itself, as systemd's main pid.
      const exe = await waitFor('the launcher to exec node', 10_000, () => {
        const path = readlinkSync(`/proc/${mainPid}/exe`);
        return Promise.resolve(basename(path) === 'node' ? path : undefined);
      });
      expect(basename(exe)).toBe('node');
    }

    await sleep(ALONE_MS);
    expect(first.running, first.stderrTail(20)).toBe(true);
    expect(socket.messages, 'notifications while member 1 is alone').toEqual([]);

    const secondStartedAt = Date.now();
    const second = await startMember(specOf(plan[1]));
    const ready = await socket.waitForMessage('READY=1 from member 1', 30_000, (m) =>
      m.data.split('\n').includes('READY=1'),
    );
    console.log(
      `READY=1 ${Math.round(ready.atMs - secondStartedAt)} ms after member 2 was started: ` +
        JSON.stringify(ready),
    );
    expect(ready.atMs).toBeGreaterThan(secondStartedAt);
    expect(ready.pid, 'SCM_CREDENTIALS pid = the main pid').toBe(mainPid);
    expect(ready.uid).toBe(process.getuid?.());
    expect(second.pid).not.toBe(mainPid);

    // The member really has joined: it knows a leader together with member 2.
    await waitForLeader([first, second], 15_000);

    // The third member joins later; member 1 does not notify again.
    const third: Member = await startMember(specOf(plan[2]));
    await waitForLeader([first, second, third], 15_000);
    await sleep(500);
    const readies = socket.messages.filter((m) => m.data.split('\n').includes('READY=1'));
    expect(readies, JSON.stringify(socket.messages)).toHaveLength(1);
    // Every state message comes from the main pid. systemd-notify (252) follows its
    // message with BARRIER=1 from its own pid unless run with --no-block; systemd drops
    // that one with a journal warning under NotifyAccess=main (reported, tolerated).
    const state = socket.messages.filter((m) => m.data !== 'BARRIER=1');
    expect(state.map((m) => m.pid), JSON.stringify(socket.messages)).toEqual(
      state.map(() => mainPid),
    );
    const barriers = socket.messages.filter((m) => m.data === 'BARRIER=1');
    if (barriers.length > 0) {
      console.warn(`datagrams from pids other than the main pid: ${JSON.stringify(barriers)}`);
    }
  });
});
