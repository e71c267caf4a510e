/**
 * Multi-member clusters for the black-box cluster tests (test/integration/cluster-*),
 * built on test/helpers/processes.ts: every member is a real process (tsetcd, or the
 * real etcd with TSETCD_TARGET=etcd or target 'etcd') started from a seed-style YAML
 * config on 127.0.0.1 ports, with client and peer mTLS when a PKI is given.
 *
 * Contract:
 * - startCluster() picks the ports of all members first, writes the same
 *   initial-cluster into every config (names kube-etcd-node01..), starts the members
 *   together (a member of a new cluster serves /health only once a quorum is up) and
 *   resolves when every one answers /health with 200.
 * - statusOf() is one Maintenance/Status call through a fresh client (a restarted
 *   member is reached at once, never behind grpc-js's reconnect backoff); it resolves
 *   undefined when the member does not answer within the deadline.
 * - waitFor() polls a condition until it holds or the bound passes (then it throws
 *   with the caller's description and the last observation): every wait is bounded.
 * - Ids stay exact: uint64 values are bigint or decimal strings, never JS numbers;
 *   parseEtcdctlJson() quotes long integers before JSON.parse for that reason.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { TestPki } from '../../helpers/certs.js';
import type { EtcdctlOptions, EtcdctlResult } from '../../helpers/etcdctl.js';
import { runEtcdctl, seedClientTls } from '../../helpers/etcdctl.js';
import { connectMember } from '../../helpers/grpc-client.js';
import { freePort } from '../../helpers/ports.js';
import type { Member, MemberSpec, Target } from '../../helpers/processes.js';
import { sleep, startMember } from '../../helpers/processes.js';

export const MEMBER_NAMES = ['kube-etcd-node01', 'kube-etcd-node02', 'kube-etcd-node03'];

export interface ClusterSpec {
  readonly target: Target;
  readonly pki?: TestPki;
  /** Member count (default 3). */
  readonly size?: number;
  /** YAML keys for every member (e.g. 'snapshot-count': 20). */
  readonly extraConfig?: Readonly<Record<string, unknown>>;
  /** Extra environment for every member process (e.g. TSETCD_TEST_SLOW_FSYNC). */
  readonly env?: Readonly<Record<string, string>>;
  readonly readyTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
}

export interface MemberPorts {
  readonly name: string;
  readonly clientPorts: readonly number[];
  readonly peerPort: number;
  readonly peerUrl: string;
}

/** Ports and peer URLs for `size` members (the seed has two client listeners with TLS). */
export async function planCluster(
  size: number,
  pki: TestPki | undefined,
  firstIndex = 0,
): Promise<MemberPorts[]> {
  const scheme = pki === undefined ? 'http' : 'https';
  const listeners = pki === undefined ? 1 : 2;
  const plan: MemberPorts[] = [];
  for (let i = 0; i < size; i++) {
    const clientPorts: number[] = [];
    for (let l = 0; l < listeners; l++) clientPorts.push(await freePort());
    const peerPort = await freePort();
    plan.push({
      name: memberName(firstIndex + i),
      clientPorts,
      peerPort,
      peerUrl: `${scheme}://127.0.0.1:${peerPort}`,
    });
  }
  return plan;
}

export function memberName(index: number): string {
  return MEMBER_NAMES[index] ?? `kube-etcd-node${String(index + 1).padStart(2, '0')}`;
}

export function initialClusterOf(plan: readonly MemberPorts[]): string {
  return plan.map((p) => `${p.name}=${p.peerUrl}`).join(',');
}

/** The MemberSpec of one planned member (callers may start it themselves, later). */
export function specFor(
  spec: ClusterSpec,
  member: MemberPorts,
  initialCluster: string,
  extra: Readonly<Record<string, unknown>> = {},
): MemberSpec {
  return {
    target: spec.target,
    ...(spec.pki === undefined ? {} : { pki: spec.pki }),
    name: member.name,
    clientPorts: member.clientPorts,
    peerPort: member.peerPort,
    initialCluster,
    extraConfig: { ...spec.extraConfig, ...extra },
    ...(spec.env === undefined ? {} : { env: spec.env }),
    readyTimeoutMs: spec.readyTimeoutMs ?? 60_000,
    ...(spec.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: spec.stopTimeoutMs }),
  };
}

/** Starts `size` members of a new cluster together; resolves when all serve /health. */
export async function startCluster(spec: ClusterSpec): Promise<Member[]> {
  const plan = await planCluster(spec.size ?? 3, spec.pki);
  const initialCluster = initialClusterOf(plan);
  const started = await Promise.allSettled(
    plan.map((p) => startMember(specFor(spec, p, initialCluster))),
  );
  const members: Member[] = [];
  const failures: string[] = [];
  for (const r of started) {
    if (r.status === 'fulfilled') members.push(r.value);
    else failures.push(String(r.reason));
  }
  if (failures.length > 0) {
    await Promise.all(members.map((m) => m.dispose()));
    throw new Error(`cluster did not start:\n${failures.join('\n')}`);
  }
  return members;
}

export interface MemberStatus {
  readonly memberId: string;
  readonly clusterId: string;
  readonly leader: string;
  readonly raftTerm: number;
  readonly raftIndex: number;
  readonly raftAppliedIndex: number;
  readonly isLearner: boolean;
  readonly revision: number;
}

interface RawStatus {
  header?: { memberId?: string; clusterId?: string; revision?: string } | null;
  leader?: string;
  raftTerm?: string;
  raftIndex?: string;
  raftAppliedIndex?: string;
  isLearner?: boolean;
}

/** Maintenance/Status of one member through a fresh client; undefined if it does not answer. */
export async function statusOf(
  member: Member,
  deadlineMs = 1_000,
): Promise<MemberStatus | undefined> {
  if (!member.running) return undefined;
  const client = connectMember(member, { deadlineMs });
  try {
    const reply = await client.unary<RawStatus>('Maintenance', 'Status', {});
    if (!reply.ok) return undefined;
    const v = reply.value;
    return {
      memberId: v.header?.memberId ?? '0',
      clusterId: v.header?.clusterId ?? '0',
      leader: v.leader ?? '0',
      raftTerm: Number(v.raftTerm ?? 0),
      raftIndex: Number(v.raftIndex ?? 0),
      raftAppliedIndex: Number(v.raftAppliedIndex ?? 0),
      isLearner: v.isLearner === true,
      revision: Number(v.header?.revision ?? 0),
    };
  } finally {
    client.close();
  }
}

/** Polls `probe` until it returns a value other than undefined, at most timeoutMs. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = 'never probed';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
      last = 'undefined';
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`,
      );
    }
    await sleep(intervalMs);
  }
}

export interface LeaderView {
  readonly leader: Member;
  readonly leaderId: string;
  readonly term: number;
  /** Statuses of the members that answered. */
  readonly statuses: ReadonlyMap<Member, MemberStatus>;
}

/**
 * One look at the cluster: the leader, if every answering member among `members`
 * names the same non-zero leader and that leader is one of them.
 */
export async function leaderNow(members: readonly Member[]): Promise<LeaderView | undefined> {
  const statuses = new Map<Member, MemberStatus>();
  const answers = await Promise.all(members.map((m) => statusOf(m, 700)));
  members.forEach((m, i) => {
    const s = answers[i];
    if (s !== undefined) statuses.set(m, s);
  });
  if (statuses.size === 0) return undefined;
  const leaders = new Set([...statuses.values()].map((s) => s.leader));
  if (leaders.size !== 1) return undefined;
  const [leaderId] = [...leaders];
  if (leaderId === undefined || leaderId === '0') return undefined;
  const leader = [...statuses.entries()].find(([, s]) => s.memberId === leaderId)?.[0];
  if (leader === undefined) return undefined;
  const term = statuses.get(leader)?.raftTerm ?? 0;
  return { leader, leaderId, term, statuses };
}

/** Waits until the answering members agree on a leader among `members`. */
export function waitForLeader(
  members: readonly Member[],
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<LeaderView> {
  return waitFor('a leader all members agree on', timeoutMs, () => leaderNow(members), intervalMs);
}

/** etcdctl with the seed operator's TLS flags against the given members' first client URLs. */
export function etcdctlOn(
  members: readonly Member[],
  args: readonly string[],
  extra: Partial<EtcdctlOptions> = {},
): Promise<EtcdctlResult> {
  const pki = members[0]?.spec.pki;
  return runEtcdctl(args, {
    endpoints: members.map((m) => m.clientUrl),
    ...(pki === undefined ? {} : { tls: seedClientTls(pki) }),
    ...extra,
  });
}

export function describeRun(r: EtcdctlResult): string {
  return `${r.command}\nexit ${String(r.code)}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

/** JSON.parse for etcdctl -w json, keeping uint64 ids (16+ digits) exact as strings. */
export function parseEtcdctlJson(text: string): unknown {
  return JSON.parse(text.replace(/([:[,]\s*)(\d{16,})(?=\s*[,}\]])/g, '$1"$2"'));
}

/** A free port at a fixed number, checked by binding it (the member-id vector needs 23806). */
export function portIsFree(port: number): Promise<boolean> {
  return import('node:net').then(
    ({ createServer }) =>
      new Promise<boolean>((resolve) => {
        const server = createServer();
        server.once('error', () => resolve(false));
        server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
          server.close(() => resolve(true));
        });
      }),
  );
}

/** Bytes in a member's log file so far (a mark for logSince). */
export function logSize(member: Member): number {
  return existsSync(member.logPath) ? statSync(member.logPath).size : 0;
}

/** The member's log written after `mark` (from logSize). */
export function logSince(member: Member, mark: number): string {
  if (!existsSync(member.logPath)) return '';
  return readFileSync(member.logPath).subarray(mark).toString('utf8');
}
