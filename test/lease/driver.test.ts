// LeaseDriver on a fake clock and scheduler: it follows leadership (promote on a ready
// leader with the election timeout as extension, demote otherwise), proposes one
// fenced expiry per expired lease (bounded per round and in flight), and proposes due
// checkpoints; a round on a follower proposes nothing.
import { describe, expect, it } from 'vitest';
import {
  LeaseDriver,
  Lessor,
  decodeCheckpointRequest,
  decodeFenced,
  type LeaseEntryKind,
  type ProposalOutcome,
} from '../../src/lease/index.js';
import { decodeRevokeRequest } from '../../src/lease/wire.js';
import { ManualClock } from '../../src/shared/clock.js';
import { TsetcdError } from '../../src/shared/errors.js';
import { leaseId } from '../../src/shared/ids.js';
import { nullLogger } from '../../src/shared/logger.js';
import { ManualScheduler } from '../helpers/manual-scheduler.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';

interface Proposal {
  kind: LeaseEntryKind;
  payload: Uint8Array;
  settle: (o: ProposalOutcome) => void;
  fail: (e: unknown) => void;
}

function setup(opts: { revokeLimit?: number } = {}) {
  const clock = new ManualClock();
  const scheduler = new ManualScheduler();
  const lessor = new Lessor({ minTtlSeconds: 2, clock, checkpointIntervalMs: 300_000 });
  const proposals: Proposal[] = [];
  const state = { isReadyLeader: false, term: 4 };
  const driver = new LeaseDriver({
    lessor,
    scheduler,
    logger: nullLogger,
    electionTimeoutMs: 1000,
    leadership: () => state,
    proposeLocal: (kind, payload) =>
      new Promise<ProposalOutcome>((settle, fail) =>
        proposals.push({ kind, payload, settle, fail }),
      ),
    ...(opts.revokeLimit !== undefined ? { revokeLimit: opts.revokeLimit } : {}),
  });
  const backend = new MemoryBackend();
  const grant = (id: number, ttl: number): void =>
    void lessor.grant(leaseId(BigInt(id)), BigInt(ttl), backend.batch());
  return { clock, scheduler, lessor, proposals, state, driver, grant };
}

const expiredIds = (ps: readonly Proposal[]): Array<[number, bigint]> =>
  ps
    .filter((p) => p.kind === 'expire')
    .map((p) => {
      const f = decodeFenced(p.payload);
      return [f.term, decodeRevokeRequest(f.body)];
    });

describe('LeaseDriver', () => {
  it('runs every 500 ms once started and stops', () => {
    const { driver, scheduler } = setup();
    driver.start();
    expect(scheduler.periodic.map((p) => p.periodMs)).toEqual([500]);
    driver.stop();
    expect(scheduler.periodic[0]?.cancelled).toBe(true);
  });

  it('promotes a ready leader (extension: election timeout), demotes otherwise', () => {
    const { driver, lessor, state, grant, clock } = setup();
    grant(1, 10);
    driver.tick();
    expect(lessor.isPrimary).toBe(false);
    state.isReadyLeader = true;
    driver.tick();
    expect(lessor.primaryTerm).toBe(4);
    expect(lessor.lookup(leaseId(1n))?.expiryMs).toBe(clock.nowMs() + 1000 + 10_000);
    state.term = 5; // re-elected in a later term: promote again with the new term
    driver.syncLeadership();
    expect(lessor.primaryTerm).toBe(5);
    state.isReadyLeader = false;
    driver.syncLeadership();
    expect(lessor.isPrimary).toBe(false);
  });

  it('proposes an expiry per expired lease, in the promotion term; none on followers', async () => {
    const { driver, state, grant, clock, proposals } = setup();
    grant(1, 2);
    grant(2, 5);
    clock.advance(60_000);
    driver.tick();
    expect(proposals).toEqual([]);
    state.isReadyLeader = true;
    driver.tick(); // promotes: expiries now + 1 s + TTL
    expect(proposals).toEqual([]);
    clock.advance(3_000);
    driver.tick();
    expect(expiredIds(proposals)).toEqual([[4, 1n]]);
    clock.advance(3_000);
    driver.tick(); // lease 1 not revoked yet: offered again after 3 s, with lease 2
    expect(expiredIds(proposals)).toEqual([
      [4, 1n],
      [4, 1n],
      [4, 2n],
    ]);
    for (const p of proposals) p.settle({ ok: false, error: new TsetcdError('leader-changed') });
    await Promise.resolve();
  });

  it('bounds expiry proposals in flight to the revoke limit', async () => {
    const { driver, state, grant, clock, proposals } = setup({ revokeLimit: 3 });
    for (let i = 1; i <= 5; i++) grant(i, 2);
    state.isReadyLeader = true;
    driver.tick();
    clock.advance(3_000);
    driver.tick();
    expect(expiredIds(proposals).map(([, id]) => id)).toEqual([1n, 2n, 3n]);
    expect(driver.inFlight).toBe(3);
    driver.tick();
    expect(proposals).toHaveLength(3);
    proposals[0]?.settle({ ok: true });
    proposals[1]?.fail(new TsetcdError('stopped'));
    await new Promise((r) => setImmediate(r));
    expect(driver.inFlight).toBe(1);
    driver.tick();
    // Lease 2's expiry did not apply: it is offered again at once, ahead of 4, and the
    // room left by the two settled proposals bounds the round to two.
    expect(expiredIds(proposals).map(([, id]) => id)).toEqual([1n, 2n, 3n, 2n, 4n]);
  });

  it('proposes due checkpoints in one entry, fenced by the promotion term', () => {
    const { driver, state, grant, clock, proposals } = setup();
    grant(1, 3600);
    grant(2, 7200);
    grant(3, 60);
    state.isReadyLeader = true;
    driver.tick();
    clock.advance(300_000);
    driver.tick();
    const cps = proposals.filter((p) => p.kind === 'checkpoint');
    expect(cps).toHaveLength(1);
    const f = decodeFenced(cps[0]?.payload ?? new Uint8Array());
    expect(f.term).toBe(4);
    expect(decodeCheckpointRequest(f.body)).toEqual([
      { id: 1n, remainingTtlSeconds: 3600 + 1 - 300 },
      { id: 2n, remainingTtlSeconds: 7200 + 1 - 300 },
    ]);
  });
});
