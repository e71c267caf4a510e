/**
 * Password hashing with bcrypt, as etcd does it with golang.org/x/crypto/bcrypt:
 * `$2a$` + two-digit cost + 53 characters of salt and hash, stored raw in User.password.
 *
 * Hashing happens on the member that receives UserAdd/UserChangePassword, before
 * proposing (etcd 3.5 etcdserver/v3_server.go): the hash travels base64-encoded in the
 * request's hashedPassword field and the clear password never enters the log.
 * Verification (Authenticate) accepts any $2?$ minor version. Passwords longer than 72
 * bytes are cut at 72 by bcrypt, as etcd 3.4.23's x/crypto does.
 *
 * The salt comes from the OS's randomness unless a test injects bytes.
 */
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';

export const BCRYPT_MIN_COST = 4;
export const BCRYPT_MAX_COST = 31;
export const BCRYPT_DEFAULT_COST = 10;

/**
 * etcd's rule for --bcrypt-cost (auth/store.go NewAuthStore): outside 4..31 the default
 * 10 is used, with a warning the caller logs when `valid` is false.
 */
export function normaliseBcryptCost(cost: number): { cost: number; valid: boolean } {
  if (Number.isInteger(cost) && cost >= BCRYPT_MIN_COST && cost <= BCRYPT_MAX_COST) return { cost, valid: true };
  return { cost: BCRYPT_DEFAULT_COST, valid: false };
}

export type SaltSource = (n: number) => Uint8Array;

const systemSalt: SaltSource = (n) => randomBytes(n);

/** A `$2a$` salt string for `cost` from 16 random bytes. */
function saltString(cost: number, salt: SaltSource): string {
  const bytes = Array.from(salt(16));
  return `$2a$${String(cost).padStart(2, '0')}$${bcrypt.encodeBase64(bytes, 16)}`;
}

/** The bcrypt hash of `password` (async: yields to the event loop while it runs). */
export async function hashPassword(password: string, cost: number, salt: SaltSource = systemSalt): Promise<Buffer> {
  const c = normaliseBcryptCost(cost).cost;
  return Buffer.from(await bcrypt.hash(password, saltString(c, salt)), 'latin1');
}

/** Synchronous hashing, only for a log entry that carries a clear password (an etcd 3.4 entry). */
export function hashPasswordSync(password: string, cost: number, salt: SaltSource = systemSalt): Buffer {
  const c = normaliseBcryptCost(cost).cost;
  return Buffer.from(bcrypt.hashSync(password, saltString(c, salt)), 'latin1');
}

const BCRYPT_HASH = /^\$2[aby]?\$\d\d\$[./A-Za-z0-9]{53}$/;

/** Whether `password` matches a stored bcrypt hash; a malformed or empty hash never matches. */
export async function verifyPassword(password: string, stored: Buffer): Promise<boolean> {
  const hash = stored.toString('latin1');
  if (!BCRYPT_HASH.test(hash)) return false;
  return bcrypt.compare(password, hash);
}
