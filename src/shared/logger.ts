/**
 * The logging interface core modules receive. Only the shell (server, cli, http,
 * cluster/transport) creates the pino root; raft, mvcc, wal and the rest take this
 * interface so they never import pino (docs/architecture.md §2). Levels follow etcd's logging.md.
 */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export const nullLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => nullLogger,
};
