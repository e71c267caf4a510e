// Behaviours real clients found different from etcd, each checked against both servers
// (one tsetcd member and one etcd 3.4.23 member, plain http, the same requests):
// - a keep-alive sent on a stream, then a LeaseRevoke sent right after on the same
//   connection: the keep-alive is answered with the full TTL (etcd renews on arrival);
// - `etcdctl move-leader` to the member that already leads succeeds and prints
//   "Leadership transferred from X to X" (scripts move leadership unconditionally);
// - grpc.health.v1.Health/Check answers SERVING for a member with a leader, and an
//   unknown service name NOT_FOUND, as grpc-go's health server does.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { EtcdGrpcClient, expectOk, methodDefinition } from '../helpers/grpc-client.js';
import { healthCheck } from '../helpers/grpc-health.js';
import {
  dumpMemberLogsOnFailure,
  startMember,
  stopAllMembers,
  targetFromEnv,
  type Member,
} from '../helpers/processes.js';

const target = targetFromEnv();
const members = new Map<'ours' | 'etcd', Member>();

beforeAll(async () => {
  const [ours, etcd] = await Promise.all([startMember({ target }), startMember({ target: 'etcd' })]);
  members.set('ours', ours);
  members.set('etcd', etcd);
}, 60_000);
afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

function member(which: 'ours' | 'etcd'): Member {
  const m = members.get(which);
  if (m === undefined) throw new Error(`${which} did not start`);
  return m;
}

interface KeepAliveAnswer {
  readonly ID: string;
  readonly TTL: string;
}

/** Grants a lease, sends one keep-alive, then at once a LeaseRevoke on the same channel. */
async function keepAliveThenRevoke(m: Member, id: number): Promise<KeepAliveAnswer> {
  const client = new EtcdGrpcClient(m.clientAddress);
  try {
    expectOk(await client.unary('Lease', 'LeaseGrant', { ID: id, TTL: 30 }), 'LeaseGrant');
    const def = methodDefinition('Lease', 'LeaseKeepAlive');
    const stream = client.client.makeBidiStreamRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
    );
    const answer = new Promise<KeepAliveAnswer>((resolve, reject) => {
      stream.once('data', (d: KeepAliveAnswer) => resolve(d));
      stream.once('error', reject);
    });
    stream.write({ ID: id });
    const revoked = client.unary('Lease', 'LeaseRevoke', { ID: id });
    const got = await answer;
    expectOk(await revoked, 'LeaseRevoke');
    stream.cancel();
    return got;
  } finally {
    client.close();
  }
}

describe(`${target} next to etcd 3.4.23: what clients found`, () => {
  it('a keep-alive followed at once by a revoke on the same connection gets the full TTL', async () => {
    for (const which of ['ours', 'etcd'] as const) {
      // A few rounds: the race only shows when the revoke applies during the keep-alive.
      const ttls: string[] = [];
      for (let i = 0; i < 5; i++) {
        const got = await keepAliveThenRevoke(member(which), 7000 + i);
        expect(got.ID).toBe(String(7000 + i));
        ttls.push(String(got.TTL));
      }
      // tsetcd renews on arrival every time. etcd 3.4.23 serves the stream and the unary
      // call on separate goroutines, so it too answers TTL 0 now and then (seen in 1 of 3
      // runs on a quiet machine): it must show the full TTL at least once.
      if (which === 'ours') expect({ which, ttls }).toEqual({ which, ttls: ['30', '30', '30', '30', '30'] });
      else expect(ttls, 'etcd renews on arrival').toContain('30');
    }
  });

  it('move-leader to the member that already leads: "Leadership transferred from X to X"', async () => {
    const out: string[] = [];
    for (const which of ['ours', 'etcd'] as const) {
      const m = member(which);
      const status = await runEtcdctl(['endpoint', 'status', '-w', 'json'], { endpoints: [m.clientAddress] });
      expect(status.code, status.stderr).toBe(0);
      const id = BigInt(/"member_id":(\d+)/.exec(status.stdout)?.[1] ?? '0').toString(16);
      const r = await runEtcdctl(['move-leader', id], { endpoints: [m.clientAddress] });
      expect({ which, code: r.code, stderr: r.stderr }).toEqual({ which, code: 0, stderr: '' });
      out.push(r.stdout.trim());
      expect(r.stdout.trim()).toBe(`Leadership transferred from ${id} to ${id}`);
    }
    expect(out).toHaveLength(2);
  });

  it('grpc.health.v1.Health/Check: SERVING; an unknown service: NOT_FOUND', async () => {
    for (const which of ['ours', 'etcd'] as const) {
      const m = member(which);
      expect({ which, ...(await healthCheck(m.clientAddress, '')) }).toEqual({ which, ok: true, status: 'SERVING' });
      expect({ which, ...(await healthCheck(m.clientAddress, 'no.such.Service')) }).toEqual({
        which,
        ok: false,
        code: grpc.status.NOT_FOUND,
        details: 'unknown service',
      });
    }
  });
});
