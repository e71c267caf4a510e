// An in-process member without Raft, for the recipe tests: a MemoryBackend with the
// real MvccStore, Lessor, Applier and WatchHub composed as server/member-core.ts composes
// them, and proposals applied one at a time in order (a one-member log). The recipes
// run on it through the production loopback client (concurrency/memberRecipeClient),
// so only consensus and gRPC are missing from the path they take in a member.
//
// Knobs for interleavings: `proposeDelayMs` delays every proposal (other recipe steps
// run meanwhile); `onPropose` sees each proposal before it applies.
import { AlarmStore } from '../../src/apply/alarms.js';
import { Applier, type ApplyOutcome } from '../../src/apply/applier.js';
import { RequestKind } from '../../src/apply/request.js';
import { Membership } from '../../src/cluster/membership.js';
import { memberRecipeClient, type MemberPrimitives, type RecipeCaller, type RecipeClient } from '../../src/concurrency/index.js';
import {
  encodeGrantRequest,
  encodeRevokeRequest,
  Lessor,
} from '../../src/lease/index.js';
import { MvccStore } from '../../src/mvcc/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { leaseId, type LeaseId } from '../../src/shared/ids.js';
import { nullLogger } from '../../src/shared/logger.js';
import type * as pb from '../../src/generated/pb.js';
import { codec } from '../../src/shared/pb-codec.js';
import { SeededRng } from '../../src/shared/rng.js';
import { systemScheduler } from '../../src/shared/scheduler.js';
import { MemoryBackend } from '../../src/testing/memory-backend.js';
import { WatchHub } from '../../src/watch/index.js';

const putCodec = codec<pb.PutRequest>('etcdserverpb.PutRequest');
const deleteCodec = codec<pb.DeleteRangeRequest>('etcdserverpb.DeleteRangeRequest');
const compactCodec = codec<pb.CompactionRequest>('etcdserverpb.CompactionRequest');

export class FakeMember {
  readonly client: RecipeClient;
  proposeDelayMs = 0;
  onPropose: ((kind: RequestKind, payload: Uint8Array) => void) | undefined;
  /** Proposals applied so far, by kind. */
  readonly proposals = new Map<RequestKind, number>();
  /** The caller each loopback proposal carried (undefined: none), in order. */
  readonly proposedCallers: Array<RecipeCaller | undefined> = [];
  private readonly primitives: MemberPrimitives;
  private index = 0;
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly backend: MemoryBackend,
    readonly store: MvccStore,
    readonly lessor: Lessor,
    readonly applier: Applier,
    readonly hub: WatchHub,
  ) {
    this.primitives = {
      store,
      hub,
      rng: new SeededRng(42),
      propose: (kind, payload, signal, caller) => {
        this.proposedCallers.push(caller);
        return this.propose(kind, payload, signal);
      },
      linearizableReadPoint: async () => {
        // A one-member log: everything acknowledged has applied already. Yield once so
        // reads interleave with other callers as they would behind a ReadIndex round.
        await new Promise<void>((r) => setImmediate(r));
      },
    };
    this.client = memberRecipeClient(this.primitives);
  }

  /** The loopback client running as `caller` (what the member gives the Lock and Election services). */
  clientAs(caller: RecipeCaller): RecipeClient {
    return memberRecipeClient(this.primitives, caller);
  }

  static async create(): Promise<FakeMember> {
    const backend = new MemoryBackend();
    const store = await MvccStore.open(backend, { scheduler: systemScheduler });
    const lessor = await Lessor.open(backend, { minTtlSeconds: 2, clock: new ManualClock() });
    const membership = await Membership.load(backend);
    const applier = new Applier({ store: () => store, membership, lessor, alarms: new AlarmStore(), logger: nullLogger });
    const hub = new WatchHub({ store, scheduler: systemScheduler, logger: nullLogger });
    applier.onChanges((events, revision) => hub.notify(events, revision));
    return new FakeMember(backend, store, lessor, applier, hub);
  }

  /** Applies proposals strictly in order, each in its own batch. */
  propose(kind: RequestKind, payload: Uint8Array, signal?: AbortSignal): Promise<ApplyOutcome> {
    const run = async (): Promise<ApplyOutcome> => {
      if (this.proposeDelayMs > 0) await new Promise((r) => setTimeout(r, this.proposeDelayMs));
      this.onPropose?.(kind, payload);
      const batch = this.backend.batch();
      const outcome = this.applier.apply(
        { kind, id: 0n, payload },
        { index: ++this.index, term: 1 },
        batch,
      );
      await this.backend.write(batch, { sync: false });
      this.store.batchDurable(batch);
      this.proposals.set(kind, (this.proposals.get(kind) ?? 0) + 1);
      return outcome;
    };
    if (signal?.aborted === true) return Promise.reject(new Error('aborted before proposing'));
    const p = this.tail.then(run, run);
    this.tail = p.catch(() => undefined);
    return p;
  }

  async grant(ttlSeconds: number, id: bigint): Promise<LeaseId> {
    const out = await this.propose(
      RequestKind.LeaseGrant,
      encodeGrantRequest(leaseId(id), BigInt(ttlSeconds)),
    );
    if (!out.ok) throw out.error;
    return leaseId(id);
  }

  async revoke(id: LeaseId): Promise<number> {
    const out = await this.propose(RequestKind.LeaseRevoke, encodeRevokeRequest(id));
    if (!out.ok) throw out.error;
    return out.revision;
  }

  async put(key: string, value: string): Promise<number> {
    const out = await this.propose(
      RequestKind.Put,
      putCodec.encode({ key: Buffer.from(key), value: Buffer.from(value) }),
    );
    if (!out.ok) throw out.error;
    return out.revision;
  }

  async del(key: string): Promise<number> {
    const out = await this.propose(
      RequestKind.DeleteRange,
      deleteCodec.encode({ key: Buffer.from(key) }),
    );
    if (!out.ok) throw out.error;
    return out.revision;
  }

  async compact(revision: number): Promise<void> {
    const out = await this.propose(
      RequestKind.Compaction,
      compactCodec.encode({ revision, physical: true }),
    );
    if (!out.ok) throw out.error;
    await out.physicalDone;
  }

  /** Live keys under a prefix, with their create revisions and leases. */
  async keys(
    prefix: string,
  ): Promise<Array<{ key: string; create: number; lease: bigint; value: string }>> {
    const start = Buffer.from(prefix);
    const end = Buffer.from(prefix);
    end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
    const r = await this.store.range({ key: start, rangeEnd: end });
    return r.kvs.map((kv) => ({
      key: kv.key.toString('latin1'),
      create: kv.createRevision,
      lease: kv.lease,
      value: kv.value.toString('latin1'),
    }));
  }

  close(): void {
    this.hub.close();
  }
}

/** Waits until `cond` holds (polling), at most `ms`. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Lets every pending continuation and proposal run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}
