// Model-based test of the watch hub: random write workloads on
// an in-memory MvccStore, applied the way apply does (hub.notify at apply time, the
// batch written later), with compactions, watches from random revisions on several
// streams, cancels, partial draining (slow consumers become victims), progress requests
// and ticks, and durability lag. The delivered events are checked against the committed
// history replayed by a plain model: ordered, unique, atomic per revision, complete
// (no gaps), resumable from the start revision, filtered, prev_kv and create flags
// correct, progress notifications bookmark-correct; compaction cancels only watchers
// whose next revision is below a compaction revision. Seeds replay (fast-check).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeyValue, MvccEvent } from '../../src/mvcc/types.js';
import type { WatchOut, WatchStream } from '../../src/watch/index.js';
import { b, create, Harness } from './harness.js';

const KEYS = ['a', 'ab', 'b', 'ba', 'c'];
const keyArb = fc.constantFrom(...KEYS);

interface ModelEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly kv: KeyValue | undefined; // put: the new kv
  readonly rev: number;
}

type ModelOp = { put: [string, string] } | { del: [string, string | undefined] };

/** The committed history and the state after every revision. */
class Model {
  rev = 1;
  readonly states: Array<Map<string, KeyValue>> = [new Map(), new Map()];
  readonly events: ModelEvent[] = [];
  compactions: number[] = [];

  get state(): Map<string, KeyValue> {
    return this.states[this.rev] as Map<string, KeyValue>;
  }

  at(rev: number): Map<string, KeyValue> {
    return this.states[rev] as Map<string, KeyValue>;
  }

  /** Applies one revision's changes (puts then deletes, as given), if any change happens. */
  write(ops: readonly ModelOp[]): void {
    const next = new Map(this.state);
    const rev = this.rev + 1;
    const evs: ModelEvent[] = [];
    for (const op of ops) {
      if ('put' in op) {
        const [k, v] = op.put;
        const prev = next.get(k);
        const kv: KeyValue = {
          key: b(k),
          createRevision: prev?.createRevision ?? rev,
          modRevision: rev,
          version: (prev?.version ?? 0) + 1,
          value: b(v),
          lease: 0n as KeyValue['lease'],
        };
        next.set(k, kv);
        evs.push({ type: 'put', key: k, kv, rev });
      } else {
        const [k, end] = op.del;
        const doomed = [...next.keys()].filter((x) => (end === undefined ? x === k : x >= k && x < end)).sort();
        for (const x of doomed) {
          next.delete(x);
          evs.push({ type: 'delete', key: x, kv: undefined, rev });
        }
      }
    }
    if (evs.length === 0) return;
    this.rev = rev;
    this.states[rev] = next;
    this.events.push(...evs);
  }
}

interface WatchSpec {
  key: string;
  end: string | undefined; // undefined: single key; '\0': from key
  start: number; // resolved start revision
  noPut: boolean;
  noDelete: boolean;
  prevKv: boolean;
}

interface WatchRecord {
  readonly spec: WatchSpec;
  readonly progressNotify: boolean;
  readonly stream: number;
  id: number;
  createdRev: number;
  canceled: boolean;
}

function covers(spec: WatchSpec, key: string): boolean {
  if (spec.end === undefined) return key === spec.key;
  if (spec.end === '\0') return key >= spec.key;
  return key >= spec.key && key < spec.end;
}

function expectedEvents(m: Model, spec: WatchSpec): ModelEvent[] {
  return m.events.filter(
    (e) => e.rev >= spec.start && covers(spec, e.key) && !(e.type === 'put' ? spec.noPut : spec.noDelete),
  );
}

type Op =
  | { t: 'put'; k: string; v: number }
  | { t: 'del'; k: string; end: string | undefined }
  | { t: 'txn'; puts: string[]; del: string | undefined }
  | { t: 'compact'; back: number }
  | { t: 'watch'; s: number; k: string; range: 'key' | 'range' | 'from' | 'all'; k2: string; start: number; noPut: boolean; noDelete: boolean; prevKv: boolean; progressNotify: boolean }
  | { t: 'cancel'; s: number; i: number }
  | { t: 'drain'; s: number; n: number }
  | { t: 'flush'; n: number }
  | { t: 'settle' }
  | { t: 'progress'; s: number }
  | { t: 'tick'; s: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ t: fc.constant('put' as const), k: keyArb, v: fc.nat(99) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), k: keyArb, end: fc.option(fc.constantFrom('b', 'c', 'd'), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('txn' as const), puts: fc.uniqueArray(keyArb, { minLength: 1, maxLength: 3 }), del: fc.option(keyArb, { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('compact' as const), back: fc.nat(25) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('watch' as const),
      s: fc.nat(2),
      k: keyArb,
      range: fc.constantFrom('key' as const, 'range' as const, 'from' as const, 'all' as const),
      k2: fc.constantFrom('b', 'c', 'd'),
      start: fc.oneof(
        { weight: 1, arbitrary: fc.constant(0) },
        { weight: 4, arbitrary: fc.integer({ min: 1, max: 30 }) }, // this many revisions back
        { weight: 1, arbitrary: fc.integer({ min: -3, max: -1 }) }, // -1: negative; else future
      ),
      noPut: fc.boolean(),
      noDelete: fc.boolean(),
      prevKv: fc.boolean(),
      progressNotify: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('cancel' as const), s: fc.nat(2), i: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('drain' as const), s: fc.nat(2), n: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('flush' as const), n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 3, arbitrary: fc.constant({ t: 'settle' as const }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('progress' as const), s: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('tick' as const), s: fc.nat(2) }) },
);

function kvEq(got: KeyValue | undefined, want: KeyValue | undefined, what: string): void {
  const norm = (kv: KeyValue | undefined): unknown =>
    kv === undefined
      ? undefined
      : [kv.key.toString('latin1'), kv.createRevision, kv.modRevision, kv.version, kv.value.toString('latin1')];
  expect(norm(got), what).toEqual(norm(want));
}

async function runWorkload(ops: readonly Op[]): Promise<void> {
  const h = await Harness.create({
    streamQueueResponses: 3,
    streamQueueBytes: 2000,
    watchersPerSync: 2,
    syncChunkRevisions: 3,
    syncChunkRecords: 4,
    syncChunkBytes: 500,
    windowRevisions: 3,
    syncRetryMs: 5,
  });
  const m = new Model();
  const streams: WatchStream[] = [h.hub.newStream(), h.hub.newStream(), h.hub.newStream()];
  const logs: WatchOut[][] = [[], [], []];
  const records: WatchRecord[] = [];
  /** Per stream, create requests in order (refused ones included), to pair with created items. */
  const creates: Array<Array<WatchRecord | 'refused'>> = [[], [], []];
  const take = (s: number, n: number): void => {
    for (let i = 0; i < n; i++) {
      const o = (streams[s] as WatchStream).take();
      if (o === undefined) return;
      (logs[s] as WatchOut[]).push(o);
      if (o.kind === 'compacted') {
        // The Go client cancels a watcher the server canceled for compaction.
        const rec = records.find((r) => r.stream === s && r.id === o.watchId && !r.canceled);
        if (rec !== undefined) {
          rec.canceled = true;
          (streams[s] as WatchStream).cancel(o.watchId);
        }
      }
    }
  };
  const write = (mops: readonly ModelOp[]): void => {
    const before = m.rev;
    m.write(mops);
    const rev = h.apply((batch) =>
      h.store.applyTxn(
        {
          compare: [],
          success: mops.map((op) =>
            'put' in op
              ? { requestPut: { key: b(op.put[0]), value: b(op.put[1]) } }
              : { requestDeleteRange: { key: b(op.del[0]), ...(op.del[1] !== undefined ? { rangeEnd: b(op.del[1]) } : {}) } },
          ),
          failure: [],
        },
        batch,
        { leaseExists: () => true },
      ),
    );
    expect(rev, 'store and model revisions').toBe(m.rev);
    if (rev === before) expect(h.store.currentRevision).toBe(before);
  };

  for (const op of ops) {
    switch (op.t) {
      case 'put':
        write([{ put: [op.k, `v${op.v}`] }]);
        break;
      case 'del':
        write([{ del: [op.k, op.end !== undefined && op.end > op.k ? op.end : undefined] }]);
        break;
      case 'txn': {
        const ops2: ModelOp[] = op.puts.map((k) => ({ put: [k, `t${m.rev}`] as [string, string] }));
        if (op.del !== undefined && !op.puts.includes(op.del)) ops2.push({ del: [op.del, undefined] });
        write(ops2);
        break;
      }
      case 'compact': {
        const rev = m.rev - op.back;
        const last = m.compactions[m.compactions.length - 1] ?? -1;
        if (rev <= last || rev < 1) break;
        h.compactLogical(rev);
        m.compactions.push(rev);
        break;
      }
      case 'watch': {
        let end: string | undefined;
        let key = op.k;
        if (op.range === 'range') end = op.k2 > op.k ? op.k2 : undefined;
        else if (op.range === 'from') end = '\0';
        else if (op.range === 'all') {
          key = '';
          end = '\0';
        }
        const start =
          op.start === 0 ? 0 : op.start === -1 ? -1 : op.start < 0 ? m.rev - op.start : Math.max(1, m.rev - op.start);
        const s = streams[op.s] as WatchStream;
        const id = s.watch(
          create({ key, rangeEnd: end === undefined ? Buffer.alloc(0) : b(end), startRevision: start, noPut: op.noPut, noDelete: op.noDelete, prevKv: op.prevKv, progressNotify: op.progressNotify }),
        );
        if (id === -1) {
          expect(start).toBe(-1);
          (creates[op.s] as Array<WatchRecord | 'refused'>).push('refused');
          break;
        }
        const rec: WatchRecord = {
          spec: { key: key === '' ? '\0' : key, end, start: start === 0 ? m.rev + 1 : start, noPut: op.noPut, noDelete: op.noDelete, prevKv: op.prevKv },
          stream: op.s,
          progressNotify: op.progressNotify,
          id,
          createdRev: m.rev,
          canceled: false,
        };
        records.push(rec);
        (creates[op.s] as Array<WatchRecord | 'refused'>).push(rec);
        break;
      }
      case 'cancel': {
        const mine = records.filter((r) => r.stream === op.s && !r.canceled);
        const r = mine[op.i % Math.max(1, mine.length)];
        if (r === undefined) break;
        expect((streams[op.s] as WatchStream).cancel(r.id)).toBe(true);
        r.canceled = true;
        break;
      }
      case 'drain':
        count('victims', h.hub.stats().victims);
        count('unsynced', h.hub.stats().unsynced);
        take(op.s, op.n);
        break;
      case 'flush':
        await h.flush(op.n);
        break;
      case 'settle':
        await h.settle(50);
        break;
      case 'progress':
        (streams[op.s] as WatchStream).requestProgress();
        break;
      case 'tick':
        (streams[op.s] as WatchStream).progressTick();
        break;
    }
  }
  // Quiesce: everything written, every queue drained, every watcher caught up.
  await h.flush();
  for (let round = 0; ; round++) {
    expect(round, 'watchers never caught up').toBeLessThan(2000);
    await h.settle();
    for (let s = 0; s < 3; s++) take(s, 1_000_000);
    const busy = streams.some((s) => s.queued > 0 || s.victims.size > 0) || h.hub.stats().unsynced > 0;
    if (!busy) break;
  }
  for (const s of streams) expect(s.queued).toBe(0);
  count('runs');
  count('revisions', m.rev);
  for (const o of logs.flat()) {
    count(o.kind === 'progress' && o.watchId === -1 ? 'requested-progress' : o.kind);
    if (o.kind === 'events') count('event', o.events.length);
  }
  verify(m, logs, creates, records);
}

function verify(
  m: Model,
  logs: WatchOut[][],
  creates: Array<Array<WatchRecord | 'refused'>>,
  records: WatchRecord[],
): void {
  const finalCompact = m.compactions[m.compactions.length - 1] ?? -1;
  for (let s = 0; s < 3; s++) {
    const log = logs[s] as WatchOut[];
    const pending = [...(creates[s] as Array<WatchRecord | 'refused'>)];
    type State = { rec: WatchRecord; got: MvccEvent[]; lastRespRev: number; compacted: number; ended: boolean };
    const byId = new Map<number, State>();
    const done: State[] = [];
    for (const o of log) {
      switch (o.kind) {
        case 'created':
        case 'refused': {
          const next = pending.shift();
          expect(next, 'a created response without a request').toBeDefined();
          if (o.kind === 'refused') {
            expect(next).toBe('refused');
            expect(o.reason).toBe('compacted');
            break;
          }
          const rec = next as WatchRecord;
          expect(o.watchId).toBe(rec.id);
          expect(o.revision).toBe(rec.createdRev);
          byId.set(rec.id, { rec, got: [], lastRespRev: -1, compacted: 0, ended: false });
          break;
        }
        case 'events': {
          const w = byId.get(o.watchId);
          expect(w, `events for watch ${o.watchId} before its created response`).toBeDefined();
          const st = w as NonNullable<typeof w>;
          expect(st.ended, 'events after cancel/compaction').toBe(false);
          expect(o.events.length).toBeGreaterThan(0);
          const first = (o.events[0] as MvccEvent).kv.modRevision;
          expect(first, 'a revision split across responses').not.toBe(st.lastRespRev);
          st.lastRespRev = (o.events[o.events.length - 1] as MvccEvent).kv.modRevision;
          st.got.push(...o.events);
          expect(o.prevKv).toBe(st.rec.spec.prevKv);
          break;
        }
        case 'compacted': {
          const st = byId.get(o.watchId);
          expect(st).toBeDefined();
          const w = st as NonNullable<typeof st>;
          expect(m.compactions).toContain(o.compactRevision);
          w.compacted = o.compactRevision;
          w.ended = true;
          break;
        }
        case 'canceled': {
          const st = byId.get(o.watchId);
          expect(st).toBeDefined();
          (st as NonNullable<typeof st>).ended = true;
          byId.delete(o.watchId); // off the stream (auto ids are never reused)
          done.push(st as NonNullable<typeof st>);
          break;
        }
        case 'progress': {
          // Bookmark: every expected event <= R of every live watcher was already delivered.
          if (o.watchId !== -1) expect(byId.get(o.watchId)?.rec.progressNotify, 'unrequested progress').toBe(true);
          for (const w of byId.values()) {
            if (o.watchId !== -1 && w.rec.id !== o.watchId) continue;
            if (w.ended) {
              expect(o.watchId, 'progress -1 with a compacted watcher on the stream').not.toBe(-1);
              continue;
            }
            const want = expectedEvents(m, w.rec.spec).filter((e) => e.rev <= o.revision);
            expect(w.got.length, `progress ${o.revision} before events of watch ${w.rec.id}`).toBe(want.length);
          }
          break;
        }
      }
    }
    expect(pending, 'create requests without a created response').toEqual([]);
    for (const w of [...byId.values(), ...done]) checkWatcher(m, w, finalCompact);
  }
  expect(records.length).toBeGreaterThanOrEqual(0);
}

function checkWatcher(
  m: Model,
  w: { rec: WatchRecord; got: MvccEvent[]; compacted: number; ended: boolean },
  finalCompact: number,
): void {
  const want = expectedEvents(m, w.rec.spec);
  const tag = `watch ${w.rec.id} on stream ${w.rec.stream} from ${w.rec.spec.start}`;
  if (!w.ended) {
    expect(w.got.length, `${tag}: complete`).toBe(want.length);
  } else {
    expect(w.got.length, `${tag}: prefix`).toBeLessThanOrEqual(want.length);
  }
  if (w.compacted > 0) {
    const lastRev = w.got.length > 0 ? (w.got[w.got.length - 1] as MvccEvent).kv.modRevision : w.rec.spec.start - 1;
    expect(lastRev + 1, `${tag}: compacted although its next revision was not compacted`).toBeLessThan(w.compacted);
  }
  for (const [i, e] of w.got.entries()) {
    const x = want[i] as ModelEvent;
    expect(e.type, `${tag} #${i}`).toBe(x.type);
    expect(e.kv.key.toString('latin1')).toBe(x.key);
    expect(e.kv.modRevision, `${tag} #${i} revision`).toBe(x.rev);
    if (x.type === 'put') kvEq(e.kv, x.kv, `${tag} #${i} kv`);
    else expect([e.kv.createRevision, e.kv.version, e.kv.value.length]).toEqual([0, 0, 0]);
    if (!w.rec.spec.prevKv) continue;
    const before = m.at(x.rev - 1).get(x.key);
    const isCreate = e.type === 'put' && e.kv.createRevision === e.kv.modRevision;
    expect(isCreate, `${tag} #${i} create flag`).toBe(before === undefined);
    if (isCreate) continue;
    if (e.prevKv !== undefined) kvEq(e.prevKv, before, `${tag} #${i} prev_kv`);
    else expect(x.rev - 1, `${tag} #${i} prev_kv missing without compaction`).toBeLessThan(finalCompact);
  }
}

/** WATCH_MODEL_RUNS=1000 for a longer soak. */
const RUNS = Number(process.env['WATCH_MODEL_RUNS'] ?? 60);

/** What the runs exercised, so a workload that stops reaching the hard paths fails. */
const STATS: Record<string, number> = {};
const count = (k: string, n = 1): void => {
  STATS[k] = (STATS[k] ?? 0) + n;
};
describe('watch hub against the committed history', () => {
  it('delivers ordered, unique, atomic, complete and resumable events with correct prev_kv', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 40, maxLength: 150, size: 'max' }), async (ops) => {
        await runWorkload(ops);
      }),
      { numRuns: RUNS },
    );
    expect(STATS['runs']).toBe(RUNS);
    expect(STATS['event']).toBeGreaterThan(500);
    for (const k of ['victims', 'compacted', 'refused', 'canceled', 'requested-progress', 'progress']) {
      expect(STATS[k] ?? 0, `no run exercised ${k}`).toBeGreaterThan(0);
    }
  });
});
