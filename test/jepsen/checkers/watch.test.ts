/**
 * Self-tests of the watch validator: watchers that replay a committed history exactly
 * (generated) pass; each broken guarantee (a missed event, a duplicate, a revision going
 * back, a split revision, a wrong prev_kv, a phantom, a wrong version, disagreeing
 * watchers, an event outside the range) is reported.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Op, WatchEventLog, WatchLog, WatchResponseLog } from '../history/op.js';
import { checkWatches } from './watch.js';
import { op } from './fixtures.js';

interface Step {
  readonly del: boolean;
  readonly key: string;
}

/** Executes puts/deletes from revision 2 on; returns the ops and the events by revision. */
function execute(steps: readonly Step[]): { ops: Op[]; events: WatchEventLog[] } {
  const state = new Map<string, { value: string; mod: number; create: number; version: number }>();
  const ops: Op[] = [];
  const events: WatchEventLog[] = [];
  let rev = 1;
  steps.forEach((s, i) => {
    const cur = state.get(s.key);
    if (s.del) {
      if (cur === undefined) {
        ops.push(op('delete', i, i + 0.5, {}, { deleted: 0 }, { key: s.key, revision: rev }));
        return;
      }
      rev++;
      state.delete(s.key);
      events.push({
        type: 'delete',
        key: s.key,
        value: '',
        modRevision: rev,
        createRevision: 0,
        version: 0,
        lease: '0',
        prevKv: {
          value: cur.value,
          modRevision: cur.mod,
          createRevision: cur.create,
          version: cur.version,
        },
      });
      ops.push(op('delete', i, i + 0.5, {}, { deleted: 1 }, { key: s.key, revision: rev }));
      return;
    }
    rev++;
    const value = `v${i}`;
    const next = { value, mod: rev, create: cur?.create ?? rev, version: (cur?.version ?? 0) + 1 };
    state.set(s.key, next);
    events.push({
      type: 'put',
      key: s.key,
      value,
      modRevision: rev,
      createRevision: next.create,
      version: next.version,
      lease: '0',
      prevKv:
        cur === undefined
          ? null
          : {
              value: cur.value,
              modRevision: cur.mod,
              createRevision: cur.create,
              version: cur.version,
            },
    });
    ops.push(op('put', i, i + 0.5, { value }, {}, { key: s.key, revision: rev }));
  });
  return { ops, events };
}

let wid = 0;
function watcher(
  events: readonly WatchEventLog[],
  from: number,
  opts: { key?: string; rangeEnd?: string; prevKv?: boolean; chunk?: number } = {},
): WatchLog {
  const key = opts.key ?? 'k/';
  const rangeEnd = opts.rangeEnd ?? 'k0';
  const prevKv = opts.prevKv ?? true;
  const mine = events
    .filter(
      (e) =>
        e.modRevision >= from &&
        (rangeEnd === '' ? e.key === key : e.key >= key && e.key < rangeEnd),
    )
    .map((e) => (prevKv ? e : { ...e, prevKv: null }));
  const responses: WatchResponseLog[] = [];
  const chunk = opts.chunk ?? 2;
  for (let i = 0; i < mine.length; i += chunk) {
    responses.push({
      at: i,
      headerRevision: 0,
      compactRevision: 0,
      canceled: false,
      events: mine.slice(i, i + chunk),
    });
  }
  return {
    id: wid++,
    node: 'n1',
    key,
    rangeEnd,
    startRevision: from,
    prevKv,
    responses,
    end: 'closed',
  };
}

const stepsArb = fc.array(
  fc.record({ del: fc.boolean(), key: fc.constantFrom('k/a', 'k/b', 'k/c') }),
  { minLength: 3, maxLength: 40 },
);

describe('watch validator (generated)', () => {
  it('accepts watchers that replay the committed history, from any start and on any key', () => {
    fc.assert(
      fc.property(stepsArb, fc.nat(), fc.integer({ min: 1, max: 3 }), (steps, from, chunk) => {
        const h = execute(steps);
        const max = h.events.length + 1;
        const ws = [
          watcher(h.events, 1, { chunk }),
          watcher(h.events, 2 + (from % max), { chunk }),
          watcher(h.events, 1, { key: 'k/a', rangeEnd: '', prevKv: false }),
        ];
        expect(checkWatches(h.ops, ws).violations).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('reports a dropped event of a watcher that went on past it', () => {
    fc.assert(
      fc.property(stepsArb, fc.nat(), (steps, pick) => {
        const h = execute(steps);
        fc.pre(h.events.length >= 2);
        const full = watcher(h.events, 1, { chunk: 1 });
        const other = watcher(h.events, 1, { chunk: 1 });
        const drop = pick % (h.events.length - 1); // never the last: the watcher must go past it
        const broken: WatchLog = {
          ...other,
          responses: other.responses.filter((_, i) => i !== drop),
        };
        expect(checkWatches(h.ops, [full, broken]).valid).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});

describe('watch validator (hand-written)', () => {
  const h = execute([
    { del: false, key: 'k/a' },
    { del: false, key: 'k/b' },
    { del: false, key: 'k/a' },
    { del: true, key: 'k/a' },
    { del: false, key: 'k/a' },
  ]);

  it('reports duplicates, going back, split revisions and out-of-range events', () => {
    const w = watcher(h.events, 1, { chunk: 1 });
    const dup = {
      ...w,
      responses: [
        ...w.responses.slice(0, 2),
        w.responses[1] as WatchResponseLog,
        ...w.responses.slice(2),
      ],
    };
    const v = checkWatches(h.ops, [dup]).violations.join('\n');
    expect(v).toMatch(/delivered twice/);
    expect(v).toMatch(/split across two responses/);
    const back = {
      ...w,
      responses: [
        w.responses[1] as WatchResponseLog,
        w.responses[0] as WatchResponseLog,
        ...w.responses.slice(2),
      ],
    };
    expect(checkWatches(h.ops, [back]).violations.join()).toMatch(/went back/);
    const narrow = watcher(h.events, 1, { key: 'k/a', rangeEnd: '' });
    const leaky = {
      ...narrow,
      responses: [
        ...narrow.responses,
        {
          at: 9,
          headerRevision: 0,
          compactRevision: 0,
          canceled: false,
          events: [h.events[1] as WatchEventLog],
        },
      ],
    };
    expect(checkWatches(h.ops, [leaky]).violations.join()).toMatch(/outside its range/);
  });

  it('reports a wrong prev_kv, a wrong version, a phantom and disagreeing watchers', () => {
    const w = watcher(h.events, 1, { chunk: 1 });
    const e2 = h.events[2] as WatchEventLog;
    const badPrev = { ...e2, prevKv: null };
    const withBadPrev = {
      ...w,
      responses: w.responses.map((r) => ({
        ...r,
        events: r.events.map((e) => (e === e2 ? badPrev : e)),
      })),
    };
    expect(checkWatches(h.ops, [withBadPrev]).violations.join()).toMatch(/prev_kv/);
    // etcd omits prev_kv once revision - 1 is compacted: a compaction at or above the
    // event's revision excuses a missing prev_kv, never a wrong one, and one below does not.
    expect(checkWatches(h.ops, [withBadPrev], [e2.modRevision]).violations).toEqual([]);
    expect(checkWatches(h.ops, [withBadPrev], [e2.modRevision - 1]).violations.join()).toMatch(/prev_kv/);
    const wrongPrev = { ...e2, prevKv: { ...(e2.prevKv ?? { createRevision: 0, version: 0 }), value: 'x', modRevision: 1 } };
    const withWrongPrev = {
      ...w,
      responses: w.responses.map((r) => ({
        ...r,
        events: r.events.map((e) => (e === e2 ? wrongPrev : e)),
      })),
    };
    expect(checkWatches(h.ops, [withWrongPrev], [e2.modRevision]).violations.join()).toMatch(/prev_kv/);
    const badVersion = { ...e2, version: 7 };
    const withBadVersion = {
      ...w,
      responses: w.responses.map((r) => ({
        ...r,
        events: r.events.map((e) => (e === e2 ? badVersion : e)),
      })),
    };
    expect(checkWatches(h.ops, [withBadVersion]).violations.join()).toMatch(/version 7/);
    const phantom = { ...e2, value: 'nobody-wrote-this' };
    const withPhantom = {
      ...w,
      responses: w.responses.map((r) => ({
        ...r,
        events: r.events.map((e) => (e === e2 ? phantom : e)),
      })),
    };
    const v = checkWatches(h.ops, [w, withPhantom]).violations.join('\n');
    expect(v).toMatch(/phantom/);
    expect(v).toMatch(/saw/);
  });

  it('reports an acknowledged write missing at its revision, and a compaction cancel without cause', () => {
    const w = watcher(h.events, 1, { chunk: 1 });
    const without = { ...w, responses: w.responses.filter((r) => r.events[0]?.modRevision !== 3) };
    expect(checkWatches(h.ops, [without]).violations.join()).toMatch(/missed/);
    const late = watcher(h.events, 5, { chunk: 1 });
    const canceled = {
      ...late,
      responses: [
        ...late.responses,
        { at: 9, headerRevision: 6, compactRevision: 4, canceled: true, events: [] },
      ],
    };
    expect(checkWatches(h.ops, [canceled]).violations.join()).toMatch(/canceled for compaction/);
    const fromOld = {
      ...watcher(h.events, 2),
      responses: [{ at: 9, headerRevision: 6, compactRevision: 4, canceled: true, events: [] }],
    };
    expect(checkWatches(h.ops, [w, fromOld]).valid).toBe(true);
  });

  it('reports an event at or below the revision a progress notification promised', () => {
    const h = execute([{ del: false, key: 'k/a' }, { del: false, key: 'k/b' }, { del: false, key: 'k/a' }]);
    const w = watcher(h.events, 1, { chunk: 1 });
    const progress = (at: number, rev: number): WatchResponseLog => ({ at, headerRevision: rev, compactRevision: 0, canceled: false, events: [] });
    const good: WatchLog = { ...w, responses: [w.responses[0] as WatchResponseLog, progress(0.5, 2), ...w.responses.slice(1)] };
    expect(checkWatches(h.ops, [good]).violations).toEqual([]);
    const bad: WatchLog = { ...w, responses: [w.responses[0] as WatchResponseLog, progress(0.5, 3), ...w.responses.slice(1)] };
    expect(checkWatches(h.ops, [bad]).violations.join('\n')).toMatch(/event at revision 3 after a progress notification at 3/);
  });
});
