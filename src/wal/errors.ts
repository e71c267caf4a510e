/**
 * WAL errors. WalCorruptError is the one an operator sees when a member refuses to
 * start: its message is one line naming the file, the offset, what is wrong and what
 * to do (docs/architecture.md §3; etcd answers the same situation with "member remove, wipe, add").
 */
import { TsetcdError } from '../shared/errors.js';

export class WalCorruptError extends TsetcdError {
  override readonly name = 'WalCorruptError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(
      'corrupt',
      `wal: ${file} is damaged at offset ${offset}: ${reason}; refusing to start. ` +
        'This is not crash damage (only the last unacknowledged batch may be cut). ' +
        'Keep a copy of the wal dir for diagnosis, then remove this member ' +
        '(etcdctl member remove), ' +
        'wipe its data dir and add it back (etcdctl member add) so it catches up from its peers',
    );
  }
}
