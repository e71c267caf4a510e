/**
 * etcd's HTTP health, liveness, readiness and version endpoints (etcd
 * server/etcdserver/api/etcdhttp/health.go and version.go, 3.5 behaviour):
 *
 *  GET /health[?serializable=true][&exclude=NOSPACE]
 *      200 {"health":"true","reason":""} or 503 {"health":"false","reason":"..."}.
 *      Checks alarms, then the leader (skipped when serializable), then a Range.
 *  GET /livez, /readyz[?verbose][&exclude=check], /livez/<check>, /readyz/<check>
 *      200 "ok\n" or 503 listing "[-]check failed: reason".
 *  GET /version  {"etcdserver":"3.5.x","etcdcluster":"3.5.0"}
 * Anything but GET gets 405 with an Allow header, as etcd answers.
 */
import type { HttpRequest, HttpResponse } from './types.js';
import { TsetcdError, etcdMessage } from '../shared/errors.js';

export interface HealthSource {
  hasLeader(): boolean;
  /** Active alarm names: 'NOSPACE', 'CORRUPT'. */
  activeAlarms(): readonly string[];
  /** A Range of the key "health" (keys only, limit 1); rejects on failure. */
  checkRange(serializable: boolean): Promise<void>;
  isLearner(): boolean;
  serverVersion(): string;
  clusterVersion(): string;
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const TEXT_HEADERS = { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' };

export async function serveHealthEndpoints(req: HttpRequest, src: HealthSource): Promise<HttpResponse | undefined> {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  const known = path === '/health' || path === '/version' || /^\/(livez|readyz)(\/[a-z_]+)?$/.test(path);
  if (!known) return undefined;
  if (req.method !== 'GET') {
    return { status: 405, headers: { allow: 'GET', 'content-type': 'text/plain' }, body: 'Method Not Allowed\n' };
  }
  if (path === '/version') {
    const body = JSON.stringify({ etcdserver: src.serverVersion(), etcdcluster: src.clusterVersion() });
    return { status: 200, headers: JSON_HEADERS, body };
  }
  if (path === '/health') return health(url, src);
  return probe(url, src);
}

async function health(url: URL, src: HealthSource): Promise<HttpResponse> {
  const serializable = url.searchParams.get('serializable') === 'true';
  const excluded = new Set(url.searchParams.getAll('exclude'));
  const result = await healthCheck(src, serializable, excluded);
  const body = JSON.stringify({ health: String(result.ok), reason: result.reason });
  return { status: result.ok ? 200 : 503, headers: JSON_HEADERS, body };
}

async function healthCheck(
  src: HealthSource,
  serializable: boolean,
  excludedAlarms: ReadonlySet<string>,
): Promise<{ ok: boolean; reason: string }> {
  for (const alarm of src.activeAlarms()) {
    if (!excludedAlarms.has(alarm)) return { ok: false, reason: `ALARM ${alarm}` };
  }
  if (!serializable && !src.hasLeader()) return { ok: false, reason: 'RAFT NO LEADER' };
  try {
    await src.checkRange(serializable);
  } catch (err) {
    return { ok: false, reason: `QGET ERROR:${reasonOf(err)}` };
  }
  return { ok: true, reason: '' };
}

type Check = (src: HealthSource) => Promise<string | undefined>;

const LIVEZ_CHECKS: ReadonlyArray<readonly [string, Check]> = [
  ['serializable_read', (s) => rangeCheck(s, true)],
];

const READYZ_CHECKS: ReadonlyArray<readonly [string, Check]> = [
  ['data_corruption', async (s) => (s.activeAlarms().includes('CORRUPT') ? 'alarm activated: CORRUPT' : undefined)],
  ['serializable_read', (s) => rangeCheck(s, true)],
  ['linearizable_read', (s) => rangeCheck(s, false)],
  ['non_learner', async (s) => (s.isLearner() ? 'this member is a learner' : undefined)],
];

async function rangeCheck(src: HealthSource, serializable: boolean): Promise<string | undefined> {
  try {
    await src.checkRange(serializable);
    return undefined;
  } catch (err) {
    return reasonOf(err);
  }
}

/** etcd's wording for a typed error ("etcdserver: no leader"), else the message. */
function reasonOf(err: unknown): string {
  if (err instanceof TsetcdError) return etcdMessage(err.code);
  return err instanceof Error ? err.message : String(err);
}

async function probe(url: URL, src: HealthSource): Promise<HttpResponse> {
  const [, kind, only] = /^\/(livez|readyz)(?:\/([a-z_]+))?$/.exec(url.pathname) ?? [];
  const all = kind === 'livez' ? LIVEZ_CHECKS : READYZ_CHECKS;
  const excluded = new Set(url.searchParams.getAll('exclude'));
  const selected = all.filter(([name]) => (only === undefined ? !excluded.has(name) : name === only));
  if (only !== undefined && selected.length === 0) {
    return { status: 404, headers: TEXT_HEADERS, body: '404 page not found\n' };
  }
  const lines: string[] = [];
  let failed = false;
  for (const [name, check] of selected) {
    const reason = await check(src);
    if (reason === undefined) lines.push(`[+]${name} ok`);
    else {
      failed = true;
      lines.push(`[-]${name} failed: ${reason}`);
    }
  }
  for (const name of excluded) lines.push(`[+]${name} excluded: ok`);
  const verbose = url.searchParams.has('verbose');
  if (!failed) {
    const body = verbose ? `${lines.join('\n')}\nok\n` : 'ok\n';
    return { status: 200, headers: TEXT_HEADERS, body };
  }
  return { status: 503, headers: TEXT_HEADERS, body: `${lines.join('\n')}\n${kind} check failed\n` };
}
