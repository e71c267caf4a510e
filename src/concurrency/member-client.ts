/**
 * The recipes' client over a member's own primitives: what etcd's v3client loopback
 * is for its v3election / v3lock servers. Requests take the same paths as the KV and
 * Lease services take for a remote client, minus gRPC:
 *
 * - range: a linearizable read point (ReadIndex, wait for apply), then the local store;
 * - txn / deleteRange: the request's protobuf bytes proposed through the log (kinds Txn
 *   and DeleteRange), answered from this member's apply result; a txn without writes
 *   is served like a range, as etcd serves read-only txns;
 * - leaseGrant: a random positive int63 id chosen here (as the Lease service does, so
 *   the log entry is deterministic), proposed as LeaseGrant;
 * - watch: one stream of the member's watch hub per watch, read until the caller
 *   stops; a compaction cancel becomes TsetcdError('compacted').
 *
 * The recipes build only valid requests (non-empty keys, valid sorts), so the KV
 * service's request validation is not repeated here, except the empty-key check of
 * deleteRange (Unlock deletes the key the caller names).
 */
import { toBuffer } from '../shared/bytes.js';
import { TsetcdError } from '../shared/errors.js';
import { leaseId, type LeaseId } from '../shared/ids.js';
import type * as pb from '../generated/pb.js';
import { codec } from '../shared/pb-codec.js';
import type { Rng } from '../shared/rng.js';
import { RequestKind, type DecodedRequest } from '../apply/request.js';
import type { ApplyOutcome } from '../apply/applier.js';
import { kvToPb, rangeFromPb, rangeToPb, txnFromPb, txnToPb } from '../apply/convert.js';
import { encodeGrantRequest, type LeaseGrantResult } from '../lease/index.js';
import type { MvccStore } from '../mvcc/index.js';
import type { WatchHub, WatchOut } from '../watch/index.js';
import type { RecipeClient, RecipeWatchRequest, RecipeWatchResponse } from './client.js';

/** Who the loopback client runs as: proposed with each write, checked at apply (apply/request.ts). */
export type RecipeCaller = NonNullable<DecodedRequest['caller']>;

/** What the loopback client needs from the member (server/member.ts wires it). */
export interface MemberPrimitives {
  /** Read at each call: a snapshot install replaces the store. */
  readonly store: MvccStore;
  readonly hub: WatchHub;
  /** Lease ids for sessions of lease 0. */
  readonly rng: Rng;
  propose(kind: RequestKind, payload: Uint8Array, signal?: AbortSignal, caller?: RecipeCaller): Promise<ApplyOutcome>;
  linearizableReadPoint(signal?: AbortSignal): Promise<void>;
}

const INT63_MASK = (1n << 63n) - 1n;
const txnCodec = codec<pb.TxnRequest>('etcdserverpb.TxnRequest');
const deleteCodec = codec<pb.DeleteRangeRequest>('etcdserverpb.DeleteRangeRequest');

/**
 * `caller`: the identity the recipe runs for; its txns and deletes carry it into the
 * log as a client's writes do, so apply checks them against it (etcd's v3election and
 * v3lock run the recipes over a loopback client that carries the caller's token).
 */
export function memberRecipeClient(m: MemberPrimitives, caller?: RecipeCaller): RecipeClient {
  async function propose(
    kind: RequestKind,
    payload: Uint8Array,
    signal: AbortSignal,
  ): Promise<ApplyOutcome & { ok: true }> {
    const outcome = await m.propose(kind, payload, signal, caller);
    if (!outcome.ok) throw outcome.error;
    return outcome;
  }

  return {
    async range(req, signal) {
      await readPoint(m, signal);
      const res = await m.store.range(rangeFromPb(req));
      return { header: { revision: res.revision }, ...rangeToPb(res) };
    },

    async txn(req, signal) {
      const bytes = txnCodec.encode(req);
      if (isReadOnly(req)) {
        await readPoint(m, signal);
        // Decoded again so oneof members (compare targets) read as they do off the wire.
        const res = await m.store.txnReadOnly(txnFromPb(txnCodec.decode(bytes)));
        return { header: { revision: res.revision }, ...txnToPb(res) };
      }
      const outcome = await propose(RequestKind.Txn, bytes, signal);
      return { header: { revision: outcome.revision }, ...(outcome.response as pb.TxnResponse) };
    },

    async deleteRange(req, signal) {
      // Unlock passes the caller's key through: the KV service's first check.
      if (toBuffer(req.key).length === 0) throw new TsetcdError('key-not-provided');
      const outcome = await propose(RequestKind.DeleteRange, deleteCodec.encode(req), signal);
      const res = outcome.response as pb.DeleteRangeResponse;
      return { header: { revision: outcome.revision }, ...res };
    },

    async leaseGrant(ttlSeconds, signal): Promise<LeaseId> {
      let id = leaseId(0n);
      while (id === 0n) id = leaseId(m.rng.uint64() & INT63_MASK);
      const payload = encodeGrantRequest(id, BigInt(ttlSeconds));
      const outcome = await propose(RequestKind.LeaseGrant, payload, signal);
      return (outcome.response as LeaseGrantResult).id;
    },

    watch(req, signal) {
      return hubWatch(m.hub, req, signal);
    },
  };
}

/**
 * The read point through a signal of its own, linked to the caller's: the recipes read
 * many times under one long-lived call signal (a waiting Lock or Campaign, Observe),
 * and a listener left on it per read would pile up for the life of the call.
 */
async function readPoint(m: MemberPrimitives, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw new TsetcdError('canceled');
  const own = new AbortController();
  const onAbort = (): void => own.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await m.linearizableReadPoint(own.signal);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function isReadOnly(r: pb.TxnRequest): boolean {
  return [...(r.success ?? []), ...(r.failure ?? [])].every(
    (op) =>
      !op.requestPut && !op.requestDeleteRange && (!op.requestTxn || isReadOnly(op.requestTxn)),
  );
}

async function* hubWatch(
  hub: WatchHub,
  req: RecipeWatchRequest,
  signal: AbortSignal,
): AsyncGenerator<RecipeWatchResponse, void, undefined> {
  if (signal.aborted) throw new TsetcdError('canceled');
  const stream = hub.newStream();
  let wake: (() => void) | undefined;
  const onAbort = (): void => wake?.();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    stream.watch({
      key: req.key,
      rangeEnd: req.rangeEnd ?? Buffer.alloc(0),
      startRevision: req.startRevision,
      watchId: 0,
      noPut: false,
      noDelete: false,
      prevKv: false,
      fragment: false,
      progressNotify: false,
    });
    for (;;) {
      if (signal.aborted) throw new TsetcdError('canceled');
      const out: WatchOut | undefined = stream.take();
      if (out === undefined) {
        if (stream.closed) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
          void stream.readable().then(resolve);
        });
        wake = undefined;
        continue;
      }
      switch (out.kind) {
        case 'events':
          yield {
            revision: out.revision,
            events: out.events.map((e) => ({
              type: e.type,
              kv:
                e.type === 'put'
                  ? kvToPb(e.kv)
                  : { key: toBuffer(e.kv.key), modRevision: e.kv.modRevision },
            })),
          };
          break;
        case 'compacted':
        case 'refused':
          throw new TsetcdError('compacted');
        case 'canceled':
          return;
        case 'created':
        case 'progress':
          break;
      }
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    stream.close();
  }
}
