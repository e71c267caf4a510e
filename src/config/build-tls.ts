/**
 * Transport security settings: the client and peer TLS blocks, --cipher-suites and
 * --tls-min-version / --tls-max-version (client/pkg/tlsutil, embed.Config.Validate).
 *
 * Contract: returns plain values; file existence and "https needs a certificate" are
 * checked in validate.ts once the URLs are known (a file only matters on a TLS side).
 */
import { lookupGoCipherSuite, opensslCipherString, opensslHasCipher } from './cipher-suites.js';
import type { TlsVersion, TransportSecurity } from './types.js';
import type { Values } from './values.js';

export type Side = 'client' | 'peer';

/** Flag names of one side's TLS settings (the peer ones carry the `peer-` prefix). */
export function tlsKeys(side: Side) {
  const p = side === 'peer' ? 'peer-' : '';
  return {
    certFile: `${p}cert-file`,
    keyFile: `${p}key-file`,
    clientCertFile: `${p}client-cert-file`,
    clientKeyFile: `${p}client-key-file`,
    clientCertAuth: `${p}client-cert-auth`,
    trustedCaFile: `${p}trusted-ca-file`,
    autoTls: `${p}auto-tls`,
    allowedCn: side === 'peer' ? 'peer-cert-allowed-cn' : 'client-cert-allowed-cn',
    allowedHostname:
      side === 'peer' ? 'peer-cert-allowed-hostname' : 'client-cert-allowed-hostname',
    crlFile: `${side}-crl-file`,
  } as const;
}

export function buildTransportSecurity(v: Values, side: Side): TransportSecurity {
  const k = tlsKeys(side);
  const trustedCaFile = v.optionalString(k.trustedCaFile);
  const clientCertAuth = v.bool(k.clientCertAuth, false);
  return {
    certFile: v.optionalString(k.certFile),
    keyFile: v.optionalString(k.keyFile),
    clientCertFile: v.optionalString(k.clientCertFile),
    clientKeyFile: v.optionalString(k.clientKeyFile),
    clientCertAuth,
    trustedCaFile,
    autoTls: v.bool(k.autoTls, false),
    allowedCn: v.list(k.allowedCn, []),
    allowedHostname: v.list(k.allowedHostname, []),
    crlFile: v.optionalString(k.crlFile),
    skipClientSanVerification:
      side === 'peer' ? v.bool('peer-skip-client-san-verification', false) : false,
    requireClientCert: trustedCaFile !== undefined || clientCertAuth,
  };
}

const TLS_VERSIONS: ReadonlyMap<string, TlsVersion> = new Map([
  ['TLS1.2', 'TLS1.2'],
  ['TLS1.3', 'TLS1.3'],
]);

function tlsVersion(v: Values, key: string, fallback: string): TlsVersion | undefined {
  const text = v.string(key, fallback);
  if (text === '') return undefined;
  const version = TLS_VERSIONS.get(text);
  if (version === undefined) {
    v.fail(key, `unexpected TLS version ${JSON.stringify(text)} (must be one of: TLS1.2, TLS1.3)`);
  }
  return version;
}

export interface TlsPolicy {
  readonly cipherSuites: readonly string[];
  readonly opensslCipherSuites: readonly string[];
  readonly opensslCiphers: string | undefined;
  readonly tlsMinVersion: TlsVersion;
  readonly tlsMaxVersion: TlsVersion | undefined;
}

export function buildTlsPolicy(v: Values, notices: string[]): TlsPolicy {
  // GetTLSVersion("") is Go's default minimum, which for servers is TLS 1.2.
  const tlsMinVersion = tlsVersion(v, 'tls-min-version', 'TLS1.2') ?? 'TLS1.2';
  const tlsMaxVersion = tlsVersion(v, 'tls-max-version', '');
  if (tlsMaxVersion === 'TLS1.2' && tlsMinVersion === 'TLS1.3') {
    v.fail('tls-min-version', `min version (TLS1.3) is greater than max version (TLS1.2)`);
  }
  const cipherSuites = v.list('cipher-suites', []);
  if (cipherSuites.length > 0 && tlsMinVersion === 'TLS1.3') {
    v.fail('cipher-suites', 'cipher suites cannot be configured when only TLS1.3 is enabled');
  }
  const opensslCipherSuites: string[] = [];
  for (const goName of cipherSuites) {
    const found = lookupGoCipherSuite(goName);
    if (found.kind === 'unknown') {
      v.fail('cipher-suites', `unexpected TLS cipher suite ${JSON.stringify(goName)}`);
    }
    if (found.kind === 'tls13') {
      notices.push(`cipher-suites: ${goName} is a TLS 1.3 suite, which is always enabled; ignored`);
      continue;
    }
    if (!opensslHasCipher(found.info.opensslName)) {
      notices.push(
        `cipher-suites: ${goName} (OpenSSL ${found.info.opensslName}) is not available in ` +
          `this Node's OpenSSL; dropped`,
      );
      continue;
    }
    if (found.info.insecure) notices.push(`cipher-suites: ${goName} is insecure`);
    if (!opensslCipherSuites.includes(found.info.opensslName)) {
      opensslCipherSuites.push(found.info.opensslName);
    }
  }
  return {
    cipherSuites,
    opensslCipherSuites,
    opensslCiphers:
      cipherSuites.length === 0 ? undefined : opensslCipherString(opensslCipherSuites),
    tlsMinVersion,
    tlsMaxVersion,
  };
}
