/**
 * The auth-enable race, against tsetcd and a real etcd 3.4.23 side by side: a write
 * proposed while auth is still off and applied after `auth enable` is refused at apply
 * with "etcdserver: user name is empty" (etcd: etcdserver/apply_auth.go checks every
 * write against the RequestHeader it was proposed with; tsetcd carries the caller in
 * the entry's header, src/apply/request.ts; docs/security.md §1).
 *
 * Made deterministic from outside, the same way on both servers and without a test
 * hook: strace attaches to the member and delays every fsync/fdatasync of its WAL by
 * HOLD_MS (syscall fault injection, `-e inject=...:delay_enter=`). `auth enable` is proposed
 * first and cannot apply before its WAL fsync returns, HOLD_MS later; the anonymous put
 * is sent PUT_AFTER_MS after it, so it reaches the member while auth is still off there
 * (the member resolves its caller as anonymous), is appended after the enable and
 * applied after it. The test checks the hold took effect (the enable took at least
 * HOLD_MS) and that the put was sent before the enable answered.
 *
 * Then, with auth on, the Lock and Election services for a limited user: their writes
 * carry that user into the log (tsetcd: the recipes' loopback client; etcd: its v3client
 * forwards the token), so both servers allow them under the user's prefix and refuse
 * them elsewhere, alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killWhenTestProcessExits } from '../helpers/cleanup.js';
import { etcdctlFor, type EtcdctlResult } from '../helpers/etcdctl.js';
import { connectMember, type Reply } from '../helpers/grpc-client.js';
import { RecipeClient } from '../concurrency/wire.js';
import { dumpMemberLogsOnFailure, sleep, startMember, stopAllMembers, targetFromEnv, type Member } from '../helpers/processes.js';
import { requireTools } from '../helpers/require-tool.js';

const target = targetFromEnv();
const HOLD_MS = 2500;
const PUT_AFTER_MS = 500;
const SLOW = ['--dial-timeout=5s', '--command-timeout=40s'];
const ROOT = ['--user', 'root:rootpw'];

let member: Member;
let oracle: Member;
const tracers: ChildProcess[] = [];

beforeAll(async () => {
  [member, oracle] = await Promise.all([startMember({ target, name: 'race-node' }), startMember({ target: 'etcd', name: 'race-node' })]);
}, 60_000);
afterEach(async () => {
  await Promise.all(tracers.splice(0).map(stopTracer));
});
afterAll(stopAllMembers, 30_000);
dumpMemberLogsOnFailure();

/** TracerPid of every thread of `pid`. */
function tracerPids(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    return Number(/^TracerPid:\s+(\d+)/m.exec(status)?.[1] ?? '0');
  });
}

/** The member's WAL segment files (etcd's and tsetcd's layout: <data-dir>/member/wal/*.wal). */
function walFiles(m: Member): string[] {
  const dir = m.walDir !== '' && m.walDir !== 'undefined' ? m.walDir : join(m.dataDir, 'member', 'wal');
  const files = readdirSync(dir).filter((f) => f.endsWith('.wal'));
  if (files.length === 0) throw new Error(`no WAL segment in ${dir}`);
  return files.map((f) => join(dir, f));
}

/**
 * strace holding every fsync and fdatasync of the member's WAL segments for HOLD_MS
 * (`-P`: only calls on those files; the state db's syncs run free, so etcd's bbolt
 * commits do not stretch the enable past etcd's request timeout); resolves once every
 * thread of the member is traced.
 */
async function holdWalSyncs(m: Member, pid: number): Promise<ChildProcess> {
  const inject = `fsync,fdatasync:delay_enter=${HOLD_MS * 1000}`;
  const paths = walFiles(m).flatMap((f) => ['-P', f]);
  const args = ['-f', '-qq', '-o', '/dev/null', ...paths, '-e', 'trace=fsync,fdatasync', '-e', `inject=${inject}`, '-p', String(pid)];
  const tracer = spawn('strace', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  tracers.push(tracer);
  const dog = killWhenTestProcessExits(tracer.pid ?? 0);
  tracer.once('exit', () => dog.kill('SIGKILL'));
  let stderr = '';
  tracer.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const deadline = Date.now() + 10_000;
  while (!tracerPids(pid).every((t) => t === tracer.pid)) {
    if (tracer.exitCode !== null || Date.now() > deadline) throw new Error(`strace did not attach to ${pid}: ${stderr}`);
    await sleep(50);
  }
  return tracer;
}

/** SIGINT detaches strace (the member runs on untraced); waits for it to go. */
async function stopTracer(tracer: ChildProcess): Promise<void> {
  if (tracer.exitCode !== null || tracer.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => tracer.once('exit', () => resolve()));
  tracer.kill('SIGINT');
  await Promise.race([gone, sleep(5000).then(() => tracer.kill('SIGKILL'))]);
}

function errorLine(r: EtcdctlResult): string {
  const lines = r.stderr.trimEnd().split('\n').filter((l) => !l.startsWith('{"level"'));
  return lines[lines.length - 1] ?? '';
}

const describeRun = (r: EtcdctlResult): string => `${r.command}\nexit ${String(r.code)}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

interface RaceResult {
  readonly enable: EtcdctlResult;
  readonly put: EtcdctlResult;
  readonly enableMs: number;
  /** The put was sent this long before the enable answered. */
  readonly putLeadMs: number;
  readonly after: EtcdctlResult;
}

async function race(m: Member): Promise<RaceResult> {
  const run = (args: readonly string[]): Promise<EtcdctlResult> => etcdctlFor(m, [...SLOW, ...args], { timeoutMs: 60_000 });
  for (const args of [['user', 'add', 'root:rootpw'], ['role', 'add', 'root'], ['user', 'grant-role', 'root', 'root'], ['put', 'before', '1']]) {
    const r = await run(args);
    expect(r.code, describeRun(r)).toBe(0);
  }
  const pid = m.pid;
  if (pid === undefined) throw new Error(`${m.target} has no pid`);
  const tracer = await holdWalSyncs(m, pid);
  const start = Date.now();
  let enabledAt = 0;
  const enabling = run(['auth', 'enable']).then((r) => ((enabledAt = Date.now()), r));
  await sleep(PUT_AFTER_MS);
  const putAt = Date.now();
  const put = await run(['put', 'raced', '1']);
  const enable = await enabling;
  await stopTracer(tracer);
  const after = await run([...ROOT, 'get', 'raced', '--print-value-only']);
  return { enable, put, enableMs: enabledAt - start, putLeadMs: enabledAt - putAt, after };
}

describe(`a write proposed before auth enable and applied after it, ${target} and etcd 3.4.23`, () => {
  it('is refused at apply with "user name is empty" on both', async (ctx) => {
    requireTools(ctx, 'strace', 'etcd', 'etcdctl');
    const [ours, theirs] = await Promise.all([race(member), race(oracle)]);
    for (const [who, r] of [[target, ours], ['etcd', theirs]] as const) {
      const info = `${who}: enable took ${r.enableMs} ms, put sent ${r.putLeadMs} ms before it answered\n${describeRun(r.enable)}\n${describeRun(r.put)}`;
      // the hold worked: the enable waited for its fsync, and the put went out before it applied
      expect(r.enableMs, info).toBeGreaterThanOrEqual(HOLD_MS * 0.9);
      expect(r.putLeadMs, info).toBeGreaterThan(0);
      expect(r.enable.stdout, info).toBe('Authentication Enabled\n');
      expect(r.put.code, info).not.toBe(0);
      expect(errorLine(r.put), info).toBe('Error: etcdserver: user name is empty');
      // the refused put left nothing
      expect(r.after.code, describeRun(r.after)).toBe(0);
      expect(r.after.stdout, describeRun(r.after)).toBe('');
    }
  }, 90_000);
});

/** A user's token on `m` (simple tokens are member-local). */
async function login(m: Member, name: string, password: string): Promise<Record<string, string>> {
  const r = await connectMember(m).unary<{ token: string }>('Auth', 'Authenticate', { name, password });
  if (!r.ok) throw new Error(`login ${name} on ${m.target}: ${r.error.details}`);
  return { token: r.value.token };
}

const outcome = (r: Reply<unknown>): string => (r.ok ? 'ok' : `${r.error.codeName}: ${r.error.details}`);

/** Lock and Campaign as alice (readwrite on app/): what each answers, in order. */
async function recipesAsAlice(m: Member): Promise<string[]> {
  const root = await login(m, 'root', 'rootpw');
  const kv = connectMember(m);
  for (const [method, req] of [
    ['UserAdd', { name: 'alice', password: 'alicepw' }],
    ['RoleAdd', { name: 'app' }],
    ['RoleGrantPermission', { name: 'app', perm: { permType: 2, key: Buffer.from('app/'), rangeEnd: Buffer.from('app0') } }],
    ['UserGrantRole', { user: 'alice', role: 'app' }],
  ] as const) {
    const r = await kv.unary('Auth', method, req, { metadata: root });
    expect(outcome(r), `${m.target} ${method}`).toBe('ok');
  }
  const alice = await login(m, 'alice', 'alicepw');
  const lease = await kv.unary<{ ID: string }>('Lease', 'LeaseGrant', { TTL: 60, ID: 0x694da21d21481a0bn.toString() }, { metadata: alice });
  expect(outcome(lease)).toBe('ok');
  const rc = new RecipeClient(m.clientAddress);
  const as = { metadata: alice };
  const answers: string[] = [];
  const lk = await rc.unary<{ key: Buffer }>('v3lockpb.Lock', 'Lock', { name: Buffer.from('app/l'), lease: 0x694da21d21481a0bn.toString() }, as);
  answers.push(`lock app/l: ${outcome(lk)}`);
  answers.push(`lock b: ${outcome(await rc.unary('v3lockpb.Lock', 'Lock', { name: Buffer.from('b'), lease: 0x694da21d21481a0bn.toString() }, as))}`);
  if (lk.ok) answers.push(`unlock: ${outcome(await rc.unary('v3lockpb.Lock', 'Unlock', { key: lk.value.key }, as))}`);
  const campaign = { name: Buffer.from('app/e'), lease: 0x694da21d21481a0bn.toString(), value: Buffer.from('v') };
  answers.push(`campaign app/e: ${outcome(await rc.unary('v3electionpb.Election', 'Campaign', campaign, as))}`);
  answers.push(`campaign anonymous: ${outcome(await rc.unary('v3electionpb.Election', 'Campaign', { ...campaign, name: Buffer.from('app/f') }))}`);
  const held = await kv.unary<{ kvs?: unknown[] }>('KV', 'Range', { key: Buffer.from('app/'), rangeEnd: Buffer.from('app0'), countOnly: true }, { metadata: root });
  answers.push(`keys under app/: ${held.ok ? String((held.value as { count?: string }).count ?? '0') : outcome(held)}`);
  return answers;
}

// Runs on the members the race left with auth enabled and root:rootpw.
describe(`Lock and Election for a limited user under auth, ${target} and etcd 3.4.23`, () => {
  it('allowed under its prefix, refused elsewhere and when anonymous, alike', async (ctx) => {
    requireTools(ctx, 'etcd');
    const [ours, theirs] = await Promise.all([recipesAsAlice(member), recipesAsAlice(oracle)]);
    expect(ours).toEqual(theirs);
    expect(ours[0]).toBe('lock app/l: ok');
  }, 60_000);
});
