/**
 * The history format every Jepsen workload records and every checker reads
 * (test/jepsen/README.md): one completed operation per record, with its invocation
 * and completion times on one monotonic clock (milliseconds since the run started).
 *
 * Invariants:
 * - `call <= ret`; an `info` op (outcome unknown) keeps the time the client gave up
 *   in `ret`, and checkers treat it as "may take effect at any time after call".
 * - A logical process has at most one op in flight; after an `info` the workload
 *   continues under a fresh process id (Jepsen's convention), so a checker may
 *   assume per-process sequencing of the ops it sees.
 * - `fail` means the op definitely had no effect (a definite error per classify.ts,
 *   a failed guard, or a request that was never sent).
 */

export type OpType = 'ok' | 'fail' | 'info';

export interface Op<F extends string = string, I = unknown, O = unknown> {
  /** Unique within the run, in invocation order. */
  readonly id: number;
  readonly process: number;
  readonly f: F;
  /** Register and lease ops touch one key; txns name theirs in `input`. */
  readonly key?: string;
  readonly input: I;
  /** Meaningful for `ok` ops only (and for fail ops that carry a definite answer). */
  readonly output: O | null;
  readonly type: OpType;
  /** Invocation time, ms since the run started (monotonic). */
  readonly call: number;
  /** Completion time, ms since the run started; for `info`, when the client gave up. */
  readonly ret: number;
  /** Member the request was sent to. */
  readonly node: string;
  /** gRPC status name and details, or a workload reason, for fail/info ops. */
  readonly error?: string;
  /** Header revision of the answer, when there was one. */
  readonly revision?: number;
  /**
   * An `info` op the committed log proves took effect (history/resolve.ts): its `ret` is
   * then the history's end and a linearizability search must place it; its output stays
   * unknown.
   */
  readonly committed?: boolean;
}

/** A fault the nemesis started or stopped, recorded in the same history. */
export interface NemesisEvent {
  readonly kind: 'nemesis';
  readonly at: number;
  readonly phase: 'start' | 'stop';
  readonly fault: string;
  readonly targets: readonly string[];
  readonly detail?: string;
}

/** A leader/term observation from the monitor (Status of one member). */
export interface LeaderSample {
  readonly kind: 'leader';
  readonly at: number;
  readonly node: string;
  /** Leader's member name as this member sees it, or null when it knows none. */
  readonly leader: string | null;
  readonly term: number;
}

export type HistoryRecord =
  | ({ readonly kind: 'op' } & Op)
  | NemesisEvent
  | LeaderSample
  | { readonly kind: 'watch'; readonly watcher: WatchLog }
  | { readonly kind: 'note'; readonly at: number; readonly text: string };

/** What one watcher received, response by response (checkers/watch.ts). */
export interface WatchLog {
  readonly id: number;
  readonly node: string;
  /** Key range watched: [key, rangeEnd) ('' rangeEnd = the one key). */
  readonly key: string;
  readonly rangeEnd: string;
  /** Revision the watch was (re)started from. */
  readonly startRevision: number;
  readonly prevKv: boolean;
  readonly responses: readonly WatchResponseLog[];
  /** Why it ended: 'closed' by the workload, a gRPC error, 'canceled: <reason>'. */
  readonly end: string;
}

export interface WatchEventLog {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly value: string;
  readonly modRevision: number;
  readonly createRevision: number;
  readonly version: number;
  readonly lease: string;
  readonly prevKv: {
    readonly value: string;
    readonly modRevision: number;
    readonly createRevision: number;
    readonly version: number;
  } | null;
}

export interface WatchResponseLog {
  readonly at: number;
  readonly headerRevision: number;
  readonly compactRevision: number;
  readonly canceled: boolean;
  readonly events: readonly WatchEventLog[];
}

/** Ops whose effect is known to be absent can be dropped by every checker. */
export function isDefinitelyAbsent(op: Op): boolean {
  return op.type === 'fail';
}
