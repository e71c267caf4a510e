/**
 * Test harness for the peer transport: in-process members on loopback, each a
 * PeerTransport with recording callbacks and a logger that keeps every line.
 *
 * Contract: makeMember() starts a transport (port 0 unless given) and returns it with
 * what it received; connectAll() adds every member as a peer of every other one;
 * stopAll() stops them (call it in afterEach/finally). waitFor() polls a condition
 * with a deadline, so every test is bounded.
 */
import {
  PeerTransport,
  type MemberJson,
  type PeerTlsOptions,
  type PeerTransportOptions,
  type TransportLimits,
  type TransportTimings,
} from '../../../src/cluster/transport/index.js';
import { makeMessage, MessageType, type Message } from '../../../src/raft/types.js';
import { systemClock } from '../../../src/shared/clock.js';
import { idToHex } from '../../../src/shared/ids.js';
import type { Logger } from '../../../src/shared/logger.js';
import { SeededRng } from '../../../src/shared/rng.js';
import { systemScheduler } from '../../../src/shared/scheduler.js';
import { makeTestPki, type TestPki } from '../../helpers/certs.js';

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

export function recordingLogger(lines: LogLine[], bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: LogLine['level']) =>
    (obj: object, msg: string): void => {
      lines.push({ level, msg, fields: { ...bindings, ...(obj as Record<string, unknown>) } });
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (b) => recordingLogger(lines, { ...bindings, ...b }),
  };
}

export interface Member {
  readonly id: bigint;
  readonly transport: PeerTransport;
  readonly url: string;
  readonly received: Message[];
  readonly unreachable: bigint[];
  readonly snapshotStatus: { id: bigint; ok: boolean }[];
  readonly removedBy: bigint[];
  readonly logs: LogLine[];
}

export interface MemberSetup {
  readonly id: bigint;
  readonly clusterId?: bigint;
  readonly tls?: PeerTlsOptions;
  readonly listenUrl?: string;
  readonly queueLimits?: Partial<TransportLimits>;
  readonly timings?: Partial<TransportTimings>;
  readonly onSnapshot?: PeerTransportOptions['onSnapshot'];
  readonly onMessage?: (m: Message) => void;
  readonly removed?: readonly bigint[];
  readonly members?: readonly MemberJson[];
}

export const CLUSTER_ID = 0x1234_5678_9abc_def0n;

/** mTLS with the shared test PKI: peers must present certificates the CA signed. */
export async function mtls(overrides: Partial<PeerTlsOptions> = {}): Promise<PeerTlsOptions> {
  const pki: TestPki = await makeTestPki();
  return {
    certFile: pki.cert,
    keyFile: pki.key,
    trustedCaFile: pki.caCert,
    clientCertAuth: true,
    ...overrides,
  };
}

async function drain(chunks: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const c of chunks) void c;
}

export async function makeMember(s: MemberSetup): Promise<Member> {
  const received: Message[] = [];
  const unreachable: bigint[] = [];
  const snapshotStatus: { id: bigint; ok: boolean }[] = [];
  const removedBy: bigint[] = [];
  const logs: LogLine[] = [];
  const scheme = s.tls === undefined ? 'http' : 'https';
  const transport = new PeerTransport({
    memberId: s.id,
    clusterId: s.clusterId ?? CLUSTER_ID,
    listenUrls: [s.listenUrl ?? `${scheme}://127.0.0.1:0`],
    ...(s.tls === undefined ? {} : { tls: s.tls }),
    logger: recordingLogger(logs),
    clock: systemClock,
    scheduler: systemScheduler,
    rng: new SeededRng(Number(s.id % 1000n)),
    onMessage: (m) => {
      received.push(m);
      s.onMessage?.(m);
    },
    onSnapshot: s.onSnapshot ?? ((_m, chunks) => drain(chunks)),
    onUnreachable: (id) => unreachable.push(id),
    onSnapshotStatus: (id, ok) => snapshotStatus.push({ id, ok }),
    onRemoved: (by) => removedBy.push(by),
    members: () =>
      s.members ?? [
        { id: idToHex(s.id), name: `m${s.id}`, peerURLs: [], clientURLs: [], isLearner: false },
      ],
    version: () => ({ etcdserver: '3.5.17', etcdcluster: '3.5.0' }),
    isRemoved: (id) => (s.removed ?? []).includes(id),
    ...(s.queueLimits === undefined ? {} : { queueLimits: s.queueLimits }),
    timings: { backoffMinMs: 20, backoffMaxMs: 200, dialTimeoutMs: 5000, ...s.timings },
  });
  await transport.start();
  const url = transport.listenUrls[0];
  if (url === undefined) throw new Error('no listen URL');
  return { id: s.id, transport, url, received, unreachable, snapshotStatus, removedBy, logs };
}

export function connectAll(members: readonly Member[]): void {
  for (const a of members) for (const b of members) if (a !== b) a.transport.addPeer(b.id, [b.url]);
}

export async function stopAll(members: readonly (Member | undefined)[]): Promise<void> {
  await Promise.all(members.map((m) => m?.transport.stop()));
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function heartbeat(from: bigint, to: bigint, seq: number): Message {
  return makeMessage({ type: MessageType.Heartbeat, from, to, term: 1, commit: seq });
}

export function append(from: bigint, to: bigint, index: number, payloadBytes: number): Message {
  const data = new Uint8Array(payloadBytes).fill(index & 0xff);
  return makeMessage({
    type: MessageType.App,
    from,
    to,
    term: 1,
    index: index - 1,
    logTerm: 1,
    entries: [{ term: 1, index, type: 0, data }],
  });
}

export function hasLog(m: Member, level: LogLine['level'], text: string): boolean {
  return m.logs.some((l) => l.level === level && l.msg.includes(text));
}
