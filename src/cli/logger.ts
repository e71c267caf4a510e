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
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve, sep } from 'node:path';
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

/**
 * The file:line that called the Logger, from V8's structured call sites. zap names the
 * file from the package dir, so the caller is named from src/: `server/etcd-server.ts:523`.
 * bin/tsetcd runs one bundled file (dist/tsetcd.mjs, docs/operations.md "Start-up"):
 * its lines are mapped back to the src/*.ts lines through the line table the build
 * writes beside it (dist/tsetcd.mjs.lines.json, the source map's first position on each
 * line), not through the source map itself, which node would keep parsed on the heap.
 * Unbundled runs (tests import src/ directly) name their own files the same way.
 */
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
    const at = originalPosition(site);
    if (at === undefined) continue;
    const [file, line] = at;
    if (file.includes(`${sep}node_modules${sep}`) || file.startsWith('node:')) continue;
    const cut = file.lastIndexOf(SRC_SEGMENT);
    const rel = cut < 0 ? file : file.slice(cut + SRC_SEGMENT.length);
    if (rel === 'cli/logger.ts' || rel === 'cli/logger.js') continue;
    return `${rel}:${line}`;
  }
  return 'unknown:0';
}

const SRC_SEGMENT = `${sep}src${sep}`;

/** scripts/bundle.mjs's table: `lines[2*i]` indexes `sources` (-1: unmapped), `lines[2*i+1]` is the 1-based line. */
interface LineTable {
  readonly sources: readonly string[];
  readonly lines: Int32Array;
}

/** Line tables by generated file; null where the file has none (then its own lines are named). */
const tables = new Map<string, LineTable | null>();

function isLineTable(v: unknown): v is { sources: string[]; lines: number[] } {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return Array.isArray(o['sources']) && o['sources'].every((x) => typeof x === 'string') && Array.isArray(o['lines']);
}

function lineTableOf(file: string): LineTable | null {
  let table = tables.get(file);
  if (table === undefined) {
    table = null;
    try {
      const parsed: unknown = JSON.parse(readFileSync(`${file}.lines.json`, 'utf8'));
      if (isLineTable(parsed)) table = { sources: parsed.sources.map((s) => resolve(dirname(file), s)), lines: Int32Array.from(parsed.lines) };
    } catch {
      // No table (a bundle built without it): name the bundle's own lines.
    }
    tables.set(file, table);
  }
  return table;
}

/** A call site's original file (absolute path) and 1-based line. */
function originalPosition(site: NodeJS.CallSite): [string, number] | undefined {
  const raw = site.getFileName() ?? '';
  if (raw === '') return undefined;
  const file = raw.startsWith('file://') ? fileURLToPath(raw) : raw;
  const line = site.getLineNumber() ?? 0;
  const table = file.endsWith('.mjs') ? lineTableOf(file) : null;
  const src = table?.lines[2 * (line - 1)] ?? -1;
  const source = table?.sources[src];
  if (table === null || source === undefined) return [file, line];
  return [source, table.lines[2 * (line - 1) + 1] ?? 0];
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
