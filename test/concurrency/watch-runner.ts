// Runs one logical watch against a changing cluster, the way etcd's Go client keeps a
// watch alive: one Watch stream at a time on some live member; when the stream breaks
// (its member was killed or stopped), a new stream on another live member resumes
// from the revision after the last one seen (events or a progress notification); a
// compaction cancel ends the watch for good. Everything received is recorded as an
// ObservedWatch for watch-check.ts. Progress requests are sent on demand.
import type { Member } from '../helpers/processes.js';
import type {
  Kv,
  ObservedEvent,
  ObservedResponse,
  ObservedWatch,
  Segment,
  WatchSpec,
} from './watch-check.js';
import { WatchClient, type WireKv, type WireWatchResponse } from './wire.js';

export function kvOf(w: WireKv): Kv {
  return {
    key: w.key.toString('latin1'),
    value: w.value.toString('latin1'),
    create: Number(w.createRevision),
    mod: Number(w.modRevision),
    version: Number(w.version),
    lease: w.lease,
  };
}

export function toObserved(r: WireWatchResponse): ObservedResponse | undefined {
  if (r.compactRevision !== '0' && r.canceled)
    return { kind: 'compacted', compactRev: Number(r.compactRevision) };
  if (r.created || r.canceled) return undefined;
  const headerRev = Number(r.header?.revision ?? 0);
  if (r.events.length === 0) return { kind: 'progress', headerRev };
  const events: ObservedEvent[] = r.events.map((e) => ({
    type: e.type === 1 ? 'delete' : 'put',
    kv: kvOf(e.kv as WireKv),
    prevKv: e.prevKv === null ? undefined : kvOf(e.prevKv),
  }));
  return { kind: 'events', headerRev, events };
}

export interface RunnerHost {
  /** A live member to (re)connect to, other than `avoid` when possible. */
  pickMember(avoid?: Member): Member | undefined;
  /** Sees every response as it is taken (e.g. to timestamp events). */
  onResponse?(o: ObservedResponse): void;
}

export class WatchRunner {
  readonly observed: ObservedWatch;
  private stream: WatchClient | undefined;
  private member: Member | undefined;
  private segment: Segment | undefined;
  private stopped = false;
  private compacted = false;
  /** Highest revision the watch is known to cover (events or progress). */
  lastSeen: number;
  resumes = 0;
  readonly done: Promise<void>;
  private finish: () => void = () => {};
  unexpected: string[] = [];

  constructor(
    name: string,
    readonly spec: WatchSpec,
    private readonly host: RunnerHost,
  ) {
    this.observed = { name, spec, segments: [] };
    this.lastSeen = spec.startRev - 1;
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  get ended(): boolean {
    return this.stopped || this.compacted;
  }

  get wasCompacted(): boolean {
    return this.compacted;
  }

  start(): void {
    void this.loop();
  }

  private async loop(): Promise<void> {
    let avoid: Member | undefined;
    while (!this.stopped && !this.compacted) {
      const member = this.host.pickMember(avoid);
      if (member === undefined) {
        await sleep(200);
        continue;
      }
      const startRev = this.lastSeen + 1;
      const segment: Segment = { startRev, member: member.name, responses: [] };
      this.observed.segments.push(segment);
      this.segment = segment;
      this.member = member;
      const stream = new WatchClient(member.clientAddress);
      this.stream = stream;
      stream.create({
        key: Buffer.from(this.spec.key, 'latin1'),
        ...(this.spec.rangeEnd === ''
          ? {}
          : { rangeEnd: Buffer.from(this.spec.rangeEnd, 'latin1') }),
        startRevision: startRev,
        prevKv: this.spec.prevKv,
        filters: [
          ...(this.spec.noPut ? [0 as const] : []),
          ...(this.spec.noDelete ? [1 as const] : []),
        ],
      });
      let consumed = 0;
      const pump = (): void => {
        for (; consumed < stream.responses.length; consumed++)
          this.take(stream.responses[consumed] as WireWatchResponse);
      };
      // Poll the stream's responses until it ends or we stop.
      while (!this.stopped && !this.compacted && stream.closed === undefined) {
        // Wakes at the next response (or after 200 ms, to notice stop()).
        await stream.next(() => true, 200, consumed).catch(() => undefined);
        pump();
      }
      pump();
      stream.close();
      this.stream = undefined;
      if (!this.stopped && !this.compacted) {
        this.resumes++;
        avoid = member;
        await sleep(100);
      }
    }
    this.finish();
  }

  private take(r: WireWatchResponse): void {
    const o = toObserved(r);
    if (o === undefined) {
      if (r.canceled && !r.created)
        this.unexpected.push(`canceled without compaction: ${r.cancelReason}`);
      if (r.created && r.canceled) this.unexpected.push(`create refused: ${r.cancelReason}`);
      return;
    }
    this.segment?.responses.push(o);
    this.host.onResponse?.(o);
    if (o.kind === 'compacted') {
      this.compacted = true;
      return;
    }
    if (o.kind === 'progress') this.lastSeen = Math.max(this.lastSeen, o.headerRev);
    else {
      const last = o.events[o.events.length - 1];
      if (last !== undefined) this.lastSeen = Math.max(this.lastSeen, last.kv.mod);
    }
  }

  requestProgress(): void {
    try {
      this.stream?.progress();
    } catch {
      // the stream is going away; the next one will be asked
    }
  }

  get currentMember(): Member | undefined {
    return this.member;
  }

  /** Ends the watch (a planned end: nothing more is owed to it). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stream?.close();
    await this.done;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
