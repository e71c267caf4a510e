/**
 * Settings with a small grammar of their own: auto-compaction retention, logging,
 * the auth token spec and feature gates. Each follows the etcd code that consumes it
 * (embed.parseCompactionRetention, embed.setupLogging, auth.NewTokenProvider,
 * pkg/featuregate), and fails with a ConfigError naming the key as written.
 */
import * as d from './defaults.js';
import { DurationSyntaxError, parseGoDurationMs } from './duration.js';
import { parseGoBool } from './flags.js';
import { EXPERIMENTAL_GATE_FLAGS } from './keys.js';
import type { AuthTokenType, AutoCompaction, FeatureGates, LogFormat, LogLevel } from './types.js';
import type { Values } from './values.js';

export function buildAutoCompaction(v: Values): {
  autoCompactionMode: 'periodic' | 'revision';
  autoCompactionRetention: string;
  autoCompaction: AutoCompaction;
} {
  const mode = v.string('auto-compaction-mode', d.DEFAULT_AUTO_COMPACTION_MODE);
  if (mode !== 'periodic' && mode !== 'revision') {
    v.fail('auto-compaction-mode', `unknown auto-compaction-mode ${JSON.stringify(mode)}`);
  }
  const retention = v
    .string('auto-compaction-retention', d.DEFAULT_AUTO_COMPACTION_RETENTION)
    .trim();
  const count = /^\+?[0-9]+$/.test(retention) ? Number(retention) : undefined;
  if (count !== undefined && !Number.isSafeInteger(count)) {
    v.fail('auto-compaction-retention', `${retention} is too large`);
  }
  if (mode === 'revision') {
    if (count === undefined) {
      v.fail(
        'auto-compaction-retention',
        `revision mode takes a revision count, not ${JSON.stringify(retention)}`,
      );
    }
    return {
      autoCompactionMode: mode,
      autoCompactionRetention: retention,
      autoCompaction: { mode, retentionRevisions: count },
    };
  }
  // periodic: a bare number is hours, anything else a Go duration.
  let retentionMs: number;
  if (count !== undefined) retentionMs = count * 3_600_000;
  else {
    try {
      retentionMs = parseGoDurationMs(retention);
    } catch (err) {
      if (!(err instanceof DurationSyntaxError)) throw err;
      return v.fail(
        'auto-compaction-retention',
        `error parsing CompactionRetention: ${err.message}`,
      );
    }
  }
  if (retentionMs < 0) v.fail('auto-compaction-retention', 'must not be negative');
  return {
    autoCompactionMode: mode,
    autoCompactionRetention: retention,
    autoCompaction: { mode, retentionMs },
  };
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'panic', 'fatal'];
const STREAM_OUTPUTS = new Set(['stderr', 'stdout', 'systemd/journal']);

export function buildLogging(
  v: Values,
  notices: string[],
): {
  logger: 'zap';
  logLevel: LogLevel;
  logOutputs: string[];
  logFormat: LogFormat;
  enableLogRotation: boolean;
  logRotationConfigJson: string;
} {
  let logger = v.string('logger', 'zap');
  // etcd 3.5 (embed/config.go setupLogging): capnslog is accepted, warned about, and zap used.
  if (logger === 'capnslog') {
    notices.push("[WARNING] Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead");
    logger = 'zap';
  }
  if (logger !== 'zap')
    v.fail('logger', `unknown logger option ${JSON.stringify(logger)}; use zap`);

  const levelText = v.string('log-level', d.DEFAULT_LOG_LEVEL);
  const level = LOG_LEVELS.find((l) => l === levelText);
  if (level === undefined) {
    v.fail(
      'log-level',
      `unknown log level ${JSON.stringify(levelText)} (use one of ${LOG_LEVELS.join(', ')})`,
    );
  }
  let logLevel: LogLevel = level;
  // etcd 3.4's `debug: true` (removed in 3.5) meant log level debug.
  if (v.bool('debug', false)) {
    notices.push(`${v.label('debug')} is deprecated (removed in etcd 3.5); using log-level debug`);
    logLevel = 'debug';
  }

  const logFormat = v.string('log-format', d.DEFAULT_LOG_FORMAT);
  if (logFormat !== 'json' && logFormat !== 'console') {
    v.fail(
      'log-format',
      `unsupported log format ${JSON.stringify(logFormat)} (use json or console)`,
    );
  }
  const outputs = v
    .list('log-outputs', [d.DEFAULT_LOG_OUTPUT])
    .map((o) => (o === 'default' ? 'stderr' : o));
  const logOutputs = [...new Set(outputs.length === 0 ? ['stderr'] : outputs)];

  const enableLogRotation = v.bool('enable-log-rotation', false);
  const logRotationConfigJson = v.string(
    'log-rotation-config-json',
    d.DEFAULT_LOG_ROTATION_CONFIG_JSON,
  );
  if (enableLogRotation) {
    if (logOutputs.length !== 1 || STREAM_OUTPUTS.has(logOutputs[0] ?? '')) {
      v.fail('log-outputs', 'requires a single file path when log rotation is enabled');
    }
    try {
      JSON.parse(logRotationConfigJson);
    } catch {
      v.fail('log-rotation-config-json', 'is not valid JSON');
    }
  }
  return { logger, logLevel, logOutputs, logFormat, enableLogRotation, logRotationConfigJson };
}

/**
 * --auth-token and --bcrypt-cost as etcd 3.4 takes them (auth/store.go decomposeOpts,
 * NewTokenProvider, NewAuthStore): the type is `simple`, `jwt` or empty (no tokens at
 * all); every option is one `k=v`, none twice; jwt needs a sign-method and a key file.
 * An unknown jwt option only draws a warning when the member starts, and a bcrypt cost
 * outside 4..31 means the default 10, with a warning (src/auth/password.ts), not a refusal.
 */
export function buildAuth(v: Values): {
  authToken: string;
  authTokenType: AuthTokenType;
  authTokenOptions: Record<string, string>;
  bcryptCost: number;
  authTokenTtlSeconds: number;
} {
  const authToken = v.string('auth-token', d.DEFAULT_AUTH_TOKEN);
  const [type = '', ...rest] = authToken.split(',');
  if (type !== 'simple' && type !== 'jwt' && type !== '') {
    v.fail('auth-token', `unknown token type ${JSON.stringify(type)} (use simple or jwt,...)`);
  }
  const authTokenOptions: Record<string, string> = {};
  for (const item of rest) {
    const pair = item.split('=');
    const key = pair[0] ?? '';
    if (pair.length !== 2) v.fail('auth-token', `malformed token option ${JSON.stringify(item)} (want key=value)`);
    if (key in authTokenOptions) v.fail('auth-token', `duplicated token option ${JSON.stringify(key)}`);
    authTokenOptions[key] = pair[1] ?? '';
  }
  if (type === 'jwt' && authTokenOptions['sign-method'] === undefined) {
    v.fail('auth-token', 'jwt needs sign-method=...');
  }
  if (
    type === 'jwt' &&
    authTokenOptions['pub-key'] === undefined &&
    authTokenOptions['priv-key'] === undefined
  ) {
    v.fail('auth-token', 'jwt needs pub-key=... and/or priv-key=...');
  }
  const bcryptCost = v.uint('bcrypt-cost', d.DEFAULT_BCRYPT_COST);
  return {
    authToken,
    authTokenType: type,
    authTokenOptions,
    bcryptCost,
    authTokenTtlSeconds: v.uint('auth-token-ttl', d.DEFAULT_AUTH_TOKEN_TTL_SECONDS),
  };
}

const GATES: ReadonlyMap<string, keyof FeatureGates> = new Map([
  ['InitialCorruptCheck', 'initialCorruptCheck'],
  ['CompactHashCheck', 'compactHashCheck'],
  ['LeaseCheckpoint', 'leaseCheckpoint'],
  ['LeaseCheckpointPersist', 'leaseCheckpointPersist'],
  ['StopGRPCServiceOnDefrag', 'stopGrpcServiceOnDefrag'],
  ['TxnModeWriteWithSharedBuffer', 'txnModeWriteWithSharedBuffer'],
  ['SetMemberLocalAddr', 'setMemberLocalAddr'],
]);

export function buildFeatureGates(v: Values, notices: string[]): FeatureGates {
  const gates: Record<keyof FeatureGates, boolean> = {
    initialCorruptCheck: false,
    compactHashCheck: false,
    leaseCheckpoint: false,
    leaseCheckpointPersist: false,
    stopGrpcServiceOnDefrag: false,
    txnModeWriteWithSharedBuffer: true,
    setMemberLocalAddr: false,
  };
  const explicit = new Map<string, boolean>();
  for (const item of v.string('feature-gates', '').split(',')) {
    const entry = item.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq < 0) v.fail('feature-gates', `missing bool value for ${entry}`);
    const gate = entry.slice(0, eq).trim();
    const text = entry.slice(eq + 1).trim();
    const field = GATES.get(gate);
    if (field === undefined) v.fail('feature-gates', `unrecognized feature gate: ${gate}`);
    const value = parseGoBool(text);
    if (value === undefined) v.fail('feature-gates', `invalid value of ${gate}=${text}`);
    gates[field] = value;
    explicit.set(gate, value);
  }
  for (const [flag, gate] of EXPERIMENTAL_GATE_FLAGS) {
    if (!v.has(flag)) continue;
    const value = v.bool(flag, false);
    const gateValue = explicit.get(gate);
    if (gateValue !== undefined) {
      v.fail(
        flag,
        `cannot be set together with feature-gates ${gate}=${gateValue}; use only feature-gates`,
      );
    }
    notices.push(`${v.label(flag)} is deprecated; use feature-gates ${gate}=${value}`);
    const field = GATES.get(gate);
    if (field !== undefined) gates[field] = value;
  }
  if (gates.leaseCheckpointPersist && !gates.leaseCheckpoint) {
    v.fail(
      'feature-gates',
      'enabling feature gate LeaseCheckpointPersist requires enabling feature gate LeaseCheckpoint',
    );
  }
  return gates;
}
