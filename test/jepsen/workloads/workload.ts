/**
 * The workload interface the runner drives, and the verdict shape every checker returns.
 */
import type { HistoryRecord, Op } from '../history/op.js';
import type { ClusterMember } from '../cluster/cluster.js';
import type { WorkloadContext } from './context.js';

export interface Verdict {
  /** true, false, or 'unknown' (budget exhausted: a failing run, §4.5). */
  readonly valid: boolean | 'unknown';
  /** One line for logs and the verdict file. */
  readonly summary: string;
  /** The smallest failing window and other evidence, human-readable. */
  readonly explanation?: string;
  readonly details?: unknown;
}

export interface Workload {
  readonly name: string;
  /** Issues ops until ctx.stopped(). */
  run(ctx: WorkloadContext): Promise<void>;
  /** After heal and recovery: final reads / watch convergence, recorded in the history. */
  final(ctx: WorkloadContext): Promise<void>;
  check(ops: readonly Op[], records: readonly HistoryRecord[]): Verdict;
  /** Which op functions write (for the unknown-write ratio). */
  isWrite(op: Op): boolean;
  /**
   * The canonical signature (history/resolve.ts) of the request a write op sent, so an
   * unknown write can be found in the committed log; undefined for ops it cannot name.
   */
  signature?(op: Op): string | undefined;
  /**
   * Metadata for the runner's own calls that need an identity (the liveness write after
   * healing) while the workload keeps auth enabled; undefined when none can be had now.
   */
  adminMetadata?(ctx: WorkloadContext, member: ClusterMember): Promise<Readonly<Record<string, string>> | undefined>;
}
