/**
 * A member binds its client URLs before its server exists (src/embed/member.ts listen);
 * a gRPC call arriving in between is refused with HTTP/2 REFUSED_STREAM, which clients
 * read as "not processed": grpc-js retries it once and answers UNAVAILABLE "Stream
 * refused by server". It used to be closed without a gRPC status (INTERNAL "Received
 * RST_STREAM with code 0"), which a client must count as a write of unknown fate: the
 * Jepsen lease-power-cut-long row had 67 such unknown writes, all not committed.
 *
 * The window is made long and certain: a member restarted with
 * experimental-initial-corrupt-check asks its peer's client URL for a hash before it
 * serves, and the peer's port is held by a listener that accepts and never answers, so
 * the check waits out its 3 s timeout.
 */
import { createServer, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { EtcdGrpcClient } from '../helpers/grpc-client.js';
import { dumpMemberLogsOnFailure, httpHealthReady, sleep, startMember, stopAllMembers } from '../helpers/processes.js';
import type { Member } from '../helpers/processes.js';
import { etcdctlOn, initialClusterOf, planCluster, specFor, waitFor } from './cluster/cluster.js';

afterAll(stopAllMembers, 60_000);
dumpMemberLogsOnFailure();

describe('a member still starting', () => {
  it('refuses gRPC calls with REFUSED_STREAM (UNAVAILABLE), never a close without status', async () => {
    const spec = { target: 'tsetcd' as const };
    const plan = await planCluster(2, undefined);
    const initial = initialClusterOf(plan);
    // Ready at once while `early` is set: the restart below must not wait for /health.
    let early = false;
    const ready = (m: Member): Promise<boolean> => (early ? Promise.resolve(true) : httpHealthReady(m));
    const [a, b] = (await Promise.all(
      plan.map((p, i) =>
        startMember({
          ...specFor(spec, p, initial, i === 0 ? { 'experimental-initial-corrupt-check': true } : {}),
          ready,
        }),
      ),
    )) as [Member, Member];
    // Both have published their client URLs (the check asks b's).
    await waitFor('both members published', 15_000, async () => {
      const r = await etcdctlOn([a], ['member', 'list']);
      // id, status, name, peer URLs, client URLs, is learner
      const published = r.stdout.split('\n').filter((l) => (l.split(', ')[4] ?? '') !== '');
      return r.code === 0 && published.length === 2 ? true : undefined;
    });
    await a.stop();
    await b.stop();
    const held: Socket[] = [];
    const silent = createServer((s) => held.push(s));
    await new Promise<void>((resolve) => silent.listen(b.clientPorts[0], '127.0.0.1', resolve));
    // Short reconnect back-off: grpc-js's default (1 s growing by 1.6x) could sleep
    // through the window while the process boots.
    const client = new EtcdGrpcClient(a.clientAddress, {
      deadlineMs: 1000,
      channelOptions: { 'grpc.initial_reconnect_backoff_ms': 50, 'grpc.max_reconnect_backoff_ms': 100 },
    });
    const seen = new Map<string, number>();
    try {
      early = true;
      await a.start();
      const until = Date.now() + 15_000;
      let refused = 0;
      // Until the member serves (its put then waits for the missing quorum and times out).
      while (Date.now() < until) {
        const r = await client.put({ key: Buffer.from('k'), value: Buffer.from('v') });
        const said = r.ok ? 'ok' : `${r.error.codeName}: ${r.error.details}`;
        seen.set(said, (seen.get(said) ?? 0) + 1);
        if (said === 'UNAVAILABLE: Stream refused by server') refused++;
        else if (refused > 0 && !said.startsWith('UNAVAILABLE: No connection')) break;
        await sleep(50);
      }
      console.log('answers while a starts:', JSON.stringify([...seen]));
      expect(refused, JSON.stringify([...seen])).toBeGreaterThan(0);
      expect([...seen.keys()].filter((s) => s.includes('RST_STREAM'))).toEqual([]);
      expect(a.running).toBe(true);
    } finally {
      client.close();
      for (const s of held) s.destroy();
      silent.close();
    }
  }, 90_000);
});
