/**
 * Shapes shared by the auth store, the token providers and their callers.
 */

/**
 * Who a request runs as (etcd auth.AuthInfo). `revision` is the auth revision the
 * identity was resolved at: the current one for a simple token or a certificate CN,
 * the `revision` claim for a JWT. Revision 0 means no identity (anonymous).
 */
export interface AuthInfo {
  readonly username: string;
  readonly revision: number;
}

export const ANONYMOUS: AuthInfo = Object.freeze({ username: '', revision: 0 });

export const ROOT_USER = 'root';
export const ROOT_ROLE = 'root';

/**
 * Issues and resolves tokens (etcd auth.TokenProvider). Simple tokens live in each
 * member's memory; JWTs are stateless. Methods called at apply are synchronous and
 * deterministic in what they store.
 */
export interface TokenProvider {
  readonly type: 'simple' | 'jwt' | 'nop';
  /** Auth was enabled (at apply, or on recovery of an enabled store). */
  enable(): void;
  /** Auth was disabled: simple tokens are all dropped. */
  disable(): void;
  /** The user's password changed or the user was deleted: drop its simple tokens. */
  invalidateUser(username: string): void;
  /** The random part of a simple token, made before proposing ("" for other kinds). */
  genTokenPrefix(): string;
  /**
   * At apply of Authenticate, on every member. Returns the token now (simple), or
   * undefined when the proposing member signs it afterwards (JWT). Throws the
   * provider's refusal (nop: authentication failed; verify-only JWT).
   */
  assign(username: string, revision: number, index: number, prefix: string): string | undefined;
  /** On the proposing member, after apply, for a token `assign` left undefined. */
  sign(username: string, revision: number): Promise<string>;
  /**
   * The identity of a token, or undefined when it is not valid here. `revision` is the
   * store's current auth revision (simple tokens carry none). A simple token first
   * waits until this member has applied the index it names; `signal` ends the wait.
   */
  info(token: string, revision: number, signal?: AbortSignal): Promise<AuthInfo | undefined>;
  /** Stops timers (member shutdown). */
  close(): void;
}
