/**
 * Watch validator (test/jepsen/README.md): checks what every watcher received
 * against the committed history.
 *
 * The committed history is rebuilt from two sources that must agree: the events all
 * watchers delivered (merged by revision; two watchers disagreeing about a revision is a
 * violation) and the acknowledged writes (an ok put/delete carries its revision). A
 * revision whose events no watcher saw and no ok write explains is a gap; checks that
 * need the state before a gap are skipped for the keys involved, never guessed.
 *
 * Per watcher (one WatchLog = one stream from startRevision until it ended):
 * - ordered: revisions never go down; atomic: consecutive responses never share a
 *   revision; unique: no (revision, key) twice;
 * - filter: every event is inside the watched range;
 * - complete and resumable: every committed event in range with startRevision <= rev <=
 *   the last revision the watcher reached is delivered, the first one first; every ok
 *   write in that span shows up with its value;
 * - prev_kv and create: a put's prev_kv (when asked for) equals the key's state at
 *   revision - 1; version and create_revision follow from that state. It may be absent
 *   when a compaction at or above the event's revision was requested: etcd reads prev_kv
 *   at revision - 1 when it sends the event and omits it once that is compacted (etcd
 *   v3rpc/watch.go sendLoop);
 * - compaction: a watch is canceled for compaction only if it asked for a compacted
 *   revision (startRevision < compactRevision);
 * - progress: after a progress notification (a response without events, e.g. the answer
 *   to RequestProgress) at header revision R, no event at or below R follows.
 * No phantoms: every delivered put of a workload key carries a value some write op (ok or
 * info) wrote.
 */
import type { Op, WatchEventLog, WatchLog } from '../history/op.js';

export interface WatchVerdict {
  readonly valid: boolean;
  readonly violations: readonly string[];
  readonly watchers: number;
  readonly events: number;
  readonly maxRevision: number;
}

const MAX_VIOLATIONS = 40;

function inRange(key: string, w: WatchLog): boolean {
  if (w.rangeEnd === '') return key === w.key;
  if (w.rangeEnd === '\u0000') return key >= w.key;
  return key >= w.key && key < w.rangeEnd;
}

const evKey = (e: WatchEventLog): string => `${e.type} ${e.key} ${e.type === 'put' ? e.value : ''}`;

export function checkWatches(
  ops: readonly Op[],
  watchers: readonly WatchLog[],
  /** Revisions compactions were requested at (ok or unknown outcome). */
  compactions: readonly number[] = [],
): WatchVerdict {
  const highestCompaction = Math.max(0, ...compactions);
  const violations: string[] = [];
  const add = (s: string): void => {
    if (violations.length < MAX_VIOLATIONS) violations.push(s);
  };
  // 1. Canonical events per revision, from every watcher.
  const canonical = new Map<number, Map<string, WatchEventLog>>();
  const firstSeenBy = new Map<number, number>();
  let events = 0;
  for (const w of watchers) {
    const byRev = new Map<number, WatchEventLog[]>();
    for (const r of w.responses)
      for (const e of r.events) {
        events++;
        let l = byRev.get(e.modRevision);
        if (l === undefined) byRev.set(e.modRevision, (l = []));
        l.push(e);
      }
    for (const [rev, evs] of byRev) {
      const mine = new Map(evs.map((e) => [e.key, e]));
      const known = canonical.get(rev);
      if (known === undefined) {
        canonical.set(rev, mine);
        firstSeenBy.set(rev, w.id);
        continue;
      }
      for (const [k, e] of mine) {
        const other = known.get(k);
        if (other !== undefined && evKey(other) !== evKey(e)) {
          add(
            `revision ${rev} key ${k}: watcher ${w.id} saw "${evKey(e)}" but watcher ${firstSeenBy.get(rev)} saw "${evKey(other)}"`,
          );
        }
        if (other === undefined) known.set(k, e);
      }
    }
  }
  // 2. Acknowledged writes must agree with the canonical history.
  const writtenValues = new Set<string>();
  const workloadKeys = new Set(ops.filter((o) => o.key !== undefined).map((o) => o.key as string));
  const okWrites = new Map<number, Op[]>();
  for (const op of ops) {
    if (op.f !== 'put' && op.f !== 'delete') continue;
    if (op.f === 'put' && op.type !== 'fail')
      writtenValues.add(`${op.key}=${(op.input as { value: string }).value}`);
    if (op.type !== 'ok' || op.revision === undefined) continue;
    if (op.f === 'delete' && (op.output as { deleted: number }).deleted === 0) continue; // no revision of its own
    let l = okWrites.get(op.revision);
    if (l === undefined) okWrites.set(op.revision, (l = []));
    l.push(op);
  }
  for (const w of watchers)
    for (const r of w.responses)
      for (const e of r.events) {
        if (
          e.type === 'put' &&
          workloadKeys.has(e.key) &&
          !writtenValues.has(`${e.key}=${e.value}`)
        ) {
          add(
            `phantom: watcher ${w.id} got revision ${e.modRevision} put ${e.key}=${e.value} that no write op wrote`,
          );
        }
      }
  for (const [rev, wops] of okWrites) {
    const evs = canonical.get(rev);
    if (evs === undefined) continue; // no watcher reached it; per-watcher completeness covers spans
    for (const op of wops) {
      const e = evs.get(op.key ?? '');
      const expect =
        op.f === 'put'
          ? `put ${op.key} ${(op.input as { value: string }).value}`
          : `delete ${op.key} `;
      if (e === undefined || evKey(e) !== expect) {
        add(
          `acknowledged ${op.f} op ${op.id} of ${op.key} at revision ${rev} is not what the watchers saw there (${e === undefined ? 'nothing' : evKey(e)})`,
        );
      }
    }
  }
  const maxRevision = Math.max(0, ...canonical.keys(), ...okWrites.keys());
  // 3. Per-key state by revision for prev_kv: walk revisions in order; a gap poisons keys.
  const revs = [...canonical.keys()].sort((a, b) => a - b);
  const known = new Set(revs);
  for (const r of okWrites.keys()) known.add(r);
  const stateAt = new Map<string, { rev: number; e: WatchEventLog }[]>();
  for (const r of revs)
    for (const e of (canonical.get(r) as Map<string, WatchEventLog>).values()) {
      let l = stateAt.get(e.key);
      if (l === undefined) stateAt.set(e.key, (l = []));
      l.push({ rev: r, e });
    }
  const missingRevs: number[] = [];
  for (let r = 2; r <= maxRevision; r++) if (!known.has(r)) missingRevs.push(r);
  const prevState = (key: string, rev: number): WatchEventLog | null | 'unknown' => {
    if (missingRevs.some((m) => m < rev)) {
      // Before a gap we cannot tell whether the key changed there.
      const lastGap = Math.max(...missingRevs.filter((m) => m < rev));
      const hist = (stateAt.get(key) ?? []).filter((x) => x.rev < rev);
      const last = hist[hist.length - 1];
      if (last === undefined || last.rev < lastGap) return 'unknown';
      return last.e.type === 'put' ? last.e : null;
    }
    const hist = (stateAt.get(key) ?? []).filter((x) => x.rev < rev);
    const last = hist[hist.length - 1];
    return last === undefined || last.e.type === 'delete' ? null : last.e;
  };
  for (const r of revs)
    for (const e of (canonical.get(r) as Map<string, WatchEventLog>).values()) {
      if (e.type !== 'put') continue;
      const prev = prevState(e.key, r);
      if (prev === 'unknown') continue;
      const wantVersion = prev === null ? 1 : prev.version + 1;
      const wantCreate = prev === null ? r : prev.createRevision;
      if (e.version !== wantVersion || e.createRevision !== wantCreate) {
        add(
          `revision ${r} put ${e.key}: version ${e.version}, create_revision ${e.createRevision}; the history implies ${wantVersion}, ${wantCreate}`,
        );
      }
    }
  // 4. Per watcher.
  for (const w of watchers) {
    let lastRev = 0;
    const seen = new Set<string>();
    let firstRev: number | undefined;
    let promised = 0;
    for (const [i, resp] of w.responses.entries()) {
      // A progress notification (no events, not canceled) at revision R promises that no
      // later event of this watcher is at or below R (etcd watch.go progress semantics).
      for (const e of resp.events) {
        if (e.modRevision <= promised)
          add(
            `watcher ${w.id} on ${w.node}: event at revision ${e.modRevision} after a progress notification at ${promised}`,
          );
      }
      if (resp.events.length === 0 && !resp.canceled) promised = Math.max(promised, resp.headerRevision);
      if (
        resp.canceled &&
        resp.compactRevision > 0 &&
        !(w.startRevision > 0 && w.startRevision < resp.compactRevision)
      ) {
        add(
          `watcher ${w.id} on ${w.node} canceled for compaction at ${resp.compactRevision} though it started at ${w.startRevision}`,
        );
      }
      const first = resp.events[0];
      if (first !== undefined && i > 0 && first.modRevision === lastRev) {
        add(
          `watcher ${w.id} on ${w.node}: revision ${lastRev} split across two responses (not atomic)`,
        );
      }
      for (const e of resp.events) {
        if (e.modRevision < lastRev)
          add(
            `watcher ${w.id} on ${w.node}: revision went back from ${lastRev} to ${e.modRevision}`,
          );
        const id = `${e.modRevision} ${e.key}`;
        if (seen.has(id)) add(`watcher ${w.id} on ${w.node}: event ${id} delivered twice`);
        seen.add(id);
        if (!inRange(e.key, w))
          add(`watcher ${w.id} on ${w.node}: event for ${e.key} outside its range`);
        if (w.startRevision > 0 && e.modRevision < w.startRevision) {
          add(
            `watcher ${w.id} on ${w.node}: event at ${e.modRevision} before its start revision ${w.startRevision}`,
          );
        }
        if (w.prevKv && e.type === 'put') {
          const prev = prevState(e.key, e.modRevision);
          if (prev !== 'unknown') {
            const got = e.prevKv === null ? 'none' : `${e.prevKv.value}@${e.prevKv.modRevision}`;
            const want = prev === null ? 'none' : `${prev.value}@${prev.modRevision}`;
            const compactedAway = got === 'none' && highestCompaction >= e.modRevision;
            if (got !== want && !compactedAway)
              add(
                `watcher ${w.id} on ${w.node}: revision ${e.modRevision} ${e.key} prev_kv ${got}, history says ${want}`,
              );
          }
        }
        firstRev ??= e.modRevision;
        lastRev = Math.max(lastRev, e.modRevision);
      }
    }
    if (firstRev === undefined || w.startRevision <= 0) continue;
    // Complete from the start revision to the last revision reached.
    for (let r = w.startRevision; r <= lastRev; r++) {
      const expected = [...(canonical.get(r)?.values() ?? [])].filter((e) => inRange(e.key, w));
      for (const e of expected) {
        if (!seen.has(`${r} ${e.key}`))
          add(
            `watcher ${w.id} on ${w.node} (from ${w.startRevision}) missed revision ${r} ${evKey(e)} though it reached ${lastRev}`,
          );
      }
      for (const op of okWrites.get(r) ?? []) {
        if (op.key !== undefined && inRange(op.key, w) && !seen.has(`${r} ${op.key}`)) {
          add(
            `watcher ${w.id} on ${w.node} (from ${w.startRevision}) missed acknowledged ${op.f} op ${op.id} of ${op.key} at ${r}`,
          );
        }
      }
    }
  }
  return {
    valid: violations.length === 0,
    violations,
    watchers: watchers.length,
    events,
    maxRevision,
  };
}
