/**
 * The root logger, built from etcd's log settings (--log-level, --log-outputs,
 * --log-format), writing what etcd's zap logger writes (etcd pkg/logutil/zap.go
 * DefaultZapLoggerConfig): one JSON object per line with `level` (a word), `ts`
 * (ISO 8601), `caller` (file:line of the call, as zap's AddCaller), `msg`, then the
 * fields under etcd's names.
 *
 * Field names: call sites pass camelCase keys (`memberId`, `compactRevision`); the
 * line carries etcd's kebab-case (`member-id`, `compact-revision`), the spelling of
 * every zap field etcd writes. Keys already in etcd's form pass unchanged. The
 * `component` binding (docs/architecture.md §6) is not written: etcd's lines have
 * none, and `caller` names the file.
 *
 * Core modules only see the Logger interface from shared/logger.ts.
 */
import { fileURLToPath } from 'node:url';
import { dirname, relative, sep } from 'node:path';
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

/** etcd's spelling of a field name: camelCase becomes kebab-case. */
export function etcdFieldName(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/([A-Z])([A-Z][a-z])/g, '$1-$2').toLowerCase();
}

function renameFields(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'component') continue;
    if (k === 'err') {
      out['error'] = v instanceof Error ? v.message : v;
      continue;
    }
    out[etcdFieldName(k)] = v;
  }
  return out;
}

/** src/ (or dist/src/) of this build: callers are named relative to it, as zap names the package dir. */
const SRC_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const SELF = fileURLToPath(import.meta.url);

/** The file:line that called the Logger, from V8's structured call sites (no source-map cost). */
export function callerOf(): string {
  const saved = Error.prepareStackTrace;
  const savedLimit = Error.stackTraceLimit;
  let sites: NodeJS.CallSite[] = [];
  try {
    Error.stackTraceLimit = 30;
    Error.prepareStackTrace = (_e, s): NodeJS.CallSite[] => s;
    const holder: { stack?: NodeJS.CallSite[] } = {};
    Error.captureStackTrace(holder, callerOf);
    sites = holder.stack ?? [];
  } finally {
    Error.prepareStackTrace = saved;
    Error.stackTraceLimit = savedLimit;
  }
  for (const site of sites) {
    const raw = site.getFileName() ?? '';
    const file = raw.startsWith('file://') ? fileURLToPath(raw) : raw;
    if (file === '' || file === SELF || file.includes(`${sep}node_modules${sep}`) || file.startsWith('node:')) continue;
    const rel = relative(SRC_ROOT, file);
    return `${rel.startsWith('..') ? file : rel}:${site.getLineNumber() ?? 0}`;
  }
  return 'unknown:0';
}

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
      mixin: () => ({ caller: callerOf() }),
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => renameFields(obj),
      },
    },
    pino.multistream(
      streams.map((s) => ({ ...s, level })),
      { dedupe: false },
    ),
  );
  return new ZapStyleLogger(root);
}

/**
 * The Logger over pino: child bindings renamed as fields are (pino applies its
 * bindings formatter to the root only, not to children).
 */
class ZapStyleLogger implements Logger {
  constructor(private readonly p: pino.Logger) {}
  debug(obj: object, msg: string): void {
    this.p.debug(obj, msg);
  }
  info(obj: object, msg: string): void {
    this.p.info(obj, msg);
  }
  warn(obj: object, msg: string): void {
    this.p.warn(obj, msg);
  }
  error(obj: object, msg: string): void {
    this.p.error(obj, msg);
  }
  child(bindings: Record<string, unknown>): Logger {
    return new ZapStyleLogger(this.p.child(renameFields(bindings)));
  }
  flush(): void {
    this.p.flush();
  }
}
