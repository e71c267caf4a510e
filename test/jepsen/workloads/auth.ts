/**
 * The `auth-revoke` workload (checkers/auth.ts): is a permission change linearizable
 * with the data?
 *
 * Setup (before any fault, retried until it holds): user root with the root role, user
 * `w` with role `rw` (read-write on the prefix auth/), auth enabled. Then:
 *   - 2 processes per member log in as `w` (simple tokens, per member; a token refused
 *     as "invalid auth token", e.g. after a restart, is dropped and the next op logs in
 *     again) and read or write auth/0..4 on their member: linearizable Range, Put of a
 *     value unique to the op;
 *   - one admin process, as root, revokes rw's permission, waits, grants it back, waits,
 *     and so on; each change is retried (through the next member) until it is
 *     acknowledged, every attempt recorded as an op.
 * final(): root reads every key (recorded as `final`), then disables auth so that the
 * runner's convergence check (HashKV, an admin call) runs as before.
 */
import { checkAuthRevoke, NOT_GRANTED, type AuthReadOutput, type AuthWriteInput } from '../checkers/auth.js';
import { sigPut } from '../history/resolve.js';
import type { ClusterMember } from '../cluster/cluster.js';
import type { Op } from '../history/op.js';
import type { EtcdService } from '../../helpers/grpc-client.js';
import type * as pb from '../../../src/generated/pb.js';
import type { WorkloadContext } from './context.js';
import { bytes, execute, memberFor, sleep, text } from './context.js';
import type { Verdict, Workload } from './workload.js';

const PREFIX = 'auth/';
const PREFIX_END = 'auth0';
const KEYS = 5;
const BACKOFF_MS = 150;
const INFO_BACKOFF_MS = 1000;
const INVALID_TOKEN = 'invalid auth token';
const PASSWORDS: Record<string, string> = { root: 'rootpw', w: 'wpw' };

/** Simple tokens of one user, per member (they are member-local after a restart). */
class Logins {
  private readonly tokens = new Map<string, string>();
  constructor(private readonly user: string) {}

  async metadata(ctx: WorkloadContext, member: ClusterMember): Promise<Record<string, string> | undefined> {
    let token = this.tokens.get(member.name);
    if (token === undefined) {
      const r = await ctx.client(member).unary<{ token: string }>('Auth', 'Authenticate', { name: this.user, password: PASSWORDS[this.user] });
      if (!r.ok) return undefined;
      token = r.value.token;
      this.tokens.set(member.name, token);
    }
    return { token };
  }

  /** After an answer: forget a token the member no longer knows. */
  seen(member: ClusterMember, op: Op): void {
    if ((op.error ?? '').includes(INVALID_TOKEN)) this.tokens.delete(member.name);
  }
}

async function setUp(ctx: WorkloadContext): Promise<void> {
  const steps: Array<[EtcdService, string, object]> = [
    ['Auth', 'UserAdd', { name: 'root', password: PASSWORDS['root'] }],
    ['Auth', 'UserGrantRole', { user: 'root', role: 'root' }],
    ['Auth', 'UserAdd', { name: 'w', password: PASSWORDS['w'] }],
    ['Auth', 'RoleAdd', { name: 'rw' }],
    ['Auth', 'RoleGrantPermission', { name: 'rw', perm: { permType: 2, key: bytes(PREFIX), rangeEnd: bytes(PREFIX_END) } }],
    ['Auth', 'UserGrantRole', { user: 'w', role: 'rw' }],
    ['Auth', 'AuthEnable', {}],
  ];
  const member = ctx.cluster.members[0] as ClusterMember;
  for (const [service, method, req] of steps) {
    for (let attempt = 0; ; attempt++) {
      const r = await ctx.client(member).unary(service, method, req);
      // a retried add may find its first attempt applied
      if (r.ok || r.error.details.includes('already exists')) break;
      if (attempt >= 20) throw new Error(`auth setup ${method}: ${r.error.details}`);
      await sleep(250);
    }
  }
}

export function authRevokeWorkload(options: { revokedMs?: number; grantedMs?: number } = {}): Workload {
  const revokedMs = options.revokedMs ?? 1200;
  const grantedMs = options.grantedMs ?? 1200;
  let nextValue = 0;

  const userOp = async (ctx: WorkloadContext, logins: Logins, process: number, member: ClusterMember): Promise<Op | undefined> => {
    const md = await logins.metadata(ctx, member);
    if (md === undefined) return undefined;
    const key = `${PREFIX}${ctx.rng.int(KEYS)}`;
    let op: Op;
    if (ctx.rng.int(2) === 0) {
      op = await execute(
        ctx,
        process,
        member,
        { f: 'read', key, input: null, idempotent: true },
        (c) => c.unary<pb.RangeResponse>('KV', 'Range', { key: bytes(key) }, { metadata: md }),
        (res): { output: AuthReadOutput } => ({ output: { values: (res.kvs ?? []).map((kv) => text(kv.value)) } }),
      );
    } else {
      const value = `v${nextValue++}`;
      op = await execute(
        ctx,
        process,
        member,
        { f: 'write', key, input: { value }, idempotent: false },
        (c) => c.unary<pb.PutResponse>('KV', 'Put', { key: bytes(key), value: bytes(value) }, { metadata: md }),
        () => ({ output: null }),
      );
    }
    logins.seen(member, op);
    return op;
  };

  /** One permission change, retried through the members in turn until acknowledged. */
  const change = async (ctx: WorkloadContext, root: Logins, kind: 'revoke' | 'grant'): Promise<void> => {
    const req =
      kind === 'revoke'
        ? { role: 'rw', key: bytes(PREFIX), rangeEnd: bytes(PREFIX_END) }
        : { name: 'rw', perm: { permType: 2, key: bytes(PREFIX), rangeEnd: bytes(PREFIX_END) } };
    const method = kind === 'revoke' ? 'RoleRevokePermission' : 'RoleGrantPermission';
    for (let attempt = 0; !ctx.stopped() || attempt === 0; attempt++) {
      const member = memberFor(ctx, attempt);
      const md = await root.metadata(ctx, member);
      if (md === undefined) {
        await sleep(BACKOFF_MS);
        continue;
      }
      const process = ctx.recorder.newProcess();
      const op = await execute(ctx, process, member, { f: kind, input: null, idempotent: false }, (c) => c.unary('Auth', method, req, { metadata: md }), () => ({ output: null }));
      root.seen(member, op);
      if (op.type === 'ok' || (kind === 'revoke' && (op.error ?? '').includes(NOT_GRANTED))) return;
      await sleep(op.type === 'info' ? INFO_BACKOFF_MS : BACKOFF_MS);
    }
  };

  return {
    name: 'auth-revoke',
    async run(ctx) {
      await setUp(ctx);
      const perMember = 2;
      const users = Array.from({ length: ctx.cluster.members.length * perMember }, async (_, slot) => {
        const logins = new Logins('w');
        let process = ctx.recorder.newProcess();
        while (!ctx.stopped()) {
          const member = memberFor(ctx, slot);
          const op = await userOp(ctx, logins, process, member);
          if (op?.type === 'info') process = ctx.recorder.newProcess();
          await sleep(op === undefined ? BACKOFF_MS : op.type === 'ok' ? 5 : op.type === 'info' ? INFO_BACKOFF_MS : BACKOFF_MS);
        }
      });
      const admin = (async () => {
        const root = new Logins('root');
        await sleep(grantedMs);
        while (!ctx.stopped()) {
          await change(ctx, root, 'revoke');
          await sleep(revokedMs);
          if (ctx.stopped()) break;
          await change(ctx, root, 'grant');
          await sleep(grantedMs);
        }
      })();
      await Promise.all([...users, admin]);
    },
    async final(ctx) {
      const root = new Logins('root');
      for (const member of ctx.cluster.members) {
        const md = await root.metadata(ctx, member);
        if (md === undefined) continue;
        const op = await execute(
          ctx,
          ctx.recorder.newProcess(),
          member,
          { f: 'final', input: null, idempotent: true },
          (c) => c.unary<pb.RangeResponse>('KV', 'Range', { key: bytes(PREFIX), rangeEnd: bytes(PREFIX_END) }, { metadata: md }),
          (res): { output: AuthReadOutput } => ({ output: { values: (res.kvs ?? []).map((kv) => text(kv.value)) } }),
        );
        if (op.type !== 'ok') continue;
        const off = await ctx.client(member).unary('Auth', 'AuthDisable', {}, { metadata: md });
        if (off.ok) return;
      }
      throw new Error('auth-revoke final: no member answered the final read and auth disable as root');
    },
    check(ops): Verdict {
      const v = checkAuthRevoke(ops);
      return {
        valid: v.valid,
        summary:
          v.valid === true
            ? `auth revokes linearizable: ${v.windows} denied windows, ${v.refusedInWindows} ops refused inside them`
            : `auth revoke: ${v.violations.length} violations (${v.windows} windows, ${v.refusedInWindows} refused)`,
        explanation: v.violations.slice(0, 20).join('\n'),
      };
    },
    isWrite: (op) => op.f === 'write',
    // Unknown puts are resolved against the WAL like the register's (each entry carries
    // the caller in its header, src/apply/request.ts, which the log reader skips). Under
    // auth an entry in the log may still be refused at apply, so "committed" says only
    // that it may have applied; the checker uses the values reads saw, not that.
    signature: (op) => (op.f === 'write' && op.key !== undefined ? sigPut(op.key, (op.input as AuthWriteInput).value) : undefined),
    // a fresh login each time: a restarted member has forgotten older tokens
    adminMetadata: (ctx, member) => new Logins('root').metadata(ctx, member),
  };
}
