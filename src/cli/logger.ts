/**
 * The pino root logger, built from etcd's log settings (--logger zap, --log-level,
 * --log-outputs, --log-format). Output mimics zap's JSON shape closely enough for
 * operators' log pipelines: "level" as a word, "ts" as ISO time, "msg".
 * Every component gets `root.child({component})` (docs/architecture.md §6); core modules only see
 * the Logger interface from shared/logger.ts.
 */
import pino from 'pino';
import type { Logger } from '../shared/logger.js';

export interface LogSettings {
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal';
  /** stderr, stdout, systemd/journal (journald captures stderr under systemd) or file paths. */
  readonly logOutputs: readonly string[];
  readonly logFormat: 'json' | 'console';
}

const LEVELS: Record<LogSettings['logLevel'], pino.Level> = {
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  panic: 'fatal',
  fatal: 'fatal',
};

export function createRootLogger(settings: LogSettings): Logger & { flush(): void } {
  const streams = settings.logOutputs.map((out) => {
    if (out === 'stdout') return { stream: pino.destination({ fd: 1, sync: true }) };
    if (out === 'stderr' || out === 'default' || out === 'systemd/journal') {
      return { stream: pino.destination({ fd: 2, sync: true }) };
    }
    return { stream: pino.destination({ dest: out, mkdir: true, sync: false }) };
  });
  const level = LEVELS[settings.logLevel];
  const root = pino(
    {
      level,
      base: null,
      messageKey: 'msg',
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.multistream(
      streams.map((s) => ({ ...s, level })),
      { dedupe: false },
    ),
  );
  return root as unknown as Logger & { flush(): void };
}
