/**
 * Records one run's history: ops, nemesis events, leader samples, watch logs and notes,
 * all stamped by one monotonic clock (process.hrtime, ms since the recorder started).
 *
 * Contract:
 * - invoke() hands out the op id and the call time; complete() stamps ret and stores the
 *   op. An op is only stored once completed (a run that ends with ops in flight closes
 *   them as `info` through abandonPending()).
 * - When a results dir is given, every record is appended to <dir>/history.jsonl (in
 *   batches, flushed on close). In memory, records() returns them in completion order.
 * - Process ids: newProcess() hands out fresh ids; a workload must switch its logical
 *   process after an `info` op (op.ts).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from '../../../src/shared/assert.js';
import type { HistoryRecord, LeaderSample, NemesisEvent, Op, OpType, WatchLog } from './op.js';

export interface Pending {
  readonly id: number;
  readonly process: number;
  readonly f: string;
  readonly key: string | undefined;
  readonly input: unknown;
  readonly node: string;
  readonly call: number;
}

const FLUSH_EVERY = 256;

export class Recorder {
  private readonly startNs = process.hrtime.bigint();
  private nextOpId = 0;
  private nextProcessId = 0;
  private readonly all: HistoryRecord[] = [];
  private readonly completedOps: Op[] = [];
  private readonly pending = new Map<number, Pending>();
  private unflushed: string[] = [];
  private readonly file: string | undefined;

  constructor(readonly dir?: string) {
    if (dir !== undefined) {
      mkdirSync(dir, { recursive: true });
      this.file = join(dir, 'history.jsonl');
    }
  }

  /** Milliseconds since the recorder started, monotonic, microsecond resolution. */
  now(): number {
    return Number((process.hrtime.bigint() - this.startNs) / 1000n) / 1000;
  }

  newProcess(): number {
    return this.nextProcessId++;
  }

  invoke(
    process: number,
    f: string,
    key: string | undefined,
    input: unknown,
    node: string,
  ): Pending {
    const p: Pending = { id: this.nextOpId++, process, f, key, input, node, call: this.now() };
    this.pending.set(p.id, p);
    return p;
  }

  complete(
    p: Pending,
    type: OpType,
    output: unknown,
    extra: { error?: string; revision?: number } = {},
  ): Op {
    assert(this.pending.delete(p.id), `op ${p.id} completed twice`);
    const base = {
      id: p.id,
      process: p.process,
      f: p.f,
      input: p.input,
      output: output ?? null,
      type,
      call: p.call,
      ret: this.now(),
      node: p.node,
    };
    const op: Op = {
      ...base,
      ...(p.key === undefined ? {} : { key: p.key }),
      ...(extra.error === undefined ? {} : { error: extra.error }),
      ...(extra.revision === undefined ? {} : { revision: extra.revision }),
    };
    this.completedOps.push(op);
    this.push({ kind: 'op', ...op });
    return op;
  }

  /** Closes every op still in flight as `info` (the run ended before they answered). */
  abandonPending(reason: string): void {
    for (const p of [...this.pending.values()]) this.complete(p, 'info', null, { error: reason });
  }

  nemesis(ev: Omit<NemesisEvent, 'kind' | 'at'>): void {
    this.push({ kind: 'nemesis', at: this.now(), ...ev });
  }

  leader(sample: Omit<LeaderSample, 'kind' | 'at'>): void {
    this.push({ kind: 'leader', at: this.now(), ...sample });
  }

  watch(watcher: WatchLog): void {
    this.push({ kind: 'watch', watcher });
  }

  note(text: string): void {
    this.push({ kind: 'note', at: this.now(), text });
  }

  ops(): readonly Op[] {
    return this.completedOps;
  }

  records(): readonly HistoryRecord[] {
    return this.all;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  private push(r: HistoryRecord): void {
    this.all.push(r);
    if (this.file === undefined) return;
    this.unflushed.push(JSON.stringify(r));
    if (this.unflushed.length >= FLUSH_EVERY) this.flush();
  }

  flush(): void {
    if (this.file === undefined || this.unflushed.length === 0) return;
    appendFileSync(this.file, this.unflushed.join('\n') + '\n');
    this.unflushed = [];
  }
}

/** Reads a history.jsonl back (for replaying a checker on a saved run). */
export function parseHistory(text: string): HistoryRecord[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as HistoryRecord);
}

export function opsOf(records: readonly HistoryRecord[]): Op[] {
  const out: Op[] = [];
  for (const r of records) {
    if (r.kind !== 'op') continue;
    const { kind: _kind, ...op } = r;
    out.push(op);
  }
  return out;
}
