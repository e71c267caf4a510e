// Log lines next to etcd's (golden keys): etcd 3.4.23 and tsetcd start from the same
// seed-style config (logger: zap), serve a write, stop on SIGTERM; for each main event
// both write, the keys of tsetcd's line must be etcd's keys exactly. Every tsetcd line
// has zap's level, ts, caller and msg and no camelCase field. Then the switches:
// --logger capnslog is accepted with etcd 3.5's warning, --log-level debug adds lines,
// --log-outputs writes to a file beside stderr.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireTools } from '../helpers/require-tool.js';
import { removeWhenTestProcessExits } from '../helpers/cleanup.js';
import { REPO_ROOT, dumpMemberLogsOnFailure, startMember, stopAllMembers, targetFromEnv, type Member } from '../helpers/processes.js';

afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

type Line = Record<string, unknown> & { msg: string };

function lines(m: Member): Line[] {
  const out: Line[] = [];
  for (const l of readFileSync(m.logPath, 'utf8').split('\n')) {
    if (!l.startsWith('{')) continue;
    const v = JSON.parse(l) as Line;
    out.push(v);
  }
  return out;
}

/** The events both servers log, by exact message or by pattern (raft's lines carry ids). */
const EVENTS: ReadonlyArray<string | RegExp> = [
  'starting local member',
  'now serving peer/client/metrics',
  'published local member to cluster through raft',
  'enabled capabilities for version',
  'serving client traffic insecurely; this is strongly discouraged!',
  'received signal; shutting down',
  'closing etcd server',
  'closed etcd server',
  /^[0-9a-f]+ became leader at term \d+$/,
  /^raft\.node: [0-9a-f]+ elected leader [0-9a-f]+ at term \d+$/,
];

function keysOf(ls: readonly Line[], event: string | RegExp): string[] | undefined {
  const hit = ls.find((l) => (typeof event === 'string' ? l.msg === event : event.test(l.msg)));
  return hit === undefined ? undefined : Object.keys(hit).sort();
}

async function put(m: Member): Promise<void> {
  const res = await fetch(`${m.clientUrl}/v3/kv/put`, {
    method: 'POST',
    body: '{"key":"Zm9v","value":"YmFy"}',
    signal: AbortSignal.timeout(10_000),
  });
  expect(res.status).toBe(200);
}

describe('logs as etcd writes them', () => {
  it('the main events carry the keys of etcd 3.4.23 (zap) lines', async (ctx) => {
    requireTools(ctx, 'etcd');
    const on = { 'enable-grpc-gateway': true };
    const [ours, etcd] = await Promise.all([
      startMember({ target: targetFromEnv(), extraConfig: on }),
      startMember({ target: 'etcd', extraConfig: on }),
    ]);
    await Promise.all([put(ours), put(etcd)]);
    await Promise.all([ours.stop(), etcd.stop()]);
    const a = lines(ours);
    const b = lines(etcd);
    for (const event of EVENTS) {
      const theirs = keysOf(b, event);
      expect(theirs, `etcd logged ${String(event)}`).toBeDefined();
      expect({ event: String(event), keys: keysOf(a, event) }).toEqual({ event: String(event), keys: theirs });
    }
    // etcd 3.5's readiness line (3.4.23 writes it only with capnslog): no fields.
    expect(keysOf(a, 'ready to serve client requests')).toEqual(['caller', 'level', 'msg', 'ts']);
    for (const l of a) {
      expect(Object.keys(l).slice(0, 3), l.msg).toEqual(['level', 'ts', 'caller']);
      // zap names the file from its package dir; ours names the src/*.ts line (through
      // the bundle's line table, docs/operations.md "Start-up"): the line that calls the
      // logger, so its text has the call.
      const caller = String(l['caller']);
      expect(caller, l.msg).toMatch(/^[a-z-]+\/[\w./-]+\.(ts|go):\d+$/);
      if (caller.includes('.ts:')) {
        const [file, line] = caller.split(':') as [string, string];
        const src = join(REPO_ROOT, 'src', file);
        expect(existsSync(src), `${l.msg}: ${caller}`).toBe(true);
        const text = readFileSync(src, 'utf8').split('\n')[Number(line) - 1] ?? '';
        expect(text, `${l.msg}: ${caller}`).toMatch(/\.(debug|info|warn|error|fatal|panic)\(/);
      }
      expect(Object.keys(l).filter((k) => /[a-z][A-Z]/.test(k) && k !== 'peerURLs'), l.msg).toEqual([]);
    }
  });

  it('--logger capnslog runs with etcd 3.5 warning; --log-level debug and --log-outputs take effect', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsetcd-logs-'));
    removeWhenTestProcessExits(dir);
    const file = join(dir, 'tsetcd.log');
    const m = await startMember({
      target: targetFromEnv(),
      name: 'logs-debug',
      extraConfig: { logger: 'capnslog', 'log-level': 'debug', 'log-outputs': ['stderr', file], 'enable-grpc-gateway': true },
    });
    await put(m);
    await m.stop();
    const text = readFileSync(m.logPath, 'utf8');
    expect(text).toContain("[WARNING] Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead");
    const debug = lines(m).filter((l) => l['level'] === 'debug');
    expect(debug.some((l) => l.msg === 'request stats')).toBe(true);
    expect(existsSync(file)).toBe(true);
    const inFile = readFileSync(file, 'utf8');
    expect(inFile).toContain('"msg":"ready to serve client requests"');
    expect(inFile).toContain('"msg":"request stats"');
  });
});
