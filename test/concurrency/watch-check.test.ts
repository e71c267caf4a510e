// The watch checker (watch-check.ts) on a hand-made history: a faithful observation
// passes, and each kind of broken delivery is reported.
import { describe, expect, it } from 'vitest';
import {
  checkWatch,
  History,
  type HistEvent,
  type Kv,
  type ObservedEvent,
  type ObservedResponse,
  type ObservedWatch,
  type WatchSpec,
} from './watch-check.js';

const kv = (key: string, value: string, create: number, mod: number, version: number): Kv => ({
  key,
  value,
  create,
  mod,
  version,
  lease: '0',
});
const del = (key: string, rev: number): HistEvent => ({
  type: 'delete',
  rev,
  kv: kv(key, '', 0, rev, 0),
});
const put = (
  key: string,
  value: string,
  create: number,
  rev: number,
  version: number,
): HistEvent => ({
  type: 'put',
  rev,
  kv: kv(key, value, create, rev, version),
});

// rev 2: a=1; rev 3: b=1; rev 4: a=2, b=2 (one txn); rev 5: delete a; rev 6: a=3
const events: HistEvent[] = [
  put('a', '1', 2, 2, 1),
  put('b', '1', 3, 3, 1),
  put('a', '2', 2, 4, 2),
  put('b', '2', 3, 4, 2),
  del('a', 5),
  put('a', '3', 6, 6, 1),
];
const h = new History(events);
const ctx = { maxCompactRev: 0, compactions: [] };
const spec: WatchSpec = {
  key: 'a',
  rangeEnd: 'c',
  startRev: 2,
  noPut: false,
  noDelete: false,
  prevKv: true,
};

function observed(e: HistEvent): ObservedEvent {
  const before = h.stateAt(e.kv.key, e.rev - 1);
  return { type: e.type, kv: e.kv, prevKv: before };
}

function byRevision(list: readonly HistEvent[]): ObservedResponse[] {
  const out: ObservedResponse[] = [];
  for (const rev of [...new Set(list.map((e) => e.rev))]) {
    out.push({
      kind: 'events',
      headerRev: rev,
      events: list.filter((e) => e.rev === rev).map(observed),
    });
  }
  return out;
}

function watch(responses: ObservedResponse[], over: Partial<ObservedWatch> = {}): ObservedWatch {
  return { name: 'w', spec, segments: [{ startRev: 2, member: 'm1', responses }], ...over };
}

describe('watch checker', () => {
  it('accepts a faithful delivery, also split across resumed segments and with progress', () => {
    expect(checkWatch(h, watch(byRevision(events)), ctx)).toEqual([]);
    const resumed: ObservedWatch = {
      name: 'w',
      spec,
      segments: [
        {
          startRev: 2,
          member: 'm1',
          responses: [...byRevision(events.slice(0, 2)), { kind: 'progress', headerRev: 3 }],
        },
        { startRev: 4, member: 'm2', responses: byRevision(events.slice(2)) },
      ],
    };
    expect(checkWatch(h, resumed, ctx)).toEqual([]);
    expect(h.stateMap(6).get('a')?.value).toBe('3');
    expect(h.gaps(2, 6)).toEqual([]);
  });

  it('reports gaps, duplicates, disorder, split revisions and wrong prev_kv', () => {
    const missing = byRevision(events.filter((e) => e.rev !== 3));
    expect(checkWatch(h, watch(missing), ctx).join()).toMatch(/missing 3:"b"/);
    const dup = [...byRevision(events), ...byRevision(events.slice(-1))];
    expect(checkWatch(h, watch(dup), ctx).join()).toMatch(/duplicate/);
    const disorder = byRevision(events);
    [disorder[0], disorder[1]] = [disorder[1] as ObservedResponse, disorder[0] as ObservedResponse];
    expect(checkWatch(h, watch(disorder), ctx).join()).toMatch(/ordered/);
    const split: ObservedResponse[] = [
      ...byRevision(events.slice(0, 3)).slice(0, 2),
      { kind: 'events', headerRev: 4, events: [observed(events[2] as HistEvent)] },
      { kind: 'events', headerRev: 4, events: [observed(events[3] as HistEvent)] },
      ...byRevision(events.slice(4)),
    ];
    expect(checkWatch(h, watch(split), ctx).join()).toMatch(/atomic/);
    const wrongPrev = byRevision(events).map((r) =>
      r.kind === 'events' && r.headerRev === 5
        ? { ...r, events: r.events.map((e) => ({ ...e, prevKv: kv('a', '1', 2, 2, 1) })) }
        : r,
    );
    expect(checkWatch(h, watch(wrongPrev), ctx).join()).toMatch(/prev_kv at 5/);
    const noPrev = byRevision(events).map((r) =>
      r.kind === 'events'
        ? { ...r, events: r.events.map((e) => ({ ...e, prevKv: undefined })) }
        : r,
    );
    expect(checkWatch(h, watch(noPrev), ctx).join()).toMatch(/prev_kv missing/);
    expect(checkWatch(h, watch(noPrev), { maxCompactRev: 6, compactions: [6] })).toEqual([]);
  });

  it('reports a wrong start, an early progress, a bad compaction cancel and an incomplete end', () => {
    const late: ObservedWatch = {
      name: 'w',
      spec,
      segments: [{ startRev: 2, member: 'm1', responses: byRevision(events.slice(1)) }],
    };
    expect(checkWatch(h, late, ctx).join()).toMatch(/resumable/);
    const early: ObservedResponse[] = [{ kind: 'progress', headerRev: 3 }, ...byRevision(events)];
    expect(checkWatch(h, watch(early), ctx).join()).toMatch(/progress at 3/);
    const compacted: ObservedResponse[] = [
      ...byRevision(events.slice(0, 2)),
      { kind: 'compacted', compactRev: 5 },
    ];
    expect(checkWatch(h, watch(compacted), { maxCompactRev: 5, compactions: [5] })).toEqual([]);
    expect(checkWatch(h, watch(compacted), ctx).join()).toMatch(/above any compaction/);
    // The next revision the watch needs (4) is the compaction revision itself: still there.
    const tooEarly: ObservedResponse[] = [
      ...byRevision(events.slice(0, 2)),
      { kind: 'compacted', compactRev: 4 },
    ];
    expect(checkWatch(h, watch(tooEarly), { maxCompactRev: 4, compactions: [4] }).join()).toMatch(
      /still available/,
    );
    const short = watch(byRevision(events.slice(0, 4)), { coveredTo: 6 });
    expect(checkWatch(h, short, ctx).join()).toMatch(/missing 5:"a" 6:"a"/);
    const filtered = watch(byRevision(events), { spec: { ...spec, noDelete: true } });
    expect(checkWatch(h, filtered, ctx).join()).toMatch(/filtered delete/);
  });
});
