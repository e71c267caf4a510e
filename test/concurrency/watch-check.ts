// Watch guarantees checked against a committed history (etcd
// tests/robustness/validate/watch.go), for the watch validator across faults.
//
// History: every event of the watched key space, revision by revision, as the
// committed log produced them (the test takes it from collector watches from revision
// 1 and cross-checks it against acknowledged writes and the final state). It replays
// to the state at any revision.
//
// An observed watch is the client's view: its request (key range, start revision,
// filters, prev_kv) and one segment per stream it ran on (a watch resumes on another
// stream, possibly another member, from the revision after the last it saw, as the Go
// client does). checkWatch() returns the violations of:
//   ordered      event revisions never go down; per revision the log's order
//   unique       no (revision, key) twice, also across resumes
//   atomic       a revision is never split over two responses (no fragmenting here)
//   reliable     between the start and the last revision the watch is known to cover
//                (its last event, a progress notification, or the final revision it
//                was waited for), the delivered events are exactly the matching
//                events of the history
//   resumable    each segment's first event is the first matching event >= its start
//   bookmarkable a progress notification at R comes after every matching event <= R of
//                its segment, and every later event of the segment is > R
//   prev_kv      when present, equals the key at revision - 1; absent only for a
//                create, or when revision - 1 is below a compaction the test issued
//   is_create    PUT with create_revision == mod_revision iff the key was absent at rev-1
//   filter       events lie in the range and pass NOPUT / NODELETE
//   compaction   a compaction cancel names a revision above what the watch still
//                needed, not above the highest compaction the test issued
export interface Kv {
  readonly key: string;
  readonly value: string;
  readonly create: number;
  readonly mod: number;
  readonly version: number;
  readonly lease: string;
}

export interface HistEvent {
  readonly type: 'put' | 'delete';
  readonly rev: number;
  /** For a delete only key and mod are meaningful. */
  readonly kv: Kv;
}

export class History {
  /** Events by revision, in log order within the revision. */
  readonly byRev = new Map<number, HistEvent[]>();
  readonly firstRev: number;
  readonly lastRev: number;
  private readonly versions = new Map<string, Array<{ rev: number; kv: Kv | undefined }>>();

  constructor(events: readonly HistEvent[]) {
    let first = Number.POSITIVE_INFINITY;
    let last = 0;
    for (const e of events) {
      const list = this.byRev.get(e.rev);
      if (list === undefined) this.byRev.set(e.rev, [e]);
      else list.push(e);
      first = Math.min(first, e.rev);
      last = Math.max(last, e.rev);
      const vs = this.versions.get(e.kv.key) ?? [];
      vs.push({ rev: e.rev, kv: e.type === 'put' ? e.kv : undefined });
      this.versions.set(e.kv.key, vs);
    }
    this.firstRev = first === Number.POSITIVE_INFINITY ? 0 : first;
    this.lastRev = last;
  }

  /** The key's value at revision rev (after applying rev), or undefined if absent. */
  stateAt(key: string, rev: number): Kv | undefined {
    const vs = this.versions.get(key);
    if (vs === undefined) return undefined;
    let lo = 0;
    let hi = vs.length - 1;
    let found: Kv | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = vs[mid] as { rev: number; kv: Kv | undefined };
      if (v.rev <= rev) {
        found = v.kv;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** Every live key at revision rev. */
  stateMap(rev: number): Map<string, Kv> {
    const out = new Map<string, Kv>();
    for (const key of this.versions.keys()) {
      const kv = this.stateAt(key, rev);
      if (kv !== undefined) out.set(key, kv);
    }
    return out;
  }

  /** Revisions in [from, to] without any event (a gap in a history that must be dense). */
  gaps(from: number, to: number): number[] {
    const out: number[] = [];
    for (let r = from; r <= to; r++) if (!this.byRev.has(r)) out.push(r);
    return out;
  }
}

export interface WatchSpec {
  readonly key: string;
  /** '' single key; '\0' every key >= key; else exclusive end. */
  readonly rangeEnd: string;
  readonly startRev: number;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
}

export interface ObservedEvent {
  readonly type: 'put' | 'delete';
  readonly kv: Kv;
  readonly prevKv: Kv | undefined;
}

export type ObservedResponse =
  | {
      readonly kind: 'events';
      readonly headerRev: number;
      readonly events: readonly ObservedEvent[];
    }
  | { readonly kind: 'progress'; readonly headerRev: number }
  | { readonly kind: 'compacted'; readonly compactRev: number };

export interface Segment {
  readonly startRev: number;
  readonly member: string;
  readonly responses: ObservedResponse[];
}

export interface ObservedWatch {
  readonly name: string;
  readonly spec: WatchSpec;
  readonly segments: Segment[];
  /** A revision the watch was waited for at the end (every event <= it must be there). */
  coveredTo?: number;
}

export interface CheckContext {
  /** The highest compaction revision the test issued. */
  readonly maxCompactRev: number;
  /** Compactions issued, as revisions (prev_kv may be absent below any of them). */
  readonly compactions: readonly number[];
}

export function inRange(key: string, spec: Pick<WatchSpec, 'key' | 'rangeEnd'>): boolean {
  if (spec.rangeEnd === '') return key === spec.key;
  if (key < spec.key) return false;
  return spec.rangeEnd === '\0' || key < spec.rangeEnd;
}

function matches(e: HistEvent, spec: WatchSpec): boolean {
  if (!inRange(e.kv.key, spec)) return false;
  if (e.type === 'put' && spec.noPut) return false;
  if (e.type === 'delete' && spec.noDelete) return false;
  return true;
}

const evId = (rev: number, key: string): string => `${rev}:${JSON.stringify(key)}`;

export function expectedEvents(h: History, spec: WatchSpec, from: number, to: number): HistEvent[] {
  const out: HistEvent[] = [];
  for (let r = Math.max(from, h.firstRev); r <= Math.min(to, h.lastRev); r++) {
    for (const e of h.byRev.get(r) ?? []) if (matches(e, spec)) out.push(e);
  }
  return out;
}

function sameKv(a: Kv, b: Kv): boolean {
  return (
    a.key === b.key &&
    a.value === b.value &&
    a.create === b.create &&
    a.mod === b.mod &&
    a.version === b.version &&
    a.lease === b.lease
  );
}

export function checkWatch(h: History, w: ObservedWatch, ctx: CheckContext): string[] {
  const bad: string[] = [];
  const say = (msg: string): void => {
    if (bad.length < 20) bad.push(`${w.name}: ${msg}`);
  };
  const seen = new Set<string>();
  const all: ObservedEvent[] = [];
  let covered = w.spec.startRev - 1;
  let compacted: { at: number; needed: number } | undefined;
  for (const seg of w.segments) {
    const segEvents: ObservedEvent[] = [];
    let lastRev = 0;
    let prevResponseLastRev = -1;
    for (const r of seg.responses) {
      if (r.kind === 'compacted') {
        compacted = { at: r.compactRev, needed: Math.max(seg.startRev, lastRev + 1) };
        continue;
      }
      if (r.kind === 'progress') {
        // Bookmarkable: everything matching in [segment start, R] is already here.
        const want = expectedEvents(h, w.spec, seg.startRev, r.headerRev).length;
        const have = segEvents.filter((e) => e.kv.mod <= r.headerRev).length;
        if (have !== want)
          say(`progress at ${r.headerRev} on ${seg.member} after ${have} of ${want} events <= it`);
        if (r.headerRev < lastRev) say(`progress at ${r.headerRev} after an event at ${lastRev}`);
        lastRev = Math.max(lastRev, r.headerRev);
        covered = Math.max(covered, r.headerRev);
        continue;
      }
      const first = r.events[0];
      if (first !== undefined && first.kv.mod === prevResponseLastRev) {
        say(`revision ${first.kv.mod} split over two responses (atomic)`);
      }
      for (const e of r.events) {
        const rev = e.kv.mod;
        if (rev < lastRev) say(`event at ${rev} after ${lastRev} (ordered)`);
        lastRev = Math.max(lastRev, rev);
        const id = evId(rev, e.kv.key);
        if (seen.has(id)) say(`duplicate event ${id} (unique)`);
        seen.add(id);
        if (!inRange(e.kv.key, w.spec))
          say(`event for ${JSON.stringify(e.kv.key)} outside the range (filter)`);
        if ((e.type === 'put' && w.spec.noPut) || (e.type === 'delete' && w.spec.noDelete))
          say(`filtered ${e.type} delivered at ${rev}`);
        if (r.headerRev < rev) say(`response header ${r.headerRev} below its event ${rev}`);
        const before = h.stateAt(e.kv.key, rev - 1);
        if (e.type === 'put' && (e.kv.create === e.kv.mod) !== (before === undefined)) {
          say(`is_create wrong at ${rev} for ${JSON.stringify(e.kv.key)}`);
        }
        if (w.spec.prevKv) {
          if (e.prevKv !== undefined) {
            if (before === undefined || !sameKv(before, e.prevKv))
              say(`prev_kv at ${rev} is not the key at ${rev - 1}`);
          } else if (before !== undefined && !ctx.compactions.some((c) => rev - 1 < c)) {
            say(`prev_kv missing at ${rev} although ${rev - 1} was never compacted`);
          }
        } else if (e.prevKv !== undefined) {
          say(`prev_kv sent at ${rev} without prev_kv requested`);
        }
        segEvents.push(e);
      }
      const last = r.events[r.events.length - 1];
      if (last !== undefined) prevResponseLastRev = last.kv.mod;
    }
    // Resumable: the segment starts with the first matching event >= its start.
    const firstSeen = segEvents[0];
    if (firstSeen !== undefined) {
      const firstWanted = expectedEvents(h, w.spec, seg.startRev, firstSeen.kv.mod)[0];
      if (
        firstWanted !== undefined &&
        evId(firstWanted.rev, firstWanted.kv.key) !== evId(firstSeen.kv.mod, firstSeen.kv.key)
      ) {
        say(
          `segment on ${seg.member} from ${seg.startRev} began at ${firstSeen.kv.mod}, expected ${firstWanted.rev} (resumable)`,
        );
      }
      covered = Math.max(covered, lastRev);
    }
    all.push(...segEvents);
  }
  if (w.coveredTo !== undefined) covered = Math.max(covered, w.coveredTo);
  if (compacted !== undefined) {
    // etcd cancels a watcher whose next revision is below the compaction revision.
    if (compacted.needed >= compacted.at) {
      say(
        `compaction cancel at ${compacted.at} although revision ${compacted.needed} was still available`,
      );
    }
    if (compacted.at > ctx.maxCompactRev)
      say(
        `compaction cancel at ${compacted.at} above any compaction issued (${ctx.maxCompactRev})`,
      );
  }
  // Reliable: exactly the history's matching events up to the covered revision.
  const want = expectedEvents(h, w.spec, w.spec.startRev, covered);
  const got = all.filter((e) => e.kv.mod <= covered);
  const wantIds = want.map((e) => evId(e.rev, e.kv.key));
  const gotIds = got.map((e) => evId(e.kv.mod, e.kv.key));
  if (wantIds.join(',') !== gotIds.join(',')) {
    const missing = wantIds.filter((id) => !gotIds.includes(id));
    const extra = gotIds.filter((id) => !wantIds.includes(id));
    say(
      `delivered ${gotIds.length} events up to ${covered}, history has ${wantIds.length}; missing ${missing.slice(0, 5).join(' ')}; extra ${extra.slice(0, 5).join(' ')}`,
    );
  } else {
    for (let i = 0; i < got.length; i++) {
      const g = got[i] as ObservedEvent;
      const e = want[i] as HistEvent;
      if (g.type !== e.type || (g.type === 'put' && !sameKv(g.kv, e.kv))) {
        say(`event ${evId(e.rev, e.kv.key)} differs from the history`);
        break;
      }
    }
  }
  return bad;
}
