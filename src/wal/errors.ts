/**
 * WAL errors. WalCorruptError is the start refusal (shared/errors.ts) an operator sees
 * when the WAL is damaged; it also names where, for tests and logs. Its message is
 * one line naming the file, the offset, what is wrong and what to do
 * (docs/architecture.md §3; etcd answers the same situation with "member remove, wipe,
 * add").
 */
import { StartRefusal } from '../shared/errors.js';

export class WalCorruptError extends StartRefusal {
  override readonly name = 'WalCorruptError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(
      'wal-corrupt',
      `wal: ${file} is damaged at offset ${offset}: ${reason}; refusing to start. ` +
        'This is not crash damage (only the last unacknowledged batch may be cut). ' +
        'Keep a copy of the wal dir for diagnosis, then remove this member ' +
        '(etcdctl member remove), ' +
        'wipe its data dir and add it back (etcdctl member add) so it catches up from its peers',
    );
  }
}

/**
 * A WAL write, fsync, truncate or rename failed while the member ran. It names the
 * file and the call (Node's fdatasync errors name neither) and keeps the errno `code`,
 * so the server can tell a full disk (ENOSPC: stop taking writes, keep serving reads)
 * from a failing one (EIO: stop; docs/architecture.md §3). Either way the Wal is
 * failed for good: nothing is retried after it.
 */
export class WalIoError extends Error {
  override readonly name = 'WalIoError';
  readonly code: string | undefined;
  constructor(
    readonly op: string,
    readonly file: string,
    cause: unknown,
  ) {
    super(`wal: ${op} of ${file} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    const code: unknown = cause instanceof Error ? (cause as Error & { code?: unknown }).code : undefined;
    this.code = typeof code === 'string' ? code : undefined;
  }
}
