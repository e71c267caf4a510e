/**
 * mixed: what kube-apiserver sends (docs/architecture.md §4), in one workload.
 *
 * Objects are `<prefix><resource>/ns<n>/obj-<client>-<seq>` with --val-size values that
 * start with the write time. Each client owns its objects (as one apiserver owns its
 * writes) and remembers their mod revisions, like the watch cache does. Setup creates
 * --key-space-size objects; then each op is picked by weight:
 *   get 30 %    Range{key} (linearizable)
 *   list 8 %    paginated prefix list: Range{prefix, prefixEnd, limit: --list-limit}, the
 *               next page from lastKey+"\0" pinned to the first page's revision; half
 *               within a namespace, half across all namespaces of a resource
 *   create 10 % Txn{MOD(key)==0 ? Put}
 *   update 42 % Txn{MOD(key)==modRev ? Put : Range(key)}; on conflict retry once with the
 *               revision from the failure Range (counted in `updateConflicts`)
 *   delete 10 % Txn{MOD(key)==modRev ? DeleteRange : Range(key)}
 * Each worker also keeps one watch stream with a watch per resource prefix
 * (prev_kv, progress_notify), recording `watch-delivery` latency of PUT events and
 * counting non-create events that arrive without prev_kv (an error for kube-apiserver).
 */
import type { Compare, TxnResponse, WatchResponse } from '../src/generated/pb.js';
import { prefixEnd } from '../src/shared/bytes.js';
import { type EtcdClient, headerRevision, toNumber, type WatchStream } from './etcd-client.js';
import { epochMs } from './recorder.js';
import { clientFor, runClients, type Workload, type WorkerContext } from './context.js';

const RESOURCES = ['pods', 'configmaps', 'secrets', 'leases', 'events'] as const;
const NAMESPACES = 10;
const ZERO = Buffer.from([0]);

interface Owned {
  key: Buffer;
  modRev: number;
}

const MOD = 2; // Compare.CompareTarget.MOD
const EQUAL = 0; // Compare.CompareResult.EQUAL

function modEquals(key: Buffer, modRevision: number): Compare {
  return { target: MOD, result: EQUAL, key, modRevision };
}

function failureModRev(resp: TxnResponse): number | undefined {
  const kv = resp.responses?.[0]?.responseRange?.kvs?.[0];
  return kv === undefined ? undefined : toNumber(kv.modRevision);
}

export const mixedWorkload = (): Workload => {
  const owned = new Map<number, Owned[]>();
  const seqs = new Map<number, number>();
  let watch: WatchStream | undefined;

  function newKey(ctx: WorkerContext, clientId: number): Buffer {
    const seq = seqs.get(clientId) ?? 0;
    seqs.set(clientId, seq + 1);
    const res = RESOURCES[ctx.rng.int(RESOURCES.length)] ?? 'pods';
    return Buffer.from(`${ctx.opts.prefix}${res}/ns${ctx.rng.int(NAMESPACES)}/obj-${clientId}-${seq}`);
  }

  function stamped(ctx: WorkerContext): Buffer {
    const v = Buffer.from(ctx.value);
    v.writeDoubleLE(epochMs(), 0);
    return v;
  }

  async function create(ctx: WorkerContext, client: EtcdClient, clientId: number): Promise<void> {
    const key = newKey(ctx, clientId);
    const resp = await client.txn({ compare: [modEquals(key, 0)], success: [{ requestPut: { key, value: stamped(ctx) } }] });
    if (resp.succeeded !== true) throw new Error('mixed: create found the key already present');
    owned.get(clientId)?.push({ key, modRev: headerRevision(resp) });
  }

  async function update(ctx: WorkerContext, client: EtcdClient, obj: Owned): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const resp = await client.txn({
        compare: [modEquals(obj.key, obj.modRev)],
        success: [{ requestPut: { key: obj.key, value: stamped(ctx) } }],
        failure: [{ requestRange: { key: obj.key } }],
      });
      if (resp.succeeded === true) {
        obj.modRev = headerRevision(resp);
        return;
      }
      ctx.rec.count('updateConflicts');
      const rev = failureModRev(resp);
      if (rev === undefined) throw new Error('mixed: owned object vanished');
      obj.modRev = rev;
    }
    throw new Error('mixed: update conflicted twice');
  }

  async function remove(ctx: WorkerContext, client: EtcdClient, list: Owned[]): Promise<void> {
    const i = ctx.rng.int(list.length);
    const obj = list[i];
    if (obj === undefined) return;
    list[i] = list[list.length - 1] ?? obj;
    list.pop();
    const resp = await client.txn({
      compare: [modEquals(obj.key, obj.modRev)],
      success: [{ requestDeleteRange: { key: obj.key } }],
      failure: [{ requestRange: { key: obj.key } }],
    });
    if (resp.succeeded !== true) throw new Error('mixed: delete conflicted on an owned object');
  }

  async function list(ctx: WorkerContext, client: EtcdClient): Promise<void> {
    const res = RESOURCES[ctx.rng.int(RESOURCES.length)] ?? 'pods';
    const scope = ctx.rng.float() < 0.5 ? `${res}/ns${ctx.rng.int(NAMESPACES)}/` : `${res}/`;
    const prefix = Buffer.from(ctx.opts.prefix + scope);
    const end = prefixEnd(prefix);
    let key: Buffer = prefix;
    let revision = 0;
    for (;;) {
      const resp = await client.range({ key, rangeEnd: end, limit: ctx.opts.listLimit, revision });
      ctx.rec.count('listPages');
      if (revision === 0) revision = headerRevision(resp);
      const kvs = resp.kvs ?? [];
      const last = kvs[kvs.length - 1]?.key;
      // kube-apiserver: hasMore = len(kvs) < count (count is over the whole range)
      if (last === undefined || kvs.length >= toNumber(resp.count)) return;
      key = Buffer.concat([Buffer.from(last), ZERO]);
    }
  }

  function onWatch(ctx: WorkerContext, resp: WatchResponse): void {
    if (resp.canceled === true) ctx.rec.failAlways(`watch canceled: ${resp.cancelReason ?? ''}`);
    const now = epochMs();
    for (const ev of resp.events ?? []) {
      ctx.rec.count('watchEvents');
      const isCreate = ev.type !== 1 && toNumber(ev.kv?.version) === 1;
      if (!isCreate && ev.prevKv == null) ctx.rec.count('eventsMissingPrevKv');
      const v = ev.kv?.value;
      if (ev.type !== 1 && v !== undefined && v.length >= 8) {
        ctx.rec.sample('watch-delivery', now - Buffer.from(v.buffer, v.byteOffset, v.byteLength).readDoubleLE(0));
      }
    }
  }

  return {
    setup: async (ctx) => {
      const first = ctx.clients.values().next().value;
      if (first !== undefined) {
        watch = first.watchStream(
          (resp) => onWatch(ctx, resp),
          (code, message) => {
            if (code !== 1) ctx.rec.failAlways(`watch stream closed: code ${code}: ${message}`.slice(0, 200));
          },
        );
        for (const res of RESOURCES) {
          const key = Buffer.from(`${ctx.opts.prefix}${res}/`);
          watch.send({ createRequest: { key, rangeEnd: prefixEnd(key), prevKv: true, progressNotify: true } });
        }
      }
      const perClient = Math.ceil(ctx.opts.keySpaceSize / ctx.opts.clients);
      await Promise.all(
        ctx.spec.clientIds.map(async (clientId) => {
          owned.set(clientId, []);
          const client = clientFor(ctx, clientId);
          for (let i = 0; i < perClient; i++) await create(ctx, client, clientId);
        }),
      );
    },
    run: (ctx) =>
      runClients(ctx, async (client, clientId) => {
        const mine = owned.get(clientId) ?? [];
        const r = ctx.rng.int(100);
        if (r < 30) {
          const obj = mine[ctx.rng.int(Math.max(1, mine.length))];
          if (obj === undefined) return create(ctx, client, clientId).then(() => 'create');
          await client.range({ key: obj.key });
          return 'get';
        }
        if (r < 38) return list(ctx, client).then(() => 'list');
        if (r < 48 || mine.length < 2) return create(ctx, client, clientId).then(() => 'create');
        if (r < 90) {
          const obj = mine[ctx.rng.int(mine.length)];
          if (obj === undefined) throw new Error('mixed: no object to update');
          return update(ctx, client, obj).then(() => 'update');
        }
        return remove(ctx, client, mine).then(() => 'delete');
      }),
    teardown: (ctx) => {
      watch?.raw.cancel();
      const missing = ctx.rec.counters['eventsMissingPrevKv'] ?? 0;
      if (missing > 0) ctx.rec.failAlways(`watch: ${missing} non-create events without prev_kv`);
    },
  };
};
