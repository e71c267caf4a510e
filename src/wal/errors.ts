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
