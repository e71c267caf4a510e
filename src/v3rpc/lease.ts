/**
 * The Lease service (etcd api/v3rpc/lease.go + the lease half of v3_server.go).
 *
 * - LeaseGrant: TTL above 9e9 is refused before proposing ("too large lease TTL"); ID 0
 *   gets a random positive int63 chosen HERE, before proposing, so the log entry is
 *   deterministic; duplicates fail at apply ("lease already exists"); the response TTL
 *   is the granted one (raised to the minimum at apply).
 * - LeaseRevoke: proposed (with the caller, whose write permission on every attached key
 *   apply checks while auth is on); apply deletes every attached key in one revision.
 * - LeaseKeepAlive (bidi): requests are answered one at a time, in order, by the
 *   leader's lessor. A leader answers only once it applied an entry of its own term
 *   and its lessor is primary; a follower forwards to the leader (etcd: peer
 *   /leases); both retry every 50 ms until etcd's request timeout, then fail the stream
 *   with "request timed out" (or "no leader"). Unknown or expired lease => TTL 0, not
 *   an error (an expired lease's answer waits for its revoke, as etcd's Renew does).
 * - LeaseTimeToLive: the leader's view (forwarded from followers); remaining TTL is
 *   truncated to whole seconds as etcd's int64(Remaining().Seconds()); keys in byte
 *   order when asked; unknown => TTL -1, no error.
 * - LeaseLeases: this member's lessor, no forwarding (as etcd 3.5).
 *
 * serveForwarded() is the leader's side of the follower hop: the peer transport calls
 * it with the follower's request and returns its answer; it rejects with
 * TsetcdError('not-leader') when this member cannot answer (the follower retries).
 */
import type * as pb from '../generated/pb.js';
import { fromBigInt, toBigInt } from '../shared/pb-codec.js';
import { TsetcdError, isTsetcdError } from '../shared/errors.js';
import { leaseId, type LeaseId } from '../shared/ids.js';
import type { Clock } from '../shared/clock.js';
import type { Rng } from '../shared/rng.js';
import type { Scheduler } from '../shared/scheduler.js';
import type { Logger } from '../shared/logger.js';
import { assert } from '../shared/assert.js';
import { RequestKind } from '../apply/request.js';
import type { ApplyOutcome } from '../apply/applier.js';
import {
  MAX_LEASE_TTL_SECONDS,
  encodeCheckpoint,
  encodeGrantRequest,
  type LeaseGrantResult,
  type Lessor,
} from '../lease/index.js';
import type { BidiCall, CallContext } from '../grpc/server.js';
import type { HeaderFiller } from './header.js';
import { OPEN_GATE, type AuthGate, type AuthInfo } from '../auth/index.js';
import type { AnyHandler } from './services.js';

/** What a follower sends to the leader, by kind, and what comes back (no header). */
export interface LeaseForwardRequests {
  keepalive: pb.LeaseKeepAliveRequest;
  ttl: pb.LeaseTimeToLiveRequest;
}
export interface LeaseForwardResponses {
  keepalive: pb.LeaseKeepAliveResponse;
  ttl: pb.LeaseTimeToLiveResponse;
}
export type LeaseForwardKind = keyof LeaseForwardRequests;

/** What the Lease service needs from the member. */
export interface LeaseBackend {
  readonly lessor: Lessor;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  /** Lease ids for LeaseGrant with ID 0. */
  readonly rng: Rng;
  readonly logger: Logger;
  /** Bounds forwarding and retries (etcd: 5 s + 2 x election timeout). */
  readonly requestTimeoutMs: number;
  /** `caller`: the client's identity (LeaseRevoke is checked at apply while auth is on). */
  propose(kind: RequestKind, payload: Uint8Array, signal?: AbortSignal, caller?: AuthInfo): Promise<ApplyOutcome>;
  /** Leader AND applied an entry of its own term (EtcdServer.isReadyLeader). */
  isReadyLeader(): boolean;
  isLeader(): boolean;
  /** A leader is known. */
  hasLeader(): boolean;
  /** The peer hop to the leader's serveForwarded (rejects on any failure). */
  forwardToLeader<K extends LeaseForwardKind>(
    kind: K,
    req: LeaseForwardRequests[K],
    signal: AbortSignal,
  ): Promise<LeaseForwardResponses[K]>;
  /**
   * Optional: bring the lessor in line with leadership now (LeaseDriver.syncLeadership),
   * so the first keep-alive after the leader applied its own-term entry needs no wait.
   */
  syncLeadership?(): void;
  /**
   * Optional quorum check before a renewal (etcd 3.6 ensureLeadership: a ReadIndex
   * round, then still the leader); rejects when leadership is not confirmed.
   */
  confirmLeadership?(signal: AbortSignal): Promise<void>;
}

const RETRY_MS = 50;
const INT63_MASK = (1n << 63n) - 1n;

export class LeaseService {
  private readonly logger: Logger;

  constructor(
    private readonly deps: LeaseBackend,
    private readonly h: HeaderFiller,
    private readonly gate: AuthGate = OPEN_GATE,
  ) {
    this.logger = deps.logger.child({ component: 'lease-service' });
  }

  handlers(): Map<string, AnyHandler> {
    type KeepAliveCall = BidiCall<pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse>;
    return new Map<string, AnyHandler>([
      ['/etcdserverpb.Lease/LeaseGrant', { kind: 'unary', fn: (r: pb.LeaseGrantRequest, c: CallContext) => this.grant(r, c) }],
      [
        '/etcdserverpb.Lease/LeaseRevoke',
        { kind: 'unary', fn: (r: pb.LeaseRevokeRequest, c: CallContext, raw: Buffer) => this.revoke(r, c, raw) },
      ],
      ['/etcdserverpb.Lease/LeaseKeepAlive', { kind: 'bidi', fn: (call: KeepAliveCall, c: CallContext) => this.keepAlive(call, c) }],
      [
        '/etcdserverpb.Lease/LeaseTimeToLive',
        { kind: 'unary', fn: (r: pb.LeaseTimeToLiveRequest, c: CallContext) => this.timeToLive(r, c) },
      ],
      ['/etcdserverpb.Lease/LeaseLeases', { kind: 'unary', fn: () => this.leases() }],
    ]);
  }

  async grant(req: pb.LeaseGrantRequest, ctx: CallContext): Promise<pb.LeaseGrantResponse> {
    const ttl = toBigInt(req.TTL, false);
    if (ttl > BigInt(MAX_LEASE_TTL_SECONDS)) throw new TsetcdError('lease-ttl-too-large');
    let id = leaseId(toBigInt(req.ID, false));
    while (id === 0n) id = leaseId(this.deps.rng.uint64() & INT63_MASK);
    // etcd resolves the identity of every raft request (processInternalRaftRequestOnce):
    // a bad token is refused, though a grant needs no permission.
    await this.gate.caller(ctx);
    const outcome = await this.deps.propose(
      RequestKind.LeaseGrant,
      encodeGrantRequest(id, ttl),
      ctx.signal,
    );
    if (!outcome.ok) throw outcome.error;
    const granted = outcome.response as LeaseGrantResult;
    return {
      header: this.h.header(outcome.revision),
      ID: fromBigInt(granted.id, false),
      TTL: granted.ttlSeconds,
      error: '',
    };
  }

  async revoke(
    _req: pb.LeaseRevokeRequest,
    ctx: CallContext,
    raw: Buffer,
  ): Promise<pb.LeaseRevokeResponse> {
    const caller = await this.gate.caller(ctx);
    const outcome = await this.deps.propose(RequestKind.LeaseRevoke, raw, ctx.signal, caller);
    if (!outcome.ok) throw outcome.error;
    return { header: this.h.header(outcome.revision) };
  }

  async keepAlive(
    call: BidiCall<pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse>,
    ctx: CallContext,
  ): Promise<void> {
    for await (const req of call.messages) {
      const id = leaseId(toBigInt(req.ID, false));
      const ttl = await this.onLeader(
        () => this.renewHere(id, ctx.signal),
        async () =>
          toBigInt(
            (
              await this.deps.forwardToLeader(
                'keepalive',
                { ID: fromBigInt(id, false) },
                ctx.signal,
              )
            ).TTL,
            false,
          ),
        ctx.signal,
      );
      if (call.closed) return;
      const res: pb.LeaseKeepAliveResponse = {
        header: this.h.header(),
        ID: fromBigInt(id, false),
        TTL: fromBigInt(ttl, false),
      };
      if (!call.write(res)) await call.drained();
    }
  }

  async timeToLive(
    req: pb.LeaseTimeToLiveRequest,
    ctx: CallContext,
  ): Promise<pb.LeaseTimeToLiveResponse> {
    const id = leaseId(toBigInt(req.ID, false));
    const keys = req.keys === true;
    // etcd 3.5.9+: asking for the keys needs read permission on each attached key.
    const caller = keys && this.gate.enabled ? await this.gate.caller(ctx) : undefined;
    if (caller !== undefined) for (const key of this.deps.lessor.has(id) ? this.deps.lessor.keysOf(id) : []) this.gate.read(caller, key);
    const body = await this.onLeader(
      async () => this.timeToLiveHere(id, keys),
      () => this.deps.forwardToLeader('ttl', { ID: fromBigInt(id, false), keys }, ctx.signal),
      ctx.signal,
    );
    if (caller !== undefined) this.gate.afterRead(caller);
    return { ...body, header: this.h.header() };
  }

  leases(): pb.LeaseLeasesResponse {
    return {
      header: this.h.header(),
      leases: this.deps.lessor.leases().map((id) => ({ ID: fromBigInt(id, false) })),
    };
  }

  /** The leader's side of a follower's forwarded request. */
  async serveForwarded<K extends LeaseForwardKind>(
    kind: K,
    req: LeaseForwardRequests[K],
    signal: AbortSignal,
  ): Promise<LeaseForwardResponses[K]> {
    this.deps.syncLeadership?.();
    if (!this.canAnswer()) throw new TsetcdError('not-leader');
    const id = leaseId(toBigInt(req.ID, false));
    if (kind === 'keepalive') {
      const ttl = await this.renewHere(id, signal);
      return { ID: fromBigInt(id, false), TTL: fromBigInt(ttl, false) } as LeaseForwardResponses[K];
    }
    const keys = (req as pb.LeaseTimeToLiveRequest).keys === true;
    return this.timeToLiveHere(id, keys) as LeaseForwardResponses[K];
  }

  private canAnswer(): boolean {
    return this.deps.isReadyLeader() && this.deps.lessor.isPrimary;
  }

  /**
   * Renew on this (primary) lessor: the granted TTL, or 0 for an unknown or expired
   * lease. The renewal happens on arrival, as etcd's lessor.Renew does; the quorum
   * check comes after it, before the answer. Checking first would let a LeaseRevoke
   * sent right after the keep-alive apply during the read round and turn a renewal
   * the client sent in time into TTL 0 (etcd v3_server.go LeaseRenew renews at once).
   */
  private async renewHere(id: LeaseId, signal: AbortSignal): Promise<bigint> {
    const { lessor } = this.deps;
    const r = lessor.renew(id);
    if (r.kind === 'not-primary') throw new TsetcdError('not-leader');
    if (this.deps.confirmLeadership !== undefined) await this.deps.confirmLeadership(signal);
    switch (r.kind) {
      case 'not-found':
        return 0n;
      case 'expired': {
        const why = await lessor.waitGone(id, signal);
        if (why === 'demoted') throw new TsetcdError('not-leader');
        return 0n;
      }
      case 'renewed': {
        const term = lessor.primaryTerm;
        if (r.clearCheckpoint && term !== undefined) {
          // etcd waits for this entry; a failure only means the next promotion may use
          // the older remaining TTL, never that the lease outlives its holder's TTL.
          const cp = encodeCheckpoint(term, [{ id, remainingTtlSeconds: 0 }]);
          await this.deps.propose(RequestKind.LeaseCheckpoint, cp, signal).catch((err: unknown) => {
            this.logger.debug(
              { err, lease: id.toString(16) },
              'clearing a lease checkpoint failed',
            );
          });
        }
        return BigInt(r.ttlSeconds);
      }
    }
  }

  private timeToLiveHere(id: LeaseId, keys: boolean): pb.LeaseTimeToLiveResponse {
    if (!this.canAnswer()) throw new TsetcdError('not-leader');
    const l = this.deps.lessor.lookup(id);
    if (l === undefined) return { ID: fromBigInt(id, false), TTL: -1 };
    assert(Number.isFinite(l.expiryMs), 'a primary lessor holds a lease without an expiry');
    const remainingSeconds = Math.trunc((l.expiryMs - this.deps.clock.nowMs()) / 1000);
    return {
      ID: fromBigInt(id, false),
      TTL: remainingSeconds,
      grantedTTL: l.ttlSeconds,
      ...(keys ? { keys: l.keys() } : {}),
    };
  }

  /**
   * Runs `local` when this member can answer as the leader, else `forward` to the
   * leader; retries every 50 ms (leader changes, a leader not yet ready) until the
   * request timeout, as etcd's LeaseRenew / LeaseTimeToLive loops do.
   */
  private async onLeader<T>(
    local: () => Promise<T>,
    forward: () => Promise<T>,
    signal: AbortSignal,
  ): Promise<T> {
    const deadline = this.deps.clock.nowMs() + this.deps.requestTimeoutMs;
    let lastErr: unknown;
    for (;;) {
      if (signal.aborted) throw new TsetcdError('canceled');
      this.deps.syncLeadership?.();
      try {
        if (this.canAnswer()) return await local();
        if (!this.deps.isLeader() && this.deps.hasLeader()) return await forward();
      } catch (err) {
        if (signal.aborted || isTsetcdError(err, 'canceled')) throw new TsetcdError('canceled');
        lastErr = err;
      }
      if (this.deps.clock.nowMs() >= deadline) {
        this.logger.debug({ err: lastErr }, 'lease request found no leader to answer it');
        throw new TsetcdError(this.deps.hasLeader() ? 'timeout' : 'no-leader');
      }
      await this.sleep(RETRY_MS, signal);
    }
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const onAbort = (): void => {
        timer.cancel();
        resolve();
      };
      const timer = this.deps.scheduler.after(ms, () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** The Lease service's handlers, and the service for the peer hop's leader side. */
export function leaseHandlers(s: LeaseBackend, h: HeaderFiller, gate: AuthGate = OPEN_GATE): Map<string, AnyHandler> {
  return new LeaseService(s, h, gate).handlers();
}
