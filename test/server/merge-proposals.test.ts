// A follower's forwarded proposals of one Ready travel as one MsgProp per leader
// (EtcdServer.mergeProposals): entries in order, nothing else merged, inputs untouched.
import { describe, expect, it } from 'vitest';
import { mergeProposals } from '../../src/server/etcd-server.js';
import { EntryType, MessageType, makeMessage, type Entry, type Message } from '../../src/raft/index.js';

const entry = (n: number): Entry => ({ term: 0, index: 0, type: EntryType.Normal, data: Buffer.from([n]) });
const prop = (to: bigint, ...ns: number[]): Message => makeMessage({ type: MessageType.Prop, from: 2n, to, entries: ns.map(entry) });
const datas = (m: Message | undefined): number[] => (m?.entries ?? []).map((e) => e.data[0] ?? -1);

describe('mergeProposals', () => {
  it('joins consecutive proposals to one leader, in order, without touching the inputs', () => {
    const msgs = [prop(1n, 1), prop(1n, 2, 3), prop(1n, 4)];
    const out = mergeProposals(msgs);
    expect(out).toHaveLength(1);
    expect(datas(out[0])).toEqual([1, 2, 3, 4]);
    expect(msgs.map(datas)).toEqual([[1], [2, 3], [4]]);
  });

  it('keeps other messages, their order, and proposals to different peers apart', () => {
    const heartbeat = makeMessage({ type: MessageType.HeartbeatResp, from: 2n, to: 1n });
    const msgs = [prop(1n, 1), prop(1n, 2), heartbeat, prop(1n, 3), prop(3n, 4), prop(3n, 5)];
    const out = mergeProposals(msgs);
    expect(out.map((m) => m.type)).toEqual([MessageType.Prop, MessageType.HeartbeatResp, MessageType.Prop, MessageType.Prop]);
    expect(out.map(datas)).toEqual([[1, 2], [], [3], [4, 5]]);
    expect(out.map((m) => m.to)).toEqual([1n, 1n, 1n, 3n]);
  });

  it('returns the same array when nothing joins', () => {
    const msgs = [prop(1n, 1), makeMessage({ type: MessageType.AppResp, from: 2n, to: 1n }), prop(1n, 2)];
    expect(mergeProposals(msgs)).toBe(msgs);
  });
});
