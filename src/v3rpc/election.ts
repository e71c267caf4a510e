/**
 * The Election service (etcd server/etcdserver/api/v3election): Campaign, Proclaim,
 * Leader, Observe and Resign run the election recipe (src/concurrency/election.ts)
 * with the caller's lease over the member's loopback client.
 *
 * - Proclaim and Resign without a `leader` field: UNKNOWN '"leader" field must be
 *   provided' (etcd ErrMissingLeaderKey); other errors as in lock.ts (UNKNOWN with
 *   etcd's message: "election: not leader", "election: no leader", server errors).
 * - Campaign answers LeaderKey{name as sent, key, rev = the key's create revision,
 *   lease} with the header of its campaign txn.
 * - Observe streams LeaderResponse{header, kv} for the current leader and each change;
 *   when the recipe stops (a failed read or watch) the stream ends with OK, as etcd's
 *   does when its observe channel closes.
 */
import type * as pb from '../generated/pb.js';
import { toBuffer } from '../shared/bytes.js';
import { TsetcdError } from '../shared/errors.js';
import { fromBigInt, toNumber } from '../shared/pb-codec.js';
import {
  campaign,
  leader,
  observe,
  proclaim,
  resign,
  RecipeError,
  type LeaderKey,
  type RecipeClient,
} from '../concurrency/index.js';
import type { CallContext, StreamWriter } from '../grpc/server.js';
import type { AnyHandler } from './services.js';
import type { HeaderFiller } from './header.js';
import { leaseOf, recipeGrpcError, type RecipeBackend } from './lock.js';
import { OPEN_GATE, checkRecipe, type AuthGate } from '../auth/index.js';

export const ELECTION_SERVICE = '/v3electionpb.Election';

function leaderKeyFromPb(l: pb.LeaderKey | null | undefined): LeaderKey {
  if (l === null || l === undefined) throw new RecipeError('missing-leader-key');
  return {
    name: toBuffer(l.name),
    key: toBuffer(l.key),
    rev: toNumber(l.rev),
    lease: leaseOf(l.lease),
  };
}

export function electionHandlers(s: RecipeBackend, headers: HeaderFiller, gate: AuthGate = OPEN_GATE): Map<string, AnyHandler> {
  /** Runs a unary handler body with etcd's error mapping. */
  const guarded =
    <Req, Res>(fn: (req: Req, ctx: CallContext) => Promise<Res>) =>
    async (req: Req, ctx: CallContext): Promise<Res> => {
      try {
        return await fn(req, ctx);
      } catch (err) {
        throw recipeGrpcError(err, ctx.signal);
      }
    };

  const campaignFn = guarded(async (req: pb.CampaignRequest, ctx): Promise<pb.CampaignResponse> => {
    const name = toBuffer(req.name);
    const caller = await checkRecipe(gate, ctx, name, 'write', true);
    const r = await campaign(s.recipeClient(caller), name, leaseOf(req.lease), toBuffer(req.value), ctx.signal);
    return {
      header: headers.header(r.revision),
      leader: {
        name,
        key: r.leader.key,
        rev: r.leader.rev,
        lease: fromBigInt(r.leader.lease, false),
      },
    };
  });

  const proclaimFn = guarded(async (req: pb.ProclaimRequest, ctx): Promise<pb.ProclaimResponse> => {
    const leaderKey = leaderKeyFromPb(req.leader);
    const caller = await checkRecipe(gate, ctx, toBuffer(req.leader?.key), 'write', false);
    const revision = await proclaim(s.recipeClient(caller), leaderKey, toBuffer(req.value), ctx.signal);
    return { header: headers.header(revision) };
  });

  const leaderFn = guarded(async (req: pb.LeaderRequest, ctx): Promise<pb.LeaderResponse> => {
    const caller = await checkRecipe(gate, ctx, toBuffer(req.name), 'read', true);
    const v = await leader(s.recipeClient(caller), toBuffer(req.name), ctx.signal);
    return { header: headers.header(v.revision), kv: v.kv };
  });

  const resignFn = guarded(async (req: pb.ResignRequest, ctx): Promise<pb.ResignResponse> => {
    const caller = await checkRecipe(gate, ctx, toBuffer(req.leader?.key), 'write', false);
    const revision = await resign(s.recipeClient(caller), leaderKeyFromPb(req.leader), ctx.signal);
    return { header: headers.header(revision) };
  });

  const observeFn = async (
    req: pb.LeaderRequest,
    ctx: CallContext,
    out: StreamWriter<pb.LeaderResponse>,
  ): Promise<void> => {
    let client: RecipeClient;
    try {
      client = s.recipeClient(await checkRecipe(gate, ctx, toBuffer(req.name), 'read', true));
    } catch (err) {
      throw recipeGrpcError(err, ctx.signal);
    }
    for await (const v of observe(client, toBuffer(req.name), ctx.signal)) {
      if (out.closed) break;
      if (!out.write({ header: headers.header(v.revision), kv: v.kv })) await out.drained();
    }
    if (ctx.signal.aborted) throw new TsetcdError('canceled');
  };

  return new Map<string, AnyHandler>([
    [`${ELECTION_SERVICE}/Campaign`, { kind: 'unary', fn: campaignFn }],
    [`${ELECTION_SERVICE}/Proclaim`, { kind: 'unary', fn: proclaimFn }],
    [`${ELECTION_SERVICE}/Leader`, { kind: 'unary', fn: leaderFn }],
    [`${ELECTION_SERVICE}/Observe`, { kind: 'server', fn: observeFn }],
    [`${ELECTION_SERVICE}/Resign`, { kind: 'unary', fn: resignFn }],
  ]);
}
