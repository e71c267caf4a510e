/**
 * The `watch` workload: writers put unique values (and sometimes delete) on a few keys while
 * watchers record every response: one long-lived watcher per member over all keys from
 * revision 1 with prev_kv (resumed from last revision + 1 whenever its stream breaks, as a
 * new WatchLog; from the compaction revision when that history is gone, Jepsen's caveat), and short watchers per member on one key or the prefix, from revisions a
 * little in the past or the future, for 1-3 s. checkers/watch.ts validates them.
 *
 * Final phase (convergence, Jepsen's watch workload): an anchor put must reach every
 * member's long-lived watcher within 10 s; a watcher that never gets there is a failure.
 */
import { checkWatches } from '../checkers/watch.js';
import type { ClusterMember } from '../cluster/cluster.js';
import type {
  HistoryRecord,
  Op,
  WatchEventLog,
  WatchLog,
  WatchResponseLog,
} from '../history/op.js';
import { sigDelete, sigPut } from '../history/resolve.js';
import type { WorkloadContext } from './context.js';
import { bytes, execute, memberFor, num, sleep, text } from './context.js';
import { openWatch } from './streams.js';
import type { WatchStream } from './streams.js';
import type { Verdict, Workload } from './workload.js';

const KEYS = ['w/0', 'w/1', 'w/2', 'w/3'];
const BACKOFF_MS = 150;
/** An unknown write costs the checkers most; a member that times out is given a rest. */
const INFO_BACKOFF_MS = 1000;

interface RawKv {
  key?: Uint8Array;
  value?: Uint8Array;
  createRevision?: string;
  modRevision?: string;
  version?: string;
  lease?: string;
}
interface RawWatchResponse {
  header?: { revision?: string } | null;
  created?: boolean;
  canceled?: boolean;
  compactRevision?: string;
  cancelReason?: string;
  events?: { type?: number; kv?: RawKv | null; prevKv?: RawKv | null }[];
}

function toEvent(e: NonNullable<RawWatchResponse['events']>[number]): WatchEventLog {
  const kv = e.kv ?? {};
  const p = e.prevKv;
  return {
    type: e.type === 1 ? 'delete' : 'put',
    key: text(kv.key),
    value: text(kv.value),
    modRevision: num(kv.modRevision),
    createRevision: num(kv.createRevision),
    version: num(kv.version),
    lease: String(kv.lease ?? '0'),
    prevKv:
      p === undefined || p === null
        ? null
        : {
            value: text(p.value),
            modRevision: num(p.modRevision),
            createRevision: num(p.createRevision),
            version: num(p.version),
          },
  };
}

/** One watch stream from one start revision, logged until it ends. */
class Watcher {
  readonly responses: WatchResponseLog[] = [];
  lastRevision = 0;
  /** Set when the server canceled the watch for compaction: the oldest revision left. */
  compactRevision = 0;
  ended: Promise<string>;
  private stream: WatchStream;
  unimplemented = false;

  constructor(
    readonly ctx: WorkloadContext,
    readonly id: number,
    readonly member: ClusterMember,
    readonly key: string,
    readonly rangeEnd: string,
    readonly startRevision: number,
    readonly prevKv: boolean,
  ) {
    let resolveEnd: (why: string) => void = () => undefined;
    this.ended = new Promise((r) => (resolveEnd = r));
    this.stream = openWatch(
      ctx.client(member),
      (res) => this.onResponse(res as RawWatchResponse),
      (why) => {
        if (why.startsWith('UNIMPLEMENTED')) this.unimplemented = true;
        this.finish(why);
        resolveEnd(why);
      },
    );
    this.stream.send({
      createRequest: {
        key: bytes(key),
        rangeEnd: bytes(rangeEnd),
        startRevision: startRevision,
        prevKv,
      },
    });
  }

  private finishedWith: string | undefined;

  private onResponse(res: RawWatchResponse): void {
    const events = (res.events ?? []).map(toEvent);
    for (const e of events) this.lastRevision = Math.max(this.lastRevision, e.modRevision);
    if (res.created === true && events.length === 0 && res.canceled !== true) return;
    this.responses.push({
      at: this.ctx.recorder.now(),
      headerRevision: num(res.header?.revision),
      compactRevision: num(res.compactRevision),
      canceled: res.canceled === true,
      events,
    });
    if (res.canceled === true) this.compactRevision = num(res.compactRevision);
    if (res.canceled === true)
      this.close(
        `canceled: ${res.cancelReason ?? ''} (compact revision ${String(res.compactRevision)})`,
      );
  }

  /** etcd's RequestProgress: the answer is a progress notification (checkers/watch.ts). */
  requestProgress(): void {
    if (this.finishedWith === undefined) this.stream.send({ progressRequest: {} });
  }

  close(why = 'closed'): void {
    this.stream.close();
    this.finish(why);
  }

  private finish(why: string): void {
    if (this.finishedWith !== undefined) return;
    this.finishedWith = why;
    const log: WatchLog = {
      id: this.id,
      node: this.member.name,
      key: this.key,
      rangeEnd: this.rangeEnd,
      startRevision: this.startRevision,
      prevKv: this.prevKv,
      responses: this.responses,
      end: why,
    };
    this.ctx.recorder.watch(log);
  }

  get done(): boolean {
    return this.finishedWith !== undefined;
  }
}

async function untilStopped(ctx: WorkloadContext): Promise<void> {
  while (!ctx.stopped()) await sleep(50);
}

export function watchWorkload(): Workload {
  let nextWatcher = 0;
  let highestRevision = 1;
  const full = new Map<string, Watcher>();
  const convergence: string[] = [];
  let unimplemented = false;

  const writer = async (ctx: WorkloadContext, slot: number): Promise<void> => {
    let process = ctx.recorder.newProcess();
    let n = 0;
    while (!ctx.stopped()) {
      const member = memberFor(ctx, slot);
      const key = KEYS[ctx.rng.int(KEYS.length)] as string;
      const op: Op =
        ctx.rng.int(10) === 0
          ? await execute(
              ctx,
              process,
              member,
              { f: 'delete', key, input: {}, idempotent: false },
              (c) => c.deleteRange({ key: bytes(key) }),
              (res) => ({
                output: { deleted: num(res.deleted) },
                revision: num(res.header?.revision),
              }),
            )
          : await put(ctx, process, member, key, `${process}.${n++}`);
      if (op.revision !== undefined) highestRevision = Math.max(highestRevision, op.revision);
      if (op.type === 'info') process = ctx.recorder.newProcess();
      await sleep(op.type === 'ok' ? 10 : op.type === 'info' ? INFO_BACKOFF_MS : BACKOFF_MS);
    }
  };

  const put = (
    ctx: WorkloadContext,
    process: number,
    member: ClusterMember,
    key: string,
    value: string,
  ): Promise<Op> =>
    execute(
      ctx,
      process,
      member,
      { f: 'put', key, input: { value }, idempotent: false },
      (c) => c.put({ key: bytes(key), value: bytes(value) }),
      (res) => ({ output: {}, revision: num(res.header?.revision) }),
    );

  /** Where each member's long-lived watcher resumes: last revision + 1, or the compaction. */
  const resumeFrom = new Map<string, number>();

  const fullWatcher = async (ctx: WorkloadContext, member: ClusterMember): Promise<void> => {
    while (!ctx.stopped() && !unimplemented) {
      const from = resumeFrom.get(member.name) ?? 1;
      const w = new Watcher(ctx, nextWatcher++, member, '\u0000', '\u0000', from, true);
      full.set(member.name, w);
      // The long-lived watcher outlives the traffic phase: final() needs it open.
      // Meanwhile it asks for progress now and then (checked: no event at or below it later).
      const progress = setInterval(() => w.requestProgress(), 700 + ctx.rng.int(600));
      const ended = await Promise.race([
        w.ended.then(() => true),
        untilStopped(ctx).then(() => false),
      ]);
      clearInterval(progress);
      if (!ended) return;
      if (w.unimplemented) unimplemented = true;
      resumeFrom.set(member.name, Math.max(from, w.lastRevision + 1, w.compactRevision));
      await sleep(200);
    }
  };

  const shortWatchers = async (ctx: WorkloadContext, member: ClusterMember): Promise<void> => {
    while (!ctx.stopped() && !unimplemented) {
      const start = Math.max(1, highestRevision - 10 + ctx.rng.int(14));
      const single = ctx.rng.int(2) === 0;
      const key = single ? (KEYS[ctx.rng.int(KEYS.length)] as string) : 'w/';
      const w = new Watcher(
        ctx,
        nextWatcher++,
        member,
        key,
        single ? '' : 'w0',
        start,
        ctx.rng.int(2) === 0,
      );
      await Promise.race([w.ended, sleep(1000 + ctx.rng.int(2000))]);
      w.close();
      await sleep(100);
    }
  };

  return {
    name: 'watch',
    async run(ctx) {
      const ms = ctx.cluster.members;
      await Promise.all([
        ...[...ms, ...ms].map((_, i) => writer(ctx, i)),
        ...ms.map((m) => fullWatcher(ctx, m)),
        ...ms.map((m) => shortWatchers(ctx, m)),
      ]);
    },
    async final(ctx) {
      if (unimplemented) return;
      // Reopen long-lived watchers that are down (again, while waiting: a reopened one can
      // be canceled for compaction), then wait for an anchor write on all.
      const ms = ctx.cluster.members;
      const reopen = (): void => {
        for (const m of ms) {
          const w = full.get(m.name);
          if (w !== undefined && !w.done) continue;
          const from = Math.max(
            resumeFrom.get(m.name) ?? 1,
            (w?.lastRevision ?? 0) + 1,
            w?.compactRevision ?? 0,
          );
          resumeFrom.set(m.name, from);
          full.set(m.name, new Watcher(ctx, nextWatcher++, m, '\u0000', '\u0000', from, true));
        }
      };
      reopen();
      let anchor: Op | undefined;
      for (let i = 0; i < 20 && anchor?.type !== 'ok'; i++) {
        anchor = await put(
          ctx,
          ctx.recorder.newProcess(),
          ms[i % ms.length] as ClusterMember,
          'w/anchor',
          `anchor.${i}`,
        );
        if (anchor.type !== 'ok') await sleep(250);
      }
      const target = anchor?.type === 'ok' ? (anchor.revision ?? 0) : 0;
      if (target === 0) convergence.push('the final anchor write never succeeded');
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && [...full.values()].some((w) => w.lastRevision < target)) {
        await sleep(200);
        reopen();
      }
      for (const [name, w] of full) {
        if (w.lastRevision < target)
          convergence.push(
            `the watcher on ${name} stopped at revision ${w.lastRevision}, anchor at ${target}`,
          );
        w.close();
      }
    },
    check(ops: readonly Op[], records: readonly HistoryRecord[]): Verdict {
      if (unimplemented) return { valid: 'unknown', summary: 'Watch answered UNIMPLEMENTED' };
      const logs = records.flatMap((r) => (r.kind === 'watch' ? [r.watcher] : []));
      // The runner's compaction loop notes "compact N via m: outcome" for every request.
      const compactions = records.flatMap((r) => {
        const m = r.kind === 'note' ? /^compact (\d+) via /.exec(r.text) : null;
        return m === null ? [] : [Number(m[1])];
      });
      const v = checkWatches(ops, logs, compactions);
      const valid = v.valid && convergence.length === 0;
      return {
        valid,
        summary: valid
          ? `watch guarantees hold: ${v.watchers} watchers, ${v.events} events up to revision ${v.maxRevision}`
          : `watch: ${v.violations.length} violations, ${convergence.length} convergence failures`,
        explanation: [...convergence, ...v.violations].join('\n'),
      };
    },
    isWrite: (op) => op.f === 'put' || op.f === 'delete',
    signature(op) {
      if (op.key === undefined) return undefined;
      if (op.f === 'put') return sigPut(op.key, (op.input as { value: string }).value);
      return op.f === 'delete' ? sigDelete(op.key) : undefined;
    },
  };
}
