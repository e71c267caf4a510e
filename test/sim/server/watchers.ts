/**
 * Watchers in the whole-server simulation: every member incarnation, once started,
 * opens one watch stream on the workload's keys ["k", "l") from a random revision
 * (or from now) and records what it delivers, until the incarnation dies. At the end
 * `checkWatchers` compares every recording with the final history: events ordered by
 * revision, no duplicates, each equal to the history's change at that revision (key,
 * value, type, with prev_kv), and none missing between the start revision and the
 * last revision delivered (so a resumed watch could continue from there).
 */
import type { MvccEvent } from '../../../src/mvcc/types.js';
import type { MemberCore } from '../../../src/server/member-core.js';
import type { Rng } from '../../../src/shared/rng.js';
import type { Incarnation } from './world.js';

export interface WatchRecording {
  readonly label: string;
  /** First revision the watcher must deliver (start revision, or created + 1). */
  startRevision: number;
  readonly events: Array<{ revision: number; line: string }>;
  created: boolean;
}

const KEY = Buffer.from('k');
const END = Buffer.from('l');

export function describeEvent(e: MvccEvent): string {
  const prev = e.prevKv === undefined ? '-' : `${e.prevKv.value.toString()}@${e.prevKv.modRevision}`;
  return `${e.type} ${e.kv.key.toString()}=${e.type === 'put' ? e.kv.value.toString() : ''} prev=${prev}`;
}

/** Opens the watcher on a started incarnation; events are recorded as they are taken. */
export function startWatcher(core: MemberCore, inc: Incarnation, rng: Rng, out: WatchRecording[]): void {
  const current = core.storage.store.currentRevision;
  const from = rng.int(3) === 0 || current === 0 ? 0 : 1 + rng.int(current);
  const rec: WatchRecording = { label: inc.label, startRevision: from, events: [], created: false };
  out.push(rec);
  const stream = core.watchHub.newStream();
  stream.watch({
    key: KEY,
    rangeEnd: END,
    startRevision: from,
    watchId: 0,
    noPut: false,
    noDelete: false,
    prevKv: true,
    fragment: false,
    progressNotify: false,
  });
  void (async () => {
    while (inc.alive && !stream.closed) {
      for (let o = stream.take(); o !== undefined; o = stream.take()) {
        if (o.kind === 'created') {
          rec.created = true;
          if (from === 0) rec.startRevision = o.revision + 1;
        } else if (o.kind === 'events') {
          for (const e of o.events) rec.events.push({ revision: e.kv.modRevision, line: describeEvent(e) });
        } else if (o.kind !== 'progress') {
          rec.events.push({ revision: -1, line: `unexpected ${o.kind}` });
        }
      }
      await stream.readable();
    }
  })();
}

/**
 * `history`: revision -> the change at that revision on the watched keys (undefined
 * for revisions that changed other keys). Returns the first violation, if any.
 */
export function checkWatchers(recs: readonly WatchRecording[], history: ReadonlyMap<number, string>): string | undefined {
  for (const rec of recs) {
    if (!rec.created && rec.events.length > 0) return `${rec.label}: events before the created response`;
    let last = rec.startRevision - 1;
    for (const ev of rec.events) {
      if (ev.revision < 0) return `${rec.label}: ${ev.line}`;
      if (ev.revision <= last) return `${rec.label}: event at revision ${ev.revision} after revision ${last} (out of order or duplicated)`;
      for (let r = last + 1; r < ev.revision; r++) {
        const missed = history.get(r);
        if (missed !== undefined) return `${rec.label}: missed revision ${r} (${missed}) before ${ev.revision}`;
      }
      const want = history.get(ev.revision);
      if (want !== ev.line) return `${rec.label}: delivered "${ev.line}" at revision ${ev.revision}, history has "${want ?? 'no change on k*'}"`;
      last = ev.revision;
    }
  }
  return undefined;
}
