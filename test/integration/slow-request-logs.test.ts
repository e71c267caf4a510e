// The slow-request warnings next to etcd 3.4.23, with thresholds low enough (1 ns, given
// as integer nanoseconds in YAML, as etcd's config file takes durations) that every
// request passes them:
// - warning-apply-duration (3.4's experimental-warning-apply-duration, the alias tsetcd
//   also takes): each applied put and txn logs "apply request took too long" with etcd's
//   keys, expected-duration "1ns", and the request in etcd's redacted text
//   (header:<ID:N > put:<key:"..." value_size:N >) equal to etcd's but for the id; reads
//   served without the log (a range, a read-only txn) log it with the prefix
//   "read-only range " and the same request and response texts as etcd's;
// - warning-unary-request-duration (etcd 3.5; 3.4 logs the same "request stats" line
//   only at debug level, so etcd runs with log-level debug): each unary KV call logs
//   "request stats" as a warning, with etcd's keys, counts, request size and content.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { runEtcdctl } from '../helpers/etcdctl.js';
import { requireTools } from '../helpers/require-tool.js';
import { dumpMemberLogsOnFailure, startMember, stopAllMembers, type Member } from '../helpers/processes.js';

afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

type Line = Record<string, unknown> & { msg: string; level: string };

function logLines(m: Member, msg: string): Line[] {
  return readFileSync(m.logPath, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line)
    .filter((l) => l.msg === msg);
}

const withoutId = (text: unknown): string => String(text).replace(/ID:\d+/, 'ID:_');

async function drive(m: Member): Promise<void> {
  const run = async (args: string[], stdin?: string): Promise<void> => {
    const r = await runEtcdctl(args, { endpoints: [m.clientUrl], ...(stdin === undefined ? {} : { stdin }) });
    expect(r.code, `${r.command}\n${r.stderr}`).toBe(0);
  };
  await run(['put', 'slow/a', 'value-a']);
  await run(['get', 'slow/', '--prefix']);
  await run(['txn'], 'value("slow/a") = "value-a"\n\nput slow/b "12345"\n\nget slow/x\n\n');
  await run(['del', 'slow/b']);
  await run(['txn'], 'value("slow/a") = "value-a"\n\nget slow/a\n\nget slow/x\n\n');
}

describe('slow-request warnings as etcd logs them', () => {
  it('warning-apply-duration and warning-unary-request-duration of 1 ns: every request logs etcd\'s lines', async (ctx) => {
    requireTools(ctx, 'etcd', 'etcdctl');
    const [ours, etcd] = await Promise.all([
      startMember({
        target: 'tsetcd',
        extraConfig: { 'experimental-warning-apply-duration': 1, 'warning-unary-request-duration': 1 },
      }),
      startMember({ target: 'etcd', extraConfig: { 'experimental-warning-apply-duration': 1, 'log-level': 'debug' } }),
    ]);
    await drive(ours);
    await drive(etcd);
    await Promise.all([ours.stop(), etcd.stop()]);

    // "apply request took too long" for the put, the txn and the delete.
    const applyOurs = logLines(ours, 'apply request took too long');
    const applyEtcd = logLines(etcd, 'apply request took too long');
    const byRequest = (ls: Line[], re: RegExp): Line | undefined => ls.find((l) => re.test(String(l['request'])));
    for (const re of [/ put:<key:"slow\/a"/, / txn:</, / delete_range:</]) {
      const a = byRequest(applyOurs, re);
      const b = byRequest(applyEtcd, re);
      expect(b, `etcd logged ${String(re)}`).toBeDefined();
      expect(a, `tsetcd logged ${String(re)}`).toBeDefined();
      expect(a?.level).toBe('warn');
      expect(Object.keys(a ?? {}).sort()).toEqual(Object.keys(b ?? {}).sort());
      expect(a?.['expected-duration']).toBe('1ns');
      expect(b?.['expected-duration']).toBe('1ns');
      expect(withoutId(a?.['request'])).toBe(withoutId(b?.['request']));
      expect(a?.['response']).toBe(b?.['response']);
    }
    expect(withoutId(byRequest(applyOurs, / put:</)?.['request'])).toBe('header:<ID:_ > put:<key:"slow/a" value_size:7 >');

    // Reads served without the log: the same warning with etcd's "read-only range " prefix.
    const readsOurs = applyOurs.filter((l) => l['prefix'] === 'read-only range ');
    const readsEtcd = applyEtcd.filter((l) => l['prefix'] === 'read-only range ');
    const pick = (ls: Line[], re: RegExp): Line | undefined => ls.find((l) => re.test(String(l['request'])));
    for (const re of [/^key:"slow\/" range_end:"slow0" $/, /^compare:<.*success:<request_range:<key:"slow\/a" > >/]) {
      const a = pick(readsOurs, re);
      const b = pick(readsEtcd, re);
      expect(b, `etcd's read-only line ${String(re)}`).toBeDefined();
      expect(a, `tsetcd's read-only line ${String(re)}`).toBeDefined();
      expect(Object.keys(a ?? {}).sort()).toEqual(Object.keys(b ?? {}).sort());
      expect({ request: a?.['request'], response: a?.['response'] }).toEqual({ request: b?.['request'], response: b?.['response'] });
    }

    // "request stats": a warning on tsetcd (threshold passed), a debug line on etcd 3.4.
    const statsOurs = logLines(ours, 'request stats');
    const statsEtcd = logLines(etcd, 'request stats');
    for (const type of ['/etcdserverpb.KV/Put', '/etcdserverpb.KV/Range', '/etcdserverpb.KV/Txn', '/etcdserverpb.KV/DeleteRange']) {
      const a = statsOurs.find((l) => l['response type'] === type);
      const b = statsEtcd.find((l) => l['response type'] === type);
      expect(b, `etcd's request stats for ${type}`).toBeDefined();
      expect(a, `tsetcd's request stats for ${type}`).toBeDefined();
      expect(a?.level).toBe('warn');
      expect(Object.keys(a ?? {}).sort()).toEqual(Object.keys(b ?? {}).sort());
      for (const k of ['request count', 'request size', 'response count', 'request content']) {
        expect({ type, k, v: a?.[k] }).toEqual({ type, k, v: b?.[k] });
      }
      expect(String(a?.['remote'])).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(String(a?.['time spent'])).toMatch(/^[\d.]+(ns|µs|ms|s)$/);
    }
  });
});
