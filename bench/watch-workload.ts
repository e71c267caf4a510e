/**
 * watch and watch-latency: many watchers, puts that trigger them, and the time from a
 * put being sent to each watcher receiving its event.
 *
 * Layout (global, so every worker computes the same): --streams watch streams, stream s
 * on connection s % conns; watcher i lives on stream i % streams and watches key
 * i % --watched-keys. Watchers are created one at a time per stream, each after the
 * previous one's `created` answer, as etcd's Go client does. Setup is not measured.
 *
 * Measured: the put clients put random watched keys at --put-rate; each value starts
 * with the send time (float64, epoch ms, same clock in every thread). Every delivered
 * event records `watch-delivery` latency. After the puts, the worker waits until its
 * watchers have been quiet for QUIET_MS (bounded by MAX_DRAIN_MS). Counters:
 * eventsDelivered, eventsExpected (each successful put × the watchers on its key), and
 * eventSpanMs (measure start to last event), from which the runner derives events/s.
 * Setup reports watchCreateMs: from this worker's first create request to its last
 * `created` answer (all its streams create in parallel; the runner keeps the max over
 * workers, so it is the time to create every watcher of the run).
 */
import type { WatchResponse } from '../src/generated/pb.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { toNumber, type WatchStream } from './etcd-client.js';
import { epochMs, nowMs } from './recorder.js';
import { makeKey, runClients, type Workload, type WorkerContext } from './context.js';

const QUIET_MS = 300;
const MAX_DRAIN_MS = 10_000;
const CREATE_TIMEOUT_MS = 10_000;

/** Watchers on key k across the whole run (all workers). */
function watchersOnKey(watchers: number, watchedKeys: number, k: number): number {
  return Math.floor(watchers / watchedKeys) + (k < watchers % watchedKeys ? 1 : 0);
}

export const watchWorkload = (): Workload => {
  const streams: WatchStream[] = [];
  let lastEventMs = 0;

  function onResponse(ctx: WorkerContext, resp: WatchResponse): void {
    if (resp.canceled === true) {
      ctx.rec.failAlways(`watch canceled: ${resp.cancelReason ?? ''}`.slice(0, 200));
      return;
    }
    const events = resp.events ?? [];
    if (events.length === 0) return;
    const now = epochMs();
    for (const ev of events) {
      const v = ev.kv?.value;
      if (v === undefined || v.length < 8) continue;
      const sentAt = Buffer.from(v.buffer, v.byteOffset, v.byteLength).readDoubleLE(0);
      ctx.rec.sample('watch-delivery', now - sentAt);
      ctx.rec.count('eventsDelivered');
    }
    if (ctx.rec.recording) lastEventMs = nowMs();
  }

  async function openStream(ctx: WorkerContext, streamId: number): Promise<void> {
    const { opts } = ctx;
    const client = ctx.clients.get(streamId % opts.conns);
    if (client === undefined) throw new Error(`stream ${streamId} not on this worker`);
    let pendingCreate: ((watchId: number) => void) | undefined;
    const stream = client.watchStream(
      (resp) => {
        if (resp.created === true && pendingCreate !== undefined) {
          const p = pendingCreate;
          pendingCreate = undefined;
          p(toNumber(resp.watchId));
          // a created response may also carry no events; nothing else to do
          return;
        }
        onResponse(ctx, resp);
      },
      (code, message) => {
        if (code !== 1) ctx.rec.failAlways(`watch stream closed: code ${code}: ${message}`.slice(0, 200));
      },
    );
    streams.push(stream);
    for (let i = streamId; i < opts.watchers; i += opts.watchStreams) {
      const key = makeKey(opts, i % opts.watchedKeys);
      const created = new Promise<number>((resolve, reject) => {
        pendingCreate = resolve;
        setTimeout(() => reject(new Error(`watch create timed out after ${CREATE_TIMEOUT_MS} ms`)), CREATE_TIMEOUT_MS).unref();
      });
      stream.send({ createRequest: { key } });
      await created;
    }
  }

  return {
    setup: async (ctx) => {
      const mine: number[] = [];
      for (let s = 0; s < ctx.opts.watchStreams; s++) if (ctx.clients.has(s % ctx.opts.conns)) mine.push(s);
      const t0 = nowMs();
      await Promise.all(mine.map((s) => openStream(ctx, s)));
      // Set directly: the recorder counts nothing before the measured start.
      if (mine.length > 0) ctx.rec.counters['watchCreateMs'] = nowMs() - t0;
    },
    run: async (ctx) => {
      const { opts } = ctx;
      await runClients(ctx, async (client) => {
        const k = ctx.rng.int(opts.watchedKeys);
        const value = Buffer.from(ctx.value);
        value.writeDoubleLE(epochMs(), 0);
        await client.put({ key: makeKey(opts, k), value });
        ctx.rec.count('eventsExpected', watchersOnKey(opts.watchers, opts.watchedKeys, k));
        return 'put';
      });
      // Drain: wait until this worker's watchers have been quiet for a while.
      const drainStart = nowMs();
      let seen = -1;
      for (;;) {
        const delivered = ctx.rec.counters['eventsDelivered'] ?? 0;
        if (delivered === seen && nowMs() - lastEventMs >= QUIET_MS) break;
        if (nowMs() - drainStart > MAX_DRAIN_MS) break;
        seen = delivered;
        await sleep(100);
      }
    },
    teardown: (ctx) => {
      if (lastEventMs > 0) ctx.rec.counters['eventSpanMs'] = lastEventMs - ctx.rec.measureStartMs;
      for (const s of streams) s.raw.cancel();
    },
  };
};
