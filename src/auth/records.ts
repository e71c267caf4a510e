/**
 * What the auth module keeps in the state db, laid out as etcd's three bbolt buckets
 * (auth/store.go) under the 'a' prefix of storage/schema.ts:
 *
 * | key                        | etcd bucket / key          | value                               |
 * |----------------------------|----------------------------|-------------------------------------|
 * | 'a' 'm' "authEnabled"      | auth / authEnabled         | one byte: 0x01 enabled, 0x00 not    |
 * | 'a' 'm' "authRevision"     | auth / authRevision        | uint64, 8 bytes big-endian          |
 * | 'a' 'u' <user name bytes>  | authUsers / <name>         | marshalled authpb.User              |
 * | 'a' 'r' <role name bytes>  | authRoles / <name>         | marshalled authpb.Role              |
 *
 * The values are byte-identical to etcd's (gogoproto: fields in number order, proto3
 * zero values left out, a present `options` sub-message written even when empty), so a
 * snapshot writer can copy them into etcd's buckets unchanged. Names are compared and
 * listed in byte order, as bbolt keeps them.
 */
import type * as pb from '../generated/pb.js';
import { codec } from '../shared/pb-codec.js';
import { toBuffer } from '../shared/bytes.js';
import { AUTH_PREFIX } from '../storage/schema.js';

const SUB_META = 0x6d; // 'm': etcd's `auth` bucket
const SUB_USERS = 0x75; // 'u': `authUsers`
const SUB_ROLES = 0x72; // 'r': `authRoles`

function subKey(sub: number, name: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + name.length);
  out[0] = AUTH_PREFIX;
  out[1] = sub;
  name.copy(out, 2);
  return out;
}

export const AUTH_ENABLED_KEY = subKey(SUB_META, Buffer.from('authEnabled'));
export const AUTH_REVISION_KEY = subKey(SUB_META, Buffer.from('authRevision'));
export const AUTH_ENABLED = Buffer.from([1]);
export const AUTH_DISABLED = Buffer.from([0]);

export function userKey(name: string): Buffer {
  return subKey(SUB_USERS, Buffer.from(name, 'utf8'));
}

export function roleKey(name: string): Buffer {
  return subKey(SUB_ROLES, Buffer.from(name, 'utf8'));
}

/** Where a state-db record of this layout lives in etcd's backend: its bucket and key there. */
export function etcdAuthLocation(key: Buffer): { readonly bucket: 'auth' | 'authUsers' | 'authRoles'; readonly key: Buffer } | undefined {
  if (key.length < 3 || key[0] !== AUTH_PREFIX) return undefined;
  const rest = key.subarray(2);
  if (key[1] === SUB_META) return { bucket: 'auth', key: rest };
  if (key[1] === SUB_USERS) return { bucket: 'authUsers', key: rest };
  if (key[1] === SUB_ROLES) return { bucket: 'authRoles', key: rest };
  return undefined;
}

/** The state db ranges holding every user and every role record. */
export const USERS_RANGE = { gte: subKey(SUB_USERS, Buffer.alloc(0)), lt: subKey(SUB_USERS + 1, Buffer.alloc(0)) };
export const ROLES_RANGE = { gte: subKey(SUB_ROLES, Buffer.alloc(0)), lt: subKey(SUB_ROLES + 1, Buffer.alloc(0)) };

/** etcd's Permission.Type values; other numbers are stored but grant nothing. */
export const PermType = { READ: 0, WRITE: 1, READWRITE: 2 } as const;

export interface PermissionRecord {
  readonly permType: number;
  readonly key: Buffer;
  /** Empty: the single key; "\0": every key >= key; otherwise [key, rangeEnd). */
  readonly rangeEnd: Buffer;
}

export interface UserRecord {
  readonly name: string;
  /** The raw bcrypt string ($2a$...), empty for a no-password user. */
  readonly password: Buffer;
  /** Sorted in byte order, no duplicates (auth/store.go UserGrantRole). */
  readonly roles: readonly string[];
  /** undefined only for records written without options (never by UserAdd). */
  readonly noPassword: boolean | undefined;
}

export interface RoleRecord {
  readonly name: string;
  /** Sorted by key (stable among equal keys). */
  readonly permissions: readonly PermissionRecord[];
}

const userCodec = codec<pb.User>('authpb.User');
const roleCodec = codec<pb.Role>('authpb.Role');

export function encodeUser(u: UserRecord): Buffer {
  const msg: pb.User = {};
  if (u.name.length > 0) msg.name = Buffer.from(u.name, 'utf8');
  if (u.password.length > 0) msg.password = u.password;
  if (u.roles.length > 0) msg.roles = [...u.roles];
  if (u.noPassword !== undefined) msg.options = u.noPassword ? { noPassword: true } : {};
  return Buffer.from(userCodec.encode(msg));
}

export function decodeUser(bytes: Uint8Array): UserRecord {
  const m = userCodec.decode(bytes);
  const options = m.options;
  return {
    name: toBuffer(m.name).toString('utf8'),
    password: Buffer.from(toBuffer(m.password)),
    roles: [...(m.roles ?? [])],
    noPassword: options === undefined || options === null ? undefined : options.noPassword === true,
  };
}

export function encodeRole(r: RoleRecord): Buffer {
  const msg: pb.Role = {};
  if (r.name.length > 0) msg.name = Buffer.from(r.name, 'utf8');
  if (r.permissions.length > 0) msg.keyPermission = r.permissions.map(permissionToPb);
  return Buffer.from(roleCodec.encode(msg));
}

export function decodeRole(bytes: Uint8Array): RoleRecord {
  const m = roleCodec.decode(bytes);
  return {
    name: toBuffer(m.name).toString('utf8'),
    permissions: (m.keyPermission ?? []).map(permissionFromPb),
  };
}

/** A wire/stored Permission with proto3 zero values left out, as gogoproto writes it. */
export function permissionToPb(p: PermissionRecord): pb.Permission {
  const out: pb.Permission = {};
  if (p.permType !== 0) out.permType = p.permType as pb.Permission_Type;
  if (p.key.length > 0) out.key = p.key;
  if (p.rangeEnd.length > 0) out.rangeEnd = p.rangeEnd;
  return out;
}

export function permissionFromPb(p: pb.Permission): PermissionRecord {
  return {
    permType: p.permType ?? 0,
    key: Buffer.from(toBuffer(p.key)),
    rangeEnd: Buffer.from(toBuffer(p.rangeEnd)),
  };
}

/** Byte order of names, as bbolt orders its keys and Go's sort.Strings sorts. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
