/**
 * --cipher-suites: Go's cipher suite names (what etcd accepts, via
 * client/pkg/tlsutil.GetCipherSuite) mapped to OpenSSL's names (what Node's
 * `ciphers` option takes).
 *
 * Contract:
 * - GO_TLS12_CIPHER_SUITES lists every TLS 1.2 suite Go's crypto/tls implements
 *   (CipherSuites() plus InsecureCipherSuites(), TLS 1.2 and below), with its OpenSSL
 *   name (RFC name -> OpenSSL name as `openssl ciphers -stdname` prints it).
 * - Go also accepts the pre-RFC spellings of the two ChaCha20 suites, and the three
 *   TLS 1.3 names. TLS 1.3 suites are not configurable in Go (always on), so naming one
 *   is accepted and has no effect, exactly as in etcd.
 * - opensslCipherString keeps the TLS 1.3 suites on: Node treats a `ciphers` string
 *   with no TLS_* entry as "no TLS 1.3 suites", whereas Go always offers them.
 */
import { getCiphers } from 'node:tls';

export interface CipherSuiteInfo {
  readonly goName: string;
  readonly opensslName: string;
  /** Listed by Go's InsecureCipherSuites (RC4 and the CBC-SHA256 suites). */
  readonly insecure: boolean;
}

function suite(goName: string, opensslName: string, insecure = false): CipherSuiteInfo {
  return { goName, opensslName, insecure };
}

/** Every TLS 1.2 (and earlier) cipher suite Go's crypto/tls accepts by name. */
export const GO_TLS12_CIPHER_SUITES: readonly CipherSuiteInfo[] = [
  suite('TLS_RSA_WITH_RC4_128_SHA', 'RC4-SHA', true),
  suite('TLS_RSA_WITH_3DES_EDE_CBC_SHA', 'DES-CBC3-SHA'),
  suite('TLS_RSA_WITH_AES_128_CBC_SHA', 'AES128-SHA'),
  suite('TLS_RSA_WITH_AES_256_CBC_SHA', 'AES256-SHA'),
  suite('TLS_RSA_WITH_AES_128_CBC_SHA256', 'AES128-SHA256', true),
  suite('TLS_RSA_WITH_AES_128_GCM_SHA256', 'AES128-GCM-SHA256'),
  suite('TLS_RSA_WITH_AES_256_GCM_SHA384', 'AES256-GCM-SHA384'),
  suite('TLS_ECDHE_ECDSA_WITH_RC4_128_SHA', 'ECDHE-ECDSA-RC4-SHA', true),
  suite('TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA', 'ECDHE-ECDSA-AES128-SHA'),
  suite('TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA', 'ECDHE-ECDSA-AES256-SHA'),
  suite('TLS_ECDHE_RSA_WITH_RC4_128_SHA', 'ECDHE-RSA-RC4-SHA', true),
  suite('TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA', 'ECDHE-RSA-DES-CBC3-SHA'),
  suite('TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 'ECDHE-RSA-AES128-SHA'),
  suite('TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA', 'ECDHE-RSA-AES256-SHA'),
  suite('TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256', 'ECDHE-ECDSA-AES128-SHA256', true),
  suite('TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256', 'ECDHE-RSA-AES128-SHA256', true),
  suite('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256'),
  suite('TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256'),
  suite('TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'ECDHE-RSA-AES256-GCM-SHA384'),
  suite('TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ECDHE-ECDSA-AES256-GCM-SHA384'),
  suite('TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-RSA-CHACHA20-POLY1305'),
  suite('TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305'),
];

/** Pre-RFC 7905 names Go still accepts (etcd tests them explicitly). */
const LEGACY_GO_NAMES: ReadonlyMap<string, string> = new Map([
  ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
  ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
]);

/** TLS 1.3 suites: Go accepts the names but always enables all three. */
export const TLS13_CIPHER_SUITES: readonly string[] = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
];

const BY_GO_NAME: ReadonlyMap<string, CipherSuiteInfo> = new Map(
  GO_TLS12_CIPHER_SUITES.map((s) => [s.goName, s]),
);

export type CipherLookup =
  | { readonly kind: 'tls12'; readonly info: CipherSuiteInfo }
  | { readonly kind: 'tls13'; readonly goName: string }
  | { readonly kind: 'unknown' };

/** Resolves a Go cipher suite name (case-sensitive, as Go's map lookup is). */
export function lookupGoCipherSuite(goName: string): CipherLookup {
  const canonical = LEGACY_GO_NAMES.get(goName) ?? goName;
  const info = BY_GO_NAME.get(canonical);
  if (info !== undefined) return { kind: 'tls12', info };
  if (TLS13_CIPHER_SUITES.includes(goName)) return { kind: 'tls13', goName };
  return { kind: 'unknown' };
}

/** The OpenSSL name for a Go name, or undefined when Go does not know the name. */
export function goToOpensslCipher(goName: string): string | undefined {
  const found = lookupGoCipherSuite(goName);
  return found.kind === 'tls12' ? found.info.opensslName : undefined;
}

/** True when this Node's OpenSSL can negotiate the suite (RC4 and 3DES are gone in OpenSSL 3). */
export function opensslHasCipher(opensslName: string): boolean {
  return availableCiphers().has(opensslName.toLowerCase());
}

let available: ReadonlySet<string> | undefined;
function availableCiphers(): ReadonlySet<string> {
  available ??= new Set(getCiphers());
  return available;
}

/**
 * The `ciphers` string for Node's tls options: the given OpenSSL TLS 1.2 names in
 * order (Go prioritises in the given order), then the TLS 1.3 suites Go always offers.
 */
export function opensslCipherString(opensslNames: readonly string[]): string {
  return [...opensslNames, ...TLS13_CIPHER_SUITES].join(':');
}
