/**
 * concurrency: etcd's client/v3/concurrency recipes (mutex, election) run inside a
 * member, for the v3lock and v3election services (v3rpc/lock.ts, election.ts).
 *
 * Use:
 *   const client = memberRecipeClient({ store, hub, rng, propose, linearizableReadPoint });
 *   await lock(client, name, lease, signal)       // -> { key, revision }
 *   await campaign(client, name, lease, value, signal)
 *   for await (const v of observe(client, name, signal)) ...
 *
 * Imports: shared, apply (request kinds, wire conversions), lease (grant encoding),
 * mvcc and watch types; never server.
 */
export type {
  RecipeClient,
  RecipeEvent,
  RecipeWatchRequest,
  RecipeWatchResponse,
} from './client.js';
export { RecipeError, isRecipeError, type RecipeErrorCode } from './errors.js';
export { DEFAULT_SESSION_TTL_SECONDS, leaseHex, sessionKey, waitDeletes } from './keys.js';
export { lock, unlock, type LockResult } from './mutex.js';
export {
  campaign,
  proclaim,
  resign,
  leader,
  observe,
  type LeaderKey,
  type LeaderValue,
  type CampaignResult,
} from './election.js';
export { memberRecipeClient, type MemberPrimitives, type RecipeCaller } from './member-client.js';
