/**
 * Simple tokens (--auth-token simple, etcd auth/simple_token.go).
 *
 * A token is `<16 letters [a-zA-Z]>.<raft index>`: the member that receives
 * Authenticate draws the letters before proposing, and every member records the token
 * for the user when it applies the entry, so the token works on any member that has
 * applied that index. Tokens live only in memory (a restart forgets them).
 *
 * Expiry is sliding and per member: each use on a member pushes that member's deadline
 * to now + TTL (--auth-token-ttl seconds; 0 or less means 300). A sweep once a second
 * drops tokens whose deadline has passed, so a token dies between TTL and TTL + 1 s
 * after its last use. The sweep runs only while auth is enabled.
 *
 * Resolving a token waits until this member has applied the token's index (that is
 * what lets a token issued through the leader be used on a lagging follower), or until
 * the caller's signal aborts; the index is parsed as an unsigned decimal (etcd 3.5).
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import type { Cancelable, Scheduler } from '../shared/scheduler.js';
import type { Rng } from '../shared/rng.js';
import { assert } from '../shared/assert.js';
import type { AuthInfo, TokenProvider } from './types.js';

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
export const SIMPLE_TOKEN_LENGTH = 16;
export const DEFAULT_SIMPLE_TOKEN_TTL_MS = 300_000;
const SWEEP_PERIOD_MS = 1_000;

export interface SimpleTokenOptions {
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  /** Must be unpredictable in production (tokens are bearer secrets): see cryptoRng. */
  readonly rng: Rng;
  /** --auth-token-ttl in milliseconds; <= 0 means the default 300 s. */
  readonly ttlMs: number;
  /**
   * Resolves true once this member's applied index is >= index, false if the signal
   * aborts first.
   */
  readonly waitApplied: (index: number, signal?: AbortSignal) => Promise<boolean>;
}

/** Parses the token's index like Go's strconv.ParseUint(s, 10, 64): digits only. */
function parseIndex(s: string): number | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

export class SimpleTokenProvider implements TokenProvider {
  readonly type = 'simple' as const;
  private readonly ttlMs: number;
  /** token -> user name */
  private readonly owners = new Map<string, string>();
  /** token -> deadline on the clock's monotonic scale */
  private readonly deadlines = new Map<string, number>();
  private sweeper: Cancelable | undefined;
  private enabled = false;

  constructor(private readonly opts: SimpleTokenOptions) {
    this.ttlMs = opts.ttlMs > 0 ? opts.ttlMs : DEFAULT_SIMPLE_TOKEN_TTL_MS;
  }

  get size(): number {
    return this.owners.size;
  }

  enable(): void {
    if (this.enabled) return;
    this.enabled = true;
    this.sweeper = this.opts.scheduler.every(SWEEP_PERIOD_MS, () => this.sweep());
  }

  disable(): void {
    this.enabled = false;
    this.sweeper?.cancel();
    this.sweeper = undefined;
    this.owners.clear();
    this.deadlines.clear();
  }

  close(): void {
    this.sweeper?.cancel();
    this.sweeper = undefined;
  }

  invalidateUser(username: string): void {
    for (const [token, owner] of this.owners) {
      if (owner !== username) continue;
      this.owners.delete(token);
      this.deadlines.delete(token);
    }
  }

  genTokenPrefix(): string {
    let out = '';
    for (let i = 0; i < SIMPLE_TOKEN_LENGTH; i++) out += LETTERS[this.opts.rng.int(LETTERS.length)];
    return out;
  }

  assign(username: string, _revision: number, index: number, prefix: string): string {
    const token = `${prefix}.${index}`;
    // etcd records tokens only while its TTL keeper runs (auth enabled).
    if (!this.enabled) return token;
    assert(!this.owners.has(token), `simple token ${token} assigned twice`);
    this.owners.set(token, username);
    this.deadlines.set(token, this.opts.clock.nowMs() + this.ttlMs);
    return token;
  }

  sign(): Promise<string> {
    return Promise.reject(new Error('simple tokens are assigned at apply, never signed'));
  }

  async info(token: string, revision: number, signal?: AbortSignal): Promise<AuthInfo | undefined> {
    const parts = token.split('.');
    if (parts.length !== 2) return undefined;
    const index = parseIndex(parts[1] ?? '');
    if (index === undefined) return undefined;
    if (!(await this.opts.waitApplied(index, signal))) return undefined;
    const username = this.owners.get(token);
    if (username === undefined) return undefined;
    if (this.enabled) this.deadlines.set(token, this.opts.clock.nowMs() + this.ttlMs);
    return { username, revision };
  }

  /** Drops every token whose deadline has passed (run by the once-a-second sweep). */
  sweep(): void {
    const now = this.opts.clock.nowMs();
    for (const [token, deadline] of this.deadlines) {
      if (now <= deadline) continue;
      this.deadlines.delete(token);
      this.owners.delete(token);
    }
  }
}

/** An Rng over the OS's cryptographic randomness, for token prefixes in production. */
export function cryptoRng(): Rng {
  return {
    int: (n) => randomInt(n),
    float: () => randomInt(0x1_0000_0000) / 0x1_0000_0000,
    uint64: () => randomBytes(8).readBigUInt64BE(0),
  };
}
