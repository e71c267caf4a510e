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

/**
 * A duration as Go's time.Duration.String prints it, which is how etcd's zap logger
 * writes every duration field (took, expected-duration, time spent): "0s", "850ns",
 * "1.5µs", "12.345678ms", "1.2s", "2m3.5s", "1h0m0s"; the fraction has no trailing zeros.
 * `ms` is rounded to whole nanoseconds.
 */
export function goDuration(ms: number): string {
  let ns = Math.round(ms * 1e6);
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  ns = Math.abs(ns);
  const frac = (n: number, unit: number): string => {
    const whole = Math.floor(n / unit);
    const rest = n % unit;
    if (rest === 0) return String(whole);
    const digits = String(unit).length - 1;
    return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`;
  };
  if (ns < 1e3) return `${sign}${ns}ns`;
  if (ns < 1e6) return `${sign}${frac(ns, 1e3)}µs`;
  if (ns < 1e9) return `${sign}${frac(ns, 1e6)}ms`;
  const h = Math.floor(ns / 3.6e12);
  const m = Math.floor((ns % 3.6e12) / 6e10);
  const s = frac(ns % 6e10, 1e9);
  if (h > 0) return `${sign}${h}h${m}m${s}s`;
  if (m > 0) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}
