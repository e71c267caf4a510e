/**
 * A Logger (src/shared/logger.ts) that keeps every line in memory, for tests that check
 * what a core module logs: level, message and fields, in order.
 */
import type { Logger } from '../../src/shared/logger.js';

export interface Logged {
  readonly level: string;
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

export function captureLogger(into: Logged[]): Logger {
  const at = (level: string) => (obj: object, msg: string): void => void into.push({ level, msg, fields: { ...obj } });
  const l: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => l };
  return l;
}
