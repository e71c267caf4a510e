// The Cluster service's health guard with strict-reconfig-check, as etcd's mayAddMember /
// mayRemoveMember: member changes are refused with "etcdserver: unhealthy cluster" until
// every voter has been connected for HealthInterval (5 s); a voter that is down may be
// removed; learners are not counted. Driven through the real handlers with a fake backend.
import { describe, expect, it } from 'vitest';
import Long from 'long';
import { clusterHandlers, type ClusterBackend } from '../../src/v3rpc/cluster.js';
import { HeaderFiller } from '../../src/v3rpc/header.js';
import type { CallContext } from '../../src/grpc/server.js';
import type { Member } from '../../src/cluster/membership.js';
import { memberId } from '../../src/shared/ids.js';
import { TsetcdError } from '../../src/shared/errors.js';

const ids = [0x10n, 0x20n, 0x30n].map((n) => memberId(n));
const voter = (id: bigint, name: string): Member => ({ id: memberId(id), name, peerUrls: [`http://127.0.0.1:${Number(id) + 30000}`], clientUrls: [], isLearner: false });

function setup(activeSince: Map<bigint, number>, now: number, members: Member[]) {
  const proposed: string[] = [];
  const backend: ClusterBackend = {
    members: () => members,
    member: (id) => members.find((m) => m.id === id),
    isRemoved: () => false,
    linearizableReadPoint: async () => {},
    proposeConfChange: async (type, m) => {
      proposed.push(`${type}:${m.id.toString(16)}`);
      return { ok: true, response: {}, revision: 0 };
    },
    clusterToken: 'tok',
    strictReconfigCheck: true,
    maxLearners: 1,
    nowSeconds: () => 1,
    learnerReady: async () => true,
    isLeader: () => true,
    promoteOnLeader: async () => {},
    selfId: ids[0] as bigint,
    peerActiveSinceMs: (id) => activeSince.get(id),
    nowMs: () => now,
  };
  const h = new HeaderFiller({ clusterId: 1n, memberId: ids[0] as bigint, raftTerm: () => 2, currentRevision: () => 1 });
  const handlers = clusterHandlers(backend, h);
  const ctx = { path: '', metadata: {}, signal: new AbortController().signal, peerCertificate: () => undefined } as CallContext;
  const call = async (method: string, req: object): Promise<string> => {
    const handler = handlers.get(`/etcdserverpb.Cluster/${method}`);
    if (handler?.kind !== 'unary') throw new Error(method);
    try {
      await (handler.fn as (r: object, c: CallContext) => Promise<unknown>)(req, ctx);
      return 'ok';
    } catch (err) {
      if (err instanceof TsetcdError) return err.code;
      throw err;
    }
  };
  return { call, proposed };
}

const three = (): Member[] => [voter(0x10n, 'a'), voter(0x20n, 'b'), voter(0x30n, 'c')];

describe('Cluster service health guard (strict-reconfig-check)', () => {
  it('refuses MemberAdd until every voter has been connected for 5 s', async () => {
    const young = setup(new Map([[0x20n, 1000], [0x30n, 4000]]), 8000, three());
    expect(await young.call('MemberAdd', { peerURLs: ['http://127.0.0.1:40000'], isLearner: true })).toBe('unhealthy-cluster');
    expect(young.proposed).toEqual([]);
    const down = setup(new Map([[0x20n, 1000]]), 60_000, three());
    expect(await down.call('MemberAdd', { peerURLs: ['http://127.0.0.1:40000'] })).toBe('unhealthy-cluster');
    const healthy = setup(new Map([[0x20n, 1000], [0x30n, 3000]]), 8000, three());
    expect(await healthy.call('MemberAdd', { peerURLs: ['http://127.0.0.1:40000'], isLearner: true })).toBe('ok');
    expect(healthy.proposed).toHaveLength(1);
  });

  it('MemberRemove: a down voter may go; a connected one only if a quorum of healthy voters remains', async () => {
    const id30 = Long.fromString('30', true, 16);
    // c is down: removable at once, even though b connected only just now.
    const cDown = setup(new Map([[0x20n, 7000]]), 8000, three());
    expect(await cDown.call('MemberRemove', { ID: id30 })).toBe('ok');
    // c is up but b is fresh: removing c would leave one healthy voter of three.
    const bFresh = setup(new Map([[0x20n, 7000], [0x30n, 1000]]), 8000, three());
    expect(await bFresh.call('MemberRemove', { ID: id30 })).toBe('unhealthy-cluster');
    const allOld = setup(new Map([[0x20n, 1000], [0x30n, 1000]]), 8000, three());
    expect(await allOld.call('MemberRemove', { ID: id30 })).toBe('ok');
  });

  it('learners are not counted and may always be removed', async () => {
    const members = [...three(), { ...voter(0x40n, 'd'), isLearner: true }];
    const s = setup(new Map([[0x20n, 1000], [0x30n, 1000]]), 8000, members);
    expect(await s.call('MemberRemove', { ID: Long.fromString('40', true, 16) })).toBe('ok');
  });
});
