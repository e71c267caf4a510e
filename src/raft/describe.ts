/**
 * Canonical one-line text for messages, entries and Ready batches (etcd-io/raft
 * util.go DescribeMessage/DescribeReady), used by the golden interaction tests and
 * debug logs. The output is part of the golden files: change it only with a rewrite
 * of test/raft/testdata.
 *
 *   1->2 MsgApp Term:1 Log:1/10 Commit:10 Entries:[1/11 EntryNormal "foo"]
 */
import { decodeConfChange } from './codec.js';
import {
  ConfChangeType,
  EntryType,
  MESSAGE_TYPE_NAMES,
  MessageType,
  STATE_NAMES,
  isEmptyHardState,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Ready,
  type Snapshot,
} from './types.js';

const hex = (id: NodeId): string => id.toString(16);
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Payload as a quoted string when it is printable UTF-8, else as hex. */
export function describeBytes(b: Uint8Array): string {
  if (b.length > 64) return `<${b.length} bytes>`;
  try {
    const s = decoder.decode(b);
    if (/^[\x20-\x7e]*$/.test(s)) return JSON.stringify(s);
  } catch {
    // not UTF-8
  }
  return `0x${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
}

const CC_PREFIX: Record<number, string> = {
  [ConfChangeType.AddNode]: 'v',
  [ConfChangeType.RemoveNode]: 'r',
  [ConfChangeType.UpdateNode]: 'u',
  [ConfChangeType.AddLearnerNode]: 'l',
};

export function describeEntry(e: Entry): string {
  if (e.type === EntryType.ConfChange) {
    let body: string;
    try {
      const cc = decodeConfChange(e.data);
      body = `${CC_PREFIX[cc.type] ?? '?'}${hex(cc.nodeId)}`;
    } catch {
      body = describeBytes(e.data);
    }
    return `${e.term}/${e.index} EntryConfChange ${body}`;
  }
  return `${e.term}/${e.index} EntryNormal ${describeBytes(e.data)}`;
}

export function describeEntries(es: readonly Entry[]): string {
  return es.map(describeEntry).join('\n');
}

export function describeConfState(cs: ConfState): string {
  let s = `Voters:[${cs.voters.map(hex).join(' ')}]`;
  if (cs.learners.length > 0) s += ` Learners:[${cs.learners.map(hex).join(' ')}]`;
  return s;
}

export function describeSnapshot(s: Snapshot): string {
  const m = s.metadata;
  return `Index:${m.index} Term:${m.term} ConfState:${describeConfState(m.confState)}`;
}

export function describeHardState(hs: HardState): string {
  return `Term:${hs.term} Vote:${hex(hs.vote)} Commit:${hs.commit}`;
}

export function describeMessage(m: Message): string {
  let s = `${hex(m.from)}->${hex(m.to)} ${MESSAGE_TYPE_NAMES[m.type] ?? m.type} Term:${m.term}`;
  const hb = m.type === MessageType.Heartbeat || m.type === MessageType.HeartbeatResp;
  if (hb) {
    if (m.type === MessageType.Heartbeat) s += ` Commit:${m.commit}`;
    if (m.index !== 0) s += ` Round:${m.index}`;
  } else {
    s += ` Log:${m.logTerm}/${m.index}`;
    if (m.commit !== 0) s += ` Commit:${m.commit}`;
  }
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.context.length > 0) s += ` Context:${describeBytes(m.context)}`;
  if (m.entries.length > 0) s += ` Entries:[${m.entries.map(describeEntry).join(', ')}]`;
  if (m.snapshot !== undefined) s += ` Snapshot: ${describeSnapshot(m.snapshot)}`;
  return s;
}

export function describeReady(rd: Ready): string {
  const lines: string[] = [];
  if (rd.softState !== undefined) {
    const state = STATE_NAMES[rd.softState.raftState] ?? '?';
    lines.push(`Lead:${hex(rd.softState.lead)} State:${state}`);
  }
  if (rd.hardState !== undefined && !isEmptyHardState(rd.hardState)) {
    lines.push(`HardState ${describeHardState(rd.hardState)}`);
  }
  if (rd.readStates.length > 0) {
    const rs = rd.readStates.map((r) => `{Index:${r.index} Ctx:${describeBytes(r.requestCtx)}}`);
    lines.push(`ReadStates: ${rs.join(' ')}`);
  }
  if (rd.entries.length > 0) lines.push('Entries:', describeEntries(rd.entries));
  if (rd.snapshot !== undefined) lines.push(`Snapshot ${describeSnapshot(rd.snapshot)}`);
  if (rd.committedEntries.length > 0) {
    lines.push('CommittedEntries:', describeEntries(rd.committedEntries));
  }
  if (rd.messages.length > 0) lines.push('Messages:', ...rd.messages.map(describeMessage));
  if (lines.length === 0) return '<empty Ready>';
  return `Ready MustSync=${rd.mustSync}:\n${lines.join('\n')}`;
}
