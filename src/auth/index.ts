/**
 * The auth module's public surface: the replicated auth store and its checks, the
 * token providers, password hashing, identity resolution and the typed errors.
 * It imports only storage and shared (tidy's table); the server and apply wire it.
 */
export { AuthStore, type AuthStoreOptions } from './store.js';
export { applyAuthRequest, needsAdmin, type AuthRequest, type AuthResponse, type AuthOp, type AuthApplyContext } from './apply.js';
export {
  checkDeleteRangeRequest,
  checkLeaseKeys,
  checkPutRequest,
  checkRangeRequest,
  checkTxnRequest,
  type LeaseKeys,
} from './checks.js';
export { resolveIdentity, prepareUserAdd, prepareChangePassword, type RequestCredentials, type ResolveOptions } from './identity.js';
export {
  AuthError,
  AuthOptionsError,
  authFail,
  internalAuthMessage,
  type AuthErrorCode,
  type AuthOptionsErrorKind,
} from './errors.js';
export {
  BCRYPT_DEFAULT_COST,
  BCRYPT_MAX_COST,
  BCRYPT_MIN_COST,
  hashPassword,
  normaliseBcryptCost,
  verifyPassword,
  type SaltSource,
} from './password.js';
export { SimpleTokenProvider, cryptoRng, DEFAULT_SIMPLE_TOKEN_TTL_MS, type SimpleTokenOptions } from './simple-token.js';
export { JwtTokenProvider, JWT_SIGN_METHODS, DEFAULT_JWT_TTL_MS, type JwtSignMethod, type JwtKeyMaterial } from './jwt-token.js';
export { createTokenProvider, parseAuthTokenOption, NopTokenProvider, type TokenProviderDeps, type AuthTokenOption } from './token-options.js';
export { UserPermissions, IntervalSet } from './permissions.js';
export {
  PermType,
  encodeRole,
  encodeUser,
  decodeRole,
  decodeUser,
  type PermissionRecord,
  type RoleRecord,
  type UserRecord,
} from './records.js';
export { ANONYMOUS, ROOT_ROLE, ROOT_USER, type AuthInfo, type TokenProvider } from './types.js';
export { AuthGate, OPEN_GATE, checkRecipe, credentialsOf, watchRefusal, type CallerSource } from './gate.js';
